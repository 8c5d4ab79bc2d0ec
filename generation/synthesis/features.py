"""Measurements shared by the target profile, the adaptation and the report.

Everything here is numpy/scipy/librosa over float arrays shaped ``(channels, samples)``
at :data:`SAMPLE_RATE`; no Django, no I/O. The same functions measure the uploads and
the rendering, so "closer to the uploads" is always measured on equal terms.

Spectra are compared in a level-independent way: a spectral envelope is the mean over
active frames of the per-band level in dB, minus its own mean across bands. An EQ gain
of ``g`` dB in a band moves that band's envelope by exactly ``g`` dB, which is what
makes envelope matching a straight subtraction.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import librosa
import numpy as np
import pyloudnorm
import scipy.fft
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray
from scipy import signal
from scipy.ndimage import maximum_filter1d

SAMPLE_RATE = 44100
N_FFT = 4096
HOP = 2048
N_MELS = 40
# ISO 1/3-octave centre frequencies, 40 Hz .. 16 kHz (27 bands).
THIRD_OCTAVE_CENTRES: tuple[float, ...] = tuple(round(1000.0 * 2.0 ** (k / 3.0), 1) for k in range(-14, 13))
ACTIVE_FRAME_RANGE_DB = 40.0  # frames quieter than the loud frames by more than this are ignored

FloatArray = NDArray[np.float64]


@lru_cache(maxsize=4)
def _third_octave_matrix(n_fft: int, sample_rate: int) -> FloatArray:
    """Rows are bands, columns FFT bins; a band narrower than a bin takes its nearest bin."""
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    matrix = np.zeros((len(THIRD_OCTAVE_CENTRES), len(freqs)))
    for row, centre in enumerate(THIRD_OCTAVE_CENTRES):
        low, high = centre * 2.0 ** (-1 / 6), centre * 2.0 ** (1 / 6)
        inside = (freqs >= low) & (freqs < high)
        if inside.any():
            matrix[row, inside] = 1.0
        else:
            matrix[row, int(np.argmin(np.abs(freqs - centre)))] = 1.0
    return matrix


@lru_cache(maxsize=4)
def _mel_matrix(n_fft: int, sample_rate: int) -> FloatArray:
    return np.asarray(
        librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=N_MELS, fmin=30.0, fmax=16000.0), dtype=np.float64
    )


def to_mono(audio: FloatArray) -> FloatArray:
    """(channels, samples) or (samples,) -> (samples,)."""
    return audio if audio.ndim == 1 else np.asarray(audio.mean(axis=0))


def power_spectrogram(audio: FloatArray) -> FloatArray:
    """Mono power spectrogram, (N_FFT // 2 + 1, frames)."""
    mono = to_mono(audio).astype(np.float32)
    if len(mono) < N_FFT:
        mono = np.pad(mono, (0, N_FFT - len(mono)))
    frames = sliding_window_view(mono, N_FFT)[::HOP]
    spectrum = scipy.fft.rfft(frames * np.hanning(N_FFT).astype(np.float32), axis=1, workers=2)
    return np.asarray((spectrum.real**2 + spectrum.imag**2).T, dtype=np.float64)


def _active_mean_db(band_power: FloatArray) -> FloatArray:
    """Mean dB per band over the frames that carry sound, level-normalised (mean over bands 0)."""
    frame_power = band_power.sum(axis=0)
    if not np.any(frame_power > 0):
        return np.zeros(band_power.shape[0])
    loud = float(np.percentile(frame_power[frame_power > 0], 95))
    active = frame_power >= loud * 10 ** (-ACTIVE_FRAME_RANGE_DB / 10)
    floor = loud * 1e-9
    levels = 10 * np.log10(np.maximum(band_power[:, active], floor))
    envelope = levels.mean(axis=1)
    return np.asarray(envelope - envelope.mean())


@dataclass(frozen=True)
class Spectra:
    """Level-normalised envelopes of one signal: 1/3-octave bands (for EQ) and mel bands (for timbre)."""

    third_octave_db: FloatArray
    mel_db: FloatArray


def spectra(audio: FloatArray) -> Spectra:
    power = power_spectrogram(audio)
    return Spectra(
        third_octave_db=_active_mean_db(_third_octave_matrix(N_FFT, SAMPLE_RATE) @ power),
        mel_db=_active_mean_db(_mel_matrix(N_FFT, SAMPLE_RATE) @ power),
    )


def timbre_distance(mel_a: FloatArray | list[float], mel_b: FloatArray | list[float]) -> float:
    """RMS difference in dB between two level-normalised mean log-mel vectors (0 = same timbre)."""
    a, b = np.asarray(mel_a, dtype=np.float64), np.asarray(mel_b, dtype=np.float64)
    a, b = a - a.mean(), b - b.mean()
    return float(np.sqrt(np.mean((a - b) ** 2)))


def integrated_lufs(audio: FloatArray) -> float:
    """ITU-R BS.1770-4 integrated loudness (pyloudnorm); -70 for silence."""
    value = float(pyloudnorm.Meter(SAMPLE_RATE).integrated_loudness(np.ascontiguousarray(audio.T)))
    return value if np.isfinite(value) else -70.0


@lru_cache(maxsize=1)
def _oversampling_filter() -> NDArray[np.float32]:
    """48-tap low-pass for 4x interpolation (12 taps per phase, as in ITU-R BS.1770-4 annex 2)."""
    return np.asarray(signal.firwin(48, 0.12, fs=1.0) * 4, dtype=np.float32)


def _channel_max(values: NDArray[np.floating]) -> NDArray[np.floating]:
    """Largest absolute value across channels, per sample (faster than abs().max(axis=0) for 2 rows)."""
    magnitude = np.abs(values)
    return np.asarray(np.maximum.reduce(list(magnitude))) if magnitude.ndim > 1 else magnitude


def true_peak_envelope(audio: FloatArray) -> FloatArray:
    """Per-sample peak of the 4x oversampled signal, max over channels, (samples,).

    Each sample gets the largest interpolated value within a quarter sample of it, and the
    sample itself; the filter's group delay (23.5 upsampled samples) is compensated.
    """
    taps = _oversampling_filter()
    count = audio.shape[-1]
    envelope = np.empty(count)
    block = SAMPLE_RATE * 10
    pad = 16
    for start in range(0, count, block):
        stop = min(count, start + block)
        low, high = max(0, start - pad), min(count, stop + pad)
        segment = np.ascontiguousarray(audio[:, low:high], dtype=np.float32)
        upsampled = _channel_max(signal.upfirdn(taps, segment, up=4, axis=-1))
        frames = high - low
        aligned = np.zeros(4 * frames, dtype=np.float32)
        available = upsampled[22 : 22 + 4 * frames]
        aligned[: len(available)] = available
        per_sample = np.maximum(np.maximum(aligned[0::4], aligned[1::4]), np.maximum(aligned[2::4], aligned[3::4]))
        envelope[start:stop] = per_sample[start - low : stop - low]
    return np.asarray(np.maximum(envelope, _channel_max(audio)))


def true_peak_dbtp(audio: FloatArray) -> float:
    """Peak of the 4x oversampled signal in dBTP (ITU-R BS.1770-4 annex 2 method)."""
    peak = float(true_peak_envelope(audio).max()) if audio.shape[-1] else 0.0
    return float(20 * np.log10(max(peak, 1e-12)))


def dynamics(audio: FloatArray) -> dict[str, float]:
    """Crest factor (99.99th-percentile peak over RMS, dB) and loudness range (p95 - p10 of 3 s RMS levels, dB)."""
    mono = to_mono(audio)
    rms = float(np.sqrt(np.mean(mono**2)))
    if rms <= 0:
        return {"crest_factor_db": 0.0, "loudness_range_db": 0.0}
    peak = float(np.percentile(np.abs(mono), 99.99))
    window, hop = 3 * SAMPLE_RATE, SAMPLE_RATE
    levels = []
    for start in range(0, max(1, len(mono) - window + 1), hop):
        chunk = mono[start : start + window]
        levels.append(10 * np.log10(np.mean(chunk**2) + 1e-12))
    level_array = np.asarray(levels)
    gated = level_array[level_array > level_array.max() - 20.0] if len(level_array) else level_array
    spread = float(np.percentile(gated, 95) - np.percentile(gated, 10)) if len(gated) > 1 else 0.0
    return {"crest_factor_db": 20 * np.log10(peak / rms), "loudness_range_db": spread}


def instrumentation_features(audio: FloatArray, max_seconds: float = 60.0) -> dict[str, float]:
    """What kind of sound sources an excerpt holds, from an HPSS split at 22.05 kHz.

    percussive_ratio: share of energy in the percussive part; bass_ratio: share of harmonic
    energy below 150 Hz; polyphony: mean number of chroma bins within 6 dB of the loudest
    (a rough count of simultaneous pitch classes); brightness_hz: spectral centroid of the
    harmonic part above 150 Hz; attack: mean positive log-spectral flux of the harmonic
    part (high for plucked/struck sounds, low for pads and bowed strings); flatness: mean
    spectral flatness of the harmonic part (high for noisy/synthetic timbres).
    """
    mono = to_mono(audio)
    length = int(max_seconds * SAMPLE_RATE)
    if len(mono) > length:
        start = (len(mono) - length) // 2
        mono = mono[start : start + length]
    low_rate = 22050
    mono22 = librosa.resample(mono.astype(np.float32), orig_sr=SAMPLE_RATE, target_sr=low_rate)
    magnitude = np.abs(librosa.stft(mono22, n_fft=2048, hop_length=512))
    harmonic, percussive = librosa.decompose.hpss(magnitude, margin=1.0)
    h_power, p_power = harmonic**2, percussive**2
    total = float(h_power.sum() + p_power.sum()) or 1.0
    freqs = librosa.fft_frequencies(sr=low_rate, n_fft=2048)
    low = freqs < 150.0
    h_total = float(h_power.sum()) or 1.0
    chroma = librosa.feature.chroma_stft(S=h_power, sr=low_rate)
    frame_energy = h_power.sum(axis=0)
    active = frame_energy > np.percentile(frame_energy, 95) * 1e-3 if frame_energy.any() else frame_energy > 0
    polyphony = float((chroma[:, active] >= 0.5).sum(axis=0).mean()) if active.any() else 0.0
    upper = h_power[~low]
    centroid = float((freqs[~low, None] * upper).sum() / (upper.sum() or 1.0))
    log_h = np.log10(h_power[~low] + 1e-10)
    flux = np.maximum(np.diff(log_h, axis=1), 0.0).mean(axis=0)
    attack = float(flux[active[1:]].mean()) if active[1:].any() else 0.0
    flatness = float(librosa.feature.spectral_flatness(S=harmonic).mean())
    high = (freqs >= 3000.0) & (freqs < 10000.0)
    high_total = float(h_power[high].sum() + p_power[high].sum()) or 1.0
    mid = (freqs >= 150.0) & (freqs < 3000.0)
    mid_energy = h_power[mid].sum(axis=0)
    local_max = maximum_filter1d(mid_energy, size=int(1.0 * low_rate / 512))
    sustained = mid_energy >= local_max * 10 ** (-6 / 10)
    sustain = float(sustained[active].mean()) if active.any() else 0.0
    return {
        "percussive_ratio": float(p_power.sum()) / total,
        "bass_ratio": float(h_power[low].sum()) / h_total,
        "polyphony": polyphony,
        "brightness_hz": centroid,
        "attack": attack,
        "flatness": flatness,
        "high_percussive_ratio": float(p_power[high].sum()) / high_total,
        "sustain": sustain,
    }
