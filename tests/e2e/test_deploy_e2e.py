"""The whole flow in Chromium against the production processes: gunicorn (``deploy/entrypoint.sh web``)
and a ``rundramatiq`` worker, on PostgreSQL, Redis (``DRAMATIQ_BROKER_URL``) and S3.

What ``make serve`` + ``make worker`` run, started the way the image starts them (tests/deploy/stack.py):
sign in, upload ten songs, see the worker identify them, generate a short song, play it, publish it.
Nothing runs in the test process but the browser; the sizes are small (8-second uploads, a 10-second
song, 4 fine-tuning steps), the code is the real one. The stack is the session's ``production``
(tests/deploy/production.py): the Prometheus scrape and the restore drill check the flow this test leaves.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.deploy import stack as deploy_stack
from tests.deploy.production import GENERATION_TIMEOUT_S, Production

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.s3,
    pytest.mark.xdist_group("production"),
    pytest.mark.timeout(3600),
]


def test_the_production_processes_run_the_whole_flow_in_the_browser(
    chromium: Any, shoot: Any, production: Production
) -> None:
    assert not production.flow_done, "the flow ran before this test: see the order in tests/conftest.py"
    production.browser_started = True
    stack = production.stack
    context = chromium.new_context(base_url=stack.web_url, viewport={"width": 1200, "height": 900}, bypass_csp=True)
    context.set_default_timeout(60_000)
    page = context.new_page()
    timings: dict[str, float] = {}
    clock = time.monotonic()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.monotonic()
        timings[name] = round(now - clock, 1)
        clock = now

    # sign in
    page.goto("/accounts/login/")
    page.locator("#id_login").fill(deploy_stack.ARTIST_EMAIL)
    page.locator("#id_password").fill(deploy_stack.PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(re.compile(r"/$"))
    lap("sign in")

    # upload ten songs; the worker identifies them while the page polls
    page.get_by_role("navigation").get_by_role("link", name="My songs").click()
    page.get_by_role("button", name="New song").click()
    page.wait_for_url(re.compile(r"/songs/sets/\d+/$"))
    set_url = page.url
    set_id = int(set_url.rstrip("/").split("/")[-1])
    production.set_id = set_id
    page.locator("#id_file").set_input_files([str(path) for path in stack.excerpts])
    page.wait_for_function("document.querySelectorAll('.upload-row.done').length === 10", timeout=180_000)
    lap("upload")
    deadline = time.monotonic() + 600
    while True:
        page.goto(set_url)
        if page.locator(".slot-identifying").count() == 0 and page.locator(".slot").count() >= 10:
            break
        assert time.monotonic() < deadline, "the worker did not identify the uploads within 600 s"
        page.wait_for_timeout(1000)
    automatic = page.locator(".slot-matched").count()
    production.automatic = automatic
    lap("identify")
    production.mark("identified")  # the scrape test compares the series before and after
    shoot(page, "deploy-01-identified")
    if automatic < 10:  # the engine's misses are settled by staff (the journey test drives that review)
        stack.manage("shell", "-c", f"from tests.deploy.stack import settle; settle({set_id})")
        page.goto(set_url)
    assert page.locator(".slot-matched").count() == 10

    # generate a short song: the worker runs the pipeline on the ml queue, the page reloads into the song
    page.locator("#generate-button").click()
    page.wait_for_url(re.compile(r"/songs/\d+/$"))
    production.generation_id = int(page.url.rstrip("/").split("/")[-1])
    expect(page.get_by_role("heading", name="Generating your song")).to_be_visible()
    page.get_by_role("heading", name="Your new song").wait_for(timeout=GENERATION_TIMEOUT_S * 1000)
    lap("generate")
    production.mark("generated")
    shoot(page, "deploy-02-song")

    # play it: the browser fetches the master's listening copy through the site and plays it
    audio = page.locator("audio")
    source = audio.get_attribute("src")
    assert source is not None
    ranged = page.request.get(source, headers={"Range": "bytes=0-1023"})
    assert ranged.status == 206, ranged.status
    assert len(ranged.body()) == 1024
    assert audio.evaluate("a => { a.muted = true; return a.play().then(() => !a.paused); }") is True
    page.wait_for_function("() => document.querySelector('audio').currentTime > 0.5", timeout=30_000)
    lap("play")

    # publish: the worker delivers the release to the outbox
    page.get_by_role("link", name="Publish").click()
    page.get_by_label("Title").fill("Served by Gunicorn")
    page.get_by_label("Artist name").fill("Stack")
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_text("is published (ISRC")).to_be_visible()
    release_url = page.url
    deadline = time.monotonic() + 300
    while (status := page.locator("#release-status").inner_text()) not in ("Submitted", "In review", "Live"):
        assert status not in ("Rejected", "Delivery failed"), status
        assert time.monotonic() < deadline, f"the release stayed {status}"
        page.wait_for_timeout(1000)
        page.goto(release_url)
    lap("publish")
    shoot(page, "deploy-03-release")
    context.close()
    production.flow_done = True
    print(f"automatic matches {automatic}/10; seconds per step {timings}; flow {sum(timings.values()):.0f} s")
