"""Scale-invariant triplet hashes: what survives pitch shifts, tempo changes and speed changes.

Landmark hashes (``landmarks``) store absolute frequencies and time differences, so a change of pitch
or tempo by a few per cent breaks them. A *triplet* of spectral peaks ``(t1, f1), (t2, f2), (t3, f3)``
with ``t1 < t2 < t3`` has quantities that do not change when all times are multiplied by ``a`` (tempo,
speed) and all frequencies by ``b`` (pitch, speed), independently:

- the two frequency intervals ``12·log2(f2/f1)`` and ``12·log2(f3/f1)`` in semitones (music puts its
  peaks on semitone intervals, so rounding to whole semitones cuts between the likely values);
- the time ratio ``(t2 − t1) / (t3 − t1)``, in eight levels.

Which peaks form triplets must survive the change too. A phase vocoder (tempo or pitch change) moves
peaks by a frame or two and makes weak ones appear or vanish; choosing the followers of a peak as the
first ones in time order shifted every choice after such a peak, so few triplets of a stretched clip
matched its recording. The followers are instead the best-ranked peaks in a window of ``WINDOW``
frames (``priority``: sustained partials first, then by prominence), which a weak peak coming or going
does not change (docs/identification.md, work of 2026-12-07 c).

Two coarse, *not* invariant, fields make buckets smaller: the anchor's pitch band (six semitones) and the
triplet's span band (half an octave of duration). Scale factors are bounded (``TIME_SCALES``,
``FREQ_SCALES``: ±12 % in time, ±2.4 semitones in frequency), so a query knows which one or two bands a
reference can be in and probes them all. Every other field is also probed on both sides of a
quantisation boundary when the query's value is within its measurement error of it (``probes``); the
index stores each triplet once, in the cell of its own values.

Each entry keeps its anchor time, anchor frequency (1/64 bin) and span, so a hit yields per-hit
estimates of the frequency scale ``f1q / f1r`` and the time scale ``spanq / spanr``; ``scale`` fits the
offset and both factors over many hits and checks them against the reference's peaks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from catalog.fingerprint.landmarks import MIN_BIN, Peaks

MIN_GAP = 3  # frames between consecutive peaks of a triplet (≈ 48 ms): gives the time ratio some precision
SECOND_PEAKS = 3  # second peaks per anchor: the best-ranked ones in its window
THIRD_PEAKS = 3  # third peaks per second peak, the same way
WINDOW = 40  # frames (≈ 0.64 s) after a peak, from MIN_GAP on, in which its followers are chosen
MAX_SPAN = 90  # frames (≈ 1.4 s) from the first to the third peak
MAX_INTERVAL = 48  # semitones between the anchor and the other peaks
RATIO_LEVELS = 8
PITCH_BAND = 6.0  # semitones
SPAN_BAND = 0.5  # octaves of duration
SPAN_BASE = 1.5  # log2 frames of span band 0
TIME_SCALES = (0.88, 1.14)  # query duration / reference duration
FREQ_SCALES = (0.87, 1.15)  # query frequency / reference frequency (±2.4 semitones)
FREQ_ERROR = 0.3  # bins: query plus reference error of a peak's interpolated frequency
TIME_ERROR = 1.0  # frames: query plus reference error of a peak time
MAX_PROBES = 24  # a triplet needing more probes than this is too uncertain to look up
FREQ_UNITS = 64  # stored anchor frequency unit: 1/64 bin

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


def params() -> dict[str, Any]:
    """Parameters that make triplet hashes comparable (part of the index parameters)."""
    return {
        "min_gap": MIN_GAP,
        "fan": [SECOND_PEAKS, THIRD_PEAKS],
        "selection": {"window": WINDOW, "order": "sustained, then prominence"},
        "max_span": MAX_SPAN,
        "max_interval": MAX_INTERVAL,
        "ratio_levels": RATIO_LEVELS,
        "bands": [PITCH_BAND, SPAN_BAND, SPAN_BASE],
    }


@dataclass(frozen=True)
class Triplets:
    """Triplets of one peak set: indices of their three peaks and their invariant and coarse values."""

    first: IntArray
    second: IntArray
    third: IntArray
    interval2: FloatArray  # semitones f2/f1
    interval3: FloatArray  # semitones f3/f1
    ratio: FloatArray  # (t2 − t1) / (t3 − t1)
    pitch: FloatArray  # semitones of f1 above bin MIN_BIN
    span: IntArray  # t3 − t1, frames

    @property
    def size(self) -> int:
        return int(self.first.size)


@dataclass(frozen=True)
class ScalePrint:
    """What the index stores for one recording besides its landmarks: triplets and its peaks."""

    hashes: npt.NDArray[np.uint32]
    times: npt.NDArray[np.int32]  # anchor frame
    freqs: npt.NDArray[np.uint16]  # anchor frequency, 1/64 bin
    spans: npt.NDArray[np.uint8]  # frames
    peak_times: npt.NDArray[np.int32]
    peak_freqs: npt.NDArray[np.uint16]  # 1/64 bin


def priority(peaks: Peaks) -> IntArray:
    """Rank of each peak in the choice of followers, higher first: sustained peaks (note and chord partials)
    before the others, each by prominence; without strengths, the earlier peak first (the time order)."""
    n = peaks.time.size
    if peaks.strength is None:
        return -np.arange(n, dtype=np.int64)
    sustained = np.zeros(n, np.bool_) if peaks.sustained is None else peaks.sustained
    ranked = np.lexsort((np.arange(n), -peaks.strength, ~sustained))  # best first; ties to the earlier peak
    rank = np.empty(n, dtype=np.int64)
    rank[ranked] = np.arange(n)
    return -rank


def _best_ranked_after(time: IntArray, rank: IntArray, count: int) -> IntArray:
    """For each peak, the ``count`` highest-``rank`` peaks from MIN_GAP to WINDOW frames after it (−1 where
    fewer exist), shape (n, count). ``time`` must be sorted.

    A peak appearing or vanishing only changes the followers of the peaks whose window it falls in, and only
    when it ranks among their ``count`` best; the first peaks in time order all shift by one.
    """
    n = time.size
    lo = np.searchsorted(time, time + MIN_GAP, side="left")
    hi = np.searchsorted(time, time + WINDOW, side="right")
    width = int(np.max(hi - lo, initial=0))
    chosen = np.full((n, count), -1, dtype=np.int64)
    if width == 0:
        return chosen
    candidates = lo[:, None] + np.arange(width)[None, :]
    valid = candidates < hi[:, None]
    key = np.where(valid, rank[np.minimum(candidates, n - 1)], -n - 1)  # ranks are 0 … −(n − 1)
    order = np.argsort(-key, axis=1, kind="stable")[:, :count]
    picked = np.take_along_axis(candidates, order, axis=1)
    chosen[:, : picked.shape[1]] = np.where(np.take_along_axis(valid, order, axis=1), picked, -1)
    return chosen


def triplets(peaks: Peaks) -> Triplets:
    """Every triplet of ``peaks``: each anchor, its SECOND_PEAKS best-ranked peaks in the window after it
    (``priority``), and for each of those its THIRD_PEAKS best in the window after that, within MAX_SPAN and
    MAX_INTERVAL. The same peaks give the same triplets whatever weaker peaks come and go around them.
    """
    time = np.round(peaks.time).astype(np.int64)
    freq = np.maximum(peaks.fine_freq, 1.0)
    n = time.size
    rank = priority(peaks)
    seconds = _best_ranked_after(time, rank, SECOND_PEAKS)
    thirds_of = _best_ranked_after(time, rank, THIRD_PEAKS)
    firsts, seconds_list, thirds = [], [], []
    anchors = np.arange(n)
    for j_rank in range(seconds.shape[1]):
        second = seconds[:, j_rank]
        ok = second >= 0
        a, b = anchors[ok], second[ok]
        for k_rank in range(thirds_of.shape[1]):
            third = thirds_of[b, k_rank]
            good = third >= 0
            firsts.append(a[good])
            seconds_list.append(b[good])
            thirds.append(third[good])
    first = np.concatenate(firsts) if firsts else np.zeros(0, np.int64)
    second = np.concatenate(seconds_list) if seconds_list else np.zeros(0, np.int64)
    third = np.concatenate(thirds) if thirds else np.zeros(0, np.int64)
    span = time[third] - time[first]
    interval2 = 12.0 * np.log2(freq[second] / freq[first])
    interval3 = 12.0 * np.log2(freq[third] / freq[first])
    keep = (span <= MAX_SPAN) & (np.abs(interval2) <= MAX_INTERVAL) & (np.abs(interval3) <= MAX_INTERVAL)
    first, second, third, span = first[keep], second[keep], third[keep], span[keep]
    order = np.lexsort((third, second, first))
    first, second, third, span = first[order], second[order], third[order], span[order]
    return Triplets(
        first=first,
        second=second,
        third=third,
        interval2=12.0 * np.log2(freq[second] / freq[first]),
        interval3=12.0 * np.log2(freq[third] / freq[first]),
        ratio=(time[second] - time[first]) / np.maximum(span, 1),
        pitch=12.0 * np.log2(freq[first] / MIN_BIN),
        span=span,
    )


def _pack(q2: IntArray, q3: IntArray, qr: IntArray, qp: IntArray, qs: IntArray) -> IntArray:
    """Cell fields → 25-bit hash: interval2+64 (7) | interval3+64 (7) | ratio (3) | pitch band (4) | span band (4)."""
    packed: IntArray = (
        ((q2 + 64) << 18) | ((q3 + 64) << 11) | (qr << 8) | (np.clip(qp, 0, 15) << 4) | np.clip(qs, 0, 15)
    )
    return packed


def _span_band(log_span: FloatArray) -> IntArray:
    return np.floor((log_span - SPAN_BASE) / SPAN_BAND).astype(np.int64)


def hashes(tri: Triplets) -> npt.NDArray[np.uint32]:
    """The index cell of each triplet (its own values, quantised)."""
    q2 = np.round(tri.interval2).astype(np.int64)
    q3 = np.round(tri.interval3).astype(np.int64)
    qr = np.clip(np.floor(tri.ratio * RATIO_LEVELS), 0, RATIO_LEVELS - 1).astype(np.int64)
    qp = np.floor(tri.pitch / PITCH_BAND).astype(np.int64)
    qs = _span_band(np.log2(np.maximum(tri.span, 1)))
    return _pack(q2, q3, qr, qp, qs).astype(np.uint32)


def probes(tri: Triplets, freq: FloatArray) -> tuple[npt.NDArray[np.uint32], IntArray]:
    """Hashes a query looks up for its triplets and, for each, the triplet it probes for.

    Per field, the range of cells the reference's value can fall in: measurement error on both sides of
    each rounded interval and ratio, and every pitch and span band the bounded scale factors allow.
    ``freq`` is the peaks' fine frequency (bins).
    """
    f1, f2, f3 = freq[tri.first], freq[tri.second], freq[tri.third]
    err2 = 12.0 / np.log(2.0) * (FREQ_ERROR / f1 + FREQ_ERROR / f2)
    err3 = 12.0 / np.log(2.0) * (FREQ_ERROR / f1 + FREQ_ERROR / f3)
    span = np.maximum(tri.span, 1).astype(np.float64)
    err_r = TIME_ERROR * (1.0 + tri.ratio) / span
    pitch_lo = tri.pitch - 12.0 * np.log2(FREQ_SCALES[1]) - 12.0 / np.log(2.0) * FREQ_ERROR / f1
    pitch_hi = tri.pitch - 12.0 * np.log2(FREQ_SCALES[0]) + 12.0 / np.log(2.0) * FREQ_ERROR / f1
    log_span = np.log2(span)
    span_err = TIME_ERROR / (span * np.log(2.0))
    ranges = (
        (np.round(tri.interval2 - err2), np.round(tri.interval2 + err2)),
        (np.round(tri.interval3 - err3), np.round(tri.interval3 + err3)),
        (
            np.clip(np.floor((tri.ratio - err_r) * RATIO_LEVELS), 0, RATIO_LEVELS - 1),
            np.clip(np.floor((tri.ratio + err_r) * RATIO_LEVELS), 0, RATIO_LEVELS - 1),
        ),
        (np.floor(pitch_lo / PITCH_BAND), np.floor(pitch_hi / PITCH_BAND)),
        (
            _span_band(log_span - np.log2(TIME_SCALES[1]) - span_err),
            _span_band(log_span - np.log2(TIME_SCALES[0]) + span_err),
        ),
    )
    los = [np.asarray(lo, dtype=np.int64) for lo, _hi in ranges]
    counts = [np.asarray(hi, dtype=np.int64) - lo + 1 for lo, (_l, hi) in zip(los, ranges, strict=True)]
    total = np.prod(np.stack(counts), axis=0)
    usable = np.flatnonzero(total <= MAX_PROBES)
    # Expand field by field: each row is repeated once per cell of the next field.
    rows = usable
    fields: list[IntArray] = []
    for lo, count in zip(los, counts, strict=True):
        repeat = count[rows]
        position = np.repeat(np.cumsum(repeat) - repeat, repeat)
        step = np.arange(int(repeat.sum())) - position
        fields = [np.repeat(f, repeat) for f in fields]
        rows = np.repeat(rows, repeat)
        fields.append(lo[rows] + step)
    if rows.size == 0:
        return np.zeros(0, np.uint32), np.zeros(0, np.int64)
    return _pack(*fields).astype(np.uint32), rows


def scale_print(peaks: Peaks) -> ScalePrint:
    """The triplets and peaks of one recording, ready for the index."""
    tri = triplets(peaks)
    freq = peaks.fine_freq
    times = np.round(peaks.time).astype(np.int32)
    return ScalePrint(
        hashes=hashes(tri),
        times=times[tri.first],
        freqs=np.round(freq[tri.first] * FREQ_UNITS).astype(np.uint16),
        spans=tri.span.astype(np.uint8),
        peak_times=times,
        peak_freqs=np.round(freq * FREQ_UNITS).astype(np.uint16),
    )
