"""Room, tone and loudness: the mastering chain after adaptation.

Targets (streaming): integrated loudness -14 LUFS +-0.5 (ITU-R BS.1770-4 via pyloudnorm),
true peak <= -1.0 dBTP measured 4x oversampled, no DC offset, no clipping. pyloudnorm only
measures, so the limiter is ours (see dynamics.true_peak_limit); loudness and limiting
interact, so gain and ceiling are corrected over a few measured passes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import signal

from generation.synthesis.dynamics import true_peak_limit
from generation.synthesis.features import (
    SAMPLE_RATE,
    FloatArray,
    integrated_lufs,
    true_peak_dbtp,
    true_peak_envelope,
)

TARGET_LUFS = -14.0
LUFS_TOLERANCE = 0.5
CEILING_DBTP = -1.0
LIMITER_MARGIN_DB = 0.3  # limiter aims under the ceiling; gain modulation can add a little overshoot
MAX_PASSES = 5
LOUDNESS_AIM = 0.15  # dB; the tolerance is 0.5, the aim is tighter so encodes stay in it too


def remove_rumble(audio: FloatArray) -> FloatArray:
    """2nd-order 25 Hz high-pass (zero phase): removes DC and sub-sonic energy."""
    sos = signal.butter(2, 25.0, btype="highpass", fs=SAMPLE_RATE, output="sos")
    return np.asarray(signal.sosfiltfilt(sos, audio, axis=-1))


def room_impulse_response(seed: int, *, rt60_s: float = 1.1, predelay_s: float = 0.015) -> FloatArray:
    """Synthetic stereo room: sparse early reflections, then decorrelated noise decaying by 60 dB over rt60_s.

    The tail darkens as it decays (high frequencies die faster), as in a real room.
    """
    rng = np.random.default_rng(seed)
    length = int((predelay_s + rt60_s) * SAMPLE_RATE)
    time = np.arange(length) / SAMPLE_RATE
    response = np.zeros((2, length))
    start = int(predelay_s * SAMPLE_RATE)
    for channel in range(2):
        for _ in range(8):
            tap = start + int(rng.uniform(0.0, 0.06) * SAMPLE_RATE)
            response[channel, tap] += rng.uniform(0.2, 0.6) * rng.choice([-1.0, 1.0])
        noise = rng.standard_normal(length) * np.exp(-6.9 * np.maximum(time - predelay_s, 0.0) / rt60_s)
        noise[:start] = 0.0
        bright = signal.sosfilt(signal.butter(1, 6000.0, fs=SAMPLE_RATE, output="sos"), noise)
        dark = signal.sosfilt(signal.butter(1, 1500.0, fs=SAMPLE_RATE, output="sos"), noise)
        blend = np.clip((time - predelay_s) / rt60_s, 0.0, 1.0)
        response[channel] += 0.15 * ((1 - blend) * bright + blend * dark)
    return np.asarray(response / np.sqrt(np.sum(response**2, axis=1, keepdims=True)))


def add_room(audio: FloatArray, *, seed: int, wet_db: float = -16.0) -> FloatArray:
    """Mix in the convolution with a synthetic room, ``wet_db`` below the dry signal's energy."""
    response = room_impulse_response(seed)
    dry32, response32 = audio.astype(np.float32), response.astype(np.float32)  # float32 FFTs: half the time
    wet = np.stack(
        [signal.oaconvolve(dry32[channel], response32[channel])[: audio.shape[-1]] for channel in range(2)]
    ).astype(np.float64)
    dry_energy = float(np.sum(audio**2)) or 1.0
    wet_energy = float(np.sum(wet**2)) or 1.0
    return np.asarray(audio + wet * np.sqrt(dry_energy / wet_energy) * 10 ** (wet_db / 20))


def apply_fades(audio: FloatArray, *, fade_in_s: float = 0.01, fade_out_s: float) -> FloatArray:
    """Short fade-in against clicks; raised-cosine fade-out over the last ``fade_out_s``."""
    out = audio.copy()
    count = out.shape[-1]
    fade_in = min(count, int(fade_in_s * SAMPLE_RATE))
    out[:, :fade_in] *= np.linspace(0.0, 1.0, fade_in)[None, :]
    fade_out = min(count, int(fade_out_s * SAMPLE_RATE))
    if fade_out > 0:
        out[:, count - fade_out :] *= (0.5 + 0.5 * np.cos(np.linspace(0.0, np.pi, fade_out)))[None, :]
    return out


def loudness_master(audio: FloatArray) -> tuple[FloatArray, dict[str, Any]]:
    """Gain to -14 LUFS and true-peak limit to -1 dBTP, correcting both from measurements.

    Each pass applies the make-up gain and limits under the working ceiling; loudness misses
    move the gain. The true peak is measured once loudness is on target (the oversampled
    measurement is the expensive one); an overshoot lowers the working ceiling and loops.
    """
    gain_db = TARGET_LUFS - integrated_lufs(audio)
    working_ceiling = CEILING_DBTP - LIMITER_MARGIN_DB
    mastered, loudness, peak = audio, -70.0, 0.0
    envelope = true_peak_envelope(audio)
    passes = 0
    previous: tuple[float, float] | None = None  # (gain_db, loudness) of the last pass
    for passes in range(1, MAX_PASSES + 1):
        gain = 10 ** (gain_db / 20)
        mastered = true_peak_limit(audio * gain, ceiling_dbtp=working_ceiling, peak_envelope=envelope * gain)
        mastered -= mastered.mean(axis=1, keepdims=True)
        loudness = integrated_lufs(mastered)
        if abs(loudness - TARGET_LUFS) > LOUDNESS_AIM and passes < MAX_PASSES:
            # Secant step: under limiting, 1 dB more gain buys less than 1 dB of loudness.
            slope = 1.0
            if previous is not None and abs(gain_db - previous[0]) > 1e-3:
                slope = float(np.clip((loudness - previous[1]) / (gain_db - previous[0]), 0.3, 1.0))
            previous = (gain_db, loudness)
            gain_db += (TARGET_LUFS - loudness) / slope
            continue
        peak = true_peak_dbtp(mastered)
        if peak <= CEILING_DBTP - 0.05:
            break
        working_ceiling -= peak - (CEILING_DBTP - 0.1)
    if peak > CEILING_DBTP:  # last resort: trade loudness for the peak ceiling, never the reverse
        mastered *= 10 ** ((CEILING_DBTP - 0.05 - peak) / 20)
        loudness, peak = integrated_lufs(mastered), true_peak_dbtp(mastered)
    return mastered, {
        "passes": passes,
        "gain_db": round(gain_db, 2),
        "limiter_ceiling_dbtp": round(working_ceiling, 2),
        "integrated_lufs": round(loudness, 2),
        "true_peak_dbtp": round(peak, 2),
    }
