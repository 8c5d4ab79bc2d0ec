"""The log-mel CNN recogniser (prototype, not wired into the analyse stage): input, crops, decisions, weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from generation.synthesis import recognition


def test_the_log_mel_input_ignores_the_level() -> None:
    rate = recognition.RATE
    t = np.arange(3 * rate) / rate
    tone = np.sin(2 * np.pi * 440 * t).astype(np.float32)
    loud, quiet = recognition.log_mel(tone, rate), recognition.log_mel(0.01 * tone, rate)
    assert loud.shape == (recognition.CNN_MELS, 1 + len(tone) // recognition.HOP)
    assert loud.max() == 0.0 and loud.min() >= -80.0
    assert np.allclose(loud, quiet, atol=0.5)


def test_crops_cover_the_excerpt_and_pad_a_short_one() -> None:
    mel = np.zeros((recognition.CNN_MELS, 517), dtype=np.float32)
    assert recognition.crops(mel).shape == (7, recognition.CNN_MELS, recognition.CNN_FRAMES)
    short = recognition.crops(mel[:, :40])
    assert short.shape == (1, recognition.CNN_MELS, recognition.CNN_FRAMES)
    assert (short[0, :, 40:] == -80.0).all()


def test_an_excerpt_gets_a_distribution_per_target_and_the_weights_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = recognition._cnn_module()
    net.eval()
    path = tmp_path / "cnn.pt"
    torch.save(net.state_dict(), path)
    loaded = recognition.load_cnn_recogniser(path)
    assert loaded is not None
    audio = np.random.default_rng(0).standard_normal(5 * 44100) * 0.1
    probabilities = loaded.probabilities(audio, 44100)
    assert probabilities == recognition.CnnRecogniser(net=net).probabilities(audio, 44100)
    for target, classes in recognition.TARGETS.items():
        assert len(probabilities[target]) == len(classes)
        assert abs(sum(probabilities[target]) - 1.0) < 1e-3
    assert recognition.load_cnn_recogniser(tmp_path / "missing.pt") is None


def test_the_set_decision_takes_the_highest_mean_probability() -> None:
    def upload(melody: int, weight: float) -> dict[str, list[float]]:
        out = {t: [1.0 / len(c)] * len(c) for t, c in recognition.TARGETS.items()}
        row = [(1 - weight) / 11] * 12
        row[melody] = weight
        out["melody"] = row
        return out

    decided = recognition.decide_from_probabilities([upload(3, 0.95), upload(5, 0.4), upload(5, 0.4)])
    assert decided["melody"]["label"] == recognition.TARGETS["melody"][3]
    assert decided["melody"]["votes"] == {"24": 1, "65": 2}
