"""Keeping the fingerprint index in step with the catalog's audio.

The index lives on disk in ``settings.FINGERPRINT_INDEX_DIR`` (see catalog/fingerprint/index.py) and is
keyed by ``Recording.pk``. The catalog import calls :func:`recordings_imported` after its transaction
commits; small batches are fingerprinted at once, bigger ones go to ``recordings_index_task`` in chunks.
A resumer re-enqueues recordings that have audio but no fingerprint (the embedded broker forgets
messages on restart), and ``manage.py index_rebuild`` rebuilds everything into a fresh directory that
replaces the old one in two renames.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db.models import Q, QuerySet

from catalog.fingerprint import audio
from catalog.fingerprint.index import Entry, FingerprintIndex, entry_for
from catalog.models import Recording
from songforge.storage import local_copy

logger = logging.getLogger(__name__)

SYNC_BATCH_LIMIT = 5  # up to this many recordings are fingerprinted in the caller's process
TASK_CHUNK = 50
MAX_INDEXED_SECONDS = 17 * 60  # 16-bit frame times

_indexes: dict[Path, FingerprintIndex] = {}
_indexes_lock = threading.Lock()


def get_index() -> FingerprintIndex:
    """The process-wide reader/writer of the index in ``settings.FINGERPRINT_INDEX_DIR``."""
    directory = Path(settings.FINGERPRINT_INDEX_DIR)
    with _indexes_lock:
        if directory not in _indexes:
            _indexes[directory] = FingerprintIndex(directory)
        return _indexes[directory]


@dataclass(frozen=True)
class IndexOutcome:
    indexed: list[int]
    skipped: dict[int, str]  # recording id → why (no audio, undecodable)


def fingerprint_recording(recording: Recording) -> Entry | None:
    """The index entry for ``recording``'s audio (else its Apple Music preview), or None. Raises AudioDecodeError."""
    source = recording.audio or recording.preview_audio
    if not source:
        return None
    with local_copy(source) as path:
        samples = audio.decode(path, max_seconds=MAX_INDEXED_SECONDS)
    return entry_for(recording.pk, samples)


def recordings_index(
    *, recording_ids: Sequence[int], index: FingerprintIndex | None = None, batch: int = 50
) -> IndexOutcome:
    """Fingerprint and index the given recordings (replacing earlier fingerprints). Idempotent."""
    index = index or get_index()
    indexed: list[int] = []
    skipped: dict[int, str] = {}
    pending: list[Entry] = []
    for recording in Recording.objects.filter(pk__in=list(recording_ids)).order_by("pk").iterator():
        try:
            entry = fingerprint_recording(recording)
        except audio.AudioDecodeError as exc:
            skipped[recording.pk] = f"audio cannot be decoded: {exc}"
            logger.warning("recording %s not indexed: %s", recording.pk, exc)
            continue
        if entry is None:
            skipped[recording.pk] = "no audio"
            continue
        pending.append(entry)
        indexed.append(recording.pk)
        if len(pending) >= batch:
            index.add(pending)
            pending = []
    index.add(pending)
    return IndexOutcome(indexed=indexed, skipped=skipped)


def recordings_imported(recording_ids: Sequence[int]) -> None:
    """Index newly imported (or re-imported) recordings; call after the import's transaction commits.

    Up to ``SYNC_BATCH_LIMIT`` recordings are fingerprinted right away; larger imports are sent to
    ``recordings_index_task`` in chunks of ``TASK_CHUNK`` so the caller is not held up. A failure here
    never breaks the import: it is logged, and the resumer indexes the recordings later.
    """
    ids = sorted({int(i) for i in recording_ids})
    if not ids:
        return
    try:
        if len(ids) <= SYNC_BATCH_LIMIT:
            recordings_index(recording_ids=ids)
            return
        from catalog.tasks import recordings_index_task  # catalog.tasks imports this module

        for start in range(0, len(ids), TASK_CHUNK):
            recordings_index_task.send(ids[start : start + TASK_CHUNK])
    except Exception:
        logger.exception("indexing of recordings %s failed; the resumer will retry", ids[:20])


def _with_audio() -> QuerySet[Recording]:
    return Recording.objects.exclude(Q(audio="") & Q(preview_audio=""))


def unindexed_recording_ids() -> list[int]:
    """Recordings with audio that the index does not hold."""
    have = get_index().recording_ids()
    with_audio = _with_audio().values_list("pk", flat=True).order_by("pk")
    return [pk for pk in with_audio if pk not in have]


def index_rebuild(*, progress: Callable[[int, int], None] | None = None) -> IndexOutcome:
    """Rebuild the whole index from the catalog into a fresh directory, then swap it in.

    Readers keep answering from the old index until the swap; they notice the new ``meta.json`` on
    their next lookup.
    """
    target = Path(settings.FINGERPRINT_INDEX_DIR)
    target.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=target.name + ".rebuild-", dir=target.parent))
    fresh = FingerprintIndex(building)
    ids = list(_with_audio().order_by("pk").values_list("pk", flat=True))
    indexed: list[int] = []
    skipped: dict[int, str] = {}
    for start in range(0, len(ids), 200):
        outcome = recordings_index(recording_ids=ids[start : start + 200], index=fresh)
        indexed += outcome.indexed
        skipped.update(outcome.skipped)
        if progress:
            progress(min(start + 200, len(ids)), len(ids))
    fresh.compact()
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    building.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    return IndexOutcome(indexed=indexed, skipped=skipped)
