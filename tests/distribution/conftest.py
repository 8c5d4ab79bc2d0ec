"""Finished songs built straight in the database, and a local Platoon server."""

from __future__ import annotations

import io
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.db import transaction

from catalog.models import Recording, RecordingShare, RightsHolder
from generation.models import Generation
from generation.services.sources import generation_sources_record
from tests.distribution.platoon_server import PlatoonServer
from uploads.models import Upload, UploadSet

User = get_user_model()


def tiny_wav(*, seconds: float = 0.5, rate: int = 8000) -> bytes:
    """A short 16-bit mono WAV of a rising ramp (deterministic bytes)."""
    frames = int(seconds * rate)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        samples = (((i * 37) % 20000 - 10000).to_bytes(2, "little", signed=True) for i in range(frames))
        writer.writeframes(b"".join(samples))
    return buffer.getvalue()


@dataclass
class Song:
    owner: Any
    generation: Generation
    recordings: list[Recording]
    holders: dict[str, RightsHolder]


@pytest.fixture
def owner(db: None) -> Any:
    return User.objects.create_user(username="owner", email="owner@example.com")


@pytest.fixture
def outsider(db: None) -> Any:
    return User.objects.create_user(username="outsider", email="outsider@example.com")


@pytest.fixture
def make_song(db: None) -> Callable[..., Song]:
    """A succeeded, original generation with two matched source recordings and known rights."""
    counter = {"n": 0}

    def make(
        *,
        owner: Any,
        status: str = Generation.Status.SUCCEEDED,
        is_original: bool | None = True,
        influence: list[float] | None = None,
        with_master: bool = True,
    ) -> Song:
        with transaction.atomic():  # PostgreSQL checks each side's shares sum at commit
            return _make(
                owner=owner, status=status, is_original=is_original, influence=influence, with_master=with_master
            )

    def _make(
        *,
        owner: Any,
        status: str,
        is_original: bool | None,
        influence: list[float] | None,
        with_master: bool,
    ) -> Song:
        counter["n"] += 1
        n = counter["n"]
        holders = {
            "label": RightsHolder.objects.get_or_create(name="North Label", kind=RightsHolder.Kind.LABEL)[0],
            "writer": RightsHolder.objects.get_or_create(name="Ann Writer", kind=RightsHolder.Kind.WRITER)[0],
            "publisher": RightsHolder.objects.get_or_create(name="Blue Publishing", kind=RightsHolder.Kind.PUBLISHER)[
                0
            ],
        }
        upload_set = UploadSet.objects.create(owner=owner, title=f"Set {n}")
        recordings = []
        report_influence = []
        shares = influence if influence is not None else [0.75, 0.25]
        for index, share in enumerate(shares):
            recording = Recording.objects.create(
                external_id=f"rec-{n}-{index}", title=f"Source {n}.{index}", artist="The Examples"
            )
            RecordingShare.objects.create(
                recording=recording, holder=holders["label"], side=RecordingShare.Side.MASTER, share_bps=10_000
            )
            RecordingShare.objects.create(
                recording=recording, holder=holders["writer"], side=RecordingShare.Side.PUBLISHING, share_bps=6_700
            )
            RecordingShare.objects.create(
                recording=recording,
                holder=holders["publisher"],
                side=RecordingShare.Side.PUBLISHING,
                share_bps=3_300,
            )
            upload = Upload.objects.create(
                upload_set=upload_set,
                original_name=f"song{index}.wav",
                audio=ContentFile(b"RIFF", name=f"song{n}-{index}.wav"),
                audio_format="wav",
                size_bytes=4,
                sha256=f"{n:02d}{index:062d}",
                status=Upload.Status.MATCHED,
                recording=recording,
            )
            recordings.append(recording)
            report_influence.append({"upload_id": upload.pk, "recording_id": recording.pk, "share": share})
        generation = Generation.objects.create(
            upload_set=upload_set,
            status=status,
            is_original=is_original,
            seed=1234 + n,
            title=f"Song {n}",
            report={"tempo_bpm": 120.0, "key": "A minor", "loudness_lufs": -14.0, "influence": report_influence},
        )
        generation_sources_record(  # the integer shares the split sheet is paid from
            generation_id=generation.pk,
            weights={int(item["upload_id"]): Fraction(str(item["share"])) for item in report_influence},
        )
        if with_master:
            generation.master_wav.save(f"master-{n}.wav", ContentFile(tiny_wav()), save=True)
        return Song(owner=owner, generation=generation, recordings=recordings, holders=holders)

    return make


@pytest.fixture
def song(make_song: Callable[..., Song], owner: Any) -> Song:
    return make_song(owner=owner)


PUBLISH_FIELDS: dict[str, Any] = {
    "title": "Night Drive",
    "artist_name": "Ada Vale",
    "genre": "Electronic",
    "language": "en",
    "ai_disclosure": "Composed and produced with SongForge's generative model.",
}


@pytest.fixture
def publish_fields() -> dict[str, Any]:
    return dict(PUBLISH_FIELDS)


@pytest.fixture
def platoon_server() -> Iterator[PlatoonServer]:
    server = PlatoonServer(token="test-token")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def platoon_settings(settings: Any, platoon_server: PlatoonServer) -> PlatoonServer:
    settings.DISTRIBUTOR = "platoon"
    settings.PLATOON = {"BASE_URL": platoon_server.base_url, "TOKEN": "test-token", "WEBHOOK_SECRET": "whsec-test"}
    return platoon_server
