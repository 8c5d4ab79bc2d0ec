"""Gain-riding processors: a feed-forward compressor and an oversampled true-peak limiter.

Audio is float64 ``(channels, samples)`` at 44.1 kHz; every processor is stereo-linked
(one gain curve for both channels) so the image does not wander. Offline processing means
"lookahead" is simply reading ahead in the array: no latency to compensate.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from scipy import signal
from scipy.ndimage import maximum_filter1d, minimum_filter1d, uniform_filter1d

from generation.synthesis.features import SAMPLE_RATE, FloatArray, true_peak_envelope


@numba.njit(cache=True)
def _ballistics(target: FloatArray, attack: float, release: float) -> FloatArray:  # pragma: no cover - jitted
    """One-pole smoothing of a gain curve (dB or linear): ``attack`` when it falls, ``release`` when it rises."""
    out = np.empty_like(target)
    state = target[0]
    for index in range(target.shape[0]):
        value = target[index]
        coefficient = attack if value < state else release
        state = value + coefficient * (state - value)
        out[index] = state
    return out


@numba.njit(cache=True)
def _release_only(target: FloatArray, release: float) -> FloatArray:  # pragma: no cover - jitted
    """Follow falls instantly (the caller already shaped them) and rises with a one-pole release."""
    out = np.empty_like(target)
    state = target[0]
    for index in range(target.shape[0]):
        value = target[index]
        state = value if value < state else value + release * (state - value)
        out[index] = state
    return out


def _coefficient(seconds: float) -> float:
    return math.exp(-1.0 / (max(seconds, 1e-4) * SAMPLE_RATE))


def compressor_gain_db(
    audio: FloatArray,
    *,
    ratio: float,
    threshold_db: float,
    rms_seconds: float,
    attack_s: float,
    release_s: float,
    knee_db: float = 6.0,
) -> FloatArray:
    """Gain reduction in dB per sample (<= 0) of a soft-knee RMS compressor."""
    power = np.mean(audio**2, axis=0)
    smoothing = 1.0 - _coefficient(rms_seconds)
    detector = signal.lfilter([smoothing], [1.0, smoothing - 1.0], power)
    level_db = 10 * np.log10(np.maximum(detector, 1e-12))
    over = level_db - threshold_db
    slope = 1.0 - 1.0 / ratio
    reduction = np.where(
        over <= -knee_db / 2,
        0.0,
        np.where(over >= knee_db / 2, -slope * over, -slope * (over + knee_db / 2) ** 2 / (2 * knee_db)),
    )
    return np.asarray(_ballistics(reduction, _coefficient(attack_s), _coefficient(release_s)))


def level_percentile_db(audio: FloatArray, percentile: float, rms_seconds: float) -> float:
    """A percentile of the smoothed RMS level over the samples that carry sound."""
    power = np.mean(audio**2, axis=0)
    smoothing = 1.0 - _coefficient(rms_seconds)
    detector = signal.lfilter([smoothing], [1.0, smoothing - 1.0], power)[:: SAMPLE_RATE // 100]
    level = 10 * np.log10(np.maximum(detector, 1e-12))
    active = level[level > level.max() - 40]
    return float(np.percentile(active, percentile)) if len(active) else -60.0


def true_peak_limit(
    audio: FloatArray,
    *,
    ceiling_dbtp: float,
    peak_envelope: FloatArray | None = None,
    lookahead_s: float = 0.005,
    release_s: float = 0.06,
) -> FloatArray:
    """Brick-wall limiter on the 4x oversampled peak envelope, with lookahead and smooth release.

    The required gain (ceiling / true peak) is held over the next ``lookahead_s`` and then
    averaged over the previous ``lookahead_s``, so the gain has finished ramping down when the
    peak arrives (every averaged value is already at or below that peak's requirement).
    ``peak_envelope`` may be passed when known (it scales with the input's gain), which
    saves the oversampling when the limiter runs several times on the same material.
    """
    ceiling = 10 ** (ceiling_dbtp / 20)
    envelope = true_peak_envelope(audio) if peak_envelope is None else peak_envelope
    required = np.minimum(1.0, ceiling / np.maximum(maximum_filter1d(envelope, size=3), 1e-12))
    size = max(2, int(lookahead_s * SAMPLE_RATE)) + 1
    held = minimum_filter1d(required, size=size, origin=-(size // 2))
    ramped = uniform_filter1d(held, size=size, origin=size - 1 - size // 2)
    gain = np.minimum(np.asarray(_release_only(ramped, _coefficient(release_s))), held)
    return np.asarray(audio * gain[None, :])
