"""Dramatiq wiring: the embedded in-process worker and job-resumption hooks.

With ``DRAMATIQ_BROKER_URL`` unset, messages go to an in-memory ``StubBroker``;
the first message a process enqueues starts worker threads inside that process,
so ``make run`` needs no Redis. Messages in memory die with the process, so each
app registers a *resumer* that re-enqueues its unfinished work when the embedded
worker starts (actors are idempotent, so a duplicate is harmless).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import dramatiq
from django.conf import settings

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_worker: dramatiq.Worker | None = None
_resumers: list[Callable[[], int]] = []


def register_resumer(fn: Callable[[], int]) -> Callable[[], int]:
    """Register ``fn`` to re-enqueue unfinished jobs; it returns how many it sent."""
    _resumers.append(fn)
    return fn


def is_embedded() -> bool:
    return bool(settings.DRAMATIQ_BROKER_KIND == "embedded")


def embedded_worker() -> dramatiq.Worker | None:
    return _worker


def start_embedded_worker() -> dramatiq.Worker:
    """Start the in-process worker once; later calls return the same worker."""
    global _worker
    with _lock:
        if _worker is not None:
            return _worker
        broker = dramatiq.get_broker()
        _worker = dramatiq.Worker(broker, worker_threads=settings.SONGFORGE_EMBEDDED_WORKER_THREADS)
        _worker.start()
        logger.info("embedded Dramatiq worker started with %d threads", settings.SONGFORGE_EMBEDDED_WORKER_THREADS)
    resumed = 0
    for resumer in _resumers:
        try:
            resumed += resumer()
        except Exception:  # a broken resumer must not stop the others
            logger.exception("job resumer %s failed", resumer.__qualname__)
    if resumed:
        logger.info("re-enqueued %d unfinished jobs", resumed)
    return _worker


def join(timeout_ms: int = 600_000) -> None:
    """Wait until the embedded broker's queues are drained (commands and demos)."""
    broker = dramatiq.get_broker()
    for queue in broker.get_declared_queues():
        broker.join(queue, timeout=timeout_ms)
    if _worker is not None:
        _worker.join()


class EmbeddedWorkerMiddleware(dramatiq.Middleware):
    """Starts the in-process worker the first time this process enqueues."""

    def before_enqueue(self, broker: dramatiq.Broker, message: dramatiq.Message[Any], delay: int) -> None:
        if _worker is None:
            start_embedded_worker()
