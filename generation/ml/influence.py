"""Influence: how much each source song shaped a generated piece, measured not assumed.

For every token the model produced, the *likelihood gain* is how much more probable the fine-tuned
model found it than the base model (nats). A token's gain is credited to the songs that contain
the same transposition-invariant 4-gram ending at that token (pitches become intervals within
their track; velocities are dropped), split equally among them. A song's weight is its credit in
whole micro-nats (an integer); its share is its weight over the total, split exactly by the caller.
Gains that no song explains are reported as "unattributed", not spread around.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from generation.ml.model import MusicTransformer
from generation.ml.tokenizer import PITCH_RANGE, TRACK_RANGE, VEL_RANGE
from generation.ml.train import sequence_nll

NGRAM = 4
CREDIT_UNIT_NATS = 1e-6  # an integer weight of 1 is one micro-nat of explained likelihood gain


def relative_symbols(tokens: Sequence[int]) -> list[int]:
    """Pitches -> 10_000 + interval from the previous pitch in the same track; velocities -> -1."""
    out: list[int] = []
    last_pitch: dict[int, int] = {}
    track = 0
    for t in tokens:
        t = int(t)
        if TRACK_RANGE[0] <= t < TRACK_RANGE[1]:
            track = t
            out.append(t)
        elif PITCH_RANGE[0] <= t < PITCH_RANGE[1]:
            pitch = t - PITCH_RANGE[0]
            previous = last_pitch.get(track)
            out.append(10_000 + (pitch - previous if previous is not None else 999))
            last_pitch[track] = pitch
        elif VEL_RANGE[0] <= t < VEL_RANGE[1]:
            out.append(-1)
        else:
            out.append(t)
    return out


def ngram_set(tokens: Sequence[int], n: int = NGRAM) -> set[tuple[int, ...]]:
    rel = relative_symbols(tokens)
    return {tuple(rel[i : i + n]) for i in range(len(rel) - n + 1)}


@dataclass(frozen=True)
class Influence:
    """What :func:`influence` measured. ``weights`` are exact integers, one per song (same order):
    each song's credit in micro-nats, or 1 each when nothing was measurable. Turning them into money
    shares is the caller's job (an exact largest-remainder split); the floats here are figures only.
    """

    method: str
    weights: tuple[int, ...]
    credit_nats: tuple[float, ...]
    positive_gain_nats: float
    unattributed_nats: float
    tokens_scored: int

    def figures(self) -> dict[str, object]:
        """The measurement as JSON-ready figures for the generation report (no shares)."""
        return {
            "method": self.method,
            "credit_nats": [round(c, 4) for c in self.credit_nats],
            "positive_gain_nats": round(self.positive_gain_nats, 4),
            "unattributed_nats": round(self.unattributed_nats, 4),
            "tokens_scored": self.tokens_scored,
        }


def influence(
    base: MusicTransformer,
    tuned: MusicTransformer,
    piece_tokens: Sequence[Sequence[int]],
    songs: Sequence[Sequence[int]],
) -> Influence:
    """Each song's measured influence on the piece (same order as ``songs``), as exact integer weights.

    ``piece_tokens`` are the sequences the model sampled (each starting with its header).
    """
    song_sets = [ngram_set(s) for s in songs]
    credit = np.zeros(len(songs))
    total_gain = 0.0
    unattributed = 0.0
    tokens_scored = 0
    for seq in piece_tokens:
        seq = list(seq)
        if len(seq) < 2:
            continue
        gain = sequence_nll(base, seq) - sequence_nll(tuned, seq)
        rel = relative_symbols(seq)
        tokens_scored += len(gain)
        for i, g in enumerate(gain):
            if g <= 0:
                continue
            total_gain += float(g)
            end = i + 2  # gain[i] scores token i + 1; the n-gram ends there
            if end < NGRAM:
                unattributed += float(g)
                continue
            gram = tuple(rel[end - NGRAM : end])
            owners = [j for j, s in enumerate(song_sets) if gram in s]
            if not owners:
                unattributed += float(g)
                continue
            for j in owners:
                credit[j] += float(g) / len(owners)
    weights = tuple(round(float(c) / CREDIT_UNIT_NATS) for c in credit)
    if sum(weights) > 0:
        method = "likelihood-gain n-gram attribution"
    else:
        weights = (1,) * len(songs)
        method = "equal (no measurable likelihood gain)"
    return Influence(
        method=method,
        weights=weights,
        credit_nats=tuple(float(c) for c in credit),
        positive_gain_nats=total_gain,
        unattributed_nats=unattributed,
        tokens_scored=tokens_scored,
    )
