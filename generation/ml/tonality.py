"""Key and mode of a pitch-class distribution: the one home of SongForge's key estimation.

``estimate_key`` is Krumhansl–Schmuckler (correlation with the Krumhansl–Kessler major/minor
profiles, rotated to each tonic). ``estimate_mode`` refines that key into a scale (major, natural
or harmonic minor, dorian, mixolydian, pentatonics) by which scale's pitch classes hold the most
weight, with a penalty per scale note left unused. Pure numpy; callers build the 12-bin weights
(note durations, chroma means, ...).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

# Krumhansl-Kessler key profiles, index 0 = the tonic.
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
PITCH_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")

# Scales as semitones above the tonic; each belongs to the major or minor key family.
SCALES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "major_pentatonic": (0, 2, 4, 7, 9),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "harmonic_minor": (0, 2, 3, 5, 7, 8, 11),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "minor_pentatonic": (0, 3, 5, 7, 10),
}
FAMILY = {
    "major": "major",
    "mixolydian": "major",
    "major_pentatonic": "major",
    "minor": "minor",
    "harmonic_minor": "minor",
    "dorian": "minor",
    "minor_pentatonic": "minor",
}
UNUSED_NOTE_SHARE = 0.02  # a scale note holding less than this share of the weight counts as unused
UNUSED_NOTE_PENALTY = 0.04  # fit lost per unused scale note: the smallest scale that covers the music wins


@dataclass(frozen=True)
class Key:
    tonic: int  # pitch class 0-11, C = 0
    mode: str  # "major" | "minor"
    correlation: float

    @property
    def name(self) -> str:
        return f"{PITCH_NAMES[self.tonic]} {self.mode}"


def pitch_class_weights(notes: Iterable[tuple[int, float]]) -> np.ndarray:
    """12 bins of summed weight from (MIDI pitch, weight) pairs, e.g. (pitch, duration)."""
    histogram = np.zeros(12)
    for pitch, weight in notes:
        histogram[int(pitch) % 12] += weight
    return histogram


def estimate_key(weights: np.ndarray) -> Key:
    """Krumhansl–Schmuckler key of 12 pitch-class weights; C major with correlation -2 when undecidable.

    Ties keep the first candidate in (tonic C..B, major before minor) order.
    """
    best = Key(0, "major", -2.0)
    if float(np.std(weights)) == 0.0:  # silence or all twelve alike: no correlation to take
        return best
    for tonic in range(12):
        for mode, profile in (("major", MAJOR_PROFILE), ("minor", MINOR_PROFILE)):
            correlation = float(np.corrcoef(weights, np.roll(profile, tonic))[0, 1])
            if not math.isnan(correlation) and correlation > best.correlation:
                best = Key(tonic, mode, correlation)
    return best


def scale_fit(weights: np.ndarray, tonic: int, scale: str) -> float:
    """Share of the weight on ``scale``'s pitch classes, minus a penalty per scale note left unused."""
    total = float(np.sum(weights))
    if total <= 0:
        return 0.0
    shares = np.roll(np.asarray(weights, dtype=float) / total, -tonic)
    degrees = SCALES[scale]
    covered = float(sum(shares[d] for d in degrees))
    unused = sum(1 for d in degrees if shares[d] < UNUSED_NOTE_SHARE)
    return covered - UNUSED_NOTE_PENALTY * unused


def estimate_mode(weights: np.ndarray, key: Key | None = None) -> str:
    """The scale of the key's family that fits ``weights`` best (see :data:`SCALES`).

    Pentatonic wins only when the five notes carry the music (the two others stay unused); the
    harmonic minor when the raised seventh outweighs the flat one.
    """
    key = key or estimate_key(weights)
    candidates = [scale for scale, family in FAMILY.items() if family == key.mode]
    return max(candidates, key=lambda scale: (scale_fit(weights, key.tonic, scale), -candidates.index(scale)))


def scale_pitch_classes(tonic: int, scale: str) -> frozenset[int]:
    """The pitch classes (0-11) of ``scale`` on ``tonic``."""
    return frozenset((tonic + degree) % 12 for degree in SCALES[scale])
