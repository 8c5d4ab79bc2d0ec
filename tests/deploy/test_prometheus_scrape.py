"""A real scrape: Debian's prometheus against the gunicorn web process and a rundramatiq worker, on loopback.

The stack (tests/deploy/stack.py) runs on PostgreSQL, Redis and S3. Prometheus scrapes every 5 s;
the test asserts through its HTTP API that the HTTP, job and business series exist, and that they
move after requests, ten uploads identified by the worker, and a generation it runs.
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
import requests

from tests.conftest import free_port, skip_or_fail
from tests.deploy import stack as deploy_stack
from tests.deploy.conftest import wait_http

pytestmark = [
    pytest.mark.slow,
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.s3,
    pytest.mark.xdist_group("deploy-serve"),
    pytest.mark.timeout(3600),
]


def _query(prometheus: str, expr: str) -> list[dict[str, Any]]:
    url = f"{prometheus}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
    with urllib.request.urlopen(url, timeout=60) as response:
        body = json.loads(response.read())
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def _value(prometheus: str, expr: str) -> float | None:
    result = _query(prometheus, expr)
    return float(result[0]["value"][1]) if result else None


def _eventually(prometheus: str, expr: str, check: Any, timeout: float = 300) -> float:
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = _value(prometheus, expr)
        if value is not None and check(value):
            return value
        time.sleep(1)
    raise AssertionError(f"{expr} = {value} after {timeout} s")


def test_prometheus_sees_uploads_identified_and_a_generation_run_by_the_worker(
    tmp_path: Path, started: list[Any], redis_url: str, s3_endpoint: str
) -> None:
    prometheus_bin = shutil.which("prometheus")
    if prometheus_bin is None:
        skip_or_fail("needs Debian's prometheus (apt-get install prometheus)")
    assert prometheus_bin is not None
    stack = deploy_stack.start(tmp_path, started, redis_url=redis_url, s3_endpoint=s3_endpoint, name="scrape")
    web, worker = (urllib.parse.urlparse(url).netloc for url in (stack.web_url, stack.worker_metrics_url))
    (tmp_path / "token").write_text(deploy_stack.METRICS_TOKEN)
    (tmp_path / "prometheus.yml").write_text(
        f"""
global: {{scrape_interval: 5s, scrape_timeout: 5s, evaluation_interval: 5s}}
scrape_configs:
  - job_name: songforge-web
    authorization: {{type: Bearer, credentials_file: {tmp_path / "token"}}}
    static_configs: [{{targets: ["{web}"]}}]
  - job_name: songforge-workers
    static_configs: [{{targets: ["{worker}"]}}]
"""
    )
    prom_port = free_port()
    prom = subprocess.Popen(
        [
            prometheus_bin,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        stdout=(tmp_path / "prometheus.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    started.append(prom)
    prometheus = f"http://127.0.0.1:{prom_port}"
    wait_http(f"{prometheus}/-/ready", process=prom, want_ok=True)

    # Both targets up (the web one with the token), every metric family computed.
    _eventually(prometheus, 'sum(up{job=~"songforge-.*"})', lambda v: v == 2)
    for series in (
        "songforge_ledger_balanced",
        'songforge_dependency_up{dependency="storage",kind="s3"}',
        'songforge_dependency_up{dependency="broker"}',
        'songforge_queue_messages{queue="identify"}',
        'songforge_queue_oldest_message_age_seconds{queue="ml"}',
        'songforge_generations{status="succeeded"}',
    ):
        assert _query(prometheus, series), f"no {series}"
    assert _value(prometheus, "min(songforge_metrics_family_up)") == 1.0
    assert _value(prometheus, "min(songforge_dependency_up)") == 1.0
    before = _value(prometheus, "sum(django_http_requests_total_by_method_total)") or 0.0

    # Ten uploads through the API: the worker identifies them; the outcome counter and latency move.
    stack.wait_indexed()
    api = requests.Session()
    api.headers["Authorization"] = f"Token {stack.token}"
    created = api.post(f"{stack.web_url}/api/upload-sets/", json={"title": "scraped"}, timeout=60)
    assert created.status_code == 201, created.text
    set_id = int(created.json()["id"])
    for path in stack.excerpts:
        with path.open("rb") as handle:
            added = api.post(
                f"{stack.web_url}/api/upload-sets/{set_id}/uploads/", files={"file": (path.name, handle)}, timeout=120
            )
        assert added.status_code == 201, added.text
    _eventually(prometheus, "sum(django_http_requests_total_by_method_total)", lambda v: v >= before + 11)
    settled = _eventually(prometheus, "sum(songforge_identifications_total)", lambda v: v >= 10, timeout=1200)
    assert settled == 10
    matched = _value(prometheus, 'sum(songforge_identifications_total{outcome="matched",method="fingerprint"})') or 0
    assert matched >= 1
    assert _value(prometheus, "sum(songforge_identification_seconds_count)") == 10
    assert _value(prometheus, 'sum(songforge_uploads{status="matched"})') == matched
    assert _value(prometheus, 'sum(songforge_jobs_total{queue="identify",outcome="done"})') >= 10  # type: ignore[operator]
    assert _value(prometheus, 'songforge_queue_messages{queue="identify"}') == 0

    # A generation the worker runs on the ml queue: the funnel, stage durations and failures move.
    out = stack.manage(
        "shell", "-c", f"from tests.deploy.stack import settle_and_generate; settle_and_generate({set_id})"
    )
    print(out)
    _eventually(prometheus, 'songforge_generations{status="succeeded"}', lambda v: v == 1, timeout=1800)
    stages = _query(prometheus, "songforge_generation_stage_duration_seconds_count")
    assert {row["metric"]["stage"] for row in stages} >= {"finetune", "compose", "synthesise", "master"}, stages
    assert all(float(row["value"][1]) == 1 for row in stages)
    assert (_value(prometheus, 'sum(songforge_generation_stage_duration_seconds_sum{stage="finetune"})') or 0) > 0
    assert _value(prometheus, 'sum(songforge_generation_stages{status="failed"})') == 0  # the series exists, at 0
    assert _value(prometheus, 'sum(songforge_generation_stages{status="done"})') == len(stages)
    # Several stages may run in one message, so the ml jobs moved, not one per stage.
    assert (_value(prometheus, 'sum(songforge_jobs_total{queue="ml",outcome="done"})') or 0) >= 1
    assert _value(prometheus, 'songforge_queue_messages{queue="ml"}') == 0
    assert _value(prometheus, "songforge_generation_stages_stale") == 0
