"""One production stack for the three tests that need a finished flow on it, in this order:

1. ``tests/e2e/test_deploy_e2e.py``: the browser flow (uploads, identification, a generation, a release);
2. ``tests/deploy/test_prometheus_scrape.py``: what Prometheus scraped before, during and after it;
3. ``tests/ops/test_restore_drill.py``: a statement and a payout run, then ``pg_dump``/``pg_restore``
   and ``index_rebuild`` from the bucket.

Each of them used to start its own stack and run its own generation (the drill ran ``manage.py demo``:
a 12-song catalog of 30 s, a 20 s song): three migrations, three catalogs indexed, three generations.
Measured on the shared 2-core machine (nice 10, load average 5-8 from other work): before, 393 CPU-s
(the browser flow 115 CPU-s in 289 s; the scrape and the drill 277 CPU-s in 879 s); one stack for
all three, 114 CPU-s in 384 s. ``tests/conftest.py`` provides it as the session fixture
``production`` and orders those tests; Prometheus scrapes the stack from its start, and the flow
records :meth:`Production.mark` times at which the scrape test reads the series (``time=`` in the query
API), so "the series change after an upload and a generation" stays a comparison of two scrapes.

A test run without the browser test (``pytest tests/deploy/test_prometheus_scrape.py``) drives the
same flow through the API instead (:meth:`Production.api_flow`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from tests.conftest import free_port, skip_or_fail
from tests.deploy import stack as deploy_stack
from tests.deploy.conftest import stop, wait_http

SCRAPE_INTERVAL_S = 5
# Inside the stack: a distributor statement for the flow's release (plus a line nobody owns, for
# suspense), imported twice with ``royalties_import``, then the period's ``royalties_payouts``.
STATEMENT_AND_PAYOUTS = """
from django.core.management import call_command
from django.utils import timezone
from distribution.models import Release
isrc = Release.objects.get(generation_id=%d).isrc
period = timezone.now().strftime("%%Y-%%m")
rows = [("spotify", "US", isrc, 120000, "412.337120"), ("spotify", "GB", isrc, 40500, "131.904511"),
        ("apple-music", "US", isrc, 38250, "281.130000"), ("youtube-music", "BR", isrc, 77000, "38.500001"),
        ("spotify", "US", "USXYZ2600001", 1000, "3.990000")]
path = %r
with open(path, "w") as out:
    out.write("period,store,territory,isrc,units,net_revenue,currency\\n")
    for store, where, code, units, amount in rows:
        out.write(f"{period},{store},{where},{code},{units},{amount},USD\\n")
print("PERIOD", period)
call_command("royalties_import", path, reference=f"statement-{period}")
call_command("royalties_import", path, reference=f"statement-{period}")
call_command("royalties_payouts", period=period)
"""
GENERATION_TIMEOUT_S = 1800


def query(prometheus: str, expr: str, *, at: float | None = None) -> list[dict[str, Any]]:
    """An instant query, now or at the unix time ``at``."""
    params = {"query": expr} | ({"time": f"{at:.3f}"} if at is not None else {})
    with urllib.request.urlopen(f"{prometheus}/api/v1/query?{urllib.parse.urlencode(params)}", timeout=60) as response:
        body = json.loads(response.read())
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def value(prometheus: str, expr: str, *, at: float | None = None) -> float | None:
    result = query(prometheus, expr, at=at)
    return float(result[0]["value"][1]) if result else None


def eventually(prometheus: str, expr: str, check: Any, timeout: float = 300) -> float:
    deadline = time.monotonic() + timeout
    found = None
    while time.monotonic() < deadline:
        found = value(prometheus, expr)
        if found is not None and check(found):
            return found
        time.sleep(1)
    raise AssertionError(f"{expr} = {found} after {timeout} s")


@dataclass
class Production:
    """The running stack, its Prometheus, and what the flow on it did so far."""

    stack: deploy_stack.Stack
    prometheus: str
    marks: dict[str, float] = field(default_factory=dict)
    set_id: int | None = None
    generation_id: int | None = None
    release_id: int | None = None
    automatic: int | None = None  # uploads matched by the engine (the rest settled by staff)
    browser_started: bool = False
    flow_done: bool = False
    period: str | None = None
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def stop(self) -> None:
        """Stop the stack's processes (by their own pids): the last test that uses it calls this, so that
        the xdist worker does not carry an idle stack, scraped every 5 s, until its session ends."""
        while self.processes:
            stop(self.processes.pop())

    def mark(self, name: str) -> float:
        """Record the moment after which both targets were scraped (a query at it sees what happened before)."""
        since = time.time() + 1.0
        deadline = time.monotonic() + 10 * SCRAPE_INTERVAL_S
        expr = 'min(timestamp(up{job=~"songforge-.*"}))'
        while (value(self.prometheus, expr) or 0.0) <= since:
            assert time.monotonic() < deadline, f"Prometheus did not scrape both targets after mark {name!r}"
            time.sleep(1)
        self.marks[name] = time.time()
        return self.marks[name]

    def require_flow(self) -> None:
        """The finished flow: the browser test's, or (that test not run in this session) the API's."""
        if self.flow_done:
            return
        if self.browser_started:
            pytest.fail("the browser flow (tests/e2e/test_deploy_e2e.py) failed, so this stack has no finished flow")
        self.api_flow()

    def api_flow(self) -> None:
        """The browser test's flow through the API (token), for a run without that test."""
        stack = self.stack
        api = requests.Session()
        api.headers["Authorization"] = f"Token {stack.token}"
        created = api.post(f"{stack.web_url}/api/upload-sets/", json={"title": "scraped"}, timeout=60)
        assert created.status_code == 201, created.text
        self.set_id = int(created.json()["id"])
        for path in stack.excerpts:
            added = api.post(
                f"{stack.web_url}/api/upload-sets/{self.set_id}/uploads/",
                files={"file": (path.name, path.read_bytes())},
                timeout=120,
            )
            assert added.status_code == 201, added.text
        eventually(self.prometheus, "sum(songforge_identifications_total)", lambda v: v >= 10, timeout=1200)
        self.automatic = int(value(self.prometheus, 'sum(songforge_identifications_total{outcome="matched"})') or 0)
        self.mark("identified")
        out = stack.manage(
            "shell", "-c", f"from tests.deploy.stack import settle_and_generate; settle_and_generate({self.set_id})"
        )
        self.generation_id = int(next(line for line in out.splitlines() if line.startswith("GENERATION ")).split()[1])
        eventually(
            self.prometheus, 'songforge_generations{status="succeeded"}', lambda v: v == 1, timeout=GENERATION_TIMEOUT_S
        )
        self.mark("generated")
        published = api.post(
            f"{stack.web_url}/api/releases/",
            json={
                "generation_id": self.generation_id,
                "title": "Served by Gunicorn",
                "artist_name": "Stack",
                "genre": "Electronic",
                "language": "zxx",
                "ai_disclosure": "Composed and produced by SongForge's AI from ten source songs.",
            },
            timeout=120,
        )
        assert published.status_code == 201, published.text
        self.release_id = int(published.json()["release_id"])
        deadline = time.monotonic() + 300
        while (status := api.get(f"{stack.web_url}/api/releases/{self.release_id}/", timeout=60).json()["status"]) in (
            "draft",
            "queued",
        ):
            assert time.monotonic() < deadline, f"the release stayed {status}"
            time.sleep(1)
        self.flow_done = True

    def statement_and_payouts(self) -> str:
        """Import a distributor statement for the release (twice: the second changes nothing) and create the
        period's payout run; returns the period."""
        if self.period is not None:
            return self.period
        self.require_flow()
        statement = self.stack.root / "statement.csv"
        # One process (each start imports torch: seconds of CPU) runs the operator's three commands.
        out = self.stack.manage("shell", "-c", STATEMENT_AND_PAYOUTS % (self.generation_id, str(statement)))
        assert "Imported statement-" in out, out
        assert "nothing changed" in out, out  # the second import of the same file
        assert "Payout run " in out, out
        period = next(line.split()[1] for line in out.splitlines() if line.startswith("PERIOD "))
        self.period = period
        return period


def production_stack(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, s3_endpoint: str
) -> Iterator[Production]:
    """Start the stack (static files built, as ``make serve`` and the image do) and Prometheus scraping it."""
    prometheus_bin = shutil.which("prometheus")
    if prometheus_bin is None:
        skip_or_fail("needs Debian's prometheus (apt-get install prometheus)")
    assert prometheus_bin is not None
    root = tmp_path_factory.mktemp("production")
    started: list[subprocess.Popen[bytes]] = []
    try:
        stack = deploy_stack.start(
            root, started, redis_url=redis_url, s3_endpoint=s3_endpoint, name="production", static=True
        )
        web, worker = (urllib.parse.urlparse(url).netloc for url in (stack.web_url, stack.worker_metrics_url))
        (root / "token").write_text(deploy_stack.METRICS_TOKEN)
        (root / "prometheus.yml").write_text(
            f"""
global: {{scrape_interval: {SCRAPE_INTERVAL_S}s, scrape_timeout: 5s, evaluation_interval: 5s}}
scrape_configs:
  - job_name: songforge-web
    authorization: {{type: Bearer, credentials_file: {root / "token"}}}
    static_configs: [{{targets: ["{web}"]}}]
  - job_name: songforge-workers
    static_configs: [{{targets: ["{worker}"]}}]
"""
        )
        prom_port = free_port()
        prom = subprocess.Popen(
            [
                prometheus_bin,
                f"--config.file={root / 'prometheus.yml'}",
                f"--storage.tsdb.path={root / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            stdout=(root / "prometheus.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        started.append(prom)
        production = Production(stack=stack, prometheus=f"http://127.0.0.1:{prom_port}", processes=started)
        wait_http(f"{production.prometheus}/-/ready", process=prom, want_ok=True)
        eventually(production.prometheus, 'sum(up{job=~"songforge-.*"})', lambda v: v == 2)
        production.mark("start")
        stack.wait_indexed()
        yield production
    finally:
        for process in reversed(started):
            stop(process)
