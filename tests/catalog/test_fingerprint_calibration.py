"""Calibration rules of the fingerprint matchers, each written as the attack it stops, on a small catalog
whose songs share two drum kits and two arrangements (strangers in the same style are the hard case)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from catalog.fingerprint import audio, scale
from catalog.fingerprint.arrays import count_distinct, top_indices, unique_sorted
from catalog.fingerprint.index import Entry, FingerprintIndex, Hits, entry_for
from catalog.fingerprint.matcher import Candidate, Matcher
from catalog.fingerprint.scale import Alignment, ScaleThresholds
from demo import fingerprint_synth as synth
from tests.catalog.conftest import candidate

RATE = 16000
KITS, ARRANGEMENTS = 2, 2
SEEDS = (31, 32, 33, 34, 35, 36)


def at_8k(samples: np.ndarray) -> np.ndarray:
    return audio.resample(samples.astype(np.float32), RATE)


@pytest.fixture(scope="module")
def songs() -> dict[int, np.ndarray]:
    return {seed: synth.song(seed, 20.0, RATE, kits=KITS, arrangements=ARRANGEMENTS) for seed in SEEDS}


@pytest.fixture(scope="module")
def entries(songs) -> dict[int, Entry]:
    return {seed: entry_for(seed, at_8k(samples)) for seed, samples in songs.items()}


@pytest.fixture(scope="module")
def index(tmp_path_factory, entries) -> FingerprintIndex:
    built = FingerprintIndex(tmp_path_factory.mktemp("calibration") / "fp")
    built.add(entries.values())
    return built


class CountingIndex(FingerprintIndex):
    """The index, counting landmark lookups (one per speed tried)."""

    lookups = 0

    def lookup(self, hashes: np.ndarray, *, max_hits_per_hash: int = 5000, max_hits: int | None = None) -> Hits:
        self.lookups += 1
        return super().lookup(hashes, max_hits_per_hash=max_hits_per_hash, max_hits=max_hits)


def test_distinct_keys_are_counted_like_numpy_unique():
    values = np.random.default_rng(3).integers(0, 50, 2000).astype(np.int64) << 20
    assert np.array_equal(unique_sorted(values), np.unique(values))
    assert count_distinct(values) == np.unique(values).size
    assert unique_sorted(np.zeros(0, np.int64)).size == 0


def test_the_top_cells_are_the_largest_counts_ties_taken_in_order():
    """What ``numpy.argpartition`` selects, without its slow path on arrays of mostly equal values."""
    counts = np.random.default_rng(5).geometric(0.8, 100_000).astype(np.int64)  # mostly 1, a few larger
    top = top_indices(counts, 32)
    assert top.size == 32
    assert np.array_equal(np.sort(counts[top]), np.sort(counts[np.argpartition(counts, -32)[-32:]]))
    boundary = counts[top].min()
    assert np.array_equal(
        top[counts[top] == boundary], np.flatnonzero(counts == boundary)[: (counts[top] == boundary).sum()]
    )
    assert np.array_equal(np.sort(top_indices(np.array([3, 1, 1, 2]), 2)), [0, 3])


def test_a_stranger_gets_one_landmark_lookup_on_a_scale_invariant_index(index):
    """Six rescaled speeds are six more chances of a chance alignment; the triplets already cover speed."""
    counting = CountingIndex(index.directory)
    stranger = synth.look_alike(931, 31, 10.0, RATE, kits=KITS, arrangements=ARRANGEMENTS)
    assert counting.is_scale_invariant()
    assert Matcher(counting).match_clip(at_8k(stranger)) is None
    assert counting.lookups == 1


def test_recordings_indexed_without_triplets_keep_the_speed_search(tmp_path, songs, entries):
    """A recording indexed by an older version (landmarks only) is still found at +2 % speed."""
    from scipy import signal

    old = entries[33]
    counting = CountingIndex(tmp_path / "fp")
    counting.add([Entry(old.recording_id, old.hashes, old.times, old.seconds, scale=None), entries[34]])
    assert not counting.is_scale_invariant()
    clip = songs[33][3 * RATE : 14 * RATE]
    faster = signal.resample_poly(clip, 1000, 1020).astype(np.float32)[: 10 * RATE]
    match = Matcher(counting).match_clip(at_8k(faster))
    assert match is not None
    assert (match.recording_id, match.engine) == (33, "landmarks")
    assert match.speed == pytest.approx(1.02)
    assert counting.lookups > 1


@pytest.fixture
def matcher(tmp_path) -> Matcher:
    return Matcher(FingerprintIndex(tmp_path / "empty"))


# Measured look-alikes of the 1,000-song calibration run (docs/identification.md), replayed as candidates.
def test_a_strong_drum_alignment_of_a_look_alike_is_refused_when_other_songs_explain_as_much(matcher):
    """33 aligned anchors (same kit, same tempo) and a share of 0.185, but another song explains 0.219."""
    look_alike = candidate(aligned=33, runner_up=29, explained=0.185, explained_peaks=12, background=0.219)
    assert not matcher.is_verified(look_alike)
    assert matcher.is_verified(replace(look_alike, background=0.1))  # the same share standing out is a match
    assert matcher.is_verified(replace(look_alike, explained=0.4))  # a clear share needs no background


def test_a_weak_exact_match_needs_its_share_far_above_the_background(matcher):
    """21 aligned anchors with a share of 0.248, twice the 0.124 of the best other song: still refused."""
    look_alike = candidate(aligned=21, runner_up=12, explained=0.248, explained_peaks=32, background=0.124)
    assert not matcher.is_verified(look_alike)
    assert matcher.is_verified(replace(look_alike, explained=0.3))
    assert not matcher.is_verified(replace(look_alike, explained=0.2, background=0.0))  # and a share of its own


def test_a_triplet_alignment_standing_barely_above_the_background_is_refused(matcher):
    """A look-alike's fitted alignment: 14 anchors, share 0.208, another song 0.138 (ratio 1.5)."""
    look_alike = candidate(
        engine="triplets", aligned=14, explained=0.208, explained_peaks=27, background=0.138, scale_time=1.01
    )
    assert not matcher.is_verified(look_alike)
    pitched = replace(look_alike, explained=0.3)  # a pitch-shifted true match: share ≥ 1.7 × background
    assert matcher.is_verified(pitched)
    assert not matcher.is_verified(replace(pitched, aligned=9))  # too few distinct anchors
    assert not matcher.is_verified(replace(pitched, explained_peaks=9))  # too few explained peaks


def test_a_look_alike_clip_is_not_named_against_its_catalog_twin(index):
    """Same kit, arrangement, key and scale as catalog song 32, tempo within 2 %: unmatched."""
    stranger = synth.look_alike(977, 32, 10.0, RATE, kits=KITS, arrangements=ARRANGEMENTS, same_arrangement=True)
    assert Matcher(index).match_clip(at_8k(stranger)) is None


def test_a_pitch_shifted_clip_is_named_with_its_scale_factors(index, songs):
    import librosa

    clip = songs[36][2 * RATE : 13 * RATE]
    shifted = librosa.effects.pitch_shift(clip, sr=RATE, n_steps=-2.0).astype(np.float32)[: 10 * RATE]
    match = Matcher(index).match_clip(at_8k(shifted))
    assert match is not None
    assert (match.recording_id, match.engine) == (36, "triplets")
    assert match.scale_freq == pytest.approx(2 ** (-2 / 12), rel=0.008)
    assert match.scale_time == pytest.approx(1.0, rel=0.012)


# Look-alikes named by the 2026-12-07 rules on a fresh draw of the same benchmark (docs/identification.md,
# calibration of 2026-12-07 b): each replayed as measured, refused by the current rules.
def test_a_weak_exact_match_explaining_a_quarter_of_a_look_alike_is_refused(matcher):
    """20 aligned anchors, share 0.266, 2.6 × the background 0.102: the old 0.22 share named it."""
    look_alike = candidate(aligned=20, runner_up=12, query_hashes=1777, explained=0.266, explained_peaks=33)
    assert not matcher.is_verified(replace(look_alike, background=0.102))
    assert matcher.is_verified(replace(look_alike, explained=0.3, background=0.102))


def test_a_triplet_alignment_on_ten_anchors_is_refused(matcher):
    """A look-alike fitted 6 % slower on 10 anchors explained 0.26 (2.3 × background): too few anchors."""
    look_alike = candidate(
        engine="triplets", aligned=10, explained=0.26, explained_peaks=13, background=0.115, scale_time=0.94
    )
    assert not matcher.is_verified(look_alike)
    assert matcher.is_verified(replace(look_alike, aligned=11))


def test_a_strong_exact_match_explaining_little_of_a_look_alike_is_refused(matcher):
    """30 aligned drum anchors, share 0.15, over 2 × the background 0.067: shares that low are drum kits."""
    look_alike = candidate(aligned=30, runner_up=18, query_hashes=1746, explained=0.15, explained_peaks=16)
    assert not matcher.is_verified(replace(look_alike, background=0.067))
    assert matcher.is_verified(replace(look_alike, explained=0.19, background=0.067))


# Work of 2026-12-07 d (docs/identification.md): the background of a fitted alignment counts only other
# recordings' fits judged on enough peaks, and is never under ``min_background``. Alignments as measured on the
# 1,000-song benchmark (recording, anchors, share, explained peaks).
def fitted(recording_id: int, aligned: int, explained: float, explained_peaks: int) -> Alignment:
    return Alignment(recording_id, 100.0, 1.0, 1.0, aligned, explained, explained_peaks, 11_000)


def as_candidate(alignments: list[Alignment]) -> Candidate:
    best = alignments[0]
    return candidate(
        recording_id=best.recording_id,
        engine="triplets",
        aligned=best.aligned,
        explained=best.explained,
        explained_peaks=best.explained_peaks,
        background=scale.background(alignments, best.recording_id, ScaleThresholds()),
    )


def test_an_edge_fit_on_a_few_peaks_does_not_refuse_a_time_stretched_true_match(matcher):
    """Tempo +1 %: the true recording fitted on 15 anchors explains 0.22 of the clip (22 peaks); another song's fit
    put the clip mostly past its end and explained 0.209 from 9 peaks. That was the background (ratio 1.05), and
    the upload went unmatched; a share judged on 9 peaks is noise, so the background is now the next fit's."""
    alignments = [
        fitted(81, 15, 0.22, 22),
        fitted(567, 3, 0.209, 9),
        fitted(984, 6, 0.101, 10),
        fitted(797, 3, 0.061, 6),
    ]
    assert scale.background(alignments, 81, ScaleThresholds()) == pytest.approx(0.12)  # 0.101, raised to the floor
    assert matcher.is_verified(as_candidate(alignments))
    assert not matcher.is_verified(replace(as_candidate(alignments), background=0.209))  # the old background


def test_a_pitch_shifted_true_match_stands_above_a_background_fit_on_enough_peaks(matcher):
    """Pitch −1 st: 13 anchors, 0.328 of 41 peaks; an edge fit explained 0.2 from 9 peaks (refused it before)."""
    alignments = [
        fitted(107, 13, 0.328, 41),
        fitted(511, 4, 0.2, 9),
        fitted(17, 8, 0.105, 13),
        fitted(839, 8, 0.097, 12),
    ]
    assert scale.background(alignments, 107, ScaleThresholds()) == pytest.approx(0.12)
    assert matcher.is_verified(as_candidate(alignments))


def test_a_look_alike_with_no_other_fit_on_enough_peaks_is_judged_against_the_floor(matcher):
    """A look-alike (set B) fitted on 11 anchors explaining 0.19; every other fit explained fewer than 10 peaks.
    Without a floor its background would be 0 and it would be named."""
    alignments = [
        fitted(717, 11, 0.19, 19),
        fitted(151, 5, 0.138, 4),
        fitted(313, 4, 0.092, 9),
        fitted(271, 6, 0.09, 9),
    ]
    look_alike = as_candidate(alignments)
    assert look_alike.background == pytest.approx(ScaleThresholds().min_background)
    assert not matcher.is_verified(look_alike)
    assert matcher.is_verified(replace(look_alike, background=0.0))  # what the floor stops


def test_a_look_alike_is_still_refused_when_another_fit_on_many_peaks_explains_more(matcher):
    """A look-alike (set A) fitted on 13 anchors explaining 0.222; another song explained 0.417 from 35 peaks."""
    alignments = [fitted(353, 13, 0.222, 18), fitted(559, 10, 0.417, 35), fitted(257, 8, 0.357, 30)]
    look_alike = as_candidate(alignments)
    assert look_alike.background == pytest.approx(0.417)
    assert not matcher.is_verified(look_alike)
