"""The artist's style from their uploads' analyses: one tempo, key, scale, kit and set of instruments.

Each upload's analysis (``generation.features.analyse_audio``) carries its tracked tempo, its
onset rate, its key and scale, and optionally the recogniser's view of its sounds; this module
turns ten of them into one decision per property, with the rule written down once:

- **Tempo** (:func:`set_tempo`): beat trackers disagree by octaves (a 70 BPM lullaby is heard at
  140), so every upload's tempo is first folded into the octave of the tempo most uploads agree
  with, the median taken, and then the octave chosen: with drums, the kit anchors the beat (the
  tracker's octave stands unless the kick strikes half-way through its beat as hard as on it: a
  158 BPM breakbeat heard at 79); without drums, where the uploads' onsets per beat are closest to
  :data:`ONSETS_PER_BEAT` (a lullaby heard at 140 has about one onset per "beat").
- **Key and scale**: the tonic and family by confidence-weighted vote, the scale (major, minor,
  harmonic minor, dorian, mixolydian, pentatonics) by vote among uploads of that family.
- **Kit and instruments**: the recogniser's set-level decision, when there is one.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from generation.ml import tonality
from generation.ml.tokenizer import DRUMS, Piece

ONSETS_PER_BEAT = 2.5  # the subdivision the octave choice aims for
TEMPO_RANGE = (50.0, 200.0)  # octaves outside this are never chosen
AGREEMENT = 0.06  # folded tempos within this relative distance agree


@dataclass(frozen=True)
class TempoDecision:
    tempo_bpm: float
    tracked: tuple[float, ...]  # each upload's tracker tempo
    folded: tuple[float, ...]  # the same, folded into one octave
    factor: float  # the octave applied to the folded median (0.5, 1 or 2)
    onsets_per_beat: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "tempo_bpm": round(self.tempo_bpm, 2),
            "tracked": [round(t, 2) for t in self.tracked],
            "folded": [round(t, 2) for t in self.folded],
            "octave_factor": self.factor,
            "onsets_per_beat": None if self.onsets_per_beat is None else round(self.onsets_per_beat, 3),
        }


def _fold(tempo: float, reference: float) -> float:
    """``tempo`` times the power of two that brings it closest (in ratio) to ``reference``."""
    return tempo * 2.0 ** round(math.log2(reference / tempo))


HALF_BEAT_KICKS = 0.75  # kicks half-way through the tracked beat this strong: the tracker counted half notes


def set_tempo(
    tempos: Sequence[float],
    onset_rates: Sequence[float] | None = None,
    *,
    kit: str | None = None,
    half_beat_strikes: Sequence[float] | None = None,
) -> TempoDecision:
    """One octave-consistent tempo for a set of uploads (see the module docstring).

    ``onset_rates`` are onsets per second, one per upload; without them the folded median stands.
    With a kit (``kit`` not None or "none") the drums anchor the beat and the onset rule is not
    used: the folded median stands unless the kicks strike half-way through the tracked beat
    about as hard as on it (``half_beat_strikes``, per upload), which doubles it.
    """
    tracked = tuple(float(t) for t in tempos if t > 0)
    if not tracked:
        return TempoDecision(120.0, (), (), 1.0, None)

    def agreeing(reference: float) -> int:
        return sum(1 for t in tracked if abs(_fold(t, reference) / reference - 1.0) <= AGREEMENT)

    reference = max(tracked, key=lambda r: (agreeing(r), -abs(math.log2(r / 120.0))))
    folded = tuple(_fold(t, reference) for t in tracked)
    median = float(statistics.median(folded))
    if kit is not None and kit != "none":
        strikes = [float(s) for s in (half_beat_strikes or [])]
        doubled = bool(strikes) and statistics.median(strikes) >= HALF_BEAT_KICKS and median * 2 <= TEMPO_RANGE[1]
        factor = 2.0 if doubled else 1.0
        return TempoDecision(median * factor, tracked, folded, factor, None)
    rates = [float(r) for r in (onset_rates or []) if r > 0]
    if not rates:
        return TempoDecision(median, tracked, folded, 1.0, None)
    rate = float(statistics.median(rates))
    options = [f for f in (0.5, 1.0, 2.0) if TEMPO_RANGE[0] <= median * f <= TEMPO_RANGE[1]] or [1.0]
    factor = min(options, key=lambda f: (abs(math.log2(rate * 60.0 / (median * f) / ONSETS_PER_BEAT)), abs(f - 1)))
    return TempoDecision(median * factor, tracked, folded, factor, rate * 60.0 / (median * factor))


@dataclass(frozen=True)
class KeyDecision:
    tonic: int
    mode: str  # "major" | "minor": the family
    scale: str  # a tonality.SCALES name of that family
    scale_votes: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "tonic": self.tonic,
            "name": tonality.PITCH_NAMES[self.tonic],
            "mode": self.mode,
            "scale": self.scale,
            "scale_votes": {k: round(v, 3) for k, v in self.scale_votes.items()},
        }


def set_key(keys: Sequence[dict[str, Any]]) -> KeyDecision:
    """Tonic and family by confidence-weighted vote (ties: lowest tonic, major first); then the scale.

    Each item is an upload's ``key`` analysis: ``tonic``, ``mode``, ``confidence`` and optionally
    ``scale``. Uploads of the winning family vote for its scale; without scales it is the family's
    plain scale.
    """
    votes: dict[tuple[int, str], float] = {}
    for key in keys:
        vote = (int(key["tonic"]), str(key["mode"]))
        votes[vote] = votes.get(vote, 0.0) + max(0.05, float(key.get("confidence", 0.0)))
    if not votes:
        return KeyDecision(0, "major", "major")
    tonic, mode = max(sorted(votes), key=lambda v: votes[v])
    scale_votes: dict[str, float] = {}
    for key in keys:
        scale = key.get("scale")
        if scale in tonality.SCALES and tonality.FAMILY[scale] == mode:
            scale_votes[scale] = scale_votes.get(scale, 0.0) + max(0.05, float(key.get("confidence", 0.0)))
    scale = max(sorted(scale_votes), key=lambda s: scale_votes[s]) if scale_votes else mode
    return KeyDecision(tonic, mode, scale, scale_votes)


def set_scale(weights: Sequence[np.ndarray], *, family: str) -> tuple[str, dict[str, float]]:
    """The scale of ``family`` most of the songs are in, each song judged in its own key.

    ``weights`` are per song 12 pitch-class weights of its transcribed notes (transcriptions place
    notes better than chroma, whose overtones light up pitch classes nobody played). A song whose
    own key is of the other family does not vote; without votes the family's plain scale stands.
    """
    votes: dict[str, float] = {}
    for row in weights:
        array = np.asarray(row, dtype=np.float64)
        if array.sum() <= 0:
            continue
        key = tonality.estimate_key(array)
        if key.mode != family:
            continue
        scale = tonality.estimate_mode(array, key)
        votes[scale] = votes.get(scale, 0.0) + max(0.05, key.correlation)
    scale = max(sorted(votes), key=lambda s: votes[s]) if votes else family
    return scale, {k: round(v, 3) for k, v in votes.items()}


def scale_of_songs(songs: Sequence[Piece], *, family: str) -> tuple[str, dict[str, float]]:
    """:func:`set_scale` over transcribed songs (pitched notes weighted by duration)."""
    return set_scale(
        [tonality.pitch_class_weights((n.pitch, n.duration) for n in song.notes if n.role != DRUMS) for song in songs],
        family=family,
    )


def pitch_colour(songs: Sequence[Piece], *, tonic: int) -> tuple[float, ...] | None:
    """Share of the songs' pitched notes per pitch class, each song moved to ``tonic`` first.

    An artist's songs are in different keys; pooled as they are, their pitch classes would cover
    nearly all twelve and say nothing about the scale. Each song is rotated from its own
    (Krumhansl–Schmuckler) tonic to the set's, so modal and blue notes line up.
    """
    counts = np.zeros(12)
    for song in songs:
        pitched = [n.pitch for n in song.notes if n.role != DRUMS]
        if not pitched:
            continue
        histogram = np.bincount([p % 12 for p in pitched], minlength=12).astype(np.float64)
        own = tonality.estimate_key(
            tonality.pitch_class_weights((n.pitch, n.duration) for n in song.notes if n.role != DRUMS)
        )
        counts += np.roll(histogram, tonic - own.tonic)
    return tuple(float(c) for c in counts / counts.sum()) if counts.sum() else None
