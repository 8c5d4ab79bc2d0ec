"""The Redis broker of the workers: a worker fetches a message only for an idle thread, whatever its queue.

Dramatiq gives each queue a consumer that fetches up to ``prefetch`` messages of *that* queue, so
a worker serving several queues (``identify`` and ``indexing``; every queue in the fleet tests)
fetches one queue's messages while its threads are busy with another's, and they wait in its
memory: an identification re-enqueued by the reaper could sit behind a 30-minute indexing run
while other workers idle. :class:`IdleThreadConsumer` counts every message this process has in
hand (fetched, not yet acknowledged: running or waiting for a thread), over all its queues, and
fetches only while that count is below the worker's thread count. Two consumers deciding at the
same instant can each take the last idle thread's message, so a worker may briefly hold up to one
message per queue more than its threads. Delay queues are not limited: their messages wait for
their time in the worker, then go back to Redis for any worker to run. Their consumers keep
polling Redis while the others hold back, which also keeps this worker's Redis heartbeat fresh
(Redis would otherwise, after 60 s, hand the jobs it runs to other workers).

:class:`songforge.jobs.WorkerPrefetchMiddleware` records the thread count when a worker boots;
outside a worker (web processes only enqueue) nothing is limited.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from dramatiq.brokers.redis import RedisBroker as _DramatiqRedisBroker
from dramatiq.brokers.redis import _RedisConsumer
from dramatiq.common import q_name

_lock = threading.Lock()
_consumers: weakref.WeakSet[IdleThreadConsumer] = weakref.WeakSet()
_threads: int | None = None


def set_worker_threads(threads: int | None) -> None:
    """The number of threads of the worker now booting in this process (None: not a worker, nothing is limited).

    Consumers of an earlier worker of this process (tests, a restarted embedded worker) no longer count.
    """
    global _threads
    with _lock:
        _threads = threads
        _consumers.clear()


def messages_in_hand() -> int:
    """Messages this process fetched and has not acknowledged yet, over every (non-delay) queue."""
    with _lock:
        consumers = list(_consumers)
    return sum(consumer.own_message_count for consumer in consumers)


class IdleThreadConsumer(_RedisConsumer):
    """A Redis consumer that fetches only while this process has fewer messages in hand than threads."""

    def __init__(self, broker: Any, queue_name: str, prefetch: int, timeout: int) -> None:
        super().__init__(broker, queue_name, prefetch, timeout)  # type: ignore[no-untyped-call]
        self.is_limited = q_name(queue_name) == queue_name  # not a delay queue
        if self.is_limited:
            with _lock:
                _consumers.add(self)

    def close(self) -> None:
        with _lock:
            _consumers.discard(self)
        super().close()

    @property
    def own_message_count(self) -> int:
        return len(self.queued_message_ids) + len(self.message_cache)

    @property
    def outstanding_message_count(self) -> int:
        """What Dramatiq compares with ``prefetch`` before a fetch: raised so the fetch fits the idle threads."""
        own = self.own_message_count
        threads = _threads
        if not self.is_limited or threads is None:
            return own
        idle = threads - messages_in_hand()
        return int(max(own, self.prefetch - idle))


class RedisBroker(_DramatiqRedisBroker):
    """Dramatiq's Redis broker with :class:`IdleThreadConsumer` (``DRAMATIQ_BROKER_URL=redis://…``)."""

    @property
    def consumer_class(self) -> type[IdleThreadConsumer]:
        return IdleThreadConsumer
