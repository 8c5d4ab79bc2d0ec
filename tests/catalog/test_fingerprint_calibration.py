"""Calibration rules of the fingerprint matchers, each written as the attack it stops, on a small catalog
whose songs share two drum kits and two arrangements (strangers in the same style are the hard case)."""

from __future__ import annotations

import numpy as np
import pytest

from catalog.fingerprint import audio
from catalog.fingerprint.arrays import count_distinct, unique_sorted
from catalog.fingerprint.index import Entry, FingerprintIndex, entry_for
from catalog.fingerprint.matcher import Matcher
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

    def lookup(self, hashes, **kwargs):  # type: ignore[no-untyped-def]
        self.lookups += 1
        return super().lookup(hashes, **kwargs)


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
