"""The image's entrypoint commands, run outside a container: migrate, manage, web (gunicorn + WhiteNoise)."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port
from tests.deploy.conftest import REPO, app_env, entrypoint, wait_http

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("deploy-serve"), pytest.mark.timeout(900)]


def test_it_refuses_a_worker_without_queues(tmp_path: Path) -> None:
    result = entrypoint("worker", env=app_env(tmp_path))
    assert result.returncode == 64
    assert "usage: worker QUEUE" in result.stderr


def test_it_serves_the_site_with_gunicorn_and_whitenoise(tmp_path: Path, started: list[Any]) -> None:
    env = app_env(tmp_path, SONGFORGE_STATIC_MANIFEST="1", SONGFORGE_STATIC_ROOT=str(tmp_path / "static"))
    migrated = entrypoint("migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr[-2000:]
    collected = entrypoint("manage", "collectstatic", "--noinput", "-v", "0", env=env)
    assert collected.returncode == 0, collected.stderr[-2000:]
    checked = entrypoint("manage", "check", "--deploy", "--fail-level", "ERROR", env=env)
    assert checked.returncode == 0, checked.stderr[-2000:]

    port = free_port()
    log = (tmp_path / "web.log").open("wb")
    web = subprocess.Popen(
        [str(REPO / "deploy" / "entrypoint.sh"), "web"],
        env={**env, "SONGFORGE_WEB_BIND": f"127.0.0.1:{port}", "SONGFORGE_WEB_WORKERS": "2"},
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    started.append(web)
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/healthz", process=web)

    with urllib.request.urlopen(urllib.request.Request(f"{base}/healthz", headers={"X-Request-ID": "probe-1"})) as r:
        assert r.status == 200
        assert r.headers["X-Request-ID"] == "probe-1"
        assert json.loads(r.read())["checks"]["database"]["ok"] is True

    # Hashed, compressed static files with far-future caching, from the web process itself.
    manifest = json.loads((tmp_path / "static" / "staticfiles.json").read_text())["paths"]
    original, hashed = next((k, v) for k, v in manifest.items() if k.endswith(".css"))
    assert hashed != original
    request = urllib.request.Request(f"{base}/static/{hashed}", headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request) as r:
        assert r.status == 200
        assert "max-age=315360000" in r.headers["Cache-Control"]
        assert r.headers.get("Content-Encoding") == "gzip"

    # /metrics sums both gunicorn workers' counters (multiprocess mode) and answers loopback.
    for _ in range(6):
        urllib.request.urlopen(f"{base}/healthz").close()
    with urllib.request.urlopen(f"{base}/metrics") as r:
        body = r.read().decode()
    healthz = [
        line
        for line in body.splitlines()
        if line.startswith("django_http_responses_total_by_status_view_method_total")
        and 'view="healthz"' in line
        and 'status="200"' in line
    ]
    assert healthz, body[:2000]
    assert float(healthz[0].rsplit(" ", 1)[1]) >= 7
    assert "songforge_ledger_balanced 1.0" in body

    # One JSON access-log line per request, carrying the request id.
    web.terminate()
    web.wait(timeout=30)
    lines = [json.loads(line) for line in (tmp_path / "web.log").read_text().splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("kind") == "access"]
    assert any(line["request_id"] == "probe-1" and line["path"] == "/healthz" for line in access), access[:3]
    assert all({"status", "duration_ms", "method"} <= line.keys() for line in access)
