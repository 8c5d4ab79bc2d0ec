"""Delivery jobs: each loads a release by id and calls one service."""

from __future__ import annotations

import dramatiq

from distribution import selectors
from distribution.clients.base import DistributorError
from distribution.services import delivery
from songforge.jobs import register_resumer

DELIVERY_QUEUE = "distribution"


def _is_retryable(retries_so_far: int, exception: BaseException) -> bool:
    """Retry only outside-world trouble, never a refusal (bad data, 4xx)."""
    return (
        isinstance(exception, DistributorError)
        and not exception.permanent
        and retries_so_far < delivery.MAX_DELIVERY_ATTEMPTS
    )


@dramatiq.actor(
    queue_name=DELIVERY_QUEUE,
    max_retries=delivery.MAX_DELIVERY_ATTEMPTS,
    min_backoff=15_000,
    max_backoff=3_600_000,
    time_limit=30 * 60_000,
    retry_when=_is_retryable,
)
def release_deliver_task(release_id: int) -> None:
    """Deliver a queued release; a rerun or duplicate message does nothing more."""
    delivery.release_deliver(release_id=release_id)


@register_resumer
def resume_deliveries() -> int:
    """Re-enqueue every release still waiting for delivery (the embedded broker forgets on restart)."""
    release_ids = selectors.queued_release_ids()
    for release_id in release_ids:
        release_deliver_task.send(release_id)
    return len(release_ids)
