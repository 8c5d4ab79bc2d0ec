"""How a worker fetches messages and how it stops; the real processes are in tests/fleet/test_takeover.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker

from songforge import jobs
from tests.foundation.test_job_settings import ROOT, read_settings


@pytest.fixture
def broker() -> Any:
    broker = StubBroker(middleware=[jobs.WorkerPrefetchMiddleware()])
    broker.declare_queue("ml")
    yield broker
    broker.close()


def _prefetches(worker: dramatiq.Worker) -> dict[str, int]:
    return {name: consumer.prefetch for name, consumer in worker.consumers.items()}


def test_a_worker_fetches_one_message_per_thread(broker: Any, settings: Any) -> None:
    settings.SONGFORGE_WORKER_PREFETCH = 0
    worker = dramatiq.Worker(broker, worker_threads=3, worker_timeout=50)
    worker.start()
    try:
        assert _prefetches(worker)["ml"] == 3  # Dramatiq's own default: 6
    finally:
        worker.stop()


def test_the_prefetch_can_be_set(broker: Any, settings: Any) -> None:
    settings.SONGFORGE_WORKER_PREFETCH = 5
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=50)
    worker.start()
    try:
        assert _prefetches(worker)["ml"] == 5
    finally:
        worker.stop()


def _read_prefetch(tmp_path: Path, value: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SONGFORGE_", "DATABASE_URL", "DRAMATIQ_"))}
    clean.update({"DEBUG": "1", "SONGFORGE_DATA_DIR": str(tmp_path), "SONGFORGE_WORKER_PREFETCH": value})
    script = "import songforge.settings as s; print(s.SONGFORGE_WORKER_PREFETCH)"
    return subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )


def test_the_prefetch_setting_is_read_and_checked(tmp_path: Path) -> None:
    assert _read_prefetch(tmp_path, "").stdout.strip() == "0"
    assert _read_prefetch(tmp_path, "4").stdout.strip() == "4"
    refused = _read_prefetch(tmp_path, "-1")
    assert refused.returncode != 0
    assert "SONGFORGE_WORKER_PREFETCH=-1 must be at least 0" in refused.stderr


def test_a_sigterm_repeated_at_once_stops_the_worker_once() -> None:
    calls: list[int] = []
    clock = [100.0]
    handler = jobs._once_per_stop(lambda signum, frame: calls.append(signum), [], clock=lambda: clock[0])

    handler(signal.SIGTERM, None)
    clock[0] += 0.01
    handler(signal.SIGTERM, None)  # the same stop, forwarded by Dramatiq's main process
    clock[0] += 1
    handler(signal.SIGHUP, None)
    assert calls == [signal.SIGTERM]

    clock[0] += jobs.DUPLICATE_SIGNAL_S
    handler(signal.SIGTERM, None)  # an operator asking again, later: Dramatiq kills the process
    assert calls == [signal.SIGTERM, signal.SIGTERM]


def test_only_dramatiqs_worker_handlers_are_wrapped() -> None:
    def dramatiq_termhandler(signum: int, frame: Any) -> None:
        pass

    def own_handler(signum: int, frame: Any) -> None:
        pass

    dramatiq_termhandler.__module__ = "dramatiq.cli"
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        signal.signal(signal.SIGTERM, dramatiq_termhandler)
        signal.signal(signal.SIGHUP, own_handler)
        jobs.GracefulStopMiddleware().after_process_boot(StubBroker(middleware=[]))
        wrapped = signal.getsignal(signal.SIGTERM)
        assert wrapped is not dramatiq_termhandler
        assert callable(wrapped)
        assert wrapped.__qualname__ == "_once_per_stop.<locals>.on_signal"
        assert signal.getsignal(signal.SIGHUP) is own_handler
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def test_every_worker_process_gets_both_middlewares(tmp_path: Path) -> None:
    result = read_settings(tmp_path, DRAMATIQ_BROKER_URL="redis://127.0.0.1:6379/0")
    assert result.returncode == 0, result.stderr
    middleware = json.loads(result.stdout)["middleware"]
    assert "songforge.jobs.WorkerPrefetchMiddleware" in middleware
    assert "songforge.jobs.GracefulStopMiddleware" in middleware


def _redis_queue_length(redis_url: str, namespace: str, queue: str) -> int:
    import redis

    return int(redis.Redis.from_url(redis_url).llen(f"{namespace}:{queue}"))


def _heartbeat_age_ms(redis_url: str, namespace: str, broker_id: str) -> float:
    import redis

    client = redis.Redis.from_url(redis_url)
    score = client.zscore(f"{namespace}:__heartbeats__", broker_id)
    return time.time() * 1000 - float(score or 0)


@pytest.mark.redis
@pytest.mark.parametrize("kind", ["songforge", "dramatiq"])
def test_a_busy_worker_leaves_another_queues_message_in_redis(redis_url: str, settings: Any, kind: str) -> None:
    """One thread, busy with a long job on one queue: a message on another queue stays free for other workers.

    ``dramatiq``: Dramatiq's own broker, the cause — the message is fetched and waits behind the job.
    """
    from dramatiq.brokers.redis import RedisBroker as DramatiqRedisBroker

    from songforge.broker import RedisBroker, set_worker_threads

    settings.SONGFORGE_WORKER_PREFETCH = 0
    namespace = f"fetch-{uuid.uuid4().hex[:10]}"
    broker_class = RedisBroker if kind == "songforge" else DramatiqRedisBroker
    broker = broker_class(
        url=redis_url, namespace=namespace, middleware=[jobs.WorkerPrefetchMiddleware()], heartbeat_timeout=2000
    )
    started, release = threading.Event(), threading.Event()
    done: list[str] = []

    def long_job() -> None:
        started.set()
        release.wait(30)
        done.append("long")

    def short_job() -> None:
        done.append("short")

    long_actor = dramatiq.actor(broker=broker, queue_name="long")(long_job)
    short_actor = dramatiq.actor(broker=broker, queue_name="short")(short_job)
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        long_actor.send()
        assert started.wait(15)
        short_actor.send()
        time.sleep(2.5)  # a dozen polls of the short queue, longer than the broker's heartbeat timeout
        waiting_in_redis = _redis_queue_length(redis_url, namespace, "short")
        heartbeat_age_ms = _heartbeat_age_ms(redis_url, namespace, broker.broker_id)
        release.set()
        deadline = time.monotonic() + 15
        while len(done) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert done == ["long", "short"]
        assert waiting_in_redis == (1 if kind == "songforge" else 0)
        if kind == "songforge":  # holding back, it still tells Redis it is alive (its delay queues poll)
            assert heartbeat_age_ms < 1500
    finally:
        release.set()
        worker.stop()
        broker.close()
        set_worker_threads(None)
