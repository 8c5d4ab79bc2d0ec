"""Fixtures for the generation engine: a tiny trained model, ten matched uploads, fake audio analysis.

Audio analysis (librosa, basic-pitch) and synthesis are replaced by fast fakes; the
model, tokenizer, fine-tuning, composition, guard, influence and pipeline are real.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile

from generation.ml import tokenizer
from generation.ml.catalog_training import CATALOG_NGRAMS_NAME, CATALOG_SAMPLE_NAME, GUARD_WINDOW_SYMBOLS
from generation.ml.model import ModelConfig, MusicTransformer, save_checkpoint
from generation.ml.originality import NgramIndex
from generation.ml.tokenizer import Note, Piece
from generation.ml.train import TokenSource, train

SCALES = [(0, 2, 4, 5, 7, 9, 11), (0, 2, 3, 5, 7, 8, 10)]


def song_piece(index: int, *, bars: int = 8) -> Piece:
    """A distinct little tune with a bass line: song ``index`` walks its own interval pattern."""
    rng = np.random.default_rng(index)
    scale = SCALES[index % 2]
    tonic = 60 + index % 5
    notes = []
    degree = 0
    for bar in range(bars):
        for beat in range(4):
            step = int(rng.choice([-2, -1, 1, 2, 3]))
            degree = max(-3, min(9, degree + step))
            pitch = tonic + 12 * (degree // 7) + scale[degree % 7]
            notes.append(Note(bar * 48 + beat * 12, 12 if beat % 2 else 6, pitch, 90, 0))
            if beat % 2 == 1:
                notes.append(Note(bar * 48 + beat * 12 + 6, 6, pitch + 2, 80, 0))
        notes.append(Note(bar * 48, 48, tonic - 24, 80, 2))
    piece = Piece(tempo_bpm=100 + index, time_signature=(4, 4), notes=notes)
    piece.chords = tokenizer.estimate_chords(notes, bar_ticks=48)
    return piece


def tiny_model(seed: int = 0) -> MusicTransformer:
    torch.manual_seed(seed)
    return MusicTransformer(
        ModelConfig(vocab_size=tokenizer.VOCAB_SIZE, n_layer=1, n_head=2, n_embd=32, block_size=128)
    )


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny checkpoint trained a few steps on the test songs, with catalog sample and n-gram index."""
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("weights")
    catalog = [tokenizer.encode(song_piece(100 + i)) for i in range(6)]
    model = tiny_model()
    train(model, TokenSource(np.concatenate(catalog)), steps=4, batch_size=2, seed=1)
    save_checkpoint(model, str(folder / "catalog_model.pt"))
    np.save(folder / CATALOG_SAMPLE_NAME, np.concatenate(catalog).astype(np.uint16))
    NgramIndex.from_token_items(catalog, window=GUARD_WINDOW_SYMBOLS).save(str(folder / CATALOG_NGRAMS_NAME))
    return folder / "catalog_model.pt"


@pytest.fixture
def engine_settings(settings: Any, tiny_weights: Path) -> Any:
    settings.GENERATION_CHECKPOINT = tiny_weights
    settings.GENERATION_FINETUNE_STEPS = 3
    settings.GENERATION_FINETUNE_BATCH = 6
    settings.GENERATION_SECONDS = 20
    settings.GENERATION_SECTION_BARS = 2
    settings.FINETUNE_UPLOAD_FRACTION = 67
    settings.INFLUENCE_SPLIT = "measured"
    return settings


class FakeAudio:
    """Stands in for librosa/basic-pitch: features and notes derived from the upload's file name."""

    def __init__(self) -> None:
        self.analysed: list[str] = []
        self.transcribed: list[str] = []

    @staticmethod
    def index(path: Path) -> int:
        return int(path.read_bytes().decode().split("-")[1])

    def analyse_audio(self, path: Path, **_: Any) -> dict[str, Any]:
        self.analysed.append(path.name)
        i = self.index(path)
        beats = [round(k * 0.6, 3) for k in range(64)]
        return {
            "duration_s": 38.4,
            "tempo_bpm": 100.0 + i,
            "beat_times": beats,
            "key": {"tonic": 0, "name": "C", "mode": "major", "confidence": 0.8},
            "chroma_mean": [1 / 12] * 12,
            "chords": [],
            "loudness_db_per_s": [-20.0] * 38,
            "timbre": {
                "mfcc_mean": [float(i)] * 13,
                "mfcc_std": [1.0] * 13,
                "centroid_mean": 1500.0,
                "centroid_std": 100.0,
                "band_energy": [1 / 6] * 6,
                "band_edges_hz": [0, 150, 400, 1000, 2500, 6000, 11025],
            },
            "sections": [{"start": 0.0, "end": 38.4}],
        }

    def transcribe(self, path: Path) -> list[tuple[float, float, int, int]]:
        self.transcribed.append(path.name)
        piece = song_piece(self.index(path))
        spt = 0.6 / 12
        return [(n.start * spt, (n.start + n.duration) * spt, n.pitch, n.velocity) for n in piece.notes]


@pytest.fixture
def fake_audio(monkeypatch: pytest.MonkeyPatch) -> FakeAudio:
    from generation import features

    fake = FakeAudio()
    monkeypatch.setattr(features, "analyse_audio", fake.analyse_audio)
    monkeypatch.setattr(features, "transcribe", fake.transcribe)
    return fake


class FakeSynthesis:
    def __init__(self) -> None:
        self.calls = 0

    def profile_from_audio(self, paths: list[Path], **options: Any) -> dict[str, Any]:
        return {"uploads": len(paths)}

    def render_and_master(
        self, midi_path: Path, *, target_profile: dict[str, Any], out_dir: Path, seed: int, **options: Any
    ) -> dict[str, Any]:
        self.calls += 1
        assert midi_path.read_bytes()[:4] == b"MThd"
        (out_dir / "master.wav").write_bytes(b"RIFF-fake")
        (out_dir / "peaks.json").write_bytes(b"[]")
        return {"loudness": {"integrated_lufs": -14.0}, "seed": seed}


@pytest.fixture
def fake_synthesis(monkeypatch: pytest.MonkeyPatch) -> FakeSynthesis:
    from generation.services import synthesis

    fake = FakeSynthesis()
    monkeypatch.setattr(synthesis, "profile_from_audio", fake.profile_from_audio)
    monkeypatch.setattr(synthesis, "render_and_master", fake.render_and_master)
    return fake


@pytest.fixture
def owner(db: None) -> Any:
    return get_user_model().objects.create_user(username="owner", email="owner@example.com", password="x")


@pytest.fixture
def ready_set(owner: Any) -> Any:
    """An upload set of ten matched uploads (songs 0..9)."""
    from catalog.models import Recording
    from uploads.models import Upload, UploadSet

    upload_set = UploadSet.objects.create(owner=owner, title="Ten")
    for i in range(10):
        recording = Recording.objects.create(external_id=f"rec-{i}", title=f"Song {i}", artist="Artist")
        upload = Upload(
            upload_set=upload_set,
            original_name=f"song-{i}.wav",
            audio_format="wav",
            size_bytes=7,
            sha256=f"{i:064d}",
            status=Upload.Status.MATCHED,
            recording=recording,
        )
        upload.audio.save(f"song-{i}.wav", ContentFile(f"song-{i}".encode()), save=False)
        upload.save()
    return upload_set
