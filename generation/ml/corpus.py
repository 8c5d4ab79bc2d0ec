"""Offline conversion of music21's corpus (and any MIDI files) to token arrays.

Run once by ``manage.py train_catalog_model``; the result (``tokens.npy``, ``offsets.npy``,
``items.json``) is a rebuildable artefact, never parsed at run time. Each item carries its
source collection's licence so non-commercial sources can be excluded from a production build.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from generation.ml.tokenizer import (
    MAX_BAR_TICKS,
    ROLES,
    TICKS_PER_BEAT,
    Note,
    Piece,
    encode,
    estimate_chords,
    nearest_time_signature,
)

logger = logging.getLogger(__name__)

MAX_BARS_PER_ITEM = 96
MIN_NOTES = 12


@dataclass(frozen=True)
class Source:
    """One corpus collection: a glob under music21's corpus and its licence."""

    name: str
    pattern: str
    licence: str
    is_commercial_ok: bool
    max_files: int | None = None


MUSIC21_SOURCES: tuple[Source, ...] = (
    Source(
        "bach-chorales",
        "bach/*.mxl",
        "Public-domain works (J. S. Bach); MusicXML encodings distributed with music21 "
        "(corpus/license.txt: no restriction stated for this directory)",
        True,
    ),
    Source(
        "oneills-1850",
        "oneills1850/*.abc",
        "Public-domain collection (O'Neill, 1903); ABC transcriptions distributed with music21",
        True,
    ),
    Source(
        "ryans-mammoth",
        "ryansMammoth/*.abc",
        "Public-domain collection (Ryan's Mammoth, 1883); ABC transcriptions distributed with music21",
        True,
    ),
    Source(
        "palestrina",
        "palestrina/*.krn",
        "Humdrum encodings (c) 2000 John Miller, 'rights to all derivative electronic formats reserved' "
        "- treated as non-commercial",
        False,
        max_files=500,
    ),
    Source(
        "essen",
        "essenFolksong/*.abc",
        "Essen Folksong Collection: permission for non-commercial distribution and use only "
        "(corpus/essenFolksong/license.txt)",
        False,
    ),
)


@dataclass
class Item:
    source_id: str
    title: str
    collection: str
    licence: str
    is_commercial_ok: bool
    token_count: int
    offset: int = 0
    recording_id: int | None = None


def music21_corpus_dir() -> Path:
    import music21

    return Path(music21.__file__).parent / "corpus"


def score_to_piece(score: object) -> Piece | None:
    """music21 Score -> Piece: top part melody, lowest bass (3+ parts), others chords.

    Ties are merged, pickup bars are shifted so bar lines fall on the grid, repeats are not
    expanded. Returns None for pieces whose bars do not fit the grid.
    """
    from music21 import meter, stream, tempo

    assert isinstance(score, stream.Stream)
    parts = list(score.parts) if isinstance(score, stream.Score) and score.parts else [score]
    ts_obj = next(iter(score.recurse().getElementsByClass(meter.TimeSignature)), None)
    ts = nearest_time_signature(ts_obj.numerator, ts_obj.denominator) if ts_obj is not None else (4, 4)
    bar_ticks = ts[0] * TICKS_PER_BEAT * 4 // ts[1]
    if bar_ticks > MAX_BAR_TICKS:
        return None
    mark = next(iter(score.recurse().getElementsByClass(tempo.MetronomeMark)), None)
    bpm = float(mark.getQuarterBPM() or 100.0) if mark is not None else 100.0
    shift = 0
    measures = list(parts[0].getElementsByClass(stream.Measure))
    if measures:
        first_len = round(float(measures[0].duration.quarterLength) * TICKS_PER_BEAT)
        if 0 < first_len < bar_ticks:
            shift = bar_ticks - first_len
    part_notes: list[list[tuple[int, int, int]]] = []
    for part in parts:
        items: list[tuple[int, int, int]] = []
        open_ties: dict[int, int] = {}
        for element in part.flatten().notes:
            start = round(float(element.offset) * TICKS_PER_BEAT) + shift
            duration = round(float(element.duration.quarterLength) * TICKS_PER_BEAT)
            if duration <= 0:
                continue  # grace notes
            tie = getattr(element, "tie", None)
            for p in element.pitches:
                midi = int(p.midi)
                if tie is not None and tie.type in ("stop", "continue") and midi in open_ties:
                    i = open_ties[midi]
                    s, d, m = items[i]
                    items[i] = (s, max(d, start + duration - s), m)
                    if tie.type == "stop":
                        del open_ties[midi]
                    continue
                items.append((start, duration, midi))
                if tie is not None and tie.type == "start":
                    open_ties[midi] = len(items) - 1
        if items:
            part_notes.append(items)
    if not part_notes:
        return None
    means = [float(np.mean([m for _, _, m in p])) for p in part_notes]
    order = sorted(range(len(part_notes)), key=lambda i: means[i])
    roles = [ROLES.index("chords")] * len(part_notes)
    roles[order[-1]] = ROLES.index("melody")
    if len(part_notes) >= 3:
        roles[order[0]] = ROLES.index("bass")
    notes = [
        Note(s, d, m, 90 if role == 0 else 70, role)
        for items, role in zip(part_notes, roles, strict=True)
        for s, d, m in items
        if 0 <= m < 128
    ]
    piece = Piece(tempo_bpm=bpm, time_signature=ts, notes=notes)
    piece.chords = estimate_chords(notes, bar_ticks=bar_ticks)
    return piece


def _convert_file(args: tuple[str, str, str, bool]) -> tuple[list[dict[str, object]], list[list[int]], int]:
    """Parse one corpus file (maybe an opus of many tunes) -> (items, token lists, failures)."""
    import music21

    path, collection, licence, commercial = args
    items: list[dict[str, object]] = []
    token_lists: list[list[int]] = []
    failures = 0
    try:
        parsed = music21.converter.parse(path)
    except Exception:
        return items, token_lists, 1
    scores = list(parsed.scores) if isinstance(parsed, music21.stream.Opus) else [parsed]
    rel = path.split("/corpus/", 1)[-1]
    for index, score in enumerate(scores):
        try:
            piece = score_to_piece(score)
            if piece is None or len(piece.notes) < MIN_NOTES:
                failures += 1
                continue
            tokens = encode(piece, max_bars=MAX_BARS_PER_ITEM)
        except Exception:
            failures += 1
            continue
        title = ""
        metadata = getattr(score, "metadata", None)
        if metadata is not None:
            title = str(metadata.title or "")
        items.append(
            {
                "source_id": f"music21:{rel}#{index}",
                "title": title[:200],
                "collection": collection,
                "licence": licence,
                "is_commercial_ok": commercial,
                "token_count": len(tokens),
            }
        )
        token_lists.append(tokens)
    return items, token_lists, failures


def iter_jobs(sources: tuple[Source, ...]) -> Iterator[tuple[str, str, str, bool]]:
    """Files of all sources interleaved round robin, so a time budget cuts every source evenly."""
    root = music21_corpus_dir()
    queues = []
    for source in sources:
        files = sorted(root.glob(source.pattern))
        if source.max_files is not None:
            files = files[: source.max_files]
        queues.append([(str(f), source.name, source.licence, source.is_commercial_ok) for f in files])
    for i in range(max((len(q) for q in queues), default=0)):
        for q in queues:
            if i < len(q):
                yield q[i]


def build_corpus(
    out_dir: Path,
    *,
    sources: tuple[Source, ...] = MUSIC21_SOURCES,
    extra: list[tuple[dict[str, object], list[int]]] | None = None,
    processes: int = 1,
    time_budget_s: float | None = None,
    max_files: int | None = None,
) -> dict[str, object]:
    """Tokenise ``sources`` (plus ``extra`` pre-tokenised items) into ``out_dir``.

    Writes tokens.npy (uint16, all items concatenated), items.json (manifest with offsets) and
    returns a summary. Files that fail to parse are skipped and counted. ``max_files`` keeps the
    first files of the round-robin order (a deterministic subset); ``time_budget_s`` stops early.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    all_items: list[dict[str, object]] = []
    chunks: list[np.ndarray] = []
    failures = 0
    offset = 0

    def add(item: dict[str, object], tokens: list[int]) -> None:
        nonlocal offset
        item["offset"] = offset
        offset += len(tokens)
        all_items.append(item)
        chunks.append(np.asarray(tokens, dtype=np.uint16))

    jobs = list(iter_jobs(sources))[:max_files]
    with ProcessPoolExecutor(max_workers=max(1, processes)) as pool:
        for n, (items, token_lists, failed) in enumerate(pool.map(_convert_file, jobs, chunksize=1)):
            failures += failed
            for item, tokens in zip(items, token_lists, strict=True):
                add(item, tokens)
            if n % 50 == 0:
                logger.info("corpus: %d/%d files, %d items, %d tokens", n, len(jobs), len(all_items), offset)
            if time_budget_s is not None and time.monotonic() - started > time_budget_s:
                logger.warning("corpus: time budget reached after %d/%d files", n + 1, len(jobs))
                pool.shutdown(wait=False, cancel_futures=True)
                break
    for item, tokens in extra or []:
        add(dict(item), tokens)
    tokens_all = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.uint16)
    np.save(out_dir / "tokens.npy", tokens_all)
    summary: dict[str, object] = {
        "items": len(all_items),
        "tokens": int(tokens_all.size),
        "failures": failures,
        "wall_time_s": round(time.monotonic() - started, 1),
    }
    (out_dir / "items.json").write_text(json.dumps({"summary": summary, "items": all_items}))
    return summary


def load_corpus(corpus_dir: Path) -> tuple[np.ndarray, list[Item]]:
    """``tokens.npy`` and the items of ``items.json``; fields ``Item`` does not have (a demo item's
    score source and licence) stay in the file."""
    tokens = np.load(corpus_dir / "tokens.npy")
    data = json.loads((corpus_dir / "items.json").read_text())
    fields = set(Item.__dataclass_fields__)
    return tokens, [Item(**{k: v for k, v in item.items() if k in fields}) for item in data["items"]]


_ABC_X = re.compile(r"^X:\s*(\d+)", re.MULTILINE)


@lru_cache(maxsize=256)
def _abc_numbers(relative_path: str) -> tuple[int, ...]:
    path = music21_corpus_dir() / relative_path
    if not path.exists():
        return ()
    return tuple(int(n) for n in _ABC_X.findall(path.read_text(errors="replace")))


def score_source(source_id: str) -> str | None:
    """A corpus item's id in the form catalog recordings use for their score (``Recording.source``).

    Corpus ids count the scores of a file from 0 (``music21:<path>#<index>``); the demo catalog names
    a tune of a multi-tune ABC file by its ``X:`` number and a single-score file by its path alone
    (``demo.catalog_build.Work.source``). music21 reads the tunes of an ABC file in file order, so
    index i is the i-th ``X:`` number. None for ids that are not music21 corpus items.
    """
    if not source_id.startswith("music21:") or "#" not in source_id:
        return None
    relative, _, index_text = source_id[len("music21:") :].rpartition("#")
    if not index_text.isdigit():
        return None
    index = int(index_text)
    if relative.endswith(".abc"):
        numbers = _abc_numbers(relative)
        if len(numbers) > 1:
            return f"music21:{relative}#{numbers[index]}" if index < len(numbers) else None
    return f"music21:{relative}" if index == 0 else None
