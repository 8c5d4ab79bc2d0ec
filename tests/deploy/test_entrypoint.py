"""The image's entrypoint commands, run outside a container: migrate, manage, web (gunicorn + WhiteNoise).

The web checks run on the session's production stack (tests/deploy/production.py), which the
entrypoint migrated, collected static files for and started (``web`` with 2 gunicorn workers), as
the image does: one stack for every test that needs the production processes.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.deploy import stack as deploy_stack
from tests.deploy.conftest import app_env, entrypoint
from tests.deploy.production import Production

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def test_it_refuses_a_worker_without_queues(tmp_path: Path) -> None:
    result = entrypoint("worker", env=app_env(tmp_path))
    assert result.returncode == 64
    assert "usage: worker QUEUE" in result.stderr


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.s3
@pytest.mark.xdist_group("production")
@pytest.mark.timeout(3600)
def test_it_serves_the_site_with_gunicorn_and_whitenoise(production: Production) -> None:
    stack = production.stack
    checked = entrypoint("manage", "check", "--deploy", "--fail-level", "ERROR", env=stack.env)
    assert checked.returncode == 0, checked.stderr[-2000:]
    base = stack.web_url

    with urllib.request.urlopen(urllib.request.Request(f"{base}/healthz", headers={"X-Request-ID": "probe-1"})) as r:
        assert r.status == 200
        assert r.headers["X-Request-ID"] == "probe-1"
        assert json.loads(r.read())["checks"]["database"]["ok"] is True

    # Hashed, compressed static files with far-future caching, from the web process itself.
    manifest = json.loads((stack.root / "static" / "staticfiles.json").read_text())["paths"]
    original, hashed = next((k, v) for k, v in manifest.items() if k.endswith(".css"))
    assert hashed != original
    request = urllib.request.Request(f"{base}/static/{hashed}", headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request) as r:
        assert r.status == 200
        assert "max-age=315360000" in r.headers["Cache-Control"]
        assert r.headers.get("Content-Encoding") == "gzip"

    # /metrics sums both gunicorn workers' counters (multiprocess mode); it wants the bearer token.
    def healthz_count() -> float:
        metrics = urllib.request.Request(
            f"{base}/metrics", headers={"Authorization": f"Bearer {deploy_stack.METRICS_TOKEN}"}
        )
        with urllib.request.urlopen(metrics) as r:
            body = r.read().decode()
        assert "songforge_ledger_balanced 1.0" in body
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in body.splitlines()
            if line.startswith("django_http_responses_total_by_status_view_method_total")
            and 'view="healthz"' in line
            and 'status="200"' in line
        )

    before = healthz_count()
    assert before >= 1
    for _ in range(7):
        urllib.request.urlopen(f"{base}/healthz").close()
    assert healthz_count() >= before + 7
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{base}/metrics")
    assert refused.value.code == 404

    # One JSON access-log line per request, carrying the request id.
    deadline = time.monotonic() + 30
    while True:
        lines = [json.loads(line) for line in (stack.root / "web.log").read_text().splitlines() if line.startswith("{")]
        access = [line for line in lines if line.get("kind") == "access"]
        if any(line["request_id"] == "probe-1" and line["path"] == "/healthz" for line in access):
            break
        assert time.monotonic() < deadline, access[-3:]
        time.sleep(1)
    assert all({"status", "duration_ms", "method"} <= line.keys() for line in access)
