"""The kit style: the head says whether there are drums, the onset pattern where they strike.

Attacks, each measured on the artist-style benchmark before the pattern rule (2026-12-07): a
126 BPM four on the floor read as a breakbeat, a 158 BPM breakbeat read as a backbeat (both
through FluidR3_GM), and a drumless lullaby that must stay drumless.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from generation.ml import drums
from generation.synthesis import recognition

STYLES = recognition.TARGETS["drums"]
MEASURED = Path(__file__).parent / "style_artist_vectors_fluidr3.json"


def _recogniser_saying(label: str, *, breakbeat: float = 0.15) -> recognition.Recogniser:
    """A recogniser whose kit head always prefers ``label`` (0.4); breakbeat ``breakbeat``, the rest share."""
    size = recognition.FEATURE_SIZE
    rest = (0.6 - (0 if label == "breakbeat" else breakbeat)) / (len(STYLES) - (1 if label == "breakbeat" else 2))
    shares = [0.4 if style == label else breakbeat if style == "breakbeat" else rest for style in STYLES]
    bias = np.log(np.array(shares))
    head = recognition.Head(labels=STYLES, weights=np.zeros((len(STYLES), size)), bias=bias)
    return recognition.Recogniser(mean=np.zeros(size), scale=np.ones(size), heads={"drums": head})


def _uploads(pattern: dict[str, list[float]], count: int = 10) -> np.ndarray:
    """``count`` analysed uploads whose kit strikes at quarters of the beat as ``pattern`` says (low, upper band)."""
    row = np.zeros(recognition.FEATURE_SIZE)
    start = recognition.KIT_PATTERN_START
    row[start : start + 4] = pattern["low"]
    row[start + 5 : start + 9] = [5.0, 0.4, 1.5, 0.4]  # middle band: not read by the rule
    row[start + 10 : start + 14] = pattern["high"]
    rng = np.random.default_rng(0)
    return np.array([row * rng.uniform(0.9, 1.1, row.shape) for _ in range(count)])


# A kick on every beat, eighth-note hats and a bass on the off-beat eighths (the house artist's uploads).
FOUR_ON_THE_FLOOR = {"low": [4.4, 1.3, 1.5, 1.3], "high": [8.2, 0.1, 0.9, 0.1]}
# Sixteenth hats, kicks on the "and"s, the snare between: heard at half tempo (the breakbeat artist's).
BREAKBEAT = {"low": [3.5, 1.5, 3.8, 1.1], "high": [9.0, 0.4, 1.1, 0.6]}
# Kick on one and three, snare on two and four, eighth hats.
BACKBEAT = {"low": [6.3, 0.8, 2.0, 0.4], "high": [10.3, 0.2, 0.4, 0.05]}


def test_it_does_not_call_a_four_on_the_floor_a_breakbeat() -> None:
    decided = _recogniser_saying("breakbeat").decide(_uploads(FOUR_ON_THE_FLOOR))["drums"]
    assert decided["head"] == "breakbeat"
    assert decided["label"] in ("four", "backbeat")
    assert decided["pattern"]["rule"].startswith("not breakbeat")


def test_it_does_not_call_a_breakbeat_a_backbeat() -> None:
    decided = _recogniser_saying("backbeat", breakbeat=0.3).decide(_uploads(BREAKBEAT))["drums"]
    assert (decided["head"], decided["label"]) == ("backbeat", "breakbeat")


def test_it_does_not_call_a_fast_four_heard_at_half_tempo_a_breakbeat() -> None:
    """Its eighth hats fall where sixteenths would and its kicks half-way through the beat; the head says four."""
    half_tempo_four = {"low": [4.6, 1.7, 4.6, 1.4], "high": [9.0, 1.5, 1.6, 1.2]}
    decided = _recogniser_saying("four", breakbeat=0.1).decide(_uploads(half_tempo_four))["drums"]
    assert decided["label"] == "four"


def test_it_keeps_a_backbeat_and_a_four_the_head_heard() -> None:
    assert _recogniser_saying("backbeat").decide(_uploads(BACKBEAT))["drums"]["label"] == "backbeat"
    assert _recogniser_saying("four").decide(_uploads(FOUR_ON_THE_FLOOR))["drums"]["label"] == "four"


@pytest.mark.parametrize("label", ["none", "brushes"])
def test_it_never_adds_a_kit_or_moves_brushes_whatever_the_pattern(label: str) -> None:
    decided = _recogniser_saying(label).decide(_uploads(BREAKBEAT))["drums"]
    assert decided["label"] == label


def test_it_keeps_the_head_when_no_beat_was_found() -> None:
    silent = np.zeros((3, recognition.FEATURE_SIZE))
    decided = _recogniser_saying("breakbeat").decide(silent)["drums"]
    assert (decided["label"], decided["pattern"]) == ("breakbeat", {"rule": "head"})


@pytest.fixture(scope="module")
def shipped() -> recognition.Recogniser:
    model = recognition.load_recogniser()
    if model is None:
        pytest.skip("the recogniser's weights are not installed")
    return model


@pytest.mark.parametrize(
    ("artist", "head", "kit"),
    [("house", "breakbeat", "four"), ("breakbeat", "backbeat", "breakbeat"), ("lullaby", "none", "none")],
)
def test_the_benchmark_artists_uploads_get_their_kit(
    shipped: recognition.Recogniser, artist: str, head: str, kit: str
) -> None:
    """Stored analyses of the artists' ten 45 s uploads rendered through FluidR3_GM (2026-12-07)."""
    vectors = np.array(json.loads(MEASURED.read_text())[artist])
    decided = shipped.decide(vectors)["drums"]
    assert (decided["head"], decided["label"]) == (head, kit)
    if kit == "none":
        assert drums.drums(bars=8, kind="chorus", feel=decided["label"], rng=np.random.default_rng(0)) == []
