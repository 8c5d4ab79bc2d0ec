"""Matching a query against the index: offset histograms, verification, speed search and window votes.

For every query hash found in the index, ``index time − query time`` is the offset at which the query
would sit in that recording. A true match piles many hashes onto one (recording, offset) cell; chance
collisions spread thinly. We count each cell with ±1 frame of tolerance and call the best cell *aligned*.

*Verification.* "Best candidate" is not a match (Dejavu and audfprint users learned this): a query is
accepted only if its aligned count reaches ``min_aligned`` (``off_speed_min_aligned`` for a rescaled query)
and ``min_ratio`` of the query's hashes (and, if enabled, beats the runner-up by ``min_margin``). The
thresholds were calibrated on queries of songs that are not in the index (docs/identification.md,
benchmarks/identify.py).

*Speed.* A ±3 % speed change moves every peak in frequency and time, which breaks exact hashes. The
query's peaks are rescaled by candidate factors (``SPEEDS``) and re-hashed; peak picking runs once, so
each extra factor costs only hashing and a lookup. Factor 1.0 goes first and a strong hit stops the search.

*Scale invariance.* When the exact landmarks find nothing verified at speed 1.0, the triplet engine
(``scale``) looks for an alignment with fitted time and frequency scales (pitch shifts, tempo and speed
changes), verified by how much of the query's constellation it explains; the rescaled-landmark speed
search only runs after that, for recordings indexed without triplets. With ``scale_invariant``, every
landmark candidate must also explain ``landmark_min_explained`` of the query's peaks when the index holds
the recording's peaks: a song with the same kit at the same tempo collides on its drum hits, not on
its melody.

*Windows.* A long upload is cut into up to ``max_windows`` 10-second windows spread over its length;
each window is matched alone and verified windows vote for (recording, song offset). Votes that agree
on the offset make a full-length upload robust to a noisy intro or an outro missing from a preview.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from catalog.fingerprint import landmarks, scale
from catalog.fingerprint.arrays import top_indices, unique_sorted
from catalog.fingerprint.index import FingerprintIndex
from catalog.fingerprint.scale import ScaleThresholds

SPEEDS: tuple[float, ...] = (1.0, 0.99, 1.01, 0.98, 1.02, 0.97, 1.03)
WINDOW_SECONDS = 10.0
OFFSET_AGREEMENT_S = 1.0


@dataclass(frozen=True)
class Thresholds:
    """Verification thresholds, calibrated on 300 songs outside a 1,000-song index (docs/identification.md).

    There is no margin over the runner-up by default: catalogs hold exact duplicates (album and compilation
    releases of one master), whose scores tie, and a margin rule would turn those into misses.
    """

    min_aligned: int = 17  # at speed 1.0: none of 300 procedural and 40 demo-catalog strangers reached it
    off_speed_min_aligned: int = 24  # six more speeds = six more chances for a chance alignment
    min_ratio: float = 0.006  # of the query's hashes, for long or dense queries
    min_margin: float = 0.0  # best ≥ margin × runner-up; 0 disables it
    strong_aligned: int = 30  # stop the speed search / trust a lone window at this count
    # With scale_invariant: share of the query's sustained peaks on reference peaks (weak / strong matches).
    # Look-alikes (same kit, key, tempo within 2 %) reached 0.26 with 22 aligned anchors and 0.266 with 20
    # (each over 2.2 × background), and 0.15 with 30 (docs/identification.md, calibration of 2026-12-07 b).
    landmark_min_explained: float = 0.27
    landmark_strong_min_explained: float = 0.18
    # Relative to the background (``scale.background``: the best share another recording's fitted triplet
    # alignment explains on enough peaks, at least ``ScaleThresholds.min_background``):
    # calibrated on 400 look-alikes and 1,160 positives against 1,000 songs (docs/identification.md).
    landmark_over_background: float = 2.2
    landmark_clear_explained: float = 0.22  # a strong match explaining this much needs no background
    landmark_strong_over_background: float = 1.5
    # Or, on the most prominent 30 % of the sustained peaks (``scale.Explained.prominent``), this share and this
    # many times their background. Noise at 0 dB and reverb + noise + MP3 leave true matches at shares of
    # 0.15-0.27, where look-alikes sit, but at 0.40-0.53 of their prominent peaks; look-alikes reached 0.59
    # there only with a background of 0.79, and 0.409 at 10,000 songs (0.36 named that one; docs/identification.md,
    # work of 2026-12-07 g).
    landmark_prominent_explained: float = 0.42
    landmark_prominent_over_background: float = 2.0
    # On at least this many prominent peaks: at 10,000 songs, look-alikes fitted to unrelated recordings
    # explained 0.36-0.50 of only 22-38 prominent peaks (8-16 of them); true noisy matches 13-38.
    landmark_prominent_min_peaks: int = 17
    # Landmark entries one query reads at most (the hottest hashes are skipped first): the landmark stage's
    # CPU grows with them, 10 times over from 1,000 to 10,000 songs, where it set the look-alikes' p95.
    # No query of the 1,000-song benchmark reached 330,000 (docs/identification.md, work of 2026-12-07 e).
    max_landmark_hits: int = 500_000


@dataclass(frozen=True)
class Candidate:
    """The best (recording, offset) cell of one query at one speed."""

    recording_id: int
    offset_frames: int
    aligned: int
    runner_up: int
    query_hashes: int
    speed: float
    scale_time: float = 1.0  # query duration / reference duration
    scale_freq: float = 1.0  # query frequency / reference frequency
    explained: float | None = None  # share of query peaks on reference peaks (None: not checked)
    explained_peaks: int = 0
    engine: str = "landmarks"  # or "triplets"
    background: float = 0.0  # scale.background: what other recordings' fitted triplet alignments explain
    # scale.Explained.prominent (None: not checked; only landmark candidates are judged on it)
    explained_prominent: float | None = None
    explained_prominent_peaks: int = 0
    background_prominent: float = 0.0  # scale.background of the prominent peaks

    @property
    def offset_s(self) -> float:
        return self.offset_frames * landmarks.FRAME_SECONDS


@dataclass(frozen=True)
class Match:
    recording_id: int
    confidence: float
    offset_s: float
    aligned: int
    speed: float
    windows_voting: int
    windows_total: int
    scale_time: float = 1.0
    scale_freq: float = 1.0
    engine: str = "landmarks"


@dataclass
class Matcher:
    """Identifies audio against ``index``. ``verify=False, speeds=(1.0,)`` gives the textbook matcher."""

    index: FingerprintIndex
    thresholds: Thresholds = field(default_factory=Thresholds)
    scale_thresholds: ScaleThresholds = field(default_factory=ScaleThresholds)
    scale_invariant: bool = True  # False: the landmark engine alone (the old matcher)
    speeds: tuple[float, ...] = SPEEDS
    verify: bool = True
    tolerance: int = 1
    distinct_anchors: bool = True
    max_windows: int = 8

    def catalog_scale_thresholds(self) -> ScaleThresholds:
        """``scale_thresholds`` for the index's current size (``ScaleThresholds.for_catalog``)."""
        return self.scale_thresholds.for_catalog(self.index.recording_count())

    # --- one clip ----------------------------------------------------------
    def best_candidate(
        self, hashes: npt.NDArray[np.uint32], times: npt.NDArray[np.int32], speed: float = 1.0
    ) -> Candidate | None:
        """The best-aligned (recording, offset) for one set of query hashes, or None without any hit."""
        if hashes.size == 0:
            return None
        order = np.argsort(hashes, kind="stable")  # sorted needles read the memory-mapped index in order
        hashes, times = hashes[order], times[order]
        hits = self.index.lookup(hashes, max_hits=self.thresholds.max_landmark_hits)
        if hits.docs.size == 0:
            return None
        recordings = self.index.recording_of(hits.docs)
        anchor_times = times[hits.query].astype(np.int64)
        diff = hits.times.astype(np.int64) - anchor_times
        keys = recordings * (1 << 18) + (diff + (1 << 17))
        if self.distinct_anchors:
            # Count distinct query anchor times per cell, not hashes: a chord onset fires many peaks at one
            # instant, and a song in the same key at the same tempo shares those bursts of hashes by chance;
            # a true match instead aligns anchors spread over the whole clip. One sort of (cell, anchor).
            cell_anchor = unique_sorted((keys << 16) | (anchor_times & 0xFFFF))
            keys = cell_anchor >> 16
        else:
            keys = np.sort(keys)
        boundaries = np.flatnonzero(np.diff(keys)) + 1
        starts = np.concatenate(([0], boundaries))
        unique = keys[starts]
        counts = np.diff(np.concatenate((starts, [keys.size])))
        top = top_indices(counts, 32) if counts.size > 32 else np.arange(counts.size)
        aligned = counts[top]
        if self.tolerance:
            cumulative = np.concatenate(([0], np.cumsum(counts)))
            lo = np.searchsorted(unique, unique[top] - self.tolerance, side="left")
            hi = np.searchsorted(unique, unique[top] + self.tolerance, side="right")
            aligned = cumulative[hi] - cumulative[lo]
        best_by_recording: dict[int, tuple[int, int]] = {}
        for key, score in zip(unique[top].tolist(), aligned.tolist(), strict=True):
            recording = key >> 18
            offset = (key & ((1 << 18) - 1)) - (1 << 17)
            if score > best_by_recording.get(recording, (-1, 0))[0]:
                best_by_recording[recording] = (score, offset)
        ranked = sorted(best_by_recording.items(), key=lambda item: (-item[1][0], item[0]))
        recording, (best, offset) = ranked[0]
        runner_up = ranked[1][1][0] if len(ranked) > 1 else 0
        return Candidate(
            int(recording),
            int(offset),
            int(best),
            int(runner_up),
            int(hashes.size),
            speed,
            scale_time=1.0 / speed,
            scale_freq=speed,
        )

    def is_verified(self, candidate: Candidate) -> bool:
        if not self.verify:
            return True
        if candidate.engine == "triplets":
            s = self.catalog_scale_thresholds()
            if candidate.aligned < s.min_aligned:
                return self._clear_near_floor(candidate, s)
            share = s.strong_min_explained if candidate.aligned >= s.strong_aligned else s.min_explained
            return (
                candidate.explained is not None
                and candidate.explained >= share
                and candidate.explained_peaks >= s.min_explained_peaks
                and candidate.explained >= s.min_explained_over_background * candidate.background
            )
        t = self.thresholds
        floor = t.min_aligned if candidate.speed == 1.0 else t.off_speed_min_aligned
        return (
            candidate.aligned >= floor
            and candidate.aligned >= t.min_ratio * candidate.query_hashes
            and candidate.aligned >= t.min_margin * candidate.runner_up
            and (candidate.explained is None or self._explains_enough(candidate))
        )

    def _clear_near_floor(self, candidate: Candidate, s: ScaleThresholds) -> bool:
        """A triplet fit a few anchors under a large catalog's raised floor, named on a clear constellation.

        The floor rises with the catalog because the best chance fit among more recordings has more anchors; a
        chance fit does not explain 0.30 of the clip and twice its background. Never under the 1,000-song floor.
        """
        floor = max(self.scale_thresholds.min_aligned, s.min_aligned - s.near_floor_margin)
        explained = candidate.explained or 0.0
        return (
            candidate.aligned >= floor
            and candidate.offset_frames >= s.near_floor_min_offset
            and explained >= s.near_floor_min_explained
            and candidate.explained_peaks >= s.near_floor_min_explained_peaks
            and explained >= s.near_floor_over_background * candidate.background
        )

    def _explains_enough(self, candidate: Candidate) -> bool:
        """The constellation rule of an exact landmark candidate (calibration: docs/identification.md).

        Weak (< ``strong_aligned`` anchors): a share of ``landmark_min_explained`` and ``landmark_over_background``
        times the background. Strong: ``landmark_strong_min_explained``, and either a clear share or
        ``landmark_strong_over_background`` times the background: look-alikes with the catalog song's kit at its
        tempo reached 30–33 aligned anchors on drum hits, with shares of 0.16–0.19 and backgrounds as high.
        """
        t = self.thresholds
        explained = candidate.explained or 0.0
        if candidate.aligned >= t.strong_aligned:
            return self._prominent_enough(candidate) or (
                explained >= t.landmark_strong_min_explained
                and (
                    explained >= t.landmark_clear_explained
                    or explained >= t.landmark_strong_over_background * candidate.background
                )
            )
        return self._prominent_enough(candidate) or (
            explained >= t.landmark_min_explained and explained >= t.landmark_over_background * candidate.background
        )

    def _prominent_enough(self, candidate: Candidate) -> bool:
        """The constellation rule on the query's most prominent peaks: what noise and reverb leave standing."""
        t = self.thresholds
        prominent = candidate.explained_prominent or 0.0
        background = max(candidate.background_prominent, self.scale_thresholds.min_background)
        return candidate.explained_prominent_peaks >= t.landmark_prominent_min_peaks and prominent >= max(
            t.landmark_prominent_explained, t.landmark_prominent_over_background * background
        )

    def with_explained(self, peaks: landmarks.Peaks, candidate: Candidate) -> Candidate:
        """``candidate`` with its constellation share, when the index holds the recording's peaks."""
        if not self.scale_invariant or not self.verify:
            return candidate
        explained = scale.explain(
            self.index,
            peaks,
            candidate.recording_id,
            candidate.offset_frames,
            candidate.scale_time,
            candidate.scale_freq,
        )
        if explained is None:
            return candidate
        return replace(
            candidate,
            explained=round(explained.share, 3),
            explained_peaks=explained.peaks,
            explained_prominent=round(explained.prominent, 3),
            explained_prominent_peaks=explained.prominent_peaks,
        )

    def _triplet_candidate(self, alignments: list[scale.Alignment]) -> Candidate | None:
        """The first verified fitted alignment in ``scale.align``'s order (which puts fits under the catalog's
        anchor floor last), else the first one."""
        candidates = [self._as_candidate(a) for a in alignments]
        return next((c for c in candidates if self.is_verified(c)), candidates[0] if candidates else None)

    @staticmethod
    def _as_candidate(best: scale.Alignment) -> Candidate:
        return Candidate(
            recording_id=best.recording_id,
            offset_frames=round(best.offset),
            aligned=best.aligned,
            runner_up=0,
            query_hashes=best.query_hashes,
            speed=round(1.0 / best.scale_time, 4),
            scale_time=round(best.scale_time, 4),
            scale_freq=round(best.scale_freq, 4),
            explained=round(best.explained, 3),
            explained_peaks=best.explained_peaks,
            engine="triplets",
            background=round(best.background, 3),
        )

    def _is_clear(self, candidate: Candidate) -> bool:
        """A strong verified exact match that needs no background: taken before the triplet stage runs."""
        return (
            self.is_verified(candidate)
            and candidate.aligned >= self.thresholds.strong_aligned
            and (candidate.explained is None or candidate.explained >= self.thresholds.landmark_clear_explained)
        )

    def match_peaks(self, peaks: landmarks.Peaks) -> Candidate | None:
        """The best candidate (verified ones first), or None.

        Without ``scale_invariant``: every speed in order, stopping at a strong verified one (the old
        matcher). With it: a strong exact match at speed 1.0 that explains the clip clearly is taken; else
        the triplet stage runs, which also gives the exact candidate its background; then a verified triplet
        alignment (over a verified exact match when it explains at least as much of the clip), else a
        verified exact match; on an index with recordings lacking triplets, the rescaled-landmark speeds.
        """
        best: Candidate | None = None
        speeds = self.speeds
        if self.scale_invariant and self.verify and self.index.is_scale_invariant():
            speeds = speeds[:1]  # the triplets cover speed changes; six more lookups would only add chances
        for speed in speeds:
            scaled = peaks if speed == 1.0 else peaks.rescaled(speed)
            hashes, times = landmarks.landmarks(scaled)
            candidate = self.best_candidate(hashes, times, speed)
            if candidate is not None and self.is_verified(candidate):
                candidate = self.with_explained(peaks, candidate)
            if candidate is not None and (
                best is None
                or (self.is_verified(candidate), candidate.aligned) > (self.is_verified(best), best.aligned)
            ):
                best = candidate
            if best is not None and self._is_clear(best):
                break
            if speed == 1.0 and self.scale_invariant:
                alignments = scale.align(self.index, peaks, self.catalog_scale_thresholds())
                if best is not None and best.explained is not None:
                    # The exact candidate's background: what other recordings' fitted alignments explain.
                    background = scale.background(alignments, best.recording_id, self.scale_thresholds)
                    prominent = scale.background(alignments, best.recording_id, self.scale_thresholds, prominent=True)
                    best = replace(best, background=round(background, 3), background_prominent=round(prominent, 3))
                exact_verified = best is not None and self.is_verified(best)
                triplet = self._triplet_candidate(alignments)
                if triplet is not None and self.is_verified(triplet):
                    # A weak exact match of a stretched clip aligns only part of it; the fitted one explains more.
                    if best is None or not exact_verified or (triplet.explained or 0) >= (best.explained or 0):
                        best = triplet
                    break
                if exact_verified:
                    break
                if best is None:
                    best = triplet
        return best

    def match_clip(self, samples: npt.NDArray[np.float32]) -> Match | None:
        """Identify one short clip (mono float32 at landmarks.SAMPLE_RATE) with no windowing."""
        candidate = self.match_peaks(landmarks.find_peaks(samples))
        if candidate is None or not self.is_verified(candidate):
            return None
        return self._as_match(candidate, votes=1, total=1)

    def _as_match(self, candidate: Candidate, *, votes: int, total: int) -> Match:
        floor = (
            self.catalog_scale_thresholds().min_aligned
            if candidate.engine == "triplets"
            else self.thresholds.min_aligned
        )
        confidence = min(1.0, candidate.aligned / (3.0 * floor)) * (0.5 + 0.5 * votes / total)
        return Match(
            recording_id=candidate.recording_id,
            confidence=round(confidence, 3),
            offset_s=round(max(candidate.offset_s, 0.0), 2),
            aligned=candidate.aligned,
            speed=candidate.speed,
            windows_voting=votes,
            windows_total=total,
            scale_time=round(candidate.scale_time, 4),
            scale_freq=round(candidate.scale_freq, 4),
            engine=candidate.engine,
        )

    # --- a whole upload ----------------------------------------------------
    def identify(self, samples: npt.NDArray[np.float32]) -> Match | None:
        """Identify audio of any length: windows spread over it vote; None when nothing verifies."""
        peaks = landmarks.find_peaks(samples)
        seconds = samples.size / landmarks.SAMPLE_RATE
        if seconds <= WINDOW_SECONDS * 1.5:
            return self._as_single(self.match_peaks(peaks))
        count = min(self.max_windows, math.ceil(seconds / WINDOW_SECONDS))
        starts = np.linspace(0.0, seconds - WINDOW_SECONDS, count)
        frames = WINDOW_SECONDS / landmarks.FRAME_SECONDS
        verified: list[tuple[float, Candidate]] = []  # (song offset of the upload's start, window candidate)
        for start_s in starts:
            start = start_s / landmarks.FRAME_SECONDS
            inside = (peaks.time >= start) & (peaks.time < start + frames)
            window = landmarks.Peaks(
                time=peaks.time[inside] - start,
                freq=peaks.freq[inside],
                n_frames=int(frames),
                freq_offset=None if peaks.freq_offset is None else peaks.freq_offset[inside],
                sustained=None if peaks.sustained is None else peaks.sustained[inside],
                strength=None if peaks.strength is None else peaks.strength[inside],
            )
            candidate = self.match_peaks(window)
            if candidate is None or not self.is_verified(candidate):
                continue
            verified.append((candidate.offset_s - start_s / candidate.scale_time, candidate))
        if not verified:
            return None
        # Windows of one true match agree on the recording *and* on where the upload starts in it (±1 s);
        # chance matches against a similar song land at unrelated offsets.
        best_group: list[Candidate] = []
        for offset, candidate in verified:
            group = [
                other
                for other_offset, other in verified
                if other.recording_id == candidate.recording_id and abs(other_offset - offset) <= OFFSET_AGREEMENT_S
            ]
            key = (len(group), sum(c.aligned for c in group))
            if key > (len(best_group), sum(c.aligned for c in best_group)):
                best_group = group
        strongest = max(best_group, key=lambda c: c.aligned)
        if len(best_group) < 2 and strongest.aligned < self.thresholds.strong_aligned and count > 2:
            return None
        upload_offset = next(offset for offset, candidate in verified if candidate is strongest)
        return replace(
            self._as_match(strongest, votes=len(best_group), total=count), offset_s=round(max(upload_offset, 0.0), 2)
        )

    def _as_single(self, candidate: Candidate | None) -> Match | None:
        if candidate is None or not self.is_verified(candidate):
            return None
        return self._as_match(candidate, votes=1, total=1)
