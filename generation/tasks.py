"""Dramatiq actors of the generation app."""

from __future__ import annotations

import logging

import dramatiq
from django.db import transaction

from songforge.errors import DomainError
from songforge.jobs import register_reaper, register_resumer

logger = logging.getLogger(__name__)


MAX_GENERATION_RETRIES = 3


def _should_retry(retries_so_far: int, exception: BaseException) -> bool:
    """Retry crashes and retryable domain errors, at most MAX_GENERATION_RETRIES times; never permanent ones."""
    if retries_so_far >= MAX_GENERATION_RETRIES:
        return False
    if isinstance(exception, DomainError):
        return not exception.permanent
    return True


@dramatiq.actor(
    queue_name="ml",
    max_retries=MAX_GENERATION_RETRIES,
    min_backoff=5_000,
    max_backoff=60_000,
    time_limit=20 * 60 * 1000,
    retry_when=_should_retry,
)
def generation_run_task(generation_id: int) -> None:
    """Run the next unfinished stage of a generation, then enqueue the one after it.

    One stage per message: each has the full time limit, and a killed worker loses at most the
    stage it was running (finished stages are persisted and skipped). A message that finds the
    stage claimed by another worker does nothing: if that worker dies, its heartbeat stops and the
    reaper re-enqueues the generation.
    """
    from generation.services.pipeline import generation_advance, next_stage

    name = generation_advance(generation_id=generation_id)
    if name is None:
        return
    if next_stage(generation_id) is not None:
        transaction.on_commit(lambda: generation_run_task.send(generation_id))


@register_resumer
def resume_generations() -> int:
    """Re-enqueue every queued or running generation (the embedded broker forgets messages)."""
    from generation.services.pipeline import unfinished_generation_ids

    ids = unfinished_generation_ids()
    for generation_id in ids:
        generation_run_task.send(generation_id)
    return len(ids)


@register_reaper
def reap_generations() -> int:
    """Re-enqueue generations whose stage lost its worker or whose message was lost."""
    from generation.services.pipeline import generations_reap

    ids = generations_reap()
    for generation_id in ids:
        generation_run_task.send(generation_id)
    return len(ids)
