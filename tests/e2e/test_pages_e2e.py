"""End-to-end in Chromium: accounts, the song page, publishing, and refusals between artists.

The finished generation is created in the database so that each page can be checked in a
few seconds; test_journey_e2e.py has the real pipeline produce a song through the pages.
"""

from __future__ import annotations

import datetime
import re

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import expect

from distribution.models import Release
from generation.models import Generation
from tests.web.conftest import PASSWORD, finished_generation, make_recordings, make_upload
from uploads.models import Upload, UploadSet

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def import_statement(isrc: str, folder) -> None:
    """A distributor statement with three months of plays in a few stores and territories."""
    from royalties.imports import rows_to_csv, statement_import

    rows = []
    for month, factor in (("2026-09", 1), ("2026-10", 3), ("2026-11", 5)):
        for store, territory, units, cents in (
            ("Spotify", "DE", 1200, 420),
            ("Apple Music", "US", 700, 560),
            ("Deezer", "FR", 300, 110),
        ):
            rows.append(
                {
                    "period": month,
                    "store": store,
                    "territory": territory,
                    "isrc": isrc,
                    "units": units * factor,
                    "net_revenue": f"{cents * factor / 100:.2f}",
                    "currency": "EUR",
                }
            )
    path = folder / "statement.csv"
    path.write_text(rows_to_csv(rows))
    statement_import(path=path)


def sign_in(page, email: str) -> None:
    page.goto("/accounts/login/")
    page.locator("#id_login").fill(email)
    page.locator("#id_password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(re.compile(r"/$"))


def test_artist_signs_up_verifies_signs_out_and_in(browser_page, shoot, mailoutbox):
    page = browser_page
    page.goto("/")
    page.get_by_role("link", name="Sign up").first.click()
    page.locator("#id_email").fill("new.artist@example.com")
    page.locator("#id_password1").fill(PASSWORD)
    page.locator("#id_password2").fill(PASSWORD)
    shoot(page, "pages-01-sign-up")
    page.get_by_role("button", name="Sign Up").click()
    page.wait_for_url(re.compile(r"/$"))
    assert page.locator(".who").inner_text() == "new.artist@example.com"

    found = re.search(r"https?://\S+/accounts/confirm-email/\S+/", mailoutbox[0].body)
    assert found is not None
    link = found.group(0)
    page.goto(link)
    shoot(page, "pages-02-verify-email")
    page.get_by_role("button", name="Confirm").click()
    assert EmailAddress.objects.get(email="new.artist@example.com").verified

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state()
    if page.get_by_role("button", name="Sign Out").count():  # allauth's confirmation page
        page.get_by_role("button", name="Sign Out").click()
    expect(page.get_by_role("link", name="Sign in", exact=True)).to_be_visible()
    page.goto("/accounts/login/")
    page.locator("#id_login").fill("new.artist@example.com")
    page.locator("#id_password").fill("wrong-password")
    page.get_by_role("button", name="Sign In").click()
    expect(page.get_by_text("not correct")).to_be_visible()
    shoot(page, "pages-03-sign-in-error")
    sign_in(page, "new.artist@example.com")


def test_song_page_plays_and_the_song_is_published(browser_page, shoot, tmp_path):
    page = browser_page
    owner = get_user_model().objects.create_user("owner", "owner@example.com", PASSWORD)
    upload_set = UploadSet.objects.create(owner=owner)
    for index, recording in enumerate(make_recordings(10)):
        make_upload(upload_set, index, status=Upload.Status.MATCHED, recording=recording)
    generation = finished_generation(upload_set)
    sign_in(page, "owner@example.com")

    page.goto(f"/songs/{generation.pk}/")
    expect(page.get_by_role("heading", name="Morning Forge")).to_be_visible()
    expect(page.get_by_text("118.0 BPM")).to_be_visible()
    expect(page.get_by_text("Passed.")).to_be_visible()
    page.wait_for_function("document.querySelector('.player').classList.contains('has-peaks')")
    ranged = page.request.get(f"/songs/{generation.pk}/audio/mp3", headers={"Range": "bytes=0-3"})
    assert ranged.status == 206
    assert ranged.body() == b"ID3f"
    shoot(page, "pages-06-song")

    page.get_by_role("link", name="Publish").click()
    expect(page.get_by_role("cell", name="Tiny Label")).to_be_visible()
    shoot(page, "pages-07-publish")
    page.get_by_label("Artist name").fill("The Owner")
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_text("is published (ISRC")).to_be_visible()
    expect(page.get_by_role("heading", name="Distribution status")).to_be_visible()
    shoot(page, "pages-08-release")

    page.goto("/songs/")  # no polling page while the statement is imported
    import_statement(Release.objects.get().isrc, tmp_path)
    page.goto("/earnings/")
    expect(page.get_by_text("plays").first).to_be_visible()
    shoot(page, "pages-09-earnings")

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"/songs/{generation.pk}/")
    shoot(page, "pages-10-song-phone")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_another_artists_song_is_not_found(browser_page, shoot):
    page = browser_page
    owner = get_user_model().objects.create_user("owner", "owner@example.com", PASSWORD)
    get_user_model().objects.create_user("other", "other@example.com", PASSWORD)
    upload_set = UploadSet.objects.create(owner=owner)
    generation = finished_generation(upload_set)
    sign_in(page, "other@example.com")
    response = page.goto(f"/songs/{generation.pk}/")
    assert response.status == 404
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    shoot(page, "pages-11-not-found")


def test_new_song_page_shows_each_state_and_the_search_panel(browser_page, shoot):
    page = browser_page
    owner = get_user_model().objects.create_user("owner", "owner@example.com", PASSWORD)
    recordings = make_recordings(10)
    upload_set = UploadSet.objects.create(owner=owner)
    for index in range(7):
        make_upload(upload_set, index, status=Upload.Status.MATCHED, recording=recordings[index])
    make_upload(upload_set, 7, status=Upload.Status.IDENTIFYING)
    unmatched = make_upload(upload_set, 8, status=Upload.Status.UNMATCHED)
    sign_in(page, "owner@example.com")
    page.goto(f"/songs/sets/{upload_set.pk}/")
    assert page.locator("#generate-button").is_disabled()
    expect(page.locator("#generate-reason")).to_be_visible()
    assert page.locator(".slot-empty").count() == 1

    # identification finishing elsewhere shows up without a reload (htmx polling)
    Upload.objects.filter(upload_set=upload_set, status=Upload.Status.IDENTIFYING).update(
        status=Upload.Status.UNMATCHED
    )
    page.wait_for_function("!document.querySelector('.slot-identifying')", timeout=5_000)

    page.get_by_role("link", name=f"Find the recording for {unmatched.original_name}").click()
    search = page.locator("#fix-panel input[name=q]")
    search.wait_for()
    assert search.evaluate("element => element === document.activeElement")
    search.fill("tiny sogn 08")
    page.get_by_role("button", name="Pick Tiny Song 08 by Band I").wait_for()
    shoot(page, "pages-05-new-song-fix-match")
    page.set_viewport_size({"width": 390, "height": 844})
    shoot(page, "pages-05-new-song-phone")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_generating_page_follows_the_job_live_and_opens_the_song(browser_page, shoot):
    page = browser_page
    owner = get_user_model().objects.create_user("owner", "owner@example.com", PASSWORD)
    upload_set = UploadSet.objects.create(owner=owner)
    for index, recording in enumerate(make_recordings(10)):
        make_upload(upload_set, index, status=Upload.Status.MATCHED, recording=recording)
    started = timezone.now() - datetime.timedelta(seconds=42)
    job = Generation.objects.create(
        upload_set=upload_set,
        status=Generation.Status.RUNNING,
        stage="compose",
        progress_percent=40,
        started_at=started,
    )
    sign_in(page, "owner@example.com")
    page.goto(f"/songs/{job.pk}/")
    assert page.locator("#stage").inner_text() == "Compose"
    assert page.locator("#percent").inner_text() == "40%"

    Generation.objects.filter(pk=job.pk).update(stage="synthesise", progress_percent=70)
    page.wait_for_function("document.querySelector('#percent').textContent === '70%'", timeout=5_000)
    assert page.locator("#stage").inner_text() == "Synthesise"
    shoot(page, "pages-04-generating")

    # the pipeline finishes: the page turns into the song by itself
    finished = finished_generation(upload_set)
    Generation.objects.filter(pk=job.pk).update(
        status=Generation.Status.SUCCEEDED,
        progress_percent=100,
        report=finished.report,
        is_original=True,
        listen_mp3=finished.listen_mp3.name,
        peaks=finished.peaks.name,
        title="Morning Forge",
        finished_at=timezone.now(),
    )
    page.get_by_role("heading", name="Morning Forge").wait_for(timeout=5_000)
    assert page.url.endswith(f"/songs/{job.pk}/")
