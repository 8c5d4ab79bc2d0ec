"""Dramatiq actors of the uploads app: identifying each upload against the catalog."""

from __future__ import annotations

import dramatiq

from songforge.errors import DomainError
from songforge.jobs import register_reaper, register_resumer
from uploads.selectors import uploads_pending_identification
from uploads.services import upload_identify, uploads_identify_reap

MAX_IDENTIFY_RETRIES = 20


def _retry_identify(retries_so_far: int, exception: BaseException) -> bool:
    """Retry only retryable domain errors (Shazam rate limits, outages) and crashes; 20 tries at most."""
    if retries_so_far >= MAX_IDENTIFY_RETRIES:
        return False
    if isinstance(exception, DomainError):
        return not exception.permanent
    return True


@dramatiq.actor(
    queue_name="identify",
    max_retries=MAX_IDENTIFY_RETRIES,
    min_backoff=15_000,
    max_backoff=6 * 60 * 60 * 1000,
    time_limit=10 * 60 * 1000,
    retry_when=_retry_identify,
)
def upload_identify_task(upload_id: int) -> None:
    """Identify one upload; a duplicate or rerun finds it claimed or finished and does nothing.

    The actor keeps the name and queue it had in the generation app, so queued messages still run.
    """
    upload_identify(upload_id=upload_id)


@register_resumer
def resume_upload_identification() -> int:
    """Re-enqueue uploads still waiting for identification (the embedded broker forgets messages)."""
    ids = uploads_pending_identification()
    for upload_id in ids:
        upload_identify_task.send(upload_id)
    return len(ids)


@register_reaper
def reap_upload_identification() -> int:
    """Re-enqueue uploads whose identification lost its worker or whose message was lost."""
    ids = uploads_identify_reap()
    for upload_id in ids:
        upload_identify_task.send(upload_id)
    return len(ids)
