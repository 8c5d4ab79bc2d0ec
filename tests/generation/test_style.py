"""The artist's tempo, key, scale and kit, each decided once from the uploads' analyses."""

from __future__ import annotations

import numpy as np
import pytest

from generation.ml import tonality
from generation.ml.arrangement import accompaniment
from generation.ml.drums import CLOSED_HAT, KICK, RIDE, SNARE
from generation.ml.form import BAR_TICKS
from generation.ml.style import scale_of_songs, set_key, set_scale, set_tempo
from generation.ml.tokenizer import DRUMS, MELODY, Note, Piece


def _weights(tonic: int, scale: str, *, extra: dict[int, float] | None = None) -> np.ndarray:
    weights = np.zeros(12)
    for degree in tonality.SCALES[scale]:
        weights[(tonic + degree) % 12] = 1.0
    weights[tonic] = 2.0  # the tonic is heard most
    weights[(tonic + 7) % 12] = 1.5
    for pitch_class, value in (extra or {}).items():
        weights[pitch_class] = value
    return weights


@pytest.mark.parametrize("scale", sorted(tonality.SCALES))
def test_each_scale_is_recognised_on_its_own_tonic(scale: str) -> None:
    weights = _weights(9, scale)
    key = tonality.estimate_key(weights)
    assert tonality.FAMILY[scale] == key.mode
    assert tonality.estimate_mode(weights, tonality.Key(9, key.mode, key.correlation)) == scale


def test_key_estimation_is_krumhansl_schmuckler() -> None:
    c_major = tonality.pitch_class_weights((p, 1.0) for p in (60, 62, 64, 65, 67, 69, 71, 72, 67, 64, 60))
    assert tonality.estimate_key(c_major).name == "C major"
    assert tonality.estimate_key(np.zeros(12)) == tonality.Key(0, "major", -2.0)


def test_a_lullaby_heard_at_double_tempo_is_composed_at_its_own() -> None:
    """70 BPM songs that beat trackers hear at 140 (and one at 35): one octave, then the slow one."""
    decision = set_tempo([142.48, 70.0, 138.05, 34.53], [4.02, 2.71, 4.04, 0.62])
    assert decision.folded == pytest.approx((142.48, 140.0, 138.05, 138.12))
    assert decision.factor == 0.5
    assert decision.tempo_bpm == pytest.approx(69.5, rel=0.02)


def test_a_breakbeat_heard_at_half_tempo_is_composed_at_its_own() -> None:
    decision = set_tempo([79.03, 79.49, 78.48, 79.03], [5.87, 5.98, 4.36, 4.36])
    assert decision.factor == 2.0
    assert decision.tempo_bpm == pytest.approx(158.0, rel=0.02)


def test_with_drums_the_kit_anchors_the_beat() -> None:
    """A breakbeat's kick lands half-way through the beat the tracker heard: it counted half notes."""
    breakbeat = set_tempo([79.03, 79.49, 78.48], [5.9, 6.0, 4.4], kit="backbeat", half_beat_strikes=[1.15, 1.1, 0.74])
    assert breakbeat.tempo_bpm == pytest.approx(158.0, rel=0.02)
    fiddle = set_tempo([103.98, 106.02, 103.98], [3.1, 3.3, 3.2], kit="backbeat", half_beat_strikes=[0.3, 0.13, 0.44])
    assert fiddle.tempo_bpm == pytest.approx(104.0, rel=0.02)


def test_without_onset_rates_the_folded_median_stands() -> None:
    assert set_tempo([120.0, 61.0, 119.0]).tempo_bpm == pytest.approx(120.0)
    assert set_tempo([]).tempo_bpm == 120.0


def test_key_and_scale_by_vote() -> None:
    keys = [
        {"tonic": 2, "mode": "minor", "confidence": 0.8, "scale": "dorian"},
        {"tonic": 2, "mode": "minor", "confidence": 0.7, "scale": "dorian"},
        {"tonic": 2, "mode": "minor", "confidence": 0.6, "scale": "minor"},
        {"tonic": 5, "mode": "major", "confidence": 0.9, "scale": "major"},
    ]
    decision = set_key(keys)
    assert (decision.tonic, decision.mode, decision.scale) == (2, "minor", "dorian")
    assert set_key([{"tonic": 4, "mode": "major", "confidence": 0.5}]).scale == "major"


def test_songs_in_different_keys_vote_for_the_scale_they_share() -> None:
    scale, votes = set_scale(
        [_weights(0, "mixolydian"), _weights(7, "mixolydian"), _weights(3, "major")], family="major"
    )
    assert scale == "mixolydian"
    assert set(votes) == {"mixolydian", "major"}
    song = Piece(100.0, (4, 4), [Note(12 * i, 12, 62 + d, 80, MELODY) for i, d in enumerate((0, 3, 5, 7, 9, 10, 0, 7))])
    assert scale_of_songs([song], family="minor")[0] == "dorian"


def _band(kit: str | None) -> list[Note]:
    melody = Piece(120.0, (4, 4), [Note(b * BAR_TICKS, 24, 74, 96, MELODY) for b in range(4)], {0: "2:min"})
    rng = np.random.default_rng(0)
    return accompaniment(melody, bars=4, kind="chorus", tonic=2, mode="dorian", rng=rng, kit=kit)


def test_a_drumless_artist_gets_no_drums() -> None:
    assert not [n for n in _band("none") if n.role == DRUMS]
    assert [n for n in _band(None) if n.role == DRUMS]  # unknown: the groove's (default) feel


def test_kits_play_their_style() -> None:
    brushes = {n.pitch for n in _band("brushes") if n.role == DRUMS}
    assert RIDE in brushes
    assert CLOSED_HAT not in brushes
    breakbeat = [n for n in _band("breakbeat") if n.role == DRUMS]
    sixteenth = BAR_TICKS // 16
    kicks = {n.start % BAR_TICKS // sixteenth for n in breakbeat if n.pitch == KICK}
    snares = {n.start % BAR_TICKS // sixteenth for n in breakbeat if n.pitch == SNARE}
    assert {0, 10} <= kicks
    assert {4, 12} <= snares
    assert kicks - {0, 4, 8, 12}  # kicks between the beats


def test_pads_stay_in_the_scale() -> None:
    dorian = tonality.scale_pitch_classes(2, "dorian")
    assert {n.pitch % 12 for n in _band("none") if n.role != DRUMS and n.role != MELODY} <= dorian


def test_pitch_colour_lines_songs_up_on_the_set_tonic() -> None:
    from generation.ml.style import pitch_colour

    def song(tonic: int) -> Piece:
        degrees = (0, 4, 7, 12, 7, 4, 2, 5, 9, 11, 0, 0)
        return Piece(100.0, (4, 4), [Note(12 * i, 12, 60 + tonic + d, 80, MELODY) for i, d in enumerate(degrees)])

    shares = pitch_colour([song(0), song(7), song(2)], tonic=0)
    assert shares is not None
    assert {pc for pc, share in enumerate(shares) if share > 0} == {0, 2, 4, 5, 7, 9, 11}


def test_the_set_decision_uses_the_shipped_recogniser() -> None:
    from generation.services.features import role_programs, upload_set_style
    from generation.synthesis import recognition

    recogniser = recognition.load_recogniser()
    assert recogniser is not None  # committed with its card (generation/synthesis/weights)
    rng = np.random.default_rng(0)
    analyses = [
        (
            upload_id,
            {
                "tempo_bpm": 140.0 + upload_id,
                "onset_rate": 2.6,
                "key": {"tonic": 7, "mode": "major", "confidence": 0.8, "scale": "mixolydian"},
                "recognition": list(recogniser.mean + rng.normal(0, 0.1, len(recogniser.mean)) * recogniser.scale),
            },
        )
        for upload_id in range(1, 11)
    ]
    decided = upload_set_style(analyses=analyses)
    # Without drums about one onset per "beat" at 145 halves it; with a kit the tracker's octave stands.
    expected = 72.75 if decided["drums"] == "none" else 145.5
    assert decided["tempo_bpm"] == pytest.approx(expected, rel=0.02)
    assert decided["key"]["scale"] == "mixolydian"
    assert decided["drums"] in recognition.TARGETS["drums"]
    programs = role_programs(decided["instruments"])
    assert programs is not None
    assert set(programs) == {"melody", "chords", "bass"}
    assert programs["bass"] in recognition.TARGETS["bass"]
    without = upload_set_style(analyses=[(1, {"tempo_bpm": 100.0, "key": {"tonic": 0, "mode": "major"}})])
    assert (without["drums"], without["instruments"], without["tempo_bpm"]) == (None, None, 100.0)
