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
   explain the melody and chords; a true match explains a large share of all peaks. ``explained_prominent``
   is the same share among the query's most prominent peaks: noise and reverb tails add many weak peaks
   that no recording explains, and leave the music's strongest partials on top.

A candidate is named only with enough aligned anchors *and* enough explained peaks (``ScaleThresholds``,
calibrated in docs/identification.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from catalog.fingerprint import triplets
from catalog.fingerprint.arrays import count_distinct, unique_sorted
from catalog.fingerprint.index import FingerprintIndex, TripletHits
from catalog.fingerprint.landmarks import Peaks

FREQ_STEP = 0.015  # log frequency-scale bin of the candidate stage
OFFSET_BIN = 48  # frames (≈ 0.8 s): coarse offset bin of the candidate stage
TIME_GRID = np.exp(np.arange(np.log(triplets.TIME_SCALES[0]), np.log(triplets.TIME_SCALES[1]) + 1e-9, 0.005))
OFFSET_TOLERANCE = 1.5  # frames, for inliers of a fitted alignment
FREQ_TOLERANCE = 0.025  # log frequency ratio, for inliers
MIN_SUSTAINED = 20  # sustained query peaks needed to judge a constellation on them alone
PROMINENT_FRACTION = 0.3  # the most prominent share of the judged peaks that ``explained_prominent`` counts


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
    # Triplet cells holding more entries than this are skipped by the candidate votes (stop-words: common
    # intervals and rhythms); the votes' CPU grows with the entries they read.
    max_hits_per_hash: int = 400
    # The fitted candidates' evidence skips only cells holding more than this many entries per recording
    # (400 at 1,000 songs, where the thresholds were calibrated): with an absolute cap, a 10,000-song index
    # skipped ten times more of a true match's cells and 79 of 109 missed tempo/pitch queries were fitted under
    # ``min_aligned`` (docs/identification.md, work of 2026-12-07 f).
    stop_word_density: float = 0.4
    # ``min_aligned`` holds for 1,000 recordings; it rises by this much per tenfold larger catalog. Reading a
    # candidate's evidence at a fixed density makes its anchor count independent of the catalog size, but the
    # best chance fit among ten times more recordings is stronger: at 10,000 songs look-alikes were named on
    # 11-15 anchors (19 of 2,000 at the 1,000-song floor, 5 at 15; docs/identification.md, work of 2026-12-07 f).
    aligned_per_decade: float = 4.0
    # Only fits explaining this much of the clip on the votes' evidence are refitted on the skipped cells:
    # reading them costs about 2 ms per candidate at 10,000 songs, and a fit explaining less is background.
    recount_min_explained: float = 0.12
    # A fit up to ``near_floor_margin`` anchors under a large catalog's raised ``min_aligned`` (never under the
    # 1,000-song floor) still names its recording when its constellation is clear and the clip starts inside
    # the recording: at 10,000 songs 34 of 71 missed tempo/pitch queries had their recording fitted on 11-14
    # anchors, explaining up to 0.45 of the clip. Of 5,200 look-alikes, fits of 12-14 anchors at 2 × their
    # background explained at most 0.29, but for one (0.52 on 80 peaks) that hung the clip 3.2 s over a
    # recording's start (docs/identification.md, work of 2026-12-08).
    near_floor_margin: int = 3
    near_floor_min_explained: float = 0.30
    near_floor_over_background: float = 2.0
    # On this many explained peaks: the issue benchmark's look-alikes had one such fit on 20 (0.32 of the clip);
    # the true ones rescued on the cached draw explained 29-57.
    near_floor_min_explained_peaks: int = 25
    near_floor_min_offset: float = -62.0  # frames (1 s): how far the clip may start before the recording
    # A triplet fit's background counts only fits that put at least this share of as many of the query's peaks
    # inside their recording as the fit does (``background``): edge fits judge their share on a part of the clip.
    # 0.5 named 5 more true matches of the cached 10,000-song draw than 0.35, and 2 more look-alikes at 1,000
    # songs, whose backgrounds held 0.45 and 0.39 as many peaks (docs/identification.md, work of 2026-12-08).
    background_min_inside: float = 0.35

    def for_catalog(self, recordings: int) -> ScaleThresholds:
        """These thresholds for an index of ``recordings``: the anchor floor raised above 1,000 recordings."""
        if recordings <= 1000:
            return self
        return replace(
            self, min_aligned=self.min_aligned + round(self.aligned_per_decade * math.log10(recordings / 1000))
        )


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
    explained_prominent: float = 0.0  # ``Explained.prominent``: what ``background(prominent=True)`` reads
    inside: int = 0  # ``Explained.inside``


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


class Explained(NamedTuple):
    """How much of a query one transform into one recording explains."""

    share: float  # of the judged peaks (sustained ones when there are enough), on a reference peak
    peaks: int  # judged peaks on a reference peak
    # The share among the most prominent ``PROMINENT_FRACTION`` of the judged peaks. Noise and reverb add
    # sustained peaks that no recording explains (a true match under noise at 0 dB explained 0.18-0.26 of
    # all, like a look-alike) but are weaker than the music's partials (the same matches: 0.40-0.53 of the
    # prominent ones; docs/identification.md, work of 2026-12-07 g).
    prominent: float
    prominent_peaks: int  # prominent peaks on a reference peak
    inside: int = 0  # the query's peaks (all, sustained or not) that the transform puts inside the recording


NOTHING_EXPLAINED = Explained(0.0, 0, 0.0, 0)


def explain(
    index: FingerprintIndex, peaks: Peaks, recording_id: int, offset: float, scale_time: float, scale_freq: float
) -> Explained | None:
    """What the query's peaks explain of the recording under the transform.

    None when the index holds no peaks for the recording (indexed without its scale fingerprint).
    """
    if peaks.time.size == 0:
        return NOTHING_EXPLAINED
    t_ref = np.round(peaks.time / scale_time + offset).astype(np.int64)
    f_ref = np.round(peaks.fine_freq / scale_freq).astype(np.int64)
    ref_t, ref_f = index.recording_peaks(recording_id, int(t_ref.min()) - 2, int(t_ref.max()) + 2)
    if ref_t.size == 0:
        return None if index.recording_peaks(recording_id, 0, 1 << 16)[0].size == 0 else NOTHING_EXPLAINED
    first, last = int(ref_t.min()), int(ref_t.max())
    inside = (t_ref >= first - 1) & (t_ref <= last + 1)
    inside_count = int(inside.sum())
    if peaks.sustained is not None and int((inside & peaks.sustained).sum()) >= MIN_SUSTAINED:
        inside &= peaks.sustained  # drum hits and noise bursts are shared by look-alikes; partials are not
    judged = np.flatnonzero(inside)
    if judged.size == 0:
        return NOTHING_EXPLAINED
    top = int(max(f_ref.max(), np.round(ref_f).max())) + 3
    grid = np.zeros((last - first + 5, top + 2), dtype=np.bool_)
    grid[ref_t - first + 2, np.clip(np.round(ref_f).astype(np.int64), 0, top)] = True
    grid = ndimage.maximum_filter(grid, size=(3, 3), mode="constant", cval=False)
    on_reference = grid[t_ref[judged] - first + 2, np.clip(f_ref[judged], 0, top)]
    hits = int(on_reference.sum())
    share = hits / judged.size
    if peaks.strength is None:
        return Explained(share, hits, share, hits, inside_count)
    prominent = max(1, round(PROMINENT_FRACTION * judged.size))
    # Most prominent first, ties to the earlier peak (the order ``triplets.priority`` breaks them in).
    order = np.lexsort((judged, -peaks.strength[judged]))[:prominent]
    prominent_hits = int(on_reference[order].sum())
    return Explained(share, hits, prominent_hits / prominent, prominent_hits, inside_count)


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


@dataclass(frozen=True)
class _HitGeometry:
    """Per-hit quantities of triplet hits whose scales lie in range: what the votes and the fit read."""

    tq: npt.NDArray[np.int64]  # query anchor frame
    tr: npt.NDArray[np.int64]  # reference anchor frame
    log_a: npt.NDArray[np.float64]  # log time scale from the spans
    log_b: npt.NDArray[np.float64]  # log frequency scale from the anchor frequencies
    span_tolerance: npt.NDArray[np.float64]
    recordings: npt.NDArray[np.int64]

    @property
    def b_bin(self) -> npt.NDArray[np.int64]:
        return np.round(self.log_b / FREQ_STEP).astype(np.int64) + 32


def _geometry(
    index: FingerprintIndex, peaks: Peaks, tri: triplets.Triplets, rows: npt.NDArray[np.int64], hits: TripletHits
) -> _HitGeometry | None:
    """``hits`` (of probes for triplets ``rows``) as scale estimates, keeping those within the scale bounds."""
    which = rows[hits.query]
    first = tri.first[which]
    log_b = np.log(peaks.fine_freq[first] / np.maximum(hits.freqs, 1e-3))
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
        return None
    return _HitGeometry(
        tq=np.round(peaks.time).astype(np.int64)[first[ok]],
        tr=hits.times[ok].astype(np.int64),
        log_a=log_a[ok],
        log_b=log_b[ok],
        span_tolerance=span_tolerance[ok],
        recordings=index.recording_of(hits.docs[ok]),
    )


def fit_hits_per_hash(index: FingerprintIndex, thresholds: ScaleThresholds) -> int:
    """The stop-word cap of the fitted candidates' evidence: ``stop_word_density`` entries per recording, and
    never below the retrieval cap (so up to 1,000 songs nothing is read twice)."""
    return max(thresholds.max_hits_per_hash, round(thresholds.stop_word_density * index.recording_count()))


def align(index: FingerprintIndex, peaks: Peaks, thresholds: ScaleThresholds | None = None) -> list[Alignment]:
    """Fitted alignments of the best candidate recordings (not yet verified): those with enough aligned anchors
    first, most explained first; each carries its background (``Alignment.background``).

    Candidates are found in two votes: a coarse one over every hit (recording, frequency-scale bin, 0.8-s
    offset bin) keeps ``coarse_candidates`` recordings; a fine one over their hits (``_fine_scores``) keeps
    ``candidates`` of them. Both read the cells under the retrieval cap ``max_hits_per_hash``; the chosen
    candidates are then fitted on their hits in every cell under ``fit_hits_per_hash`` (read by document, not
    cell by cell), so their anchor counts do not fall as the catalog grows, and checked against the
    constellation.
    """
    thresholds = thresholds or ScaleThresholds()
    tri = triplets.triplets(peaks)
    if tri.size == 0:
        return []
    probe_hashes, rows = triplets.probes(tri, peaks.fine_freq)
    if probe_hashes.size == 0:
        return []
    order = np.argsort(probe_hashes, kind="stable")
    probe_hashes, rows = probe_hashes[order], rows[order]
    found = index.lookup_triplets(probe_hashes, max_hits_per_hash=thresholds.max_hits_per_hash)
    hits = _geometry(index, peaks, tri, rows, found)
    if hits is None:
        return []
    tq, tr, recordings, b_bin = hits.tq, hits.tr, hits.recordings, hits.b_bin
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

    def near_top(geometry: _HitGeometry) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(hits of recordings in ``top`` within a frequency-scale bin of their best cell, their positions)."""
        slot = np.minimum(np.searchsorted(top_recordings[by_id], geometry.recordings), top.size - 1)
        group = by_id[slot]
        near = (top_recordings[group] == geometry.recordings) & (np.abs(geometry.b_bin - top_cells[group]) <= 1)
        chosen = np.flatnonzero(near)
        return chosen, group[chosen]

    chosen_hits, chosen_group = near_top(hits)
    fine = _fine_scores(
        chosen_group,
        tq[chosen_hits],
        tr[chosen_hits].astype(np.float64),
        hits.log_a[chosen_hits],
        hits.span_tolerance[chosen_hits],
        top.size,
    )
    best = np.lexsort((np.arange(top.size), -fine))[: thresholds.candidates]
    evidence = [(hits, chosen_hits, chosen_group)]

    def fitted(position: int) -> Alignment | None:
        recording = int(top_recordings[position])
        parts = [(g, chosen[group == position]) for g, chosen, group in evidence]
        fit = _fit(
            np.concatenate([g.tq[c] for g, c in parts]),
            np.concatenate([g.tr[c] for g, c in parts]).astype(np.float64),
            np.concatenate([g.log_a[c] for g, c in parts]),
            np.concatenate([g.log_b[c] for g, c in parts]),
            np.concatenate([g.span_tolerance[c] for g, c in parts]),
        )
        if fit is None:
            return None
        offset, scale_time, scale_freq, aligned = fit
        # Every fitted candidate is explained, weak ones too: they are the query's background (below).
        explained = explain(index, peaks, recording, offset, scale_time, scale_freq) or NOTHING_EXPLAINED
        return Alignment(
            recording,
            offset,
            scale_time,
            scale_freq,
            aligned,
            explained.share,
            explained.peaks,
            int(probe_hashes.size),
            explained_prominent=explained.prominent,
            inside=explained.inside,
        )

    fits = {position: fitted(position) for position in best.tolist()}
    fit_cap = fit_hits_per_hash(index, thresholds)
    promising = [p for p, a in fits.items() if a is not None and a.explained >= thresholds.recount_min_explained]
    if fit_cap > thresholds.max_hits_per_hash and promising:
        skipped = index.lookup_triplets_of(found, top_recordings[promising], up_to=fit_cap)
        more = _geometry(index, peaks, tri, rows, skipped) if skipped.docs.size else None
        if more is not None:
            evidence.append((more, *near_top(more)))
            fits.update({position: fitted(position) for position in promising})
    alignments = [a for a in fits.values() if a is not None]
    alignments = [
        replace(a, background=background(alignments, a.recording_id, thresholds, inside=a.inside)) for a in alignments
    ]
    floor = min(thresholds.min_aligned, thresholds.strong_aligned)
    alignments.sort(key=lambda a: (a.aligned < floor, -a.explained, -a.aligned, a.recording_id))
    return alignments


def background(
    alignments: list[Alignment],
    recording_id: int,
    thresholds: ScaleThresholds,
    *,
    prominent: bool = False,
    inside: int = 0,
) -> float:
    """How much of the query recordings other than ``recording_id`` explain under their own fitted alignments.

    A clip with many sustained peaks in a common key explains a share of any song in that key; a look-alike's
    best share stands barely above it, a true match's far above. Only alignments explained on at least
    ``min_explained_peaks`` peaks count: an alignment that puts the clip mostly past the end of a recording
    judges the share on the few peaks left inside, and 7 of 22 (0.32) is noise, not evidence: such edge fits
    were the background of 14 of the 18 true tempo/pitch matches (fitted on ≥ 11 anchors, share ≥ 0.18) that the
    1,000-song benchmark refused (docs/identification.md, work of 2026-12-07 d). At least ``min_background``.
    With ``prominent``, of the query's most prominent peaks (``Explained.prominent``). With ``inside`` (the
    candidate's ``Explained.inside``), only fits that put at least ``background_min_inside`` of as many of the
    query's peaks inside their recording count: a fit hanging the clip over another recording's start or end
    judges its share on the part inside; such fits, on 6-11 anchors, refused 10 true tempo/pitch matches of 18-45
    anchors at 10,000 songs (work of 2026-12-08).
    """
    least = thresholds.background_min_inside * inside
    others = (
        a.explained_prominent if prominent else a.explained
        for a in alignments
        if a.recording_id != recording_id and a.explained_peaks >= thresholds.min_explained_peaks and a.inside >= least
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
