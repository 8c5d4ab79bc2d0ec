"""Fixtures for uploads and identification: tiny procedural songs, encoded and tagged on the fly."""

from __future__ import annotations

import functools
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient
from scipy.signal import resample_poly

from catalog.indexing import recordings_index
from catalog.models import Recording
from demo import fingerprint_synth as synth

RATE = 16000
CATALOG_SECONDS = 8.0


@functools.lru_cache(maxsize=32)
def song(seed: int, seconds: float = CATALOG_SECONDS) -> np.ndarray:
    return synth.song(seed, seconds, RATE)


def encode(samples: np.ndarray, kind: str, rate: int = RATE) -> bytes:
    """``samples`` (mono float32) as a wav, flac, mp3, m4a or ogg file's bytes, encoded with PyAV."""
    codec, container_format, sample_format = {
        "wav": ("pcm_s16le", "wav", "s16"),
        "flac": ("flac", "flac", "s16"),
        "mp3": ("libmp3lame", "mp3", "s16p"),
        "m4a": ("aac", "ipod", "fltp"),
        "ogg": ("libopus", "ogg", "s16"),
    }[kind]
    buffer = io.BytesIO()
    if kind == "ogg":
        samples, rate = resample_poly(samples, 3, 1).astype(np.float32), rate * 3  # Opus runs at 48 kHz
    with av.open(buffer, mode="w", format=container_format) as container:
        stream: Any = container.add_stream(codec, rate=rate, layout="mono")
        if kind in {"mp3", "m4a"}:
            stream.bit_rate = 64_000
        if sample_format.startswith("s16"):
            pcm: np.ndarray = np.clip(samples * 32767, -32768, 32767).astype(np.int16).reshape(1, -1)
        else:
            pcm = samples.astype(np.float32).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format=sample_format, layout="mono")
        frame.sample_rate = rate
        frame.pts = None
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


def write_audio(path: Path, samples: np.ndarray, kind: str | None = None) -> Path:
    path.write_bytes(encode(samples, kind or path.suffix.lstrip(".")))
    return path


def uploaded(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


@pytest.fixture
def owner(db: None) -> Any:
    user = get_user_model().objects.create_user(username="owner", email="owner@example.com", password="x-pass-123")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


@pytest.fixture
def outsider(db: None) -> Any:
    return get_user_model().objects.create_user(
        username="outsider", email="outsider@example.com", password="x-pass-123"
    )


@pytest.fixture
def owner_api(owner: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(owner)
    return client


@pytest.fixture
def outsider_api(outsider: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(outsider)
    return client


@pytest.fixture
def make_recording(db: None) -> Callable[..., Recording]:
    def make(seed: int, *, isrc: str | None = None, with_audio: bool = True, **fields: Any) -> Recording:
        recording = Recording.objects.create(
            external_id=fields.pop("external_id", f"demo-{seed}"),
            title=fields.pop("title", f"Song {seed}"),
            artist=fields.pop("artist", "Demo Band"),
            isrc=isrc,
            **fields,
        )
        if with_audio:
            recording.audio.save(f"demo-{seed}.wav", ContentFile(encode(song(seed), "wav")), save=True)
        return recording

    return make


@pytest.fixture
def indexed_catalog(make_recording: Callable[..., Recording]) -> list[Recording]:
    """Three catalog recordings with audio, fingerprinted into the (per-test) index."""
    recordings = [make_recording(seed, isrc=f"QZS8F26000{seed:02d}") for seed in (1, 2, 3)]
    outcome = recordings_index(recording_ids=[r.pk for r in recordings])
    assert outcome.indexed == [r.pk for r in recordings]
    return recordings


def excerpt(seed: int, start_s: float, seconds: float) -> np.ndarray:
    samples = song(seed)
    return samples[int(start_s * RATE) : int((start_s + seconds) * RATE)]
