import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dramatiq
import pytest
from dramatiq.brokers.redis import RedisBroker

from songforge import jobs
from songforge.tasks import echo_task

ROOT = Path(__file__).resolve().parents[2]


def test_embedded_worker_runs_an_actor(stub_broker, stub_worker, tmp_path):
    target = tmp_path / "echo.txt"
    echo_task.send(str(target), "hello")
    stub_broker.join(echo_task.queue_name)
    stub_worker.join()
    assert target.read_text() == "hello"


def test_echo_is_idempotent(tmp_path):
    target = tmp_path / "echo.txt"
    echo_task.fn(str(target), "same")
    echo_task.fn(str(target), "same")
    assert target.read_text() == "same"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["echo.txt"]


def test_embedded_middleware_starts_a_worker_on_first_enqueue(stub_broker, tmp_path, monkeypatch):
    monkeypatch.setattr(jobs, "_worker", None)
    middleware = jobs.EmbeddedWorkerMiddleware()
    resumed: list[int] = []

    def resumer() -> int:
        resumed.append(1)
        return 0

    monkeypatch.setattr(jobs, "_resumers", [resumer])
    try:
        middleware.before_enqueue(stub_broker, dramatiq.Message("default", "echo_task", (), {}, {}), 0)
        worker = jobs.embedded_worker()
        assert worker is not None
        assert resumed == [1]
        target = tmp_path / "embedded.txt"
        echo_task.send(str(target), "from the embedded worker")
        stub_broker.join(echo_task.queue_name)
        worker.join()
        assert target.read_text() == "from the embedded worker"
    finally:
        if jobs.embedded_worker() is not None:
            jobs.embedded_worker().stop()  # type: ignore[union-attr]


@pytest.mark.redis
def test_real_worker_round_trips_through_redis(redis_url, tmp_path):
    """Sends through Redis to `manage.py rundramatiq`, a separate process."""
    namespace_db = redis_url
    broker = RedisBroker(url=namespace_db)
    broker.flush_all()
    target = tmp_path / f"redis-{uuid.uuid4().hex}.txt"
    env = {**os.environ, "DRAMATIQ_BROKER_URL": redis_url, "DEBUG": "1", "SONGFORGE_DATA_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    env["SONGFORGE_TESTING"] = "0"
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "rundramatiq", "--processes", "1", "--threads", "1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        broker.enqueue(dramatiq.Message("default", "echo_task", (str(target), "via redis"), {}, {}))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not target.exists():
            time.sleep(0.2)
        assert target.exists(), "the worker did not process the message within 60 s"
        assert target.read_text() == "via redis"
    finally:
        os.killpg(worker.pid, 15)
        worker.wait(timeout=30)
        broker.flush_all()
        broker.close()


# --- heartbeats, the reaper, commands that finish their work --------------------------------------


def test_a_heartbeat_renews_its_token_until_the_claim_is_taken(settings):
    from datetime import datetime, timedelta

    settings.SONGFORGE_JOB_HEARTBEAT_SECONDS = 0.05
    start = datetime(2026, 1, 1)
    seen: list[datetime] = []

    def renew(old: datetime):
        seen.append(old)
        return None if len(seen) == 3 else old + timedelta(seconds=1)

    with jobs.Heartbeat(token=start, renew=renew, what="test") as beat:
        deadline = time.monotonic() + 5
        while not beat.lost and time.monotonic() < deadline:
            time.sleep(0.02)
    assert beat.lost
    assert seen == [start, start + timedelta(seconds=1), start + timedelta(seconds=2)]
    assert beat.token == start + timedelta(seconds=2)  # the last token that was ours


def test_a_failing_heartbeat_keeps_beating(settings):
    settings.SONGFORGE_JOB_HEARTBEAT_SECONDS = 0.05
    calls: list[int] = []

    def renew(old):
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("connection reset")
        return old

    with jobs.Heartbeat(token=1, renew=renew, what="test"):  # type: ignore[arg-type]
        deadline = time.monotonic() + 5
        while len(calls) < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
    assert len(calls) >= 4


def test_the_reaper_middleware_reaps_in_every_worker_until_shutdown(settings, monkeypatch, stub_broker):
    settings.SONGFORGE_JOB_HEARTBEAT_SECONDS = 0.05
    runs: list[int] = []

    def broken() -> int:
        raise RuntimeError("one broken reaper does not stop the others")

    def counting() -> int:
        runs.append(1)
        return 0

    monkeypatch.setattr(jobs, "_reapers", [broken, counting])
    middleware = jobs.ReaperMiddleware()
    middleware.after_worker_boot(stub_broker, None)  # type: ignore[arg-type]
    deadline = time.monotonic() + 5
    while len(runs) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    middleware.before_worker_shutdown(stub_broker, None)  # type: ignore[arg-type]
    assert middleware._thread is not None
    middleware._thread.join(timeout=5)
    assert not middleware._thread.is_alive()
    assert len(runs) >= 3


def test_a_command_runs_what_it_enqueued_before_it_exits(stub_broker, monkeypatch, tmp_path):
    monkeypatch.setattr(jobs, "_worker", None)
    started: list[int] = []
    monkeypatch.setattr(jobs, "start_embedded_worker", lambda: started.append(1))
    middleware = jobs.EmbeddedWorkerMiddleware()
    progress: list[tuple[int, int]] = []
    targets = [tmp_path / f"{k}.txt" for k in range(3)]
    with jobs.run_enqueued_here(lambda done, total: progress.append((done, total))):
        for target in targets:
            message = echo_task.message(str(target), "ran")
            middleware.before_enqueue(stub_broker, message, 0)
            stub_broker.enqueue(message)
        assert not any(t.exists() for t in targets)
    assert [t.read_text() for t in targets] == ["ran"] * 3
    assert progress == [(1, 3), (2, 3), (3, 3)]
    assert started == []  # no worker threads, no resumers in a short-lived command
    assert stub_broker.queues[echo_task.queue_name].qsize() == 0


def test_a_web_process_with_the_embedded_broker_starts_its_worker_at_boot(stub_broker, monkeypatch, settings):
    started: list[int] = []
    monkeypatch.setattr(jobs, "start_embedded_worker", lambda: started.append(1))
    settings.DRAMATIQ_BROKER_KIND = "embedded"
    jobs.start_embedded_worker_for_web()
    assert started == []  # switched off (as in tests): no EmbeddedWorkerMiddleware on the broker
    middleware = jobs.EmbeddedWorkerMiddleware()
    stub_broker.add_middleware(middleware)
    try:
        jobs.start_embedded_worker_for_web()
        assert started == [1]
        settings.DRAMATIQ_BROKER_KIND = "redis"
        jobs.start_embedded_worker_for_web()
        assert started == [1]
    finally:
        stub_broker.middleware.remove(middleware)
