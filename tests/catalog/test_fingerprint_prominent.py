"""The constellation check on the query's most prominent peaks, written as the attacks it must survive.

Noise and reverb add sustained peaks that no recording explains, so a true match's share falls to where
look-alikes sit; those peaks are weaker than the music's partials, so the share among the most prominent
peaks stays high. A look-alike's prominent peaks are its own melody and chords: they stay unexplained.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from catalog.fingerprint import audio, landmarks, scale
from catalog.fingerprint.index import FingerprintIndex, entry_for
from catalog.fingerprint.matcher import Candidate, Matcher
from demo import fingerprint_synth as synth
from tests.catalog.conftest import candidate

RATE = 16000
SEEDS = (41, 42, 43)


def at_8k(samples: np.ndarray) -> np.ndarray:
    return audio.resample(samples.astype(np.float32), RATE)


@pytest.fixture(scope="module")
def songs() -> dict[int, np.ndarray]:
    return {seed: synth.song(seed, 20.0, RATE, kits=2, arrangements=2) for seed in SEEDS}


@pytest.fixture(scope="module")
def index(tmp_path_factory, songs) -> FingerprintIndex:
    built = FingerprintIndex(tmp_path_factory.mktemp("prominent") / "fp")
    built.add([entry_for(seed, at_8k(samples)) for seed, samples in songs.items()])
    return built


@pytest.fixture(scope="module")
def clip(songs) -> np.ndarray:
    return at_8k(songs[42][4 * RATE : 14 * RATE])


@pytest.fixture(scope="module")
def offset(index, clip) -> int:
    """Where the clean clip sits in recording 42, as the exact landmarks find it."""
    peaks = landmarks.find_peaks(clip)
    candidate = Matcher(index).best_candidate(*landmarks.landmarks(peaks))
    assert candidate is not None
    assert candidate.recording_id == 42
    return candidate.offset_frames


def with_extra_peaks(peaks: landmarks.Peaks, count: int, strength: float, seed: int) -> landmarks.Peaks:
    """``peaks`` plus ``count`` sustained peaks at random places, all of prominence ``strength`` dB."""
    assert peaks.sustained is not None
    assert peaks.strength is not None
    assert peaks.freq_offset is not None
    rng = np.random.default_rng(seed)
    time = np.concatenate([peaks.time, rng.integers(0, peaks.n_frames, count).astype(np.float64)])
    freq = np.concatenate([peaks.freq, rng.integers(10, 250, count).astype(np.float64)])
    order = np.argsort(time, kind="stable")
    return landmarks.Peaks(
        time=time[order],
        freq=freq[order],
        n_frames=peaks.n_frames,
        freq_offset=np.concatenate([peaks.freq_offset, np.zeros(count)])[order],
        sustained=np.concatenate([peaks.sustained, np.ones(count, dtype=np.bool_)])[order],
        strength=np.concatenate([peaks.strength, np.full(count, strength)])[order],
    )


def test_weak_peaks_that_no_recording_explains_lower_the_share_but_not_the_prominent_share(index, clip, offset):
    peaks = landmarks.find_peaks(clip)
    clean = scale.explain(index, peaks, 42, offset, 1.0, 1.0)
    assert clean is not None
    assert clean.share > 0.6
    assert peaks.strength is not None
    assert peaks.sustained is not None
    sustained = int(peaks.sustained.sum())
    weakest = float(peaks.strength.min())
    noisy = scale.explain(index, with_extra_peaks(peaks, 2 * sustained, weakest - 1.0, seed=1), 42, offset, 1.0, 1.0)
    assert noisy is not None
    assert noisy.share < 0.4 * clean.share  # two noise peaks per partial: the share falls to a look-alike's
    # The strongest 30 % of the peaks are the music's: explained as much as the clean clip is, noise aside.
    assert noisy.prominent == pytest.approx(clean.share, abs=0.02)
    assert noisy.prominent > 2 * noisy.share


def test_prominent_peaks_that_the_recording_does_not_hold_are_not_explained(index, clip, offset):
    """A look-alike's loudest peaks are its own melody: prominence does not excuse what is not there."""
    peaks = landmarks.find_peaks(clip)
    assert peaks.sustained is not None
    sustained = int(peaks.sustained.sum())
    assert peaks.strength is not None
    loud = with_extra_peaks(peaks, sustained, float(peaks.strength.max()) + 10.0, seed=2)
    explained = scale.explain(index, loud, 42, offset, 1.0, 1.0)
    assert explained is not None
    assert explained.prominent < 0.1  # the prominent 30 % are all peaks the recording lacks


def test_without_strengths_the_prominent_share_is_the_share(index, clip, offset):
    peaks = replace(landmarks.find_peaks(clip), strength=None)
    explained = scale.explain(index, peaks, 42, offset, 1.0, 1.0)
    assert explained is not None
    assert explained.prominent == explained.share


def test_a_real_noisy_clip_keeps_its_prominent_peaks_explained(index, clip, offset):
    """White noise at 0 dB SNR: the share falls, the prominent share holds far above it."""
    rng = np.random.default_rng(5)
    noise = rng.standard_normal(clip.size).astype(np.float32)
    noisy = clip + noise * (np.sqrt(np.mean(clip**2)) / np.sqrt(np.mean(noise**2)))
    clean = scale.explain(index, landmarks.find_peaks(clip), 42, offset, 1.0, 1.0)
    heard = scale.explain(index, landmarks.find_peaks(noisy.astype(np.float32)), 42, offset, 1.0, 1.0)
    assert clean is not None
    assert heard is not None
    assert heard.share < clean.share
    assert heard.prominent > 1.3 * heard.share


def landmark(**values: object) -> Candidate:
    """A landmark candidate judged on enough peaks (the rules below are about shares)."""
    return candidate(**{"aligned": 24, "explained_peaks": 40, "explained_prominent_peaks": 20, **values})


@pytest.fixture
def matcher(tmp_path) -> Matcher:
    return Matcher(FingerprintIndex(tmp_path / "empty"))


# Measured candidates of the 1,000-song benchmark (docs/identification.md, work of 2026-12-07 g), replayed.
def test_a_true_match_under_noise_is_named_on_its_prominent_peaks(matcher):
    """Noise at 0 dB: 24 anchors, 0.25 of the sustained peaks (refused before), 0.42 of the prominent ones."""
    noisy = landmark(aligned=24, explained=0.25, background=0.12, explained_prominent=0.42, background_prominent=0.0)
    assert matcher.is_verified(noisy)
    assert not matcher.is_verified(replace(noisy, explained_prominent=None))  # the old rule refused it
    assert not matcher.is_verified(replace(noisy, explained_prominent=0.33))


def test_a_look_alike_whose_prominent_peaks_other_songs_explain_better_is_refused(matcher):
    """32 drum anchors, 0.59 of the prominent peaks, but another catalog song explains 0.79 of them."""
    look_alike = landmark(
        aligned=32, explained=0.21, background=0.33, explained_prominent=0.59, background_prominent=0.79
    )
    assert not matcher.is_verified(look_alike)
    assert not matcher.is_verified(replace(look_alike, background_prominent=0.3))  # 0.59 < 2 x 0.3
    assert matcher.is_verified(replace(look_alike, background_prominent=0.25))


def test_a_look_alike_with_its_prominent_peaks_unexplained_is_refused(matcher):
    """35 anchors on the kit, 0.17 of the sustained and 0.32 of the prominent peaks, nothing else fitted."""
    look_alike = landmark(
        aligned=35, explained=0.17, background=0.12, explained_prominent=0.32, background_prominent=0.0
    )
    assert not matcher.is_verified(look_alike)


# Look-alikes at 10,000 songs, each fitted to an unrelated catalog song: (anchors, share, explained peaks,
# prominent share, prominent peaks explained, their background).
CHANCE_FITS = {
    "few prominent peaks": (27, 0.226, 24, 0.5, 16, 0.12),
    "just over the first share floor (0.36; the issue's benchmark)": (18, 0.226, 33, 0.409, 18, 0.184),
}


@pytest.mark.parametrize("fit", CHANCE_FITS.values(), ids=CHANCE_FITS.keys())
def test_a_chance_fit_on_the_prominent_peaks_is_refused(matcher, fit):
    aligned, explained, peaks, prominent, prominent_peaks, background = fit
    look_alike = landmark(
        aligned=aligned,
        explained=explained,
        explained_peaks=peaks,
        background=0.12,
        explained_prominent=prominent,
        explained_prominent_peaks=prominent_peaks,
        background_prominent=background,
    )
    assert not matcher.is_verified(look_alike)
    # What refuses it: the count of prominent peaks explained (17), the prominent share (0.42).
    assert matcher.is_verified(replace(look_alike, explained_prominent_peaks=17, explained_prominent=0.42))


def test_the_prominent_rule_does_not_lower_the_anchor_floor(matcher):
    noisy = landmark(aligned=16, explained=0.25, explained_prominent=0.9, background_prominent=0.0)
    assert not matcher.is_verified(noisy)  # 17 aligned anchors, as before
