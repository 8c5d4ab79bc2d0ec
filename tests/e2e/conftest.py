"""Browser fixtures: Debian's Chromium driven by Python Playwright against pytest-django's live server.

Never ``playwright install``: the browser is /usr/bin/chromium (``.ci/run`` installs it
with apt). Screenshots go to artifacts/e2e/ for a reviewer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dramatiq
import pytest

from tests.conftest import skip_or_fail

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "e2e"


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One browser per test module: Playwright's sync API runs an event loop in the main thread while it
    is open, which would break later tests that call ``asyncio.run`` (e.g. shazamio's), so it is closed
    after each module rather than kept for the session."""
    if not CHROMIUM.exists():
        skip_or_fail(f"needs Debian's chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser_page(chromium: Any, live_server: Any) -> Iterator[Any]:
    # bypass_csp: Playwright's wait_for_function evaluates its predicate as a string, which the site's
    # CSP (no unsafe-eval) refuses; the CSP itself is asserted in tests/security.
    context = chromium.new_context(base_url=live_server.url, viewport={"width": 1200, "height": 900}, bypass_csp=True)
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def run_jobs(stub_broker: dramatiq.Broker) -> Any:
    """run_jobs("identify", ...) processes what the pages enqueued on those queues, then returns.

    The browser may keep polling meanwhile: the SQLite test database is a WAL-mode file (see
    songforge/settings.py), so the worker thread and the live server's threads each have their
    own connection, as they do on PostgreSQL.
    """

    def _run(*queue_names: str) -> None:
        worker = dramatiq.Worker(stub_broker, queues=set(queue_names), worker_threads=1)
        worker.start()
        try:
            for name in queue_names:
                stub_broker.join(name, timeout=120_000)
            worker.join()
        finally:
            worker.stop()

    return _run


@pytest.fixture
def background_worker(stub_broker: dramatiq.Broker) -> Iterator[Callable[..., dramatiq.Worker]]:
    """background_worker("ml") starts a worker thread on those queues and returns at once.

    The worker runs the enqueued jobs (and the messages they enqueue in turn) while the test
    drives the browser, as the embedded or a separate worker does in production; it is
    stopped when the test ends.
    """
    workers: list[dramatiq.Worker] = []

    def _start(*queue_names: str) -> dramatiq.Worker:
        worker = dramatiq.Worker(stub_broker, queues=set(queue_names), worker_threads=1, worker_timeout=100)
        worker.start()
        workers.append(worker)
        return worker

    yield _start
    for worker in workers:
        worker.stop()


@pytest.fixture
def shoot() -> Any:
    """shoot(page, "name") saves a full-page screenshot under artifacts/e2e/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def _shoot(page: Any, name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return _shoot
