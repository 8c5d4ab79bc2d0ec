"""The artist's whole journey in Chromium: upload ten songs, see them matched, generate, listen, keep a take, publish.

A tiny catalog of ten procedurally generated songs is built through ``catalog.services``
(and so handed to identification indexing). Identification runs in a Dramatiq worker
thread on the test broker. Any upload the engine leaves unmatched is matched by hand
through the search panel, as an artist would. Then the real generation pipeline (analyse,
transcribe, fine-tune the committed catalog model, compose, guard, synthesise, master,
report) runs in a worker thread while the generating page polls its progress; nothing of
the song is written by the test. The generation makes two takes (one fine-tune, two seeds); the
artist listens to both, keeps the second and publishes it. Only the sizes are small: 8-second
uploads, takes of about half a minute and a few fine-tuning steps, so the journey takes a minute or two.
"""

from __future__ import annotations

import io
import re
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.files.base import ContentFile
from playwright.sync_api import expect

from catalog.models import RecordingShare
from catalog.services import recording_shares_set, recording_upsert, recordings_notify_imported
from distribution.models import Release
from generation.models import Generation
from tests.web.conftest import PASSWORD
from uploads.models import MatchClaim, Upload
from uploads.services import match_claim_approve

# The real pipeline makes two takes (the shared stages once, then compose..report twice): more than the
# suite's 300 s default on a loaded 2-core machine.
pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.django_db(transaction=True), pytest.mark.timeout(1200)]

# Small sizes, the real code. The composer's form is 7 units of verse/chorus/bridge sections (intro and
# outro are half units); from the requested length alone it picks 8 to 16 bars a section (two minutes
# or more), so the test also sets the bars per section: 2 bars make a song of about half a minute.
SONG_SECONDS = 30  # settings.GENERATION_SECONDS (production: 150)
SECTION_BARS = 2  # settings.GENERATION_SECTION_BARS (production: 0, i.e. from the requested length)
FINETUNE_STEPS = 4  # settings.GENERATION_FINETUNE_STEPS (production: 30)
PIPELINE_TIMEOUT_S = 360  # two takes
PROGRESS_JS = """() => {
  const stage = document.querySelector('#stage'), percent = document.querySelector('#percent');
  return stage && percent ? [stage.textContent.trim(), parseInt(percent.textContent, 10)] : null;
}"""


def wav_bytes(samples: np.ndarray, rate: int = 16000) -> bytes:
    pcm = (np.clip(samples, -1.0, 1.0) * 30000).astype("<i2").tobytes()
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)
    return buffer.getvalue()


def tiny_catalog(folder: Path, count: int = 10) -> list[Path]:
    """Ten catalog recordings with audio and rights; returns an 8-second excerpt file of each to upload."""
    from catalog.services import rights_holder_get_or_create
    from demo.fingerprint_synth import song

    label, _ = rights_holder_get_or_create(name="Tiny Label", kind="label")
    writer, _ = rights_holder_get_or_create(name="Ada Writer", kind="writer")
    excerpts, ids = [], []
    for index in range(count):
        audio = song(seed=1000 + index, seconds=16.0)
        recording, _ = recording_upsert(
            external_id=f"journey-{index:02d}",
            title=f"Journey Song {index:02d}",
            artist=f"Band {chr(65 + index)}",
            album="Tiny Album",
            isrc=f"QZS8F26{index:05d}",
        )
        recording.audio.save(f"journey-{index:02d}.wav", ContentFile(wav_bytes(audio)), save=True)
        for side, holder in ((RecordingShare.Side.MASTER, label), (RecordingShare.Side.PUBLISHING, writer)):
            recording_shares_set(recording_id=recording.pk, side=side, shares=[(holder.pk, 10_000)], by_user_id=None)
        ids.append(recording.pk)
        path = folder / f"my-song-{index:02d}.wav"
        path.write_bytes(wav_bytes(audio[3 * 16000 : 11 * 16000]))
        excerpts.append(path)
    recordings_notify_imported(ids)
    return excerpts


def sign_up(page, email: str) -> None:
    page.goto("/accounts/signup/")
    page.locator("#id_email").fill(email)
    page.locator("#id_password1").fill(PASSWORD)
    page.locator("#id_password2").fill(PASSWORD)
    page.get_by_role("button", name="Sign Up").click()
    page.wait_for_url(re.compile(r"/$"))
    # the artist follows the confirmation link (uploading needs a confirmed address)
    EmailAddress.objects.filter(email=email).update(verified=True)


def pick_by_hand(page, file_name: str, action: str) -> None:
    """Open the search panel of one upload, search its title and pick the right recording."""
    index = int(file_name[8:10])
    page.get_by_role("link", name=f"{action} {file_name}").click()
    search = page.locator("input[name=q]")
    search.fill(f"journey song {index:02d}")
    search.press("Enter")  # htmx swaps the results in (or, before htmx is ready, the page itself searches)
    page.get_by_role("button", name=f"Pick Journey Song {index:02d} by Band {chr(65 + index)}").click()
    page.wait_for_url(re.compile(r"/songs/sets/\d+/$"))
    expect(page.get_by_text(f"{file_name}: your match to Band {chr(65 + index)}")).to_be_visible()


def _measured(report: dict[str, Any], name: str) -> Any:
    """What the song page shows for a figure: synthesis's measurement, else the composed value."""
    value = (report.get("synthesis") or {}).get(name)
    return report.get(name) if value is None else value


def watch_progress(page, generation_id: int, shoot) -> list[tuple[str, int]]:
    """Watch the polling progress page until it reloads itself into the finished song.

    Returns each distinct (stage, percent) the page displayed. Fails with the job's error if
    the pipeline fails, and after PIPELINE_TIMEOUT_S.
    """
    seen: list[tuple[str, int]] = []
    deadline = time.monotonic() + PIPELINE_TIMEOUT_S
    shot = False
    while time.monotonic() < deadline:
        try:
            shown = page.evaluate(PROGRESS_JS)
        except Exception:  # the page is reloading itself (htmx's refresh when the job ends)
            shown = None
        if shown and (not seen or tuple(shown) != seen[-1]):
            seen.append((shown[0], shown[1]))
            if not shot and shown[1] > 0:
                shoot(page, "journey-06-generating-progress")
                shot = True
        status = Generation.objects.filter(pk=generation_id).values_list("status", flat=True).get()
        if status == Generation.Status.FAILED:
            pytest.fail(f"the pipeline failed: {Generation.objects.get(pk=generation_id).error}")
        if status == Generation.Status.SUCCEEDED and shown is None and page.locator("audio").count() == 2:
            return seen
        page.wait_for_timeout(250)
    pytest.fail(f"the pipeline did not finish within {PIPELINE_TIMEOUT_S} s; the page showed {seen}")


def test_from_sign_up_to_a_published_song(browser_page, shoot, run_jobs, background_worker, settings, tmp_path):
    from demo.fingerprint_synth import song

    settings.GENERATION_SECONDS = SONG_SECONDS
    settings.GENERATION_SECTION_BARS = SECTION_BARS
    settings.GENERATION_FINETUNE_STEPS = FINETUNE_STEPS
    page = browser_page
    excerpts = tiny_catalog(tmp_path)
    run_jobs("indexing")  # the catalog hands its new audio to the fingerprint index
    corrupt = tmp_path / "corrupt.mp3"
    corrupt.write_bytes(b"ID3" + b"\x00 this is not really audio" * 40)
    eleventh = tmp_path / "eleventh.wav"
    eleventh.write_bytes(wav_bytes(song(seed=4242, seconds=4.0)))

    sign_up(page, "journey@example.com")
    page.get_by_role("navigation").get_by_role("link", name="My songs").click()
    page.get_by_role("button", name="New song").click()
    page.wait_for_url(re.compile(r"/songs/sets/\d+/$"))
    shoot(page, "journey-04-new-song-empty")

    # refusal: a corrupt file gets a readable message and takes no slot
    page.locator("#id_file").set_input_files([str(corrupt)])
    failed = page.locator(".upload-row.failed .upload-status")
    failed.wait_for()
    assert "damaged" in failed.inner_text() or "no playable audio" in failed.inner_text()
    assert Upload.objects.count() == 0

    # ten songs through the widget, each with its own progress bar
    page.locator("#id_file").set_input_files([str(path) for path in excerpts])
    page.wait_for_function("document.querySelectorAll('.upload-row.done').length === 10", timeout=60_000)
    assert page.locator(".upload-row progress").count() == 11

    # refusal: an 11th upload
    page.locator("#id_file").set_input_files([str(eleventh)])
    page.wait_for_function("document.querySelectorAll('.upload-row.failed').length === 2")
    assert "delete one first" in page.locator(".upload-row.failed .upload-status").last.inner_text()
    assert Upload.objects.count() == 10

    # refusal: Generate is disabled, with the reason, while songs are being identified
    page.wait_for_function("document.querySelectorAll('.slot-identifying').length === 10")
    assert page.locator("#generate-button").is_disabled()
    assert "wait for identification to finish" in page.locator("#generate-reason").inner_text()
    shoot(page, "journey-05-new-song-identifying")

    set_url = page.url
    run_jobs("identify")  # while the page polls the slots
    automatic = Upload.objects.filter(status=Upload.Status.MATCHED).count()
    page.goto(set_url)
    assert page.locator(".slot-identifying").count() == 0

    # anything the engine could not match is found by hand through the search panel
    shoot(page, "journey-05-new-song-identified")
    for upload in Upload.objects.exclude(status=Upload.Status.MATCHED).order_by("id"):
        assert page.locator("#generate-button").is_disabled()
        pick_by_hand(page, upload.original_name, "Find the recording for")

    # refusal: with a song deleted, Generate is disabled and says why
    page.get_by_role("button", name=f"Delete {excerpts[9].name}").click()
    page.wait_for_url(re.compile(r"/songs/sets/\d+/$"))
    expect(page.get_by_text(f"Deleted {excerpts[9].name}.")).to_be_visible()
    assert page.locator("#generate-button").is_disabled()
    assert "Upload 1 more song(s)" in page.locator("#generate-reason").inner_text()
    shoot(page, "journey-05-new-song-not-ready")
    page.locator("#id_file").set_input_files([str(excerpts[9])])
    page.wait_for_function("document.querySelectorAll('.upload-row.done').length === 1")
    run_jobs("identify")
    page.goto(set_url)
    if not Upload.objects.get(original_name=excerpts[9].name).recording_id:
        pick_by_hand(page, excerpts[9].name, "Find the recording for")

    # a match can be changed by hand, but claiming the recording the engine already found is refused
    # (a claim must dispute something) and changes nothing
    method = Upload.objects.get(original_name=excerpts[3].name).match_method
    page.get_by_role("link", name=f"Change the match of {excerpts[3].name}").click()
    page.locator("input[name=q]").fill("journey song 03")
    page.locator("input[name=q]").press("Enter")
    page.get_by_role("button", name="Pick Journey Song 03 by Band D").click()
    page.wait_for_url(re.compile(r"/songs/sets/\d+/$"))
    expect(page.get_by_text(f"{excerpts[3].name} is already matched to that recording.")).to_be_visible()
    assert Upload.objects.get(original_name=excerpts[3].name).match_method == method

    # matches picked by hand wait for a staff reviewer (someone else) before the set can generate
    page.reload()
    if MatchClaim.objects.filter(status=MatchClaim.Status.PENDING).exists():
        assert page.locator("#generate-button").is_disabled()
        assert page.locator(".slot-review").count() >= 1
    reviewer = get_user_model().objects.create_user("reviewer", "reviewer@example.com", PASSWORD, is_staff=True)
    reviewer.user_permissions.add(Permission.objects.get(codename="review_matchclaim"))
    for claim in MatchClaim.objects.filter(status=MatchClaim.Status.PENDING).order_by("pk"):
        match_claim_approve(claim_id=claim.pk, reviewer_id=reviewer.pk)

    assert Upload.objects.filter(status=Upload.Status.MATCHED).count() == 10
    matches = dict(Upload.objects.values_list("original_name", "recording__external_id"))
    assert matches == {path.name: f"journey-{path.name[8:10]}" for path in excerpts}
    page.reload()
    assert page.locator(".slot-matched").count() == 10
    generate = page.locator("#generate-button")
    assert generate.is_enabled()
    shoot(page, "journey-05-new-song-matched")

    generate.click()
    page.wait_for_url(re.compile(r"/songs/\d+/$"))
    expect(page.get_by_role("heading", name="Generating your song")).to_be_visible()
    expect(page.locator("#progress-bar")).to_be_visible()
    assert page.locator("#stage").inner_text() == "waiting for a worker"
    shoot(page, "journey-06-generating")
    started = Generation.objects.get(take_of__isnull=True)  # the song (its take 1); take 2 is its own row

    # leaving and coming back shows the same job; cancelling it stops it
    page.goto("/songs/")
    page.get_by_role("link", name=re.compile(f"#{started.pk}")).click()
    assert page.url.endswith(f"/songs/{started.pk}/")
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_text("Generation cancelled.")).to_be_visible()
    assert set(Generation.objects.values_list("status", flat=True)) == {Generation.Status.CANCELLED}

    # generate again, asking for about one minute; a worker thread now runs the real pipeline
    # while the page polls its progress
    page.goto(set_url)
    assert page.locator("#id_minutes").input_value() == "2"  # the default length
    page.locator("#id_minutes").select_option("1")
    page.locator("#generate-button").click()
    page.wait_for_url(re.compile(r"/songs/\d+/$"))
    generation = Generation.objects.exclude(pk=started.pk).get(take_of__isnull=True)
    second_take = Generation.objects.get(take_of=generation)
    assert page.url.endswith(f"/songs/{generation.pk}/")
    assert generation.report["requested_seconds"] == second_take.report["requested_seconds"] == 60
    background_worker("ml")
    seen = watch_progress(page, generation.pk, shoot)
    assert page.url.endswith(f"/songs/{generation.pk}/")  # the page turned into the song by itself
    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUCCEEDED, generation.error
    stages = [stage for stage, _ in seen]
    percents = [percent for _, percent in seen]
    assert percents == sorted(percents), seen  # the bar only moves forward
    assert len(set(stages)) >= 3, seen  # the page showed the job moving through its stages, live
    assert "Synthesise (take 1)" in stages, seen
    assert "Synthesise (take 2)" in stages, seen
    print(f"progress seen on the page: {seen}")

    # the page reloaded itself into the song: both takes' real masters play, their real reports are shown
    page.get_by_role("heading", name="Your new song").wait_for()
    assert list(generation.stages.order_by("id").values_list("name", "status")) == [
        (name, "done")
        for name in ("analyse", "transcribe", "finetune", "compose", "guard", "synthesise", "master", "report")
    ]
    assert list(second_take.stages.order_by("id").values_list("name", "status")) == [
        (name, "done") for name in ("compose", "guard", "synthesise", "master", "report")
    ]  # the analysis and the fine-tune are shared: done once for both takes
    second_take.refresh_from_db()
    assert second_take.status == Generation.Status.SUCCEEDED
    assert second_take.master_wav.name != generation.master_wav.name
    assert page.locator("audio").nth(1).get_attribute("src") in (
        f"/songs/{second_take.pk}/audio/m4a",
        f"/songs/{second_take.pk}/audio/mp3",
    )
    # the first take is checked in depth
    take_one = page.locator(f"#take-{generation.pk}")
    audio_src = take_one.locator("audio").get_attribute("src")
    assert audio_src in (f"/songs/{generation.pk}/audio/m4a", f"/songs/{generation.pk}/audio/mp3"), audio_src
    listen = generation.listen_m4a if audio_src.endswith("m4a") else generation.listen_mp3
    ranged = page.request.get(audio_src, headers={"Range": "bytes=0-1023"})
    assert ranged.status == 206
    assert ranged.headers["content-range"] == f"bytes 0-1023/{listen.size}"
    assert len(ranged.body()) == 1024
    with listen.open("rb") as handle:
        assert ranged.body() == handle.read(1024)
    assert listen.size > 20_000  # seconds of encoded audio, not a placeholder
    assert generation.master_wav.size > 44_100 * 2 * 10  # at least ten seconds of 16-bit audio

    report = take_one.get_by_role("region", name="Report")
    tempo = report.locator("dt:text-is('Tempo') + dd").inner_text()
    key = report.locator("dt:text-is('Key') + dd").inner_text()
    assert re.fullmatch(r"\d+(\.\d)? BPM", tempo), tempo
    assert re.fullmatch(r"[A-G][#b♯♭]? (major|minor)", key), key
    assert float(tempo.split()[0]) == pytest.approx(float(_measured(generation.report, "tempo_bpm")), abs=0.05)
    minutes, seconds = report.locator("dt:text-is('Length') + dd").inner_text().split(":")
    assert 20 <= int(minutes) * 60 + int(seconds) <= 50  # 14 bars at the songs' tempo
    influence = take_one.get_by_role("region", name=re.compile("How much each of your ten songs"))
    rows = influence.locator("tbody tr")
    assert rows.count() == 10
    names = sorted(rows.nth(i).locator("td").first.inner_text() for i in range(10))
    assert names == sorted(f"Band {chr(65 + i)} – Journey Song {i:02d}" for i in range(10))
    shares = generation.report["influence"]
    assert sum(row["share_bps"] for row in shares) == 10_000
    method = generation.report["influence_method"]
    assert not method["method"].startswith("equal"), method  # measured by the models, not split evenly
    assert method["tokens_scored"] > 0, method
    shoot(page, "journey-07-song")

    # nothing can be published before a take is kept; the artist keeps take 2 and publishes it
    assert page.get_by_role("link", name=re.compile("^Publish")).count() == 0
    expect(page.locator("#takes-hint")).to_contain_text("keep one")
    page.get_by_role("button", name="Keep take 2").click()
    expect(page.get_by_text("You kept take 2; it is the one you can publish.")).to_be_visible()
    assert list(Generation.objects.filter(is_kept=True).values_list("pk", flat=True)) == [second_take.pk]
    page.get_by_role("link", name="Publish take 2").click()
    assert page.url.endswith(f"/releases/publish/{second_take.pk}")
    page.get_by_label("Title").fill("Ten Roads Home")  # the pipeline names no song: the artist does
    page.get_by_label("Artist name").fill("Journey")
    shoot(page, "journey-08-publish")
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_text("is published (ISRC")).to_be_visible()
    release_url = page.url
    run_jobs("distribution")  # the outbox distributor delivers the release
    page.goto(release_url)
    delivered = page.locator("#release-status").inner_text()
    assert delivered in ("Submitted", "In review", "Live"), delivered
    assert any(path.is_file() for path in Path(settings.OUTBOX_DIR).rglob("*"))  # what the outbox delivered
    shoot(page, "journey-09-release")
    assert get_user_model().objects.get(email="journey@example.com").upload_sets.count() == 1
    assert Release.objects.get().generation_id == second_take.pk  # the kept take is the one released
    print(f"identification matched {automatic} of 10 automatically")
