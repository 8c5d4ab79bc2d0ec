"""Fixtures for the page tests: named artists, a tiny catalog with rights, sets and songs.

Catalog rows are made through ``catalog.services``; uploads and generations are
rows in the state the pipeline leaves them in (the pages only read them).
"""

from __future__ import annotations

import datetime
import io
import json
import math
import struct
import wave
from fractions import Fraction
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.utils import timezone

from catalog.models import Recording, RecordingShare
from catalog.services import recording_shares_set, recording_upsert, rights_holder_get_or_create
from generation.models import Generation
from generation.services.sources import generation_sources_record
from uploads.models import Upload, UploadSet

PASSWORD = "a-long-Passphrase-42"
# audiowaveform layout, as generation/synthesis writes it: [min, max] pairs, 8-bit
PEAKS = {"version": 2, "channels": 1, "bits": 8, "length": 4, "data": [-12, 13, -60, 64, -120, 127, -40, 38]}


@pytest.fixture
def owner(db: None) -> Any:
    user = get_user_model().objects.create_user("owner", "owner@example.com", PASSWORD)
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


@pytest.fixture
def outsider(db: None) -> Any:
    return get_user_model().objects.create_user("outsider", "outsider@example.com", PASSWORD)


@pytest.fixture
def owner_client(client: Any, owner: Any) -> Any:
    client.force_login(owner)
    return client


def make_recordings(count: int) -> list[Recording]:
    label, _ = rights_holder_get_or_create(name="Tiny Label", kind="label")
    publisher, _ = rights_holder_get_or_create(name="Tiny Publishing", kind="publisher")
    writer, _ = rights_holder_get_or_create(name="Ada Writer", kind="writer")
    recordings = []
    for index in range(count):
        recording, _ = recording_upsert(
            external_id=f"tiny-{index:02d}",
            title=f"Tiny Song {index:02d}",
            artist=f"Band {chr(65 + index)}",
            album="Tiny Album",
            isrc=f"QZS8F26{index:05d}",
        )
        recording_shares_set(
            recording_id=recording.pk, side=RecordingShare.Side.MASTER, shares=[(label.pk, 10_000)], by_user_id=None
        )
        recording_shares_set(
            recording_id=recording.pk,
            side=RecordingShare.Side.PUBLISHING,
            shares=[(publisher.pk, 6_000), (writer.pk, 4_000)],
            by_user_id=None,
        )
        recordings.append(recording)
    return recordings


@pytest.fixture
def recordings(db: None) -> list[Recording]:
    return make_recordings(10)


def make_upload(upload_set: UploadSet, index: int, *, status: str, recording: Recording | None = None) -> Upload:
    return Upload.objects.create(
        upload_set=upload_set,
        original_name=f"track-{index:02d}.wav",
        audio=f"uploads/track-{index:02d}.wav",
        audio_format="wav",
        size_bytes=1000 + index,
        sha256=f"{index:064x}",
        status=status,
        recording=recording,
        match_method=Upload.Method.FINGERPRINT if recording else "",
        confidence=0.93 if recording else None,
        failure_reason="The file is not audio." if status == Upload.Status.FAILED else "",
    )


@pytest.fixture
def matched_set(owner: Any, recordings: list[Recording]) -> UploadSet:
    upload_set = UploadSet.objects.create(owner=owner)
    for index, recording in enumerate(recordings):
        make_upload(upload_set, index, status=Upload.Status.MATCHED, recording=recording)
    return upload_set


def tone_wav(*, seconds: float = 0.5, frequency: float = 440.0, rate: int = 8000) -> bytes:
    """A short mono 16-bit sine WAV."""
    frames = b"".join(
        struct.pack("<h", int(12_000 * math.sin(2 * math.pi * frequency * n / rate)))
        for n in range(int(seconds * rate))
    )
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)
    return buffer.getvalue()


def finished_generation(upload_set: UploadSet, *, is_original: bool | None = True) -> Generation:
    """A generation as the pipeline leaves it: report, influence, listening file and peaks."""
    uploads = list(upload_set.uploads.order_by("id"))
    shares = [0.19, 0.17, 0.14, 0.12, 0.1, 0.08, 0.07, 0.06, 0.04, 0.03][: len(uploads)]
    now = timezone.now()
    generation = Generation.objects.create(
        upload_set=upload_set,
        status=Generation.Status.SUCCEEDED,
        stage="report",
        progress_percent=100,
        title="Morning Forge",
        is_original=is_original,
        started_at=now - datetime.timedelta(seconds=95),
        finished_at=now,
        report={
            "tempo_bpm": 120.0,
            "key": {"tonic": 9, "name": "A", "mode": "minor"},
            "length_s": 150.0,
            "synthesis": {
                "tempo_bpm": 118.0,
                "key": "A minor",
                "length_s": 152.4,
                "integrated_lufs": -14.1,
                "true_peak_dbtp": -1.2,
            },
            "originality": {
                "is_original": True,
                "longest_shared_notes": 5,
                "max_shared_notes_threshold": 8,
                "longest_shared_with_catalog": 4,
                "longest_shared_with_uploads": {str(u.pk): 5 - index % 3 for index, u in enumerate(uploads)},
                "attempts": [{"seed": 1, "is_original": True}],
            },
            "influence": [
                {"upload_id": u.pk, "recording_id": u.recording_id, "share": share}
                for u, share in zip(uploads, shares, strict=True)
            ],
        },
    )
    if uploads:  # the integer shares the page shows and the split sheet is paid from
        generation_sources_record(
            generation_id=generation.pk,
            weights={item["upload_id"]: Fraction(str(item["share"])) for item in generation.report["influence"]},
        )
    generation.peaks.save("peaks.json", ContentFile(json.dumps(PEAKS).encode()), save=False)
    generation.listen_mp3.save("listen.mp3", ContentFile(b"ID3fake"), save=False)
    generation.master_wav.save("master.wav", ContentFile(tone_wav()), save=False)
    generation.save(update_fields=["peaks", "listen_mp3", "master_wav"])
    return generation
