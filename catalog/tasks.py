"""Dramatiq actors of the catalog app."""

from __future__ import annotations

import dramatiq

from catalog.clients.apple_music import apple_music_preview_store
from catalog.indexing import TASK_CHUNK, recordings_index, unindexed_recording_ids
from catalog.models import Recording
from songforge.errors import DomainError
from songforge.jobs import register_resumer


@dramatiq.actor(queue_name="indexing", max_retries=5, time_limit=30 * 60 * 1000, throws=(DomainError,))
def recordings_index_task(recording_ids: list[int]) -> None:
    """Fingerprint and index these recordings; rerunning replaces their entries with identical ones."""
    recordings_index(recording_ids=recording_ids)


@register_resumer
def resume_recordings_index() -> int:
    """Re-enqueue recordings with audio that are missing from the fingerprint index."""
    ids = unindexed_recording_ids()
    for start in range(0, len(ids), TASK_CHUNK):
        recordings_index_task.send(ids[start : start + TASK_CHUNK])
    return len(ids)


def _retry_unless_permanent(retries: int, exception: BaseException) -> bool:
    return retries < 10 and not getattr(exception, "permanent", False)


@dramatiq.actor(queue_name="catalog", max_retries=10, time_limit=2 * 60 * 1000, retry_when=_retry_unless_permanent)
def apple_music_preview_task(recording_id: int) -> None:
    """Store the recording's Apple Music preview and hand it to indexing (a rerun downloads nothing)."""
    apple_music_preview_store(recording_id=recording_id)


@register_resumer
def resume_apple_music_previews() -> int:
    """Re-enqueue Apple Music recordings whose preview was never stored."""
    ids = list(Recording.objects.exclude(preview_url="").filter(preview_audio="").values_list("id", flat=True))
    for recording_id in ids:
        apple_music_preview_task.send(recording_id)
    return len(ids)
