"""Triplet selection: a weak peak appearing (a phase vocoder's smear, noise) must not change which triplets
the other peaks form, and an index built with another selection is refused."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from catalog.fingerprint import landmarks, triplets
from catalog.fingerprint.index import Entry, FingerprintIndex, IndexFormatError


def random_peaks(seed: int, seconds: float = 10.0) -> landmarks.Peaks:
    """About 24 peaks a second at random frames and bins, with strengths 6–30 dB, time-sorted."""
    rng = np.random.default_rng(seed)
    n = int(seconds * 24)
    time = np.sort(rng.integers(0, int(seconds / landmarks.FRAME_SECONDS), n)).astype(np.float64)
    return landmarks.Peaks(
        time=time,
        freq=rng.integers(10, 200, n).astype(np.float64),
        n_frames=int(time.max()) + 1,
        freq_offset=np.zeros(n),
        sustained=rng.random(n) < 0.5,
        strength=rng.uniform(6.0, 30.0, n),
    )


def with_weak_peaks(peaks: landmarks.Peaks, seed: int, count: int) -> landmarks.Peaks:
    """``peaks`` plus ``count`` peaks weaker than every one of them and not sustained, at random frames."""
    rng = np.random.default_rng(seed)
    time = np.concatenate((peaks.time, rng.integers(0, peaks.n_frames, count).astype(np.float64)))
    freq = np.concatenate((peaks.freq, rng.integers(10, 200, count).astype(np.float64)))
    assert peaks.strength is not None
    assert peaks.sustained is not None
    strength = np.concatenate((peaks.strength, np.full(count, 1.0)))
    sustained = np.concatenate((peaks.sustained, np.zeros(count, np.bool_)))
    order = np.lexsort((freq, time))
    return landmarks.Peaks(
        time=time[order],
        freq=freq[order],
        n_frames=peaks.n_frames,
        freq_offset=np.zeros(time.size),
        sustained=sustained[order],
        strength=strength[order],
    )


def triplet_coordinates(peaks: landmarks.Peaks) -> set[tuple[float, ...]]:
    tri = triplets.triplets(peaks)
    return {
        (peaks.time[a], peaks.freq[a], peaks.time[b], peaks.freq[b], peaks.time[c], peaks.freq[c])
        for a, b, c in zip(tri.first.tolist(), tri.second.tolist(), tri.third.tolist(), strict=True)
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_weak_peaks_appearing_leave_every_triplet_of_the_others_in_place(seed):
    peaks = random_peaks(seed)
    before = triplet_coordinates(peaks)
    after = triplet_coordinates(with_weak_peaks(peaks, seed + 100, count=20))
    assert len(before) > 1000
    assert before <= after


def test_the_choice_by_time_order_loses_triplets_when_peaks_appear():
    """What the ranking buys: without strengths (the first peaks in time order, as before), the same 20
    peaks in 10 s change many triplets of the others."""
    peaks = replace(random_peaks(4), strength=None)
    before = triplet_coordinates(peaks)
    after = triplet_coordinates(replace(with_weak_peaks(random_peaks(4), 104, count=20), strength=None))
    assert len(before - after) > 0.1 * len(before)


def test_sustained_peaks_are_chosen_first_then_the_most_prominent():
    """One anchor, then five peaks 3–7 frames later: prominences 5, 9, 7, 8, 6 dB, the 5 and 7 dB ones
    sustained. Its second peaks are the sustained 7 and 5 dB ones, then the 9 dB one; nothing follows the
    last peak."""
    peaks = landmarks.Peaks(
        time=np.array([0.0, 3, 4, 5, 6, 7]),
        freq=np.full(6, 50.0),
        n_frames=8,
        sustained=np.array([True, True, False, True, False, False]),
        strength=np.array([20.0, 5.0, 9.0, 7.0, 8.0, 6.0]),
    )
    chosen = triplets._best_ranked_after(peaks.time.astype(np.int64), triplets.priority(peaks), 3)
    assert chosen[0].tolist() == [3, 1, 2]
    assert chosen[5].tolist() == [-1, -1, -1]


def test_an_index_built_with_another_triplet_selection_is_refused(tmp_path):
    index = FingerprintIndex(tmp_path / "fp")
    index.add([Entry(1, np.array([5], np.uint32), np.array([0], np.int32), 1.0)])
    meta = json.loads(index.meta_path.read_text())
    meta["params"]["triplets"].pop("selection")  # as written before: the first peaks in time order
    index.meta_path.write_text(json.dumps(meta))
    with pytest.raises(IndexFormatError, match="index_rebuild"):
        FingerprintIndex(index.directory).recording_ids()
