"""Moving a rendering toward the uploads' sound: spectral envelope matching and dynamics matching.

The EQ is learned from the two envelopes: per 1/3-octave band, gain = target - rendered
(both level-normalised, in dB), smoothed across neighbouring bands, limited to +-12 dB,
and realised as a linear-phase FIR. It is refined once on the 40 mel bands (finer below
1 kHz): the EQ'd signal is measured again and most of the residual added. The timbre
distance is measured on those same mel bands, so it shows how much of the envelope
difference is left; it does not see what an envelope cannot (attacks, vibrato, noise).

Dynamics matching picks a compression ratio: among a few candidates, the one whose
output crest factor is closest to the uploads'. A compressor can only lower the crest
factor, so a rendering already denser than the uploads is left alone (ratio 1).
"""

from __future__ import annotations

from typing import Any

import librosa
import numpy as np
from scipy import signal

from generation.synthesis.dynamics import compressor_gain_db, level_percentile_db
from generation.synthesis.features import (
    N_MELS,
    SAMPLE_RATE,
    THIRD_OCTAVE_CENTRES,
    FloatArray,
    dynamics,
    spectra,
)

MAX_EQ_DB = 12.0
EQ_TAPS = 4097  # ~10.8 Hz resolution at 44.1 kHz, enough for the 40 Hz band
EMPTY_BAND_DB = -35.0  # a rendered band this far under the mean has nothing to boost
EMPTY_BAND_MAX_BOOST_DB = 3.0
RATIOS = (1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 6.0)


def eq_gains_db(rendered_db: FloatArray, target_db: FloatArray) -> FloatArray:
    """Smoothed, limited per-band EQ gains that move ``rendered_db`` toward ``target_db``."""
    difference = np.asarray(target_db, dtype=np.float64) - rendered_db
    difference = np.where(rendered_db < EMPTY_BAND_DB, np.minimum(difference, EMPTY_BAND_MAX_BOOST_DB), difference)
    padded = np.pad(difference, 1, mode="edge")
    smoothed = 0.25 * padded[:-2] + 0.5 * padded[1:-1] + 0.25 * padded[2:]
    smoothed -= np.median(smoothed)  # overall level is set by mastering; spend the range on shape
    return np.asarray(np.clip(smoothed, -MAX_EQ_DB, MAX_EQ_DB))


_GRID = np.concatenate([[0.0], np.geomspace(20.0, SAMPLE_RATE / 2 * 0.999, 600), [SAMPLE_RATE / 2]])
_LOG_GRID = np.log(np.maximum(_GRID, 1.0))
_MEL_CENTRES = librosa.mel_frequencies(n_mels=N_MELS + 2, fmin=30.0, fmax=16000.0)[1:-1]


def _on_grid(centres: FloatArray | tuple[float, ...], gains_db: FloatArray) -> FloatArray:
    """Band gains interpolated in log frequency onto the FIR design grid (held flat beyond the ends)."""
    return np.asarray(np.interp(_LOG_GRID, np.log(np.asarray(centres)), gains_db))


def eq_filter(gains_db: FloatArray) -> FloatArray:
    """Linear-phase FIR whose magnitude follows the 1/3-octave band gains."""
    return fir_from_curve(_on_grid(THIRD_OCTAVE_CENTRES, gains_db))


def fir_from_curve(curve_db: FloatArray) -> FloatArray:
    """Linear-phase FIR from a gain curve in dB sampled on the design grid."""
    return np.asarray(signal.firwin2(EQ_TAPS, _GRID, 10 ** (curve_db / 20), fs=SAMPLE_RATE))


def apply_fir(audio: FloatArray, taps: FloatArray) -> FloatArray:
    """Zero-delay application of a linear-phase FIR to every channel."""
    delay = (len(taps) - 1) // 2
    filtered = signal.oaconvolve(audio, taps[None, :], mode="full", axes=-1)
    return np.asarray(filtered[:, delay : delay + audio.shape[-1]])


def match_spectrum(
    audio: FloatArray, target_third_octave_db: list[float], target_mel_db: list[float]
) -> tuple[FloatArray, FloatArray]:
    """Return the EQ'd audio and the final EQ curve in dB at the 1/3-octave centres.

    Pass 1 matches the 27 1/3-octave bands. Pass 2 measures what is left on the 40 mel
    bands (finer below 1 kHz) and adds most of it; the combined curve is limited to +-12 dB
    and applied once, as one linear-phase FIR, to the original signal.
    """
    rendered = spectra(audio)
    curve = _on_grid(THIRD_OCTAVE_CENTRES, eq_gains_db(rendered.third_octave_db, np.asarray(target_third_octave_db)))
    first_pass = apply_fir(audio, fir_from_curve(curve))
    residual = eq_gains_db(spectra(first_pass).mel_db, np.asarray(target_mel_db, dtype=np.float64))
    curve = np.clip(curve + 0.8 * _on_grid(_MEL_CENTRES, residual), -MAX_EQ_DB, MAX_EQ_DB)
    at_bands = np.interp(np.log(np.asarray(THIRD_OCTAVE_CENTRES)), _LOG_GRID, curve)
    return apply_fir(audio, fir_from_curve(curve)), at_bands


def match_dynamics(audio: FloatArray, target_crest_db: float) -> tuple[FloatArray, dict[str, Any]]:
    """Bus compression with the ratio whose output crest factor is closest to the uploads'."""
    threshold = level_percentile_db(audio, 60, rms_seconds=0.05)
    before = dynamics(audio)["crest_factor_db"]
    best_ratio, best_audio, best_error = 1.0, audio, abs(before - target_crest_db)
    if before > target_crest_db:
        for ratio in RATIOS[1:]:
            gain_db = compressor_gain_db(
                audio, ratio=ratio, threshold_db=threshold, rms_seconds=0.05, attack_s=0.01, release_s=0.2
            )
            candidate = audio * 10 ** (gain_db[None, :] / 20)
            error = abs(dynamics(candidate)["crest_factor_db"] - target_crest_db)
            if error < best_error:
                best_ratio, best_audio, best_error = ratio, candidate, error
            else:
                break  # crest factor falls monotonically with the ratio: we passed the target
    report = {
        "ratio": best_ratio,
        "threshold_db": round(threshold, 2),
        "crest_factor_db_before": round(before, 2),
        "crest_factor_db_after": round(dynamics(best_audio)["crest_factor_db"], 2),
        "crest_factor_db_target": round(target_crest_db, 2),
    }
    return best_audio, report


RANGE_WINDOW_S = 3.0  # the loudness-range measure's window (features.dynamics)
RANGE_MIN_GAIN_DB = -12.0


def match_loudness_range(audio: FloatArray, target_range_db: float) -> tuple[FloatArray, dict[str, Any]]:
    """Ride the gain slowly so the loudness range comes down to the uploads' (never up).

    The form plays quiet intros and outros and loud choruses; an artist whose songs stay at one
    level gets the same contrast squeezed: each 3 s level's distance from the loud level is
    scaled by target / measured (only when measured > target), and the gain curve is smoothed
    over a second so no transient is touched. Fades are applied afterwards by the master.
    """
    before = dynamics(audio)["loudness_range_db"]
    report: dict[str, Any] = {"loudness_range_db_before": round(before, 2), "loudness_range_db_target": target_range_db}
    if before <= target_range_db + 0.5 or before <= 0:
        report["loudness_range_db_after"] = round(before, 2)
        return audio, report
    mono = audio.mean(axis=0)
    hop = SAMPLE_RATE // 2
    window = int(RANGE_WINDOW_S * SAMPLE_RATE)
    padded = np.pad(mono**2, (window // 2, window // 2), mode="edge")
    frames = np.arange(0, len(mono), hop)
    energy = np.cumsum(np.concatenate([[0.0], padded]))
    levels = 10 * np.log10((energy[frames + window] - energy[frames]) / window + 1e-12)
    loud = float(np.percentile(levels, 95))
    ratio = max(0.0, target_range_db) / before
    gain_db = np.clip((loud - levels) * (1 - ratio), 0.0, -RANGE_MIN_GAIN_DB)  # lift the quiet parts
    gain_db[levels < loud - 30.0] = 0.0  # silence (the tail, gaps) stays silent
    kernel = np.hanning(5)
    gain_db = np.convolve(gain_db, kernel / kernel.sum(), mode="same")
    curve = np.interp(np.arange(len(mono)), frames, gain_db)
    levelled = audio * 10 ** (curve[None, :] / 20)
    report["loudness_range_db_after"] = round(dynamics(levelled)["loudness_range_db"], 2)
    report["max_lift_db"] = round(float(gain_db.max()), 2)
    return levelled, report
