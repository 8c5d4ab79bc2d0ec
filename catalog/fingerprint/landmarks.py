"""Wang-2003 landmarks: spectral peaks, paired into 32-bit hashes with an anchor time.

Pipeline (all numpy/scipy, no Django):

1. mono audio at ``SAMPLE_RATE`` (8 kHz) → log-magnitude STFT (512-point Hann, hop 128 = 16 ms);
2. peaks: cells that are the maximum of a ``PEAK_FREQ_SPAN`` × ``PEAK_TIME_SPAN`` neighbourhood (2-D max filter)
   *and* stand ``PEAK_MIN_PROMINENCE_DB`` above the local mean (an adaptive threshold, so quiet passages
   still yield peaks and broadband noise mostly does not); then only the ``PEAKS_PER_SECOND`` most
   prominent per one-second block are kept, which fixes the hash density whatever the loudness;
3. landmarks: each peak (anchor) is paired with up to ``FAN_OUT`` later peaks inside a target zone
   (``1 ≤ Δt ≤ MAX_DT`` frames, ``|f2 − f1| ≤ MAX_DF`` bins) → hash ``f1:8 | (f2−f1+64):7 | Δt:7`` bits.

Peaks are returned as float coordinates so the matcher can rescale them (speed changes) before hashing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage, signal

SAMPLE_RATE = 8000
N_FFT = 512
HOP = 128
FRAME_SECONDS = HOP / SAMPLE_RATE  # 16 ms
MIN_BIN = 3  # below ~47 Hz: rumble, DC
MAX_BIN = 255  # 8-bit frequency field
PEAK_FREQ_SPAN = 17  # bins (≈ 265 Hz)
PEAK_TIME_SPAN = 13  # frames (≈ 208 ms)
PEAK_MIN_PROMINENCE_DB = 6.0
PEAKS_PER_SECOND = 24
FAN_OUT = 8
MAX_DT = 63  # frames (≈ 1 s)
MIN_DT = 1
MAX_DF = 63  # bins (≈ 1 kHz)
SUSTAIN_FRAMES = 4  # ≈ 64 ms
SUSTAIN_DB = 6.0
SUSTAIN_PROMINENCE_DB = 3.0

FloatArray = npt.NDArray[np.float32]
HashArray = npt.NDArray[np.uint32]
TimeArray = npt.NDArray[np.int32]


@dataclass(frozen=True)
class Peaks:
    """Spectral peaks of one signal: ``time`` in frames and ``freq`` in bins (floats, shape (n,)), time-sorted."""

    time: npt.NDArray[np.float64]
    freq: npt.NDArray[np.float64]
    n_frames: int
    # Sub-bin correction of ``freq`` (parabolic interpolation of the log spectrum, in (−0.5, 0.5) bins);
    # the landmark hashes ignore it, the scale-invariant triplets use ``fine_freq``.
    freq_offset: npt.NDArray[np.float64] | None = None
    # Sustained peaks (SUSTAIN_FRAMES later the bin is still within SUSTAIN_DB of the peak and still stands
    # SUSTAIN_PROMINENCE_DB above its surroundings): partials of notes and chords rather than drum hits or
    # noise; the constellation check counts these.
    sustained: npt.NDArray[np.bool_] | None = None
    # Prominence in dB above the local mean (what ranks peaks within a second): the triplets choose their second
    # and third peaks by it (sustained ones first), so a weak peak appearing or vanishing changes no choice.
    strength: npt.NDArray[np.float64] | None = None

    @property
    def fine_freq(self) -> npt.NDArray[np.float64]:
        return self.freq if self.freq_offset is None else self.freq + self.freq_offset

    def rescaled(self, speed: float) -> Peaks:
        """Peaks of the same audio played ``speed`` times slower-then-corrected.

        Audio sped up by ``s`` has its frequencies multiplied by ``s`` and its times divided by ``s``;
        undoing that means ``f / s`` and ``t · s``. Rescaling peak coordinates is equivalent to
        resampling the query and far cheaper than a second STFT.
        """
        return Peaks(
            time=self.time * speed,
            freq=self.freq / speed,
            n_frames=round(self.n_frames * speed),
            freq_offset=None if self.freq_offset is None else self.freq_offset / speed,
            sustained=self.sustained,
            strength=self.strength,
        )


def spectrogram_db(samples: FloatArray) -> npt.NDArray[np.float32]:
    """Log-magnitude STFT, shape (N_FFT // 2 + 1, frames), in dB. ``samples`` is mono at SAMPLE_RATE."""
    if samples.size < N_FFT:
        samples = np.pad(samples, (0, N_FFT - samples.size))
    _, _, spec = signal.stft(
        samples.astype(np.float32, copy=False),
        nperseg=N_FFT,
        noverlap=N_FFT - HOP,
        window="hann",
        boundary=None,
        padded=False,
    )
    magnitude = np.abs(spec).astype(np.float32)
    db: npt.NDArray[np.float32] = (20.0 * np.log10(magnitude + 1e-6)).astype(np.float32)
    return db


def find_peaks(samples: FloatArray, *, peaks_per_second: int = PEAKS_PER_SECOND) -> Peaks:
    """Spectral peaks of ``samples`` (mono float, SAMPLE_RATE)."""
    spec = spectrogram_db(samples)
    n_frames = spec.shape[1]
    band = spec[MIN_BIN : MAX_BIN + 1]
    local_max = ndimage.maximum_filter(band, size=(PEAK_FREQ_SPAN, PEAK_TIME_SPAN), mode="constant", cval=-1e9)
    local_mean = ndimage.uniform_filter(band, size=(PEAK_FREQ_SPAN * 2 + 1, PEAK_TIME_SPAN * 2 + 1), mode="nearest")
    prominence = band - local_mean
    # Absolute floor: ignore digital silence (−120 dB) and peaks 70 dB under the loudest cell.
    floor = max(float(band.max()) - 70.0, -100.0)
    is_peak = (band == local_max) & (prominence >= PEAK_MIN_PROMINENCE_DB) & (band > floor)
    f_idx, t_idx = np.nonzero(is_peak)
    if f_idx.size == 0:
        empty = np.zeros(0, dtype=np.float64)
        return Peaks(time=empty, freq=empty, n_frames=n_frames)
    score = prominence[f_idx, t_idx]
    # Keep the most prominent peaks per one-second block: fixed density whatever the level.
    frames_per_block = round(1.0 / FRAME_SECONDS)
    block = t_idx // frames_per_block
    order = np.lexsort((-score, block))
    block_sorted = block[order]
    first_of_block = np.searchsorted(block_sorted, block_sorted, side="left")
    rank = np.arange(order.size) - first_of_block
    keep = order[rank < peaks_per_second]
    keep = keep[np.lexsort((f_idx[keep], t_idx[keep]))]
    f, t = f_idx[keep], t_idx[keep]
    below = band[np.maximum(f - 1, 0), t].astype(np.float64)
    centre = band[f, t].astype(np.float64)
    above = band[np.minimum(f + 1, band.shape[0] - 1), t].astype(np.float64)
    curvature = below - 2.0 * centre + above
    with np.errstate(divide="ignore", invalid="ignore"):
        offset = np.where(curvature < 0, 0.5 * (below - above) / curvature, 0.0)
    later_t = np.minimum(t + SUSTAIN_FRAMES, band.shape[1] - 1)
    later = band[f, later_t].astype(np.float64)
    # Still standing out of its surroundings: a noise peak's bin falls back to the noise floor.
    later_prominence = prominence[f, later_t].astype(np.float64)
    return Peaks(
        time=t.astype(np.float64),
        freq=(f + MIN_BIN).astype(np.float64),
        n_frames=n_frames,
        freq_offset=np.clip(offset, -0.49, 0.49),
        sustained=(later >= centre - SUSTAIN_DB)
        & (later_prominence >= SUSTAIN_PROMINENCE_DB)
        & (t + SUSTAIN_FRAMES < band.shape[1]),
        strength=prominence[f, t].astype(np.float64),
    )


def landmarks(peaks: Peaks, *, fan_out: int = FAN_OUT) -> tuple[HashArray, TimeArray]:
    """Hashes (uint32) and anchor times (int32 frames) of all anchor→target pairs, in anchor order."""
    time = np.round(peaks.time).astype(np.int64)
    freq = np.round(peaks.freq).astype(np.int64)
    n = time.size
    if n < 2:
        return np.zeros(0, dtype=np.uint32), np.zeros(0, dtype=np.int32)
    hashes: list[npt.NDArray[np.int64]] = []
    anchors: list[npt.NDArray[np.int64]] = []
    taken = np.zeros(n, dtype=np.int64)
    # Look ahead k peaks at a time (peaks are time-sorted); each anchor keeps its first ``fan_out`` valid targets.
    for k in range(1, 4 * fan_out + 1):
        if k >= n:
            break
        a = np.arange(n - k)
        b = a + k
        dt = time[b] - time[a]
        if dt.min() > MAX_DT:  # time-sorted: every later k is out of the target zone too
            break
        df = freq[b] - freq[a]
        valid = (dt >= MIN_DT) & (dt <= MAX_DT) & (np.abs(df) <= MAX_DF) & (taken[a] < fan_out)
        a, b, dt, df = a[valid], b[valid], dt[valid], df[valid]
        taken[a] += 1
        f1 = np.clip(freq[a], 0, MAX_BIN)
        hashes.append((f1 << 14) | ((df + 64) << 7) | dt)
        anchors.append(time[a])
        if not np.any(taken < fan_out):
            break
    if not hashes:
        return np.zeros(0, dtype=np.uint32), np.zeros(0, dtype=np.int32)
    h = np.concatenate(hashes)
    t = np.concatenate(anchors)
    order = np.argsort(t, kind="stable")
    return h[order].astype(np.uint32), t[order].astype(np.int32)


def fingerprint(samples: FloatArray) -> tuple[HashArray, TimeArray]:
    """Hashes and anchor times of ``samples`` (mono float32 at SAMPLE_RATE)."""
    return landmarks(find_peaks(samples))
