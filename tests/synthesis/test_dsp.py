"""The signal-processing parts on tiny synthetic signals (fast, no rendering)."""

import json

import numpy as np
import pytest
from scipy import signal

from generation.synthesis import adapt, deliver, dynamics, features, master


def noise(seconds: float, seed: int = 0, level: float = 0.3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lowpassed = signal.lfilter(*signal.butter(4, 0.45), rng.standard_normal((2, int(seconds * 44100))))
    return np.asarray(lowpassed * level)


def test_true_peak_matches_a_16x_oversampled_reference():
    audio = noise(2.0, level=0.5)
    reference = 20 * np.log10(np.abs(signal.resample_poly(audio, 16, 1, axis=-1)).max())
    assert features.true_peak_dbtp(audio) == pytest.approx(reference, abs=0.05)
    assert features.true_peak_dbtp(audio) >= 20 * np.log10(np.abs(audio).max())


def test_limiter_holds_the_true_peak_under_its_ceiling():
    audio = noise(3.0, level=0.1)
    audio[:, 40000:40100] *= 12  # a burst far over the ceiling; the rest stays under it
    assert np.abs(np.delete(audio, np.s_[39000:41000], axis=1)).max() < 0.6
    limited = dynamics.true_peak_limit(audio, ceiling_dbtp=-1.3)
    assert features.true_peak_dbtp(limited) <= -1.29
    untouched = slice(80000, 120000)  # almost a second after the burst: fully released
    assert np.allclose(limited[:, untouched], audio[:, untouched], rtol=1e-4, atol=0)


def test_loudness_master_hits_minus_14_lufs_and_minus_1_dbtp():
    mastered, report = master.loudness_master(noise(6.0, level=0.05))
    assert abs(features.integrated_lufs(mastered) + 14.0) <= 0.5
    assert features.true_peak_dbtp(mastered) <= -1.0
    assert report["true_peak_dbtp"] <= -1.0


def test_eq_gains_are_smoothed_and_limited_to_12_db():
    rendered = np.zeros(27)
    target = np.zeros(27)
    target[10] = 40.0
    target[20] = -40.0
    gains = adapt.eq_gains_db(rendered, target)
    assert gains.max() <= 12.0
    assert gains.min() >= -12.0
    assert gains[9] > 0  # neighbours share the boost


def test_eq_does_not_boost_bands_the_rendering_lacks():
    rendered = np.zeros(27)
    rendered[26] = -60.0
    target = np.zeros(27)
    target[26] = 10.0
    assert adapt.eq_gains_db(rendered, target)[26] <= adapt.EMPTY_BAND_MAX_BOOST_DB + 1e-9


def test_spectral_match_moves_the_envelope_toward_the_target():
    audio = noise(4.0)
    tilt = np.linspace(-8.0, 8.0, 27)
    target = features.spectra(adapt.apply_fir(audio, adapt.eq_filter(tilt)))
    matched, _ = adapt.match_spectrum(audio, list(target.third_octave_db), list(target.mel_db))
    before = features.timbre_distance(features.spectra(audio).mel_db, target.mel_db)
    after = features.timbre_distance(features.spectra(matched).mel_db, target.mel_db)
    assert after < before / 3


def test_dynamics_match_compresses_toward_the_target_crest_factor():
    audio = noise(6.0)
    audio[:, ::4410] *= 8  # spiky: a high crest factor
    before = features.dynamics(audio)["crest_factor_db"]
    compressed, report = adapt.match_dynamics(audio, before - 4.0)
    assert report["ratio"] > 1.0
    assert features.dynamics(compressed)["crest_factor_db"] < before


def test_dynamics_match_leaves_denser_audio_alone():
    audio = noise(3.0)
    same, report = adapt.match_dynamics(audio, 30.0)
    assert report["ratio"] == 1.0
    assert same is audio


def test_loudness_range_comes_down_to_an_even_artists():
    audio = noise(24.0)
    audio[:, : audio.shape[1] // 2] *= 0.2  # a quiet verse, then a loud chorus (14 dB apart)
    before = features.dynamics(audio)["loudness_range_db"]
    levelled, report = adapt.match_loudness_range(audio, 2.0)
    after = features.dynamics(levelled)["loudness_range_db"]
    assert before > 10
    assert after < before / 2
    assert report["loudness_range_db_after"] == round(after, 2)
    assert levelled.shape == audio.shape


def test_loudness_range_is_never_widened():
    audio = noise(12.0)
    same, report = adapt.match_loudness_range(audio, 10.0)
    assert same is audio
    assert report["loudness_range_db_after"] == report["loudness_range_db_before"]


def test_room_adds_a_tail_and_keeps_length():
    impulse = np.zeros((2, 44100))
    impulse[:, 100] = 1.0
    wet = master.add_room(impulse, seed=1)
    assert wet.shape == impulse.shape
    assert np.abs(wet[:, 20000:]).max() > 1e-5


def test_peaks_file_is_audiowaveform_json(tmp_path):
    audio = np.vstack([np.linspace(-1, 1, 10000), np.linspace(-1, 1, 10000)])
    deliver.write_peaks(tmp_path / "peaks.json", audio)
    peaks = json.loads((tmp_path / "peaks.json").read_text())
    assert (peaks["version"], peaks["channels"], peaks["bits"]) == (2, 1, 8)
    assert peaks["length"] == len(peaks["data"]) // 2 >= 1000
    assert peaks["data"][0] == -127
    assert peaks["data"][-1] == 127


def test_a_callers_comment_never_replaces_the_ai_note():
    assert deliver._comment({}) == deliver.AI_COMMENT
    assert deliver._comment({"comment": "Mixed at home."}) == f"{deliver.AI_COMMENT} Mixed at home."
