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
