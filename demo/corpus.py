"""The demo catalog's symbolic arrangements as training tokens (no audio is rendered).

``build_demo_corpus(out_dir, count, seed)`` arranges entries ``demo-00001``.. of the demo catalog
with ``demo.catalog_build.arrange_entry`` (the same arrangement the catalog renders to audio:
melody, other voices, chords, bass and drums), tokenises them and writes ``tokens.npy`` and
``items.json`` in the corpus format (``corpus.load_corpus`` reads it). Each item's source id is
``catalog:<entry id>`` so the training manifest links it to the imported catalog recording.
"""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from demo.catalog_build import arrange_entry
from generation.ml.corpus import MAX_BARS_PER_ITEM, MIN_NOTES
from generation.ml.tokenizer import ROLES, encode, from_pretty_midi

logger = logging.getLogger(__name__)

DEMO_COLLECTION = "songforge-demo-catalog"
DEMO_LICENCE = "SongForge demo catalog (invented rights holders, demo data)"
DEMO_SECONDS = 45.0  # build_demo_catalog's default entry length
DEMO_SIZE = 500  # build_demo_catalog's default size (work choice on a parse failure depends on it)

_ROLE_OF_NAME = {"melody": "melody", "chords": "chords", "voice": "chords", "bass": "bass", "drums": "drums"}


def score_is_commercial(score_source: str) -> tuple[bool, str]:
    """Whether the arranged score's own licence allows commercial use (as corpus.MUSIC21_SOURCES rules)."""
    if score_source.startswith("music21:essenFolksong/"):
        return False, "Essen Folksong Collection: non-commercial use only"
    if score_source.startswith("music21:palestrina/"):
        return False, "Humdrum encodings (c) John Miller, treated as non-commercial"
    return True, ""


def _arrange_and_encode(args: tuple[int, int, int, float]) -> tuple[dict[str, object] | None, list[int], str]:
    index, seed, size, seconds = args
    try:
        midi, record = arrange_entry(index, seed, size=size, seconds=seconds)
        roles = [ROLES.index(_ROLE_OF_NAME.get(i.name, "chords")) for i in midi.instruments]
        piece = from_pretty_midi(midi, roles=roles)
        if len(piece.notes) < MIN_NOTES:
            return None, [], f"index {index}: too few notes"
        tokens = encode(piece, max_bars=MAX_BARS_PER_ITEM)
    except Exception as exc:  # a work that cannot be arranged or encoded is skipped and reported
        return None, [], f"index {index}: {exc}"
    entry = record["entry"]
    commercial, why = score_is_commercial(str(entry["source"]))
    item: dict[str, object] = {
        "source_id": f"catalog:{entry['id']}",
        "title": f"{entry['title']} ({entry['artist']})"[:200],
        "collection": DEMO_COLLECTION,
        "licence": DEMO_LICENCE if commercial else f"{DEMO_LICENCE}; arranged from a non-commercial score ({why})",
        "is_commercial_ok": commercial,
        "token_count": len(tokens),
        "score_source": entry["source"],
        "score_licence": entry["license"],
    }
    return item, tokens, ""


def build_demo_corpus(
    out_dir: Path,
    *,
    count: int,
    seed: int = 0,
    size: int = DEMO_SIZE,
    seconds: float = DEMO_SECONDS,
    processes: int = 1,
) -> dict[str, object]:
    """Arrange and tokenise demo entries 0..count-1 into ``out_dir`` (tokens.npy, items.json)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    items: list[dict[str, object]] = []
    chunks: list[np.ndarray] = []
    failures: list[str] = []
    offset = 0
    jobs = [(i, seed, size, seconds) for i in range(count)]
    with ProcessPoolExecutor(max_workers=max(1, processes)) as pool:
        for n, (item, tokens, error) in enumerate(pool.map(_arrange_and_encode, jobs, chunksize=4), start=1):
            if item is None:
                failures.append(error)
                continue
            item["offset"] = offset
            offset += len(tokens)
            items.append(item)
            chunks.append(np.asarray(tokens, dtype=np.uint16))
            if n % 50 == 0:
                logger.info("demo corpus: %d/%d entries, %d tokens", n, count, offset)
    tokens_all = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.uint16)
    np.save(out_dir / "tokens.npy", tokens_all)
    summary: dict[str, object] = {
        "items": len(items),
        "tokens": int(tokens_all.size),
        "failures": failures,
        "seed": seed,
        "size": size,
        "seconds": seconds,
        "wall_time_s": round(time.monotonic() - started, 1),
    }
    # Item() takes only the corpus fields; the score's own source and licence stay in items.json.
    (out_dir / "items.json").write_text(json.dumps({"summary": summary, "items": items}, ensure_ascii=False))
    return summary


def demo_corpus_matches(demo_dir: Path, *, count: int, seed: int) -> bool:
    """Whether ``demo_dir`` already holds the first ``count`` entries for ``seed``."""
    path = demo_dir / "items.json"
    if not path.exists() or not (demo_dir / "tokens.npy").exists():
        return False
    summary = json.loads(path.read_text()).get("summary", {})
    built = int(summary.get("items", 0)) + len(summary.get("failures", []))
    return bool(summary.get("seed") == seed and built == count and summary.get("seconds") == DEMO_SECONDS)
