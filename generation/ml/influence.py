"""Influence: how much each source song shaped a generated piece, measured not assumed.

For every token the model produced, the *likelihood gain* is how much more probable the fine-tuned
model found it than the base model (nats). A token's gain is credited to the songs that contain
the same transposition-invariant 4-gram ending at that token (pitches become intervals within
their track; velocities are dropped), split equally among them. A song's share is its credit over
the total. Gains that no song explains are reported as "unattributed", not spread around.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from generation.ml.model import MusicTransformer
from generation.ml.tokenizer import PITCH_RANGE, TRACK_RANGE, VEL_RANGE
from generation.ml.train import sequence_nll

NGRAM = 4


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


def largest_remainder_bps(shares: Sequence[float], total: int = 10_000) -> list[int]:
    """Integer basis points summing exactly to ``total``; ties go to the lowest index."""
    raw = [s * total for s in shares]
    floors = [int(np.floor(r)) for r in raw]
    remainder = total - sum(floors)
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - floors[i]), i))
    for i in order[:remainder]:
        floors[i] += 1
    return floors


def influence(
    base: MusicTransformer,
    tuned: MusicTransformer,
    piece_tokens: Sequence[Sequence[int]],
    songs: Sequence[Sequence[int]],
) -> dict[str, object]:
    """Shares per song (same order as ``songs``) plus the figures behind them.

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
    attributed = float(credit.sum())
    if attributed > 0:
        shares = (credit / attributed).tolist()
        method = "likelihood-gain n-gram attribution"
    else:
        shares = [1.0 / len(songs)] * len(songs) if songs else []
        method = "equal (no measurable likelihood gain)"
    return {
        "method": method,
        "shares": shares,
        "share_bps": largest_remainder_bps(shares) if shares else [],
        "credit_nats": [round(float(c), 4) for c in credit],
        "positive_gain_nats": round(total_gain, 4),
        "unattributed_nats": round(unattributed, 4),
        "tokens_scored": tokens_scored,
    }
