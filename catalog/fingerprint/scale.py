"""Matching under pitch, tempo and speed changes: triplet lookups, a fitted alignment, a constellation check.

A query recorded at time scale ``a`` (query duration / reference duration) and frequency scale ``b``
(query frequency / reference frequency) relates to its reference by ``t_ref = t_query / a + offset`` and
``f_ref = f_query / b``. Speed changes have ``a = 1/s, b = s``; time-stretching changes ``a`` alone and
pitch-shifting ``b`` alone.

1. *Candidates.* The query's triplets are probed in the index (``triplets.probes``; cells holding more than
   ``max_hits_per_hash`` entries are skipped). Each hit gives a frequency scale ``f1q / f1r`` (precise:
   interpolated frequencies) and a rough time scale ``spanq / spanr``. A coarse vote counts distinct query
   anchor times per (recording, frequency-scale bin of 1.5 %, 0.8-s offset bin) and keeps the best
   ``coarse_candidates`` recordings; a fine vote (``_fine_scores``: time scale and offset to a frame) keeps
   the best ``candidates`` of those.
2. *Fit.* For each candidate, a grid over the time scale (0.5 % steps) finds the offset that the most
   distinct query anchors agree on within ±1 frame, using only hits whose own span ratio fits that
   scale. The inliers are refitted by least squares (slope ``1/a``, intercept ``offset``) and ``b`` is
   their median frequency ratio.
3. *Constellation check.* The fitted transform maps *every* query peak into the reference; the share
   that lands on a reference peak (±1 frame, ±1 bin) is ``explained``. Hash collisions can line up by
   chance (a song with the same drum kit at nearly the same tempo shares its drum hits), but they do not
   explain the melody and chords; a true match explains a large share of all peaks.

A candidate is named only with enough aligned anchors *and* enough explained peaks (``ScaleThresholds``,
calibrated in docs/identification.md).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from catalog.fingerprint import triplets
from catalog.fingerprint.arrays import count_distinct, unique_sorted
from catalog.fingerprint.index import FingerprintIndex
from catalog.fingerprint.landmarks import Peaks

FREQ_STEP = 0.015  # log frequency-scale bin of the candidate stage
OFFSET_BIN = 48  # frames (≈ 0.8 s): coarse offset bin of the candidate stage
TIME_GRID = np.exp(np.arange(np.log(triplets.TIME_SCALES[0]), np.log(triplets.TIME_SCALES[1]) + 1e-9, 0.005))
OFFSET_TOLERANCE = 1.5  # frames, for inliers of a fitted alignment
FREQ_TOLERANCE = 0.025  # log frequency ratio, for inliers
MIN_SUSTAINED = 20  # sustained query peaks needed to judge a constellation on them alone


@dataclass(frozen=True)
class ScaleThresholds:
    """When a scale-invariant alignment may name a recording (calibration: docs/identification.md)."""

    # Distinct query anchor times on the fitted alignment; a look-alike reached 10 (share 0.26, 2.3 × background).
    min_aligned: int = 11
    min_explained: float = 0.18  # share of the query's sustained peaks that land on a reference peak
    strong_aligned: int = 20  # look-alikes stayed under this; above it a lower share suffices
    strong_min_explained: float = 0.16
    min_explained_peaks: int = 10
    # The share must stand this many times above the background (``background``: the best share another
    # fitted recording explains on at least ``min_explained_peaks`` peaks, and at least ``min_background``).
    min_explained_over_background: float = 1.7
    # A query in a common key explains about this much of an unrelated song in that key at its best fit
    # (docs/identification.md, work of 2026-12-07 d); with no other fit on enough peaks, this is the background.
    min_background: float = 0.12
    candidates: int = 6  # recordings fitted per query
    coarse_candidates: int = 48  # recordings the coarse vote passes to the fine vote
    # Triplet cells holding more entries than this are skipped (stop-words: common intervals and rhythms).
    max_hits_per_hash: int = 400


@dataclass(frozen=True)
class Alignment:
    recording_id: int
    offset: float  # reference frame of query frame 0
    scale_time: float
    scale_freq: float
    aligned: int
    explained: float
    explained_peaks: int
    query_hashes: int
    background: float = 0.0  # best share explained by another fitted recording


def _counts_with_tolerance(keys: npt.NDArray[np.int64], tolerance: int) -> tuple[npt.NDArray[np.int64], ...]:
    """Unique ``keys`` (which must be sorted ascending) and, for each, how many keys lie within ±tolerance of it.

    Every caller passes the output of ``unique_sorted``: sorting it again cost as much as sorting shuffled keys
    (28 ms for 600,000), and the window is found by comparing neighbours, not by two binary searches over the
    unique keys (11 ms each for 600,000): a distinct integer within ±tolerance lies at most ``tolerance``
    positions away (docs/identification.md, work of 2026-12-07 e).
    """
    if keys.size == 0:
        return keys, keys
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    unique = keys[starts]
    cumulative = np.concatenate((starts, [keys.size]))  # cumulative[i]: keys before unique[i]
    n = unique.size
    lo = np.arange(n)
    hi = np.arange(1, n + 1)
    for d in range(1, min(tolerance, n - 1) + 1):
        lo[d:] -= unique[:-d] >= unique[d:] - tolerance
        hi[:-d] += unique[d:] <= unique[:-d] + tolerance
    return unique, cumulative[hi] - cumulative[lo]


def explain(
    index: FingerprintIndex, peaks: Peaks, recording_id: int, offset: float, scale_time: float, scale_freq: float
) -> tuple[float, int] | None:
    """(share, count) of the query's peaks that land on a reference peak under the transform.

    None when the index holds no peaks for the recording (indexed without its scale fingerprint).
    """
    if peaks.time.size == 0:
        return 0.0, 0
    t_ref = np.round(peaks.time / scale_time + offset).astype(np.int64)
    f_ref = np.round(peaks.fine_freq / scale_freq).astype(np.int64)
    ref_t, ref_f = index.recording_peaks(recording_id, int(t_ref.min()) - 2, int(t_ref.max()) + 2)
    if ref_t.size == 0:
        return None if index.recording_peaks(recording_id, 0, 1 << 16)[0].size == 0 else (0.0, 0)
    first, last = int(ref_t.min()), int(ref_t.max())
    inside = (t_ref >= first - 1) & (t_ref <= last + 1)
    if peaks.sustained is not None and int((inside & peaks.sustained).sum()) >= MIN_SUSTAINED:
        inside &= peaks.sustained  # drum hits and noise bursts are shared by look-alikes; partials are not
    considered = int(inside.sum())
    if considered == 0:
        return 0.0, 0
    top = int(max(f_ref.max(), np.round(ref_f).max())) + 3
    grid = np.zeros((last - first + 5, top + 2), dtype=np.bool_)
    grid[ref_t - first + 2, np.clip(np.round(ref_f).astype(np.int64), 0, top)] = True
    grid = ndimage.maximum_filter(grid, size=(3, 3), mode="constant", cval=False)
    rows = t_ref[inside] - first + 2
    cols = np.clip(f_ref[inside], 0, top)
    hits = int(grid[rows, cols].sum())
    return hits / considered, hits


def _fine_scores(
    group: npt.NDArray[np.int64],
    tq: npt.NDArray[np.int64],
    tr: npt.NDArray[np.float64],
    log_a: npt.NDArray[np.float64],
    span_tolerance: npt.NDArray[np.float64],
    groups: int,
) -> npt.NDArray[np.int64]:
    """For each of ``groups`` candidates, the most distinct query anchors one (time scale, offset) explains.

    The same grid vote as ``_fit`` (0.5 % time-scale steps, 1-frame offsets ±1), for many candidates in one
    sort. The coarse vote's 0.8-s offset bins let chance hits of a long song pile up; a fitted line does not.
    """
    scores = np.zeros(groups, dtype=np.int64)
    if tq.size == 0:
        return scores
    log_grid = np.log(TIME_GRID)
    valid = np.abs(log_a[None, :] - log_grid[:, None]) <= span_tolerance[None, :]
    grid_index, hit = np.nonzero(valid)
    offsets = np.round(tr[hit] - tq[hit] / TIME_GRID[grid_index]).astype(np.int64) + (1 << 19)
    keys = (group[hit] << 27) | (grid_index << 20) | offsets
    cells = unique_sorted((keys << 16) | (tq[hit] & 0xFFFF)) >> 16
    unique, counts = _counts_with_tolerance(cells, 1)
    np.maximum.at(scores, unique >> 27, counts)
    return scores


def align(index: FingerprintIndex, peaks: Peaks, thresholds: ScaleThresholds | None = None) -> list[Alignment]:
    """Fitted alignments of the best candidate recordings (not yet verified): those with enough aligned anchors
    first, most explained first; each carries its background (``Alignment.background``).

    Candidates are found in two votes: a coarse one over every hit (recording, frequency-scale bin, 0.8-s
    offset bin) keeps ``coarse_candidates`` recordings; a fine one over their hits (``_fine_scores``) keeps
    ``candidates`` of them, which are fitted and checked against the constellation.
    """
    thresholds = thresholds or ScaleThresholds()
    tri = triplets.triplets(peaks)
    if tri.size == 0:
        return []
    freq = peaks.fine_freq
    probe_hashes, rows = triplets.probes(tri, freq)
    if probe_hashes.size == 0:
        return []
    order = np.argsort(probe_hashes, kind="stable")
    probe_hashes, rows = probe_hashes[order], rows[order]
    hits = index.lookup_triplets(probe_hashes, max_hits_per_hash=thresholds.max_hits_per_hash)
    if hits.docs.size == 0:
        return []
    which = rows[hits.query]
    first = tri.first[which]
    log_b = np.log(freq[first] / np.maximum(hits.freqs, 1e-3))
    sq = np.maximum(tri.span[which], 1).astype(np.float64)
    sr = np.maximum(hits.spans, 1).astype(np.float64)
    log_a = np.log(sq / sr)
    span_tolerance = 1.0 / sq + 1.0 / sr
    lo_a, hi_a = np.log(triplets.TIME_SCALES[0]), np.log(triplets.TIME_SCALES[1])
    lo_b, hi_b = np.log(triplets.FREQ_SCALES[0]), np.log(triplets.FREQ_SCALES[1])
    ok = np.flatnonzero(
        (log_b >= lo_b) & (log_b <= hi_b) & (log_a >= lo_a - span_tolerance) & (log_a <= hi_a + span_tolerance)
    )
    if ok.size == 0:
        return []
    log_b, log_a, span_tolerance = log_b[ok], log_a[ok], span_tolerance[ok]
    tq = np.round(peaks.time).astype(np.int64)[first[ok]]
    tr = hits.times[ok].astype(np.int64)
    recordings = index.recording_of(hits.docs[ok])
    b_bin = np.round(log_b / FREQ_STEP).astype(np.int64) + 32
    # Coarse offset at scale 1 (OFFSET_BIN frames): a ±14 % tempo change moves it by at most ~1.4 bins over
    # a 10-s clip, while chance hits spread over every offset of the recording.
    o_bin = np.clip((tr - tq) // OFFSET_BIN + 512, 0, 1023)
    keys = (recordings << 18) | (b_bin << 10) | o_bin
    cells = unique_sorted((keys << 16) | (tq & 0xFFFF)) >> 16
    unique, scores = _counts_with_tolerance(cells, 1)
    # Each recording's best coarse cell; the coarse_candidates best recordings go on to the fine vote.
    by_recording = np.lexsort((-scores, unique >> 18))
    firsts = by_recording[np.concatenate(([True], np.diff(unique[by_recording] >> 18) != 0))]
    top = firsts[np.argsort(-scores[firsts], kind="stable")[: thresholds.coarse_candidates]]
    top_recordings = unique[top] >> 18
    top_cells = (unique[top] >> 10) & 0xFF
    # Position in ``top`` of each hit's recording (meaningful where ``in_top``), then only the hits within a
    # frequency-scale bin of that recording's best coarse cell, as ``_fit`` will use.
    by_id = np.argsort(top_recordings)
    slot = np.minimum(np.searchsorted(top_recordings[by_id], recordings), top.size - 1)
    group = by_id[slot]
    in_top = (top_recordings[group] == recordings) & (np.abs(b_bin - top_cells[group]) <= 1)
    chosen_hits = np.flatnonzero(in_top)
    fine = _fine_scores(
        group[chosen_hits],
        tq[chosen_hits],
        tr[chosen_hits].astype(np.float64),
        log_a[chosen_hits],
        span_tolerance[chosen_hits],
        top.size,
    )
    best = np.lexsort((np.arange(top.size), -fine))[: thresholds.candidates]
    alignments = []
    for position in best.tolist():
        recording = int(top_recordings[position])
        chosen = chosen_hits[group[chosen_hits] == position]
        fitted = _fit(tq[chosen], tr[chosen].astype(np.float64), log_a[chosen], log_b[chosen], span_tolerance[chosen])
        if fitted is None:
            continue
        offset, scale_time, scale_freq, aligned = fitted
        # Every fitted candidate is explained, weak ones too: they are the query's background (below).
        share, count = explain(index, peaks, recording, offset, scale_time, scale_freq) or (0.0, 0)
        alignments.append(
            Alignment(recording, offset, scale_time, scale_freq, aligned, share, count, int(probe_hashes.size))
        )
    backgrounds = [background(alignments, a.recording_id, thresholds) for a in alignments]
    alignments = [replace(a, background=b) for a, b in zip(alignments, backgrounds, strict=True)]
    floor = min(thresholds.min_aligned, thresholds.strong_aligned)
    alignments.sort(key=lambda a: (a.aligned < floor, -a.explained, -a.aligned, a.recording_id))
    return alignments


def background(alignments: list[Alignment], recording_id: int, thresholds: ScaleThresholds) -> float:
    """How much of the query recordings other than ``recording_id`` explain under their own fitted alignments.

    A clip with many sustained peaks in a common key explains a share of any song in that key; a look-alike's
    best share stands barely above it, a true match's far above. Only alignments explained on at least
    ``min_explained_peaks`` peaks count: an alignment that puts the clip mostly past the end of a recording
    judges the share on the few peaks left inside, and 7 of 22 (0.32) is noise, not evidence: such edge fits
    were the background of 14 of the 18 true tempo/pitch matches (fitted on ≥ 11 anchors, share ≥ 0.18) that the
    1,000-song benchmark refused (docs/identification.md, work of 2026-12-07 d). At least ``min_background``.
    """
    others = (
        a.explained
        for a in alignments
        if a.recording_id != recording_id and a.explained_peaks >= thresholds.min_explained_peaks
    )
    return max(max(others, default=0.0), thresholds.min_background)


def _line(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> tuple[float, float]:
    """Least-squares (slope, intercept) of y on x in closed form: two dot products per fit instead of a LAPACK
    call (``numpy.polyfit``), which can wake the BLAS threads on a shared 2-core worker."""
    dx = x - x.mean()
    slope = float(np.dot(dx, y - y.mean()) / np.dot(dx, dx))
    return slope, float(y.mean() - slope * x.mean())


def _fit(
    tq: npt.NDArray[np.int64],
    tr: npt.NDArray[np.float64],
    log_a: npt.NDArray[np.float64],
    log_b: npt.NDArray[np.float64],
    span_tolerance: npt.NDArray[np.float64],
) -> tuple[float, float, float, int] | None:
    """(offset, scale_time, scale_freq, distinct aligned anchors) of one candidate's hits, or None."""
    if tq.size < 3:
        return None
    log_grid = np.log(TIME_GRID)
    valid = np.abs(log_a[None, :] - log_grid[:, None]) <= span_tolerance[None, :]
    offsets = np.round(tr[None, :] - tq[None, :] / TIME_GRID[:, None]).astype(np.int64)
    grid_index = np.broadcast_to(np.arange(TIME_GRID.size)[:, None], offsets.shape)
    keys = (grid_index[valid] << 20) | (offsets[valid] + (1 << 19))
    anchors = np.broadcast_to(tq[None, :], offsets.shape)[valid]
    if keys.size == 0:
        return None
    cells = unique_sorted((keys << 16) | (anchors & 0xFFFF)) >> 16
    unique, scores = _counts_with_tolerance(cells, 1)
    top = int(np.argmax(scores))
    g = int(unique[top] >> 20)
    offset = float((unique[top] & ((1 << 20) - 1)) - (1 << 19))
    scale_time = float(TIME_GRID[g])
    for _ in range(2):
        residual = tr - (tq / scale_time + offset)
        inliers = (np.abs(residual) <= OFFSET_TOLERANCE + 1) & (
            np.abs(log_a - np.log(scale_time)) <= span_tolerance + 0.01
        )
        if count_distinct(tq[inliers]) < 3 or np.ptp(tq[inliers]) == 0:
            break
        slope, intercept = _line(tq[inliers].astype(np.float64), tr[inliers])
        if slope <= 0:
            break
        scale_time = float(np.clip(1.0 / slope, *triplets.TIME_SCALES))
        offset = float(intercept)
    residual = tr - (tq / scale_time + offset)
    inliers = (np.abs(residual) <= OFFSET_TOLERANCE) & (np.abs(log_a - np.log(scale_time)) <= span_tolerance + 0.01)
    if not inliers.any():
        return None
    log_scale_freq = float(np.median(log_b[inliers]))
    inliers &= np.abs(log_b - log_scale_freq) <= FREQ_TOLERANCE
    aligned = count_distinct(tq[inliers])
    return offset, scale_time, float(np.exp(log_scale_freq)), aligned
