"""Dramatiq wiring: the embedded worker, heartbeats on claimed work, and the reaper that recovers it.

**Claims and heartbeats.** A job claims its row with a conditional UPDATE that writes a *claim
token* (a timestamp column: ``GenerationStage.claimed_until``, ``Upload.identify_claimed_at``).
While it works, a :class:`Heartbeat` thread renews the token every
``SONGFORGE_JOB_HEARTBEAT_SECONDS`` with another conditional UPDATE (``WHERE token = old``), and
the job finishes with a conditional UPDATE on the latest token, so a job whose claim was taken
over can never overwrite the new owner's result. A token not renewed for
``SONGFORGE_JOB_STALE_AFTER_SECONDS`` is stale: its worker was killed, hung or timed out.

**The reaper.** Every worker process (``rundramatiq`` processes and the embedded worker) runs
:class:`ReaperMiddleware`, a thread that calls each registered reaper every heartbeat interval.
A reaper releases stale claims with a conditional UPDATE (``WHERE token = the stale value``), so
with many workers exactly one of them re-enqueues each piece of work; it also re-enqueues work
whose message was lost. Recovery therefore needs no page view and no restart.

**Fetching.** :class:`WorkerPrefetchMiddleware` (with :mod:`songforge.broker`) makes a worker fetch
messages only for its idle threads (Dramatiq's default holds twice as many per queue, so a stage
the reaper re-enqueued could wait in a busy worker's memory behind a long stage while other
workers were idle), and
:class:`GracefulStopMiddleware` makes one SIGTERM a graceful stop even when it arrives twice.

**The embedded broker.** With ``DRAMATIQ_BROKER_URL`` unset, messages go to an in-memory
``StubBroker``; the first message a process enqueues starts worker threads inside that process,
so ``make run`` needs no Redis. Messages in memory die with the process, so each app registers a
*resumer* that re-enqueues its unfinished work when the embedded worker starts (actors are
idempotent, so a duplicate is harmless). Management commands wrap their work in
:func:`run_enqueued_here`, which runs what they enqueued before they exit.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from queue import Empty
from types import FrameType
from typing import Any

import dramatiq
from django.conf import settings
from django.db import close_old_connections, connections

from songforge.broker import set_worker_threads

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_worker: dramatiq.Worker | None = None
_resumers: list[Callable[[], int]] = []
_reapers: list[Callable[[], int]] = []
_held = threading.local()  # run_enqueued_here: do not start the embedded worker for these messages


def register_resumer(fn: Callable[[], int]) -> Callable[[], int]:
    """Register ``fn`` to re-enqueue unfinished jobs; it returns how many it sent."""
    _resumers.append(fn)
    return fn


def register_reaper(fn: Callable[[], int]) -> Callable[[], int]:
    """Register ``fn`` to release stale claims and re-enqueue lost work; it returns how many it sent.

    It runs every heartbeat interval in every worker process at once, so it must claim what it
    re-enqueues with a conditional UPDATE.
    """
    _reapers.append(fn)
    return fn


def heartbeat_interval() -> timedelta:
    return timedelta(seconds=settings.SONGFORGE_JOB_HEARTBEAT_SECONDS)


def stale_after() -> timedelta:
    """How long a claim lives without a heartbeat."""
    return timedelta(seconds=settings.SONGFORGE_JOB_STALE_AFTER_SECONDS)


def orphan_after() -> timedelta:
    """How long unclaimed, unfinished work may wait before it is assumed its message was lost."""
    return 3 * stale_after()


def max_attempts() -> int:
    return int(settings.SONGFORGE_JOB_MAX_ATTEMPTS)


# --- heartbeats -----------------------------------------------------------------------------------


class Heartbeat:
    """Renews a claim token in a background thread while the ``with`` block runs.

    ``renew(old)`` writes a new token with a conditional UPDATE on ``old`` and returns it, or
    returns None when the claim is no longer ours (taken over, cancelled, finished by someone
    else); the heartbeat then stops and :attr:`lost` is True. :attr:`token` is the latest token:
    finish the job with a conditional UPDATE on it, after the block (the thread is stopped then).
    """

    def __init__(self, *, token: datetime, renew: Callable[[datetime], datetime | None], what: str) -> None:
        self.token = token
        self.lost = False
        self._renew = renew
        self._what = what
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat {what}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        interval = heartbeat_interval().total_seconds()
        try:
            while not self._stop.wait(interval):
                try:
                    renewed = self._renew(self.token)
                except Exception:  # a database blip: the next beat tries again before the claim goes stale
                    logger.exception("heartbeat of %s failed", self._what)
                    continue
                if renewed is None:
                    self.lost = True
                    logger.warning("%s lost its claim; its result will be dropped", self._what)
                    return
                self.token = renewed
        finally:
            connections.close_all()  # this thread's own connections


# --- the reaper -----------------------------------------------------------------------------------


def _run_each(callbacks: list[Callable[[], int]], kind: str) -> int:
    """Call each re-enqueuing callback; a broken one is logged and must not stop the others."""
    sent = 0
    for callback in callbacks:
        try:
            sent += callback()
        except Exception:
            logger.exception("job %s %s failed", kind, callback.__qualname__)
    if sent:
        logger.info("%s re-enqueued %d jobs", kind, sent)
    return sent


def reap() -> int:
    """Run every reaper once; returns how many jobs they re-enqueued."""
    return _run_each(_reapers, "reaper")


class ReaperMiddleware(dramatiq.Middleware):
    """Runs :func:`reap` every heartbeat interval in a thread of each worker process."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="songforge-reaper", daemon=True)
        self._thread.start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._stop.set()

    def _run(self) -> None:
        interval = heartbeat_interval().total_seconds()
        try:
            while not self._stop.is_set():
                reap()
                close_old_connections()
                self._stop.wait(interval)
        finally:
            connections.close_all()


# --- fetching and stopping ------------------------------------------------------------------------


class WorkerPrefetchMiddleware(dramatiq.Middleware):
    """A worker fetches a message only for an idle thread.

    Dramatiq's default lets each queue's consumer hold twice the thread count, so a worker whose
    threads are all busy still fetches messages, and they wait in its memory until one of its
    jobs ends. After a ``kill -9`` the reaper re-enqueues the dead worker's stages together; a
    busy worker took both, ran one on its idle thread and held the other behind a 150 s stage
    while a restarted worker sat idle (``tests/fleet/test_takeover.py``: 6.5 s and 37.1 s). Here
    each queue fetches at most ``SONGFORGE_WORKER_PREFETCH`` messages (0: the thread count), and
    on Redis :mod:`songforge.broker` also caps the messages in hand over all queues at the thread
    count, so a message stays in Redis until some worker has a thread for it.
    """

    def before_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        worker.queue_prefetch = int(settings.SONGFORGE_WORKER_PREFETCH) or worker.worker_threads
        set_worker_threads(worker.worker_threads)


DUPLICATE_SIGNAL_S = 5.0


class GracefulStopMiddleware(dramatiq.Middleware):
    """A SIGTERM delivered twice within a few seconds stops a ``rundramatiq`` worker process once, gracefully.

    Dramatiq's worker process stops gracefully on its first SIGTERM (no new messages, running
    jobs finish, prefetched ones go back to Redis) and exits at once, abandoning its jobs, on a
    second. A stop sent to the whole process group (systemd's default ``KillMode=control-group``,
    ``kill -- -PGID``, the fleet tests) reaches the worker process twice: directly, and forwarded
    by Dramatiq's main process a few milliseconds later. Whether the two arrived as one pending
    signal or as two decided between "finishes its job" and "exits after 1.7 s, job left to the
    reaper". A repeat within ``DUPLICATE_SIGNAL_S`` of the first is now logged and ignored; a later
    one still kills, as in Dramatiq (an operator who means it; SIGKILL always works).
    """

    def after_process_boot(self, broker: dramatiq.Broker) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        first: list[float] = []
        for signum in (signal.SIGTERM, signal.SIGHUP):
            handler = signal.getsignal(signum)
            if callable(handler) and getattr(handler, "__module__", "") == "dramatiq.cli":
                signal.signal(signum, _once_per_stop(handler, first))


def _once_per_stop(
    handler: Callable[[int, FrameType | None], Any],
    first: list[float],
    clock: Callable[[], float] = time.monotonic,
) -> Callable[[int, FrameType | None], Any]:
    """Wrap Dramatiq's handler: call it for the first signal and for any after ``DUPLICATE_SIGNAL_S``."""

    def on_signal(signum: int, frame: FrameType | None) -> Any:
        now = clock()
        if first and now - first[0] < DUPLICATE_SIGNAL_S:
            logger.info(
                "%s again %.2f s after the first: the same stop delivered twice; still finishing the running jobs",
                signal.Signals(signum).name,
                now - first[0],
            )
            return None
        if not first:
            first.append(now)
        return handler(signum, frame)

    return on_signal


# --- the embedded worker --------------------------------------------------------------------------


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
    _run_each(_resumers, "resumer")
    return _worker


def start_embedded_worker_for_web() -> None:
    """A web process with the embedded broker starts its worker (and reaper) at once, not on a first POST.

    Called from ``songforge/wsgi.py`` (gunicorn, runserver): unfinished work resumes after a
    restart without waiting for a page view. Does nothing with Redis/RabbitMQ or when the embedded
    worker is switched off (``SONGFORGE_EMBEDDED_WORKER=0``, tests).
    """
    if not is_embedded():
        return
    if any(isinstance(m, EmbeddedWorkerMiddleware) for m in dramatiq.get_broker().middleware):
        start_embedded_worker()


def join(timeout_ms: int = 600_000) -> None:
    """Wait until the embedded broker's queues are drained (commands and demos)."""
    broker = dramatiq.get_broker()
    for queue in broker.get_declared_queues():
        broker.join(queue, timeout=timeout_ms)
    if _worker is not None:
        _worker.join()


class EmbeddedWorkerMiddleware(dramatiq.Middleware):
    """Starts the in-process worker the first time this process enqueues (outside run_enqueued_here)."""

    def before_enqueue(self, broker: dramatiq.Broker, message: dramatiq.Message[Any], delay: int) -> None:
        if _worker is None and not getattr(_held, "active", False):
            start_embedded_worker()


@contextmanager
def run_enqueued_here(progress: Callable[[int, int], None] | None = None) -> Iterator[None]:
    """Management commands: make sure what the block enqueues is done before the command exits.

    With the embedded broker, messages sent inside the block are held (no worker threads start,
    no resumers run in a short-lived command) and, when the block ends without error, run one by
    one in this process; ``progress(done, total)`` is called after each. If the embedded worker
    was already running, the block waits for its queues instead. With Redis or RabbitMQ the
    workers run the messages and nothing waits here.
    """
    if not is_embedded():
        yield
        return
    _held.active = True
    try:
        yield
    finally:
        _held.active = False
    if _worker is not None:
        join()
        return
    _run_stub_queues(progress)


def _run_stub_queues(progress: Callable[[int, int], None] | None) -> int:
    broker = dramatiq.get_broker()
    queues: dict[str, Any] = getattr(broker, "queues", {})
    done = 0
    failures: list[BaseException] = []
    while True:
        pending = sum(queue.qsize() for queue in queues.values())
        if pending == 0:
            break
        for queue in list(queues.values()):
            while True:
                try:
                    data = queue.get_nowait()
                except Empty:
                    break
                message = dramatiq.Message.decode(data)
                try:
                    broker.get_actor(message.actor_name).fn(*message.args, **message.kwargs)
                except Exception as error:
                    logger.exception("job %s(%s) failed", message.actor_name, message.args)
                    failures.append(error)
                finally:
                    queue.task_done()
                done += 1
                if progress:
                    progress(done, done + sum(q.qsize() for q in queues.values()))
    if failures:
        raise failures[0]
    return done
