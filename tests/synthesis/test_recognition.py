"""The instrument and kit recogniser: features of a mix, softmax heads, weights on disk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from generation.synthesis import recognition


def test_features_have_a_fixed_size_and_see_a_kit() -> None:
    rate = 22050
    t = np.arange(int(12 * rate)) / rate
    tone = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + 0.2 * np.sin(2 * np.pi * 0.5 * t))
    clicks = np.zeros_like(t)
    noise = np.random.default_rng(0).standard_normal(400)
    for start in range(0, len(t) - 400, rate // 2):  # a percussive hit every half second (120 BPM)
        clicks[start : start + 400] += noise * np.exp(-np.arange(400) / 60)
    plain = recognition.mix_features(tone, rate)
    kit = recognition.mix_features(tone + 0.5 * clicks, rate)
    assert plain.shape == kit.shape == (recognition.FEATURE_SIZE,)
    assert np.isfinite(kit).all()
    high_percussive_share = 2 * recognition.N_MELS + 5 * 2 + 4  # the upper band's percussive share
    assert kit[high_percussive_share] > plain[high_percussive_share]


def test_heads_learn_separable_labels_and_survive_a_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    rows: list[np.ndarray] = []
    labels: dict[str, list[Any]] = {"melody": [], "drums": []}
    for index in range(120):
        melody = recognition.TARGETS["melody"][index % 3]
        drums = recognition.TARGETS["drums"][index % 2]
        row = rng.normal(0, 0.3, recognition.FEATURE_SIZE)
        row[index % 3] += 3.0
        row[10] += 3.0 * (index % 2)
        rows.append(row)
        labels["melody"].append(melody)
        labels["drums"].append(drums)
    model = recognition.fit_recogniser(np.array(rows), labels)
    decision = model.decide(np.array(rows[:3:2]))  # two rows of melody program 0 / 11 ... both index 0 and 2
    assert set(decision) == {"melody", "drums"}
    predicted = model.predict(np.array(rows))
    accuracy = np.mean(
        [
            model.heads["melody"].labels[i] == m
            for i, m in zip(predicted["melody"].argmax(1), labels["melody"], strict=True)
        ]
    )
    assert accuracy > 0.95
    model.save(tmp_path / "r.npz", meta={"note": "test"})
    loaded = recognition.load_recogniser(tmp_path / "r.npz")
    assert loaded is not None
    assert np.allclose(loaded.predict(np.array(rows))["drums"], predicted["drums"], atol=1e-4)
    assert recognition.load_recogniser(tmp_path / "missing.npz") is None


@pytest.mark.parametrize(
    ("program", "family"), [(0, "piano"), (33, "bass"), (40, "strings"), (48, "ensemble"), (81, "synth lead")]
)
def test_general_midi_families(program: int, family: str) -> None:
    assert recognition.family(program) == family
