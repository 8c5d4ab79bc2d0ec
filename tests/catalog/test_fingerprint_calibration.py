"""Calibration rules of the fingerprint matchers, each written as the attack it stops, on a small catalog
whose songs share two drum kits and two arrangements (strangers in the same style are the hard case)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from catalog.fingerprint import audio
from catalog.fingerprint.arrays import count_distinct, unique_sorted
from catalog.fingerprint.index import Entry, FingerprintIndex, Hits, entry_for
from catalog.fingerprint.matcher import Candidate, Matcher
from demo import fingerprint_synth as synth

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

    def lookup(self, hashes: np.ndarray, *, max_hits_per_hash: int = 5000) -> Hits:
        self.lookups += 1
        return super().lookup(hashes, max_hits_per_hash=max_hits_per_hash)


def test_distinct_keys_are_counted_like_numpy_unique():
    values = np.random.default_rng(3).integers(0, 50, 2000).astype(np.int64) << 20
    assert np.array_equal(unique_sorted(values), np.unique(values))
    assert count_distinct(values) == np.unique(values).size
    assert unique_sorted(np.zeros(0, np.int64)).size == 0


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


def candidate(**values: object) -> Candidate:
    fields: dict[str, object] = {
        "recording_id": 7,
        "offset_frames": 100,
        "aligned": 20,
        "runner_up": 10,
        "query_hashes": 1700,
        "speed": 1.0,
    }
    fields.update(values)
    return Candidate(**fields)  # type: ignore[arg-type]


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
