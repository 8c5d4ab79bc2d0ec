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


def test_from_sign_up_to_a_published_song(
    browser_page, shoot, stub_worker, tmp_path, django_capture_on_commit_callbacks
):
    pytest.importorskip("generation.uploads", reason="the uploads service (generation/uploads.py) is not deployed")
    page = browser_page
    excerpts = tiny_catalog(tmp_path)
    corrupt = tmp_path / "corrupt.mp3"
    corrupt.write_bytes(b"ID3 this is not really audio" * 40)
    extra = tmp_path / "eleventh.wav"
    from catalog.fingerprint.synth import song

    extra.write_bytes(wav_bytes(song(seed=4242, seconds=6.0)))

    sign_up(page, "journey@example.com")
    page.get_by_role("link", name="My songs").click()
    page.get_by_role("button", name="New song").click()
    page.wait_for_url(re.compile(r"/songs/sets/\d+/$"))
    shoot(page, "04-new-song-empty")

    # refusal: a corrupt file is refused with a readable message and takes no slot
    page.locator("#id_file").set_input_files([str(corrupt)])
    failed = page.locator(".upload-row.failed .upload-status")
    failed.wait_for()
    assert failed.inner_text()
    assert Upload.objects.count() == 0

    page.locator("#id_file").set_input_files([str(path) for path in excerpts])
    page.wait_for_function("document.querySelectorAll('.upload-row.done').length === 10", timeout=30_000)

    # refusal: generate stays disabled, with the reason, until all ten are matched
    generate = page.locator("#generate-button")
    if Upload.objects.exclude(status=Upload.Status.MATCHED).exists():
        assert generate.is_disabled()
        assert page.locator("#generate-reason").inner_text()
        shoot(page, "05-new-song-identifying")

    # refusal: an 11th upload
    page.locator("#id_file").set_input_files([str(extra)])
    page.wait_for_function("document.querySelectorAll('.upload-row.failed').length === 2")
    assert "10" in page.locator(".upload-row.failed .upload-status").last.inner_text()
    assert Upload.objects.count() == 10

    # wait for identification to settle, then fix anything unmatched by hand
    page.wait_for_function("!document.querySelector('.slot-identifying')", timeout=30_000)
    for upload in Upload.objects.exclude(status=Upload.Status.MATCHED).order_by("id"):
        index = int(upload.original_name[8:10])
        page.get_by_role("link", name=f"Find the recording for {upload.original_name}").click()
        page.locator("#fix-panel input[name=q]").fill(f"Journey Song {index:02d}")
        page.get_by_role("button", name=f"Pick Journey Song {index:02d} by Band {chr(65 + index)}").click()
        page.wait_for_load_state()
    assert Upload.objects.filter(status=Upload.Status.MATCHED).count() == 10
    page.reload()
    assert page.locator(".slot-matched").count() == 10
    assert generate.is_enabled()
    shoot(page, "05-new-song-matched")

    generate.click()
    page.wait_for_url(re.compile(r"/songs/\d+/$"))
    shoot(page, "06-generating")
    started = Generation.objects.get()
    assert page.get_by_role("heading", name=re.compile("Generating|Your song")).is_visible()

    # the model itself is exercised by the generation tests; a finished song stands in for it here
    upload_set = UploadSet.objects.get()
    if started.status in (Generation.Status.QUEUED, Generation.Status.RUNNING):
        page.get_by_role("button", name="Cancel").click() if page.get_by_role("button", name="Cancel").count() else None
    generation = finished_generation(upload_set)
    page.goto(f"/songs/{generation.pk}/")
    shoot(page, "07-song")
    page.get_by_role("link", name="Publish").click()
    page.get_by_label("Artist name").fill("Journey")
    shoot(page, "08-publish")
    page.get_by_role("button", name="Publish").click()
    assert page.get_by_text("is published (ISRC").is_visible()
    shoot(page, "09-release")
    assert get_user_model().objects.get(email="journey@example.com").upload_sets.count() == 1
