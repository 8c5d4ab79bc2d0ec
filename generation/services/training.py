"""The committed catalog model and its training manifest, as the rest of the app sees them."""

from __future__ import annotations

import hashlib
import json
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import transaction

from generation.errors import ModelMissingError
from generation.ml.catalog_training import CATALOG_NGRAMS_NAME, CATALOG_SAMPLE_NAME, GUARD_WINDOW_SYMBOLS
from generation.ml.model import MusicTransformer, load_checkpoint
from generation.ml.originality import NgramIndex
from generation.models import TrainingRecording

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


@transaction.atomic
def training_manifest_load(*, manifest_path: Path) -> int:
    """Upsert every manifest item as a TrainingRecording; remove rows no longer in it.

    Idempotent: loading the same manifest twice changes nothing. Items whose source id names a
    catalog recording (``catalog:<external_id>``) are linked to it.
    """
    from catalog.models import Recording

    data = json.loads(manifest_path.read_text())
    version = checkpoint_version(manifest_path.parent / "catalog_model.pt")
    external_ids = [
        row["source_id"].split(":", 1)[1] for row in data["items"] if row["source_id"].startswith("catalog:")
    ]
    recordings = dict(Recording.objects.filter(external_id__in=external_ids).values_list("external_id", "id"))
    seen = []
    existing = {r.source_id: r for r in TrainingRecording.objects.all()}
    to_create = []
    to_update = []
    for row in data["items"]:
        source_id = row["source_id"]
        seen.append(source_id)
        recording_id = row.get("recording_id")
        if recording_id is None and source_id.startswith("catalog:"):
            recording_id = recordings.get(source_id.split(":", 1)[1])
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
