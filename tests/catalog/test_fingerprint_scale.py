"""The scale-invariant fingerprint: pitch, speed and tempo changes matched with fitted scales; look-alikes
and chance alignments refused; triplets and peaks kept through the index's append, merge and removal."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy import signal

from catalog.fingerprint import audio, landmarks, scale, triplets
from catalog.fingerprint.index import FingerprintIndex, entry_for
from catalog.fingerprint.matcher import Matcher
from demo import fingerprint_synth as synth

RATE = 16000
KITS, ARRANGEMENTS = 2, 2  # few kits: catalog songs and strangers share drums, as in a real genre
SEEDS = (21, 22, 23, 24, 25, 26)


def at_8k(samples: np.ndarray) -> np.ndarray:
    return audio.resample(samples.astype(np.float32), RATE)


@pytest.fixture(scope="module")
def songs() -> dict[int, np.ndarray]:
    return {seed: synth.song(seed, 20.0, RATE, kits=KITS, arrangements=ARRANGEMENTS) for seed in SEEDS}


@pytest.fixture(scope="module")
def index(tmp_path_factory, songs) -> FingerprintIndex:
    built = FingerprintIndex(tmp_path_factory.mktemp("scale") / "fp")
    built.add([entry_for(seed, at_8k(samples)) for seed, samples in songs.items()])
    return built


def excerpt(songs: dict[int, np.ndarray], seed: int, start: float = 4.0, seconds: float = 11.0) -> np.ndarray:
    return songs[seed][int(start * RATE) : int((start + seconds) * RATE)]


def speed(clip: np.ndarray, factor: float) -> np.ndarray:
    changed: np.ndarray = signal.resample_poly(clip, 1000, round(1000 * factor)).astype(np.float32)
    return changed


def tempo(clip: np.ndarray, rate: float) -> np.ndarray:
    import librosa

    stretched: np.ndarray = librosa.effects.time_stretch(clip, rate=rate).astype(np.float32)
    return stretched


def pitch(clip: np.ndarray, semitones: float) -> np.ndarray:
    import librosa

    shifted: np.ndarray = librosa.effects.pitch_shift(clip, sr=RATE, n_steps=semitones).astype(np.float32)
    return shifted


def test_triplet_hashes_survive_independent_time_and_frequency_scaling(songs):
    peaks = landmarks.find_peaks(at_8k(songs[21][: 10 * RATE]))
    own = set(triplets.hashes(triplets.triplets(peaks)).tolist())
    scaled = replace(peaks, time=np.round(peaks.time * 1.05), freq=peaks.freq * 0.95)
    probes, _rows = triplets.probes(triplets.triplets(scaled), scaled.fine_freq * 1.0)
    found = np.isin(triplets.hashes(triplets.triplets(peaks)), probes).mean()
    assert len(own) > 500
    assert found > 0.6  # most reference triplets are among the scaled query's probes


@pytest.mark.parametrize(
    ("change", "amount", "scale_time", "scale_freq"),
    [
        ("speed", 1.05, 1 / 1.05, 1.05),
        ("speed", 0.95, 1 / 0.95, 0.95),
        ("tempo", 1.05, 1 / 1.05, 1.0),
        ("tempo", 0.95, 1 / 0.95, 1.0),
        ("pitch", 1.0, 1.0, 2 ** (1 / 12)),
        ("pitch", -1.0, 1.0, 2 ** (-1 / 12)),
    ],
)
def test_pitch_speed_and_tempo_changes_match_with_their_fitted_scales(
    index, songs, change, amount, scale_time, scale_freq
):
    clip = excerpt(songs, 21, start=2.0)
    changed = {"speed": speed, "tempo": tempo, "pitch": pitch}[change](clip, amount)[: 10 * RATE]
    match = Matcher(index).match_clip(at_8k(changed))
    assert match is not None
    assert match.recording_id == 21
    assert match.engine == "triplets"
    assert match.scale_time == pytest.approx(scale_time, rel=0.012)
    assert match.scale_freq == pytest.approx(scale_freq, rel=0.008)
    assert match.offset_s == pytest.approx(2.0, abs=0.3)


def test_an_unchanged_clip_is_matched_by_the_exact_landmarks(index, songs):
    match = Matcher(index).match_clip(at_8k(excerpt(songs, 24)[: 8 * RATE]))
    assert match is not None
    assert (match.recording_id, match.engine, match.scale_time, match.scale_freq) == (24, "landmarks", 1.0, 1.0)


@pytest.mark.parametrize("of", [22, 25])
def test_a_look_alike_not_in_the_catalog_is_refused(index, of):
    """Same drum kit, arrangement, key and scale as a catalog song, tempo within 2 %: unmatched, not that song."""
    stranger = synth.look_alike(900 + of, of, 10.0, RATE, kits=KITS, arrangements=ARRANGEMENTS)
    matcher = Matcher(index)
    assert matcher.match_clip(at_8k(stranger)) is None
    assert matcher.match_clip(at_8k(tempo(stranger, 1.04))) is None


def test_a_chance_alignment_is_refused(index):
    """A stranger's triplets always collide with something; the best fitted alignment is still not a match.

    Its share alone does not refuse it: a fit that maps most of the clip outside the recording judges the
    share on a few peaks (0.19 from 4 of 21 here); the anchors and the count of explained peaks do.
    """
    stranger = pitch(synth.song(777, 11.0, RATE), 1.0)[: 10 * RATE]
    peaks = landmarks.find_peaks(at_8k(stranger))
    thresholds = scale.ScaleThresholds()
    chance = scale.align(index, peaks, scale.ScaleThresholds(min_aligned=0))
    assert chance  # hits line up somewhere…
    assert max(a.aligned for a in chance) < thresholds.min_aligned
    assert max(a.explained_peaks for a in chance) < thresholds.min_explained_peaks
    assert Matcher(index).match_clip(at_8k(stranger)) is None  # …and nothing is named
    textbook = Matcher(index, verify=False, scale_invariant=False, speeds=(1.0,), tolerance=0, distinct_anchors=False)
    assert textbook.match_clip(at_8k(stranger)) is not None  # what verification buys


def test_the_index_keeps_triplets_and_peaks_through_append_compaction_and_removal(tmp_path, songs):
    built = FingerprintIndex(tmp_path / "fp")
    built.add([entry_for(21, at_8k(songs[21]))])
    built.add([entry_for(22, at_8k(songs[22]))])
    before = built.stats()
    assert before["segments"] == 2
    assert before["triplets"] > 100 * 40
    assert before["peaks"] > 15 * 40
    built.compact()
    after = built.stats()
    assert (after["segments"], after["triplets"], after["peaks"]) == (1, before["triplets"], before["peaks"])
    times, freqs = built.recording_peaks(22, 0, 1 << 16)
    assert 0 < times.size < after["peaks"]
    assert np.all(np.diff(times) >= 0)
    assert freqs.min() > landmarks.MIN_BIN - 0.5
    built.remove([21])
    built.compact()
    assert built.recording_peaks(21, 0, 1 << 16)[0].size == 0
    assert built.stats()["triplets"] < after["triplets"]
    reopened = FingerprintIndex(built.directory)
    match = Matcher(reopened).match_clip(at_8k(pitch(excerpt(songs, 22), -1.0)[: 10 * RATE]))
    assert match is not None
    assert match.recording_id == 22


def test_a_long_upload_reports_the_scales_of_its_windows(index, songs):
    upload = speed(songs[25], 1.04)  # the whole song, 4 % fast: several windows vote
    match = Matcher(index).identify(at_8k(upload))
    assert match is not None
    assert match.recording_id == 25
    assert match.windows_voting >= 2
    assert match.scale_freq == pytest.approx(1.04, rel=0.008)
    assert match.offset_s == pytest.approx(0.0, abs=0.3)
