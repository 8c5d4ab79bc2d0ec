"""The CNN that names the melody, harmony and bass programs, and how the set decision uses it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from demo import catalog_build as db
from demo import recogniser as demo_recogniser
from generation.synthesis import recognition, recognition_cnn


def test_the_shipped_cnn_gives_one_probability_per_program_whatever_the_level() -> None:
    assert recognition_cnn.load_net() is not None  # committed with its card (generation/synthesis/weights)
    made = demo_recogniser.make_arrangement(0, 7)
    assert made is not None
    mono = db.render(made[1], seconds=12.0, sample_rate=22050).mean(axis=1)
    loud = recognition_cnn.role_probabilities(mono, 22050)
    quiet = recognition_cnn.role_probabilities(mono * 0.05, 22050)
    assert loud is not None
    assert quiet is not None
    for role in recognition_cnn.ROLES:
        assert len(loud[role]) == len(recognition.TARGETS[role])
        assert sum(loud[role]) == pytest.approx(1.0, abs=1e-3)
        assert np.allclose(loud[role], quiet[role], atol=0.02)  # the spectrogram is level-free


def test_the_cnn_names_the_families_of_renders_it_did_not_train_on() -> None:
    """Twelve arrangements of a seed never used in training (it used 2), through TimGM6mb: 29 of 36
    families right when measured (2026-12-08); a broken input pipeline falls to chance (about 0.25)."""
    hits = total = 0
    for index in range(12):
        made = demo_recogniser.make_arrangement(index, 7)
        if made is None:
            continue
        _, arrangement, persona, _ = made
        mono = db.render(arrangement, seconds=12.0, sample_rate=22050).mean(axis=1)
        probabilities = recognition_cnn.role_probabilities(mono, 22050)
        assert probabilities is not None
        truth = {"melody": persona.melody_program, "harmony": persona.chord_program, "bass": persona.bass_program}
        for role, program in truth.items():
            pick = recognition.TARGETS[role][int(np.argmax(probabilities[role]))]
            hits += recognition.family(pick) == recognition.family(program)
            total += 1
    assert total >= 30
    assert hits / total >= 0.6


def test_analysis_stores_the_cnn_probabilities(tmp_path: Path) -> None:
    from generation.features import analyse_audio

    made = demo_recogniser.make_arrangement(1, 7)
    assert made is not None
    path = tmp_path / "song.wav"
    soundfile.write(path, db.render(made[1], seconds=12.0, sample_rate=22050), 22050)
    stored = analyse_audio(path)["recognition_cnn"]
    assert set(stored) == set(recognition_cnn.ROLES)
    assert all(len(stored[role]) == len(recognition.TARGETS[role]) for role in recognition_cnn.ROLES)


def _analyses(favourite: dict[str, int], *, without_cnn: int | None = None) -> list[tuple[int, dict[str, object]]]:
    recogniser = recognition.load_recogniser()
    assert recogniser is not None
    rng = np.random.default_rng(0)
    out: list[tuple[int, dict[str, object]]] = []
    for upload_id in range(1, 11):
        probabilities = {}
        for role in recognition_cnn.ROLES:
            row = np.full(len(recognition.TARGETS[role]), 0.5 / (len(recognition.TARGETS[role]) - 1))
            row[recognition.TARGETS[role].index(favourite[role])] = 0.5
            probabilities[role] = [float(v) for v in row]
        features: dict[str, object] = {
            "tempo_bpm": 120.0,
            "onset_rate": 2.0,
            "key": {"tonic": 0, "mode": "major", "confidence": 0.8, "scale": "major"},
            "recognition": list(recogniser.mean + rng.normal(0, 0.1, len(recogniser.mean)) * recogniser.scale),
            "recognition_cnn": None if upload_id == without_cnn else probabilities,
        }
        out.append((upload_id, features))
    return out


def test_the_set_decision_takes_the_programs_from_the_cnn_and_the_kit_from_the_recogniser() -> None:
    from generation.services.features import upload_set_style

    favourite = {"melody": 65, "harmony": 19, "bass": 33}
    decided = upload_set_style(analyses=_analyses(favourite))
    assert decided["instruments"] == favourite
    assert decided["recognition"]["programs_by"] == "cnn"
    assert decided["drums"] in recognition.TARGETS["drums"]
    assert set(decided["recognition"]["recogniser_programs"]) == set(recognition_cnn.ROLES)


def test_one_upload_analysed_before_the_cnn_sends_the_whole_set_to_the_recogniser() -> None:
    """Mixing the two models' answers per upload would compare probabilities of different models."""
    from generation.services.features import upload_set_style

    favourite = {"melody": 65, "harmony": 19, "bass": 33}
    decided = upload_set_style(analyses=_analyses(favourite, without_cnn=4))
    assert decided["recognition"]["programs_by"] == "recogniser"
    assert "recogniser_programs" not in decided["recognition"]
    assert set(decided["instruments"]) == set(recognition_cnn.ROLES)
