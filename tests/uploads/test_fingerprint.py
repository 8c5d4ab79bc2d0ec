"""The landmark engine on its own: index on disk, matching, verification, speed and windows."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import signal

from catalog.fingerprint import audio, landmarks
from catalog.fingerprint.index import Entry, FingerprintIndex, IndexFormatError
from catalog.fingerprint.matcher import Matcher
from demo import fingerprint_synth as synth

RATE = 16000


def at_8k(samples: np.ndarray) -> np.ndarray:
    return audio.resample(samples, RATE)


@pytest.fixture(scope="module")
def songs() -> dict[int, np.ndarray]:
    return {seed: synth.song(seed, 12.0, RATE) for seed in (11, 12, 13, 14)}


def entry(recording_id: int, samples: np.ndarray) -> Entry:
    hashes, times = landmarks.fingerprint(at_8k(samples))
    return Entry(recording_id, hashes, times, samples.size / RATE)


@pytest.fixture
def index(tmp_path, songs) -> FingerprintIndex:
    built = FingerprintIndex(tmp_path / "fp")
    built.add([entry(seed, samples) for seed, samples in songs.items()])
    return built


def test_hashes_are_32_bit_with_anchor_times(songs):
    hashes, times = landmarks.fingerprint(at_8k(songs[11]))
    assert hashes.dtype == np.uint32
    assert times.dtype == np.int32
    assert hashes.size == times.size
    assert 80 * 12 < hashes.size < 400 * 12  # landmarks per second stay in a sane band
    assert np.all(np.diff(times) >= 0)


def test_an_excerpt_matches_its_song_at_its_offset(index, songs):
    clip = songs[12][int(3.0 * RATE) : int(8.0 * RATE)]
    match = Matcher(index).match_clip(at_8k(clip))
    assert match is not None
    assert match.recording_id == 12
    assert match.offset_s == pytest.approx(3.0, abs=0.05)
    assert 0 < match.confidence <= 1


def test_a_song_not_in_the_index_is_unmatched(index):
    stranger = synth.song(999, 6.0, RATE)
    assert Matcher(index).match_clip(at_8k(stranger)) is None


def test_the_textbook_matcher_always_names_a_song(index):
    """What verification buys: without it, a stranger is matched to *something*."""
    textbook = Matcher(index, verify=False, speeds=(1.0,), tolerance=0, distinct_anchors=False)
    assert textbook.match_clip(at_8k(synth.song(999, 6.0, RATE))) is not None


@pytest.mark.parametrize("speed", [0.97, 1.03])
def test_a_clip_three_percent_off_speed_still_matches(index, songs, speed):
    clip = songs[13][int(2.0 * RATE) : int(9.0 * RATE)]
    changed = signal.resample_poly(clip, 1000, round(1000 * speed)).astype(np.float32)
    assert Matcher(index, speeds=(1.0,)).match_clip(at_8k(changed)) is None
    match = Matcher(index).match_clip(at_8k(changed))
    assert match is not None
    assert match.recording_id == 13
    assert match.speed == pytest.approx(speed, abs=0.011)


def test_a_noisy_clip_matches(index, songs):
    clip = songs[14][int(1.0 * RATE) : int(9.0 * RATE)]
    noisy = clip + np.random.default_rng(0).standard_normal(clip.size).astype(np.float32) * np.sqrt(np.mean(clip**2))
    match = Matcher(index).match_clip(at_8k(noisy.astype(np.float32)))
    assert match is not None
    assert match.recording_id == 14


def test_windows_vote_over_a_long_upload(index, songs):
    upload = np.concatenate([songs[11], songs[11][: 6 * RATE]])  # 18 s: the song, then its start again
    match = Matcher(index).identify(at_8k(upload))
    assert match is not None
    assert match.recording_id == 11
    assert match.windows_total == 2
    assert match.windows_voting >= 1


def test_the_index_survives_reopening(index, songs):
    reopened = FingerprintIndex(index.directory)
    assert reopened.recording_ids() == {11, 12, 13, 14}
    match = Matcher(reopened).match_clip(at_8k(songs[11][: 5 * RATE]))
    assert match is not None
    assert match.recording_id == 11


def test_readers_see_appended_segments(index, songs, tmp_path):
    reader = FingerprintIndex(index.directory)
    assert reader.recording_ids() == {11, 12, 13, 14}
    newcomer = synth.song(15, 8.0, RATE)
    FingerprintIndex(index.directory).add([entry(15, newcomer)])
    assert 15 in reader.recording_ids()
    match = Matcher(reader).match_clip(at_8k(newcomer[RATE : 6 * RATE]))
    assert match is not None
    assert match.recording_id == 15


def test_reindexing_a_recording_replaces_its_fingerprint(index, songs):
    other = synth.song(16, 8.0, RATE)
    index.add([entry(11, other)])  # recording 11's audio was replaced
    assert Matcher(index).match_clip(at_8k(songs[11][RATE : 6 * RATE])) is None
    match = Matcher(index).match_clip(at_8k(other[RATE : 6 * RATE]))
    assert match is not None
    assert match.recording_id == 11


def test_removed_recordings_stop_matching_and_compaction_drops_them(index, songs):
    before = index.stats()["entries"]
    assert index.remove([12]) == 1
    assert Matcher(index).match_clip(at_8k(songs[12][RATE : 6 * RATE])) is None
    index.compact()
    stats = index.stats()
    assert stats["segments"] == 1
    assert stats["recordings"] == 3
    assert stats["entries"] < before
    assert sorted(p.name.split(".")[0] for p in index.directory.glob("*.npy")) == ["base-000001"] * 3


def test_an_index_built_with_other_parameters_is_refused(index):
    meta = json.loads(index.meta_path.read_text())
    meta["params"]["hop"] = 999
    index.meta_path.write_text(json.dumps(meta))
    with pytest.raises(IndexFormatError, match="index_rebuild"):
        FingerprintIndex(index.directory).recording_ids()


def test_an_empty_index_matches_nothing(tmp_path, songs):
    assert Matcher(FingerprintIndex(tmp_path / "empty")).match_clip(at_8k(songs[11][: 5 * RATE])) is None


def test_silence_matches_nothing(index):
    assert Matcher(index).identify(np.zeros(10 * landmarks.SAMPLE_RATE, dtype=np.float32)) is None
