"""The committed catalog model and its training manifest, as the rest of the app sees them."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import transaction

from catalog import selectors as catalog_selectors
from generation.errors import ModelMissingError
from generation.ml.catalog_training import (
    CATALOG_NGRAMS_NAME,
    CATALOG_SAMPLE_NAME,
    GUARD_WINDOW_SYMBOLS,
    MANIFEST_NAME,
)
from generation.ml.model import MusicTransformer, load_checkpoint
from generation.ml.originality import NgramIndex
from generation.models import TrainingRecording

logger = logging.getLogger(__name__)
_lock = threading.Lock()


def checkpoint_path() -> Path:
    path = Path(settings.GENERATION_CHECKPOINT)
    if not path.exists():
        raise ModelMissingError(
            f"The catalog model {path} is missing; run `python manage.py train_catalog_model` "
            "or set SONGFORGE_GENERATION_CHECKPOINT.",
            extra={"path": str(path)},
        )
    return path


def checkpoint_version(path: Path | None = None) -> str:
    data = (path or checkpoint_path()).read_bytes()
    return hashlib.sha256(data).hexdigest()[:16]


def load_base_model(device: str = "cpu") -> tuple[MusicTransformer, dict[str, object]]:
    """A fresh copy of the base model (callers may fine-tune it; the file is never written)."""
    return load_checkpoint(str(checkpoint_path()), device=device)


@lru_cache(maxsize=4)
def _catalog_sample(path: str) -> np.ndarray:
    return np.asarray(np.load(path), dtype=np.int64)


def catalog_sample_tokens() -> np.ndarray:
    """Catalog tokens that fine-tuning mixes in (committed next to the weights)."""
    path = checkpoint_path().parent / CATALOG_SAMPLE_NAME
    if not path.exists():
        raise ModelMissingError(f"{path} is missing; rebuild it with `python manage.py train_catalog_model`.")
    with _lock:
        return _catalog_sample(str(path))


@lru_cache(maxsize=4)
def _catalog_index(path: str) -> NgramIndex:
    return NgramIndex.load(path, window=GUARD_WINDOW_SYMBOLS)


def catalog_ngram_index() -> NgramIndex | None:
    """The originality guard's index of catalog melodies, or None if it was not built."""
    path = checkpoint_path().parent / CATALOG_NGRAMS_NAME
    if not path.exists():
        return None
    with _lock:
        return _catalog_index(str(path))


def _recording_links(rows: list[dict[str, object]], recording_ids: list[int] | None = None) -> dict[str, int]:
    """source_id -> catalog Recording id for manifest rows that name a catalog recording.

    ``catalog:<external_id>`` names the recording by its external id; a music21 item links to the
    recording whose ``source`` (the score it was arranged from, e.g. ``music21:essenFolksong/lux.abc#222``)
    equals the item's ``score_source`` (or, without one, its source id). ``recording_ids`` limits the lookup.
    """
    by_external: dict[str, str] = {}
    by_score: dict[str, list[str]] = {}
    for row in rows:
        source_id = str(row["source_id"])
        if source_id.startswith("catalog:"):
            by_external[source_id.split(":", 1)[1]] = source_id
        elif source_id.startswith("music21:"):
            # score_source is the canonical form; a bare corpus id counts tunes from 0 and would
            # name another tune of the same file, so it is compared only when there is no score_source
            by_score.setdefault(str(row.get("score_source") or source_id), []).append(source_id)
    links: dict[str, int] = {}
    found = catalog_selectors.recording_ids_by_external_id(external_ids=list(by_external), recording_ids=recording_ids)
    for external_id, pk in found.items():
        links[by_external[external_id]] = pk
    oldest = catalog_selectors.recording_ids_by_source(sources=list(by_score), recording_ids=recording_ids)
    for source, pk in oldest.items():  # several recordings of one score: the oldest
        for source_id in by_score[source]:
            links.setdefault(source_id, pk)
    return links


@transaction.atomic
def training_manifest_load(*, manifest_path: Path) -> int:
    """Upsert every manifest item as a TrainingRecording; remove rows no longer in it.

    Idempotent: loading the same manifest twice changes nothing. Items that name a catalog
    recording are linked to it (see ``_recording_links``); the rest stay unlinked (escrow).
    """
    data = json.loads(manifest_path.read_text())
    version = checkpoint_version(manifest_path.parent / "catalog_model.pt")
    links = _recording_links(data["items"])
    seen = []
    existing = {r.source_id: r for r in TrainingRecording.objects.all()}
    to_create = []
    to_update = []
    for row in data["items"]:
        source_id = row["source_id"]
        seen.append(source_id)
        recording_id = row.get("recording_id")
        if recording_id is None:
            recording_id = links.get(source_id)
        values = {
            "title": row["title"][:300],
            "collection": row["collection"],
            "licence": row["licence"],
            "is_commercial_ok": bool(row["is_commercial_ok"]),
            "token_count": int(row["token_count"]),
            "is_held_out": bool(row.get("held_out", False)),
            "recording_id": recording_id,
            "model_version": version,
        }
        current = existing.get(source_id)
        if current is None:
            to_create.append(TrainingRecording(source_id=source_id, **values))
        elif any(getattr(current, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(current, k, v)
            to_update.append(current)
    TrainingRecording.objects.bulk_create(to_create, batch_size=1000)
    if to_update:
        TrainingRecording.objects.bulk_update(
            to_update,
            [
                "title",
                "collection",
                "licence",
                "is_commercial_ok",
                "token_count",
                "is_held_out",
                "recording",
                "model_version",
            ],
            batch_size=1000,
        )
    seen_set = set(seen)
    stale = [r.pk for source_id, r in existing.items() if source_id not in seen_set]
    for start in range(0, len(stale), 500):
        TrainingRecording.objects.filter(pk__in=stale[start : start + 500]).delete()
    return len(seen)


def training_recordings_link(recording_ids: list[int]) -> int:
    """Link unlinked TrainingRecording rows to the given (newly imported) recordings; returns rows linked.

    Called after every catalog import (see :func:`link_imported_recordings`), so a catalog imported
    after the manifest was loaded still receives its share of the training pool. Idempotent.
    The committed manifest's ``score_source`` is read for music21 items.
    """
    unlinked = TrainingRecording.objects.filter(recording__isnull=True)
    rows: list[dict[str, object]] = [{"source_id": s} for s in unlinked.values_list("source_id", flat=True)]
    if not rows:
        return 0
    scores = _manifest_score_sources()
    for row in rows:
        if row["source_id"] in scores:
            row["score_source"] = scores[str(row["source_id"])]
    links = _recording_links(rows, recording_ids=recording_ids)
    linked = 0
    with transaction.atomic():
        for source_id, pk in links.items():
            linked += TrainingRecording.objects.filter(source_id=source_id, recording__isnull=True).update(
                recording_id=pk
            )
    return linked


def _manifest_score_sources() -> dict[str, str]:
    path = Path(settings.GENERATION_CHECKPOINT).parent / MANIFEST_NAME
    if not path.exists():
        return {}
    return {
        row["source_id"]: row["score_source"]
        for row in json.loads(path.read_text())["items"]
        if row.get("score_source")
    }


def link_imported_recordings(recording_ids: list[int]) -> int | None:
    """Link training items to the recordings a committed catalog import wrote; None if linking failed.

    The catalog import commands call this after the import commits. A failure is logged and never
    undoes the import; linking is idempotent, so importing the same manifest again retries it.
    """
    try:
        linked = training_recordings_link(recording_ids)
    except Exception:
        logger.exception("linking training items to recordings %s failed", recording_ids[:20])
        return None
    if linked:
        logger.info("linked %d training items to newly imported recordings", linked)
    return linked
