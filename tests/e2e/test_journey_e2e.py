"""The artist's whole journey in Chromium: upload ten songs, see them matched, generate, listen, publish.

A tiny catalog of ten procedurally generated songs is built through ``catalog.services``
(and so handed to identification indexing). Identification runs in a Dramatiq worker
thread on the test broker. Any upload the engine leaves unmatched is matched by hand
through the search panel, as an artist would. The real generation model is too slow
for a browser test: once the page has started the job, the finished song is written
to the database and the song and publish pages are driven from there.
"""

from __future__ import annotations

import io
import re
import wave
from pathlib import Path

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile

from catalog.models import RecordingShare
from catalog.services import recording_shares_set, recording_upsert, recordings_notify_imported
from generation.models import Generation, Upload, UploadSet
from tests.web.conftest import PASSWORD, finished_generation

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


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
    from catalog.fingerprint.synth import song
    from catalog.services import rights_holder_get_or_create

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


def pick_by_hand(page, file_name: str, action: str) -> None:
    """Open the search panel of one upload, search its title and pick the right recording."""
    index = int(file_name[8:10])
    page.get_by_role("link", name=f"{action} {file_name}").click()
    search = page.locator("input[name=q]")
    search.fill(f"journey song {index:02d}")
    search.press("Enter")  # htmx swaps the results in (or, before htmx is ready, the page itself searches)
    page.get_by_role("button", name=f"Pick Journey Song {index:02d} by Band {chr(65 + index)}").click()
    page.wait_for_url(re.compile(r"/songs/sets/\d+/$"))
    assert page.get_by_text(f"{file_name} is now matched to Band {chr(65 + index)}").is_visible()


def test_from_sign_up_to_a_published_song(browser_page, shoot, run_jobs, tmp_path):
    from catalog.fingerprint.synth import song

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
    page.goto("/songs/")  # a page that does not poll while the worker writes (see run_jobs)
    run_jobs("identify")
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
    assert page.get_by_text(f"Deleted {excerpts[9].name}.").is_visible()
    assert page.locator("#generate-button").is_disabled()
    assert "Upload 1 more song(s)" in page.locator("#generate-reason").inner_text()
    shoot(page, "journey-05-new-song-not-ready")
    page.locator("#id_file").set_input_files([str(excerpts[9])])
    page.wait_for_function("document.querySelectorAll('.upload-row.done').length === 1")
    page.goto("/songs/")
    run_jobs("identify")
    page.goto(set_url)
    if not Upload.objects.get(original_name=excerpts[9].name).recording_id:
        pick_by_hand(page, excerpts[9].name, "Find the recording for")

    # a doubtful automatic match can be overridden by hand
    pick_by_hand(page, excerpts[3].name, "Change the match of")
    assert Upload.objects.get(original_name=excerpts[3].name).match_method == Upload.Method.MANUAL

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
    assert page.get_by_role("heading", name="Generating your song").is_visible()
    assert page.locator("#progress-bar").is_visible()
    shoot(page, "journey-06-generating")
    started = Generation.objects.get()

    # leaving and coming back shows the same job
    page.goto("/songs/")
    page.get_by_role("link", name=re.compile(f"#{started.pk}")).click()
    assert page.url.endswith(f"/songs/{started.pk}/")
    page.get_by_role("button", name="Cancel").click()
    assert page.get_by_text("Generation cancelled.").is_visible()
    assert Generation.objects.get().status == Generation.Status.CANCELLED

    # the model itself is exercised by the generation tests; a finished song stands in for it here
    generation = finished_generation(UploadSet.objects.get())
    page.goto(f"/songs/{generation.pk}/")
    influence = page.get_by_role("region", name=re.compile("How much each of your ten songs"))
    assert influence.get_by_role("cell", name="Band A – Journey Song 00").is_visible()
    shoot(page, "journey-07-song")
    page.get_by_role("link", name="Publish").click()
    page.get_by_label("Artist name").fill("Journey")
    shoot(page, "journey-08-publish")
    page.get_by_role("button", name="Publish").click()
    assert page.get_by_text("is published (ISRC").is_visible()
    release_url = page.url
    page.goto("/songs/")
    run_jobs("distribution")  # the outbox distributor delivers the release
    page.goto(release_url)
    assert page.locator("#release-status").inner_text() != "Queued for delivery"
    shoot(page, "journey-09-release")
    assert get_user_model().objects.get(email="journey@example.com").upload_sets.count() == 1
    print(f"identification matched {automatic} of 10 automatically")
