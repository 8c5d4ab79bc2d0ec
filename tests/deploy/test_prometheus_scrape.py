"""A real scrape: Debian's prometheus against the gunicorn web process and a rundramatiq worker, on loopback.

Prometheus scrapes every second; the test asserts through its HTTP API that the HTTP, job and
business series exist, and that they move after requests, a job and new uploads.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port, skip_or_fail
from tests.deploy.conftest import REPO, app_env, entrypoint, wait_http

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.xdist_group("deploy-serve"), pytest.mark.timeout(1800)]

TOKEN = "scrape-test-token"


def _query(prometheus: str, expr: str) -> list[dict[str, Any]]:
    url = f"{prometheus}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
    with urllib.request.urlopen(url, timeout=10) as response:
        body = json.loads(response.read())
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def _value(prometheus: str, expr: str) -> float | None:
    result = _query(prometheus, expr)
    return float(result[0]["value"][1]) if result else None


def _eventually(prometheus: str, expr: str, check: Any, timeout: float = 90) -> float:
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = _value(prometheus, expr)
        if value is not None and check(value):
            return value
        time.sleep(1)
    raise AssertionError(f"{expr} = {value} after {timeout} s")


def test_prometheus_scrapes_web_and_worker_series_that_move(tmp_path: Path, started: list[Any], redis_url: str) -> None:
    prometheus_bin = shutil.which("prometheus")
    if prometheus_bin is None:
        skip_or_fail("needs Debian's prometheus (apt-get install prometheus)")
    assert prometheus_bin is not None
    web_port, worker_port, prom_port = free_port(), free_port(), free_port()
    env = app_env(
        tmp_path,
        DRAMATIQ_BROKER_URL=redis_url,
        SONGFORGE_METRICS_TOKEN=TOKEN,
        SONGFORGE_WEB_BIND=f"127.0.0.1:{web_port}",
        SONGFORGE_WEB_WORKERS="2",
        SONGFORGE_WORKER_METRICS_PORT=str(worker_port),
    )
    migrated = entrypoint("migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr[-2000:]

    def start(name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (tmp_path / f"{name}.log").open("wb")
        process = subprocess.Popen(
            [str(REPO / "deploy" / "entrypoint.sh"), *args], env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT
        )
        started.append(process)
        return process

    web = start("web", "web")
    worker = start("worker", "worker", "default")
    wait_http(f"http://127.0.0.1:{web_port}/healthz", process=web, timeout=180)
    wait_http(f"http://127.0.0.1:{worker_port}/metrics", process=worker, timeout=900)

    (tmp_path / "token").write_text(TOKEN)
    (tmp_path / "prometheus.yml").write_text(
        f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
scrape_configs:
  - job_name: songforge-web
    authorization: {{type: Bearer, credentials_file: {tmp_path / "token"}}}
    static_configs: [{{targets: ["127.0.0.1:{web_port}"]}}]
  - job_name: songforge-workers
    static_configs: [{{targets: ["127.0.0.1:{worker_port}"]}}]
"""
    )
    prom_log = (tmp_path / "prometheus.log").open("wb")
    prom = subprocess.Popen(
        [
            prometheus_bin,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        stdout=prom_log,
        stderr=subprocess.STDOUT,
    )
    started.append(prom)
    prometheus = f"http://127.0.0.1:{prom_port}"
    wait_http(f"{prometheus}/-/ready", process=prom, want_ok=True)

    # Both targets up, with the token on the web one.
    _eventually(prometheus, 'sum(up{job=~"songforge-.*"})', lambda v: v == 2)
    for series in (
        "songforge_ledger_balanced",
        "songforge_manual_match_queue",
        'songforge_dependency_up{dependency="database"}',
        'songforge_dependency_up{dependency="broker"}',
        'songforge_queue_messages{queue="default"}',
        'songforge_metrics_family_up{family="uploads"}',
    ):
        assert _query(prometheus, series), f"no {series}"
    assert _value(prometheus, "min(songforge_metrics_family_up)") == 1.0

    # Requests move the HTTP counters (summed over both gunicorn workers).
    def requests_now() -> float:
        return _value(prometheus, "sum(django_http_requests_total_by_method_total)") or 0.0

    before = requests_now()
    for _ in range(5):
        urllib.request.urlopen(f"http://127.0.0.1:{web_port}/healthz").close()
    _eventually(prometheus, "sum(django_http_requests_total_by_method_total)", lambda v: v >= before + 5)

    # A job through Redis moves the worker's job counter.
    from dramatiq.brokers.redis import RedisBroker
    from dramatiq.message import Message

    broker = RedisBroker(url=redis_url)
    target = tmp_path / "echo.txt"
    echo: Message[Any] = Message(
        queue_name="default", actor_name="echo_task", args=(str(target), "hi"), kwargs={}, options={}
    )
    broker.enqueue(echo)
    _eventually(prometheus, 'sum(songforge_jobs_total{actor="echo_task",outcome="done"})', lambda v: v >= 1)
    assert target.read_text() == "hi"
    assert _query(prometheus, 'songforge_job_duration_seconds_count{actor="echo_task"}')

    # New uploads move the business gauges computed at scrape time.
    unmatched = _value(prometheus, 'sum(songforge_uploads{status="unmatched"})') or 0.0
    inserted = entrypoint("manage", "shell", "-c", INSERT_UPLOADS, env=env)
    assert inserted.returncode == 0, inserted.stderr[-2000:]
    _eventually(prometheus, 'sum(songforge_uploads{status="unmatched"})', lambda v: v == unmatched + 3)
    _eventually(prometheus, "songforge_manual_match_queue", lambda v: v == unmatched + 3)
    broker.close()


INSERT_UPLOADS = """
from django.apps import apps
from django.contrib.auth import get_user_model

def model(name):
    for app in ("uploads", "generation"):
        try:
            return apps.get_model(app, name)
        except LookupError:
            pass
    raise LookupError(name)

owner = get_user_model().objects.create_user(username="scrape", email="scrape@example.com", password=None)
upload_set = model("UploadSet").objects.create(owner=owner)
for i in range(3):
    model("Upload").objects.create(
        upload_set=upload_set, original_name=f"song{i}.wav", audio=f"uploads/song{i}.wav", audio_format="wav",
        size_bytes=1, sha256=f"{i:064d}", status="unmatched",
    )
"""
