"""Originality guard: the longest run of consecutive notes a piece shares with a reference.

A melody is the sequence of its notes sorted by onset (one note per onset: the highest). Two
melodies share *k consecutive notes* when k notes in a row have the same pitch intervals and the
same inter-onset times (transposition- and tempo-invariant, so a copy in another key still counts).
The guard refuses a piece that shares more than ``max_shared`` (8) consecutive notes with any
upload or with any catalog training item.

Catalog items are checked through a sorted array of 64-bit hashes of every (max_shared + 1)-note
window (an n-gram index); consecutive hits give the shared length (``max_shared`` + run).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from generation.ml.tokenizer import ROLES, Note, Piece, decode

Symbol = tuple[int, int]


def melody_line(notes: Iterable[Note], *, role: int | None = None) -> list[Note]:
    """The highest note at each onset (of ``role`` if given, drums never)."""
    drums = ROLES.index("drums")
    top: dict[int, Note] = {}
    for n in notes:
        if n.role == drums or (role is not None and n.role != role):
            continue
        if n.start not in top or n.pitch > top[n.start].pitch:
            top[n.start] = n
    return [top[t] for t in sorted(top)]


def symbols(line: Sequence[Note]) -> list[Symbol]:
    """(interval, inter-onset ticks) between consecutive notes: len(line) - 1 symbols."""
    return [(max(-24, min(24, b.pitch - a.pitch)), min(96, b.start - a.start)) for a, b in itertools.pairwise(line)]


def melody_symbols(piece: Piece) -> list[Symbol]:
    """Symbols of the melody role, or of the top line if the piece has no melody role."""
    line = melody_line(piece.notes, role=ROLES.index("melody"))
    if len(line) < 2:
        line = melody_line(piece.notes)
    return symbols(line)


def longest_shared_notes(a: Sequence[Symbol], b: Sequence[Symbol]) -> int:
    """Longest run of consecutive notes shared by two melodies (symbols + 1; 0 if none shared)."""
    if not a or not b:
        return 0
    codes: dict[Symbol, int] = {}
    xa = np.array([codes.setdefault(s, len(codes)) for s in a], dtype=np.int64)
    xb = np.array([codes.setdefault(s, len(codes)) for s in b], dtype=np.int64)
    best = 0
    previous = np.zeros(len(xb) + 1, dtype=np.int32)
    for value in xa:
        current = np.zeros_like(previous)
        match = xb == value
        current[1:][match] = previous[:-1][match] + 1
        best = max(best, int(current.max()))
        previous = current
    return best + 1 if best else 0


def _hash_windows(seq: Sequence[Symbol], n: int) -> np.ndarray:
    """64-bit polynomial hashes of every window of ``n`` symbols. Returns (len(seq) - n + 1,) uint64."""
    if len(seq) < n:
        return np.zeros(0, dtype=np.uint64)
    codes = np.array([(i + 24) * 97 + min(t, 96) + 1 for i, t in seq], dtype=np.uint64)
    h = np.zeros(len(seq) - n + 1, dtype=np.uint64)
    base = np.uint64(1_000_003)
    with np.errstate(over="ignore"):
        for k in range(n):
            h = h * base + codes[k : k + len(h)]
    return h


class NgramIndex:
    """Sorted hashes of all ``window``-symbol windows (= window + 1 notes) of a set of melodies."""

    def __init__(self, hashes: np.ndarray, window: int) -> None:
        self.hashes = np.unique(hashes.astype(np.uint64))
        self.window = window

    @classmethod
    def build(cls, melodies: Iterable[Sequence[Symbol]], *, window: int) -> NgramIndex:
        parts = [_hash_windows(m, window) for m in melodies]
        return cls(np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint64), window)

    @classmethod
    def from_token_items(cls, token_lists: Iterable[Sequence[int] | np.ndarray], *, window: int) -> NgramIndex:
        return cls.build((melody_symbols(decode(t)) for t in token_lists), window=window)

    def hits(self, seq: Sequence[Symbol]) -> np.ndarray:
        """Boolean per window of ``seq``: whether it occurs in the index."""
        h = _hash_windows(seq, self.window)
        if h.size == 0 or self.hashes.size == 0:
            return np.zeros(h.size, dtype=bool)
        i = np.searchsorted(self.hashes, h)
        i = np.minimum(i, self.hashes.size - 1)
        return np.asarray(self.hashes[i] == h)

    def longest_shared_notes(self, seq: Sequence[Symbol]) -> int:
        """0 if no window hits; else notes in the longest run of overlapping hit windows."""
        hits = self.hits(seq)
        best = run = 0
        for hit in hits:
            run = run + 1 if hit else 0
            best = max(best, run)
        return self.window + best if best else 0

    def save(self, path: str) -> None:
        np.save(path, self.hashes)

    @classmethod
    def load(cls, path: str, *, window: int) -> NgramIndex:
        return cls(np.load(path), window)


def originality_report(
    piece: Piece,
    references: Mapping[str, Sequence[Symbol]],
    *,
    catalog: NgramIndex | None,
    max_shared: int,
) -> dict[str, object]:
    """Figures for the guard: longest shared notes per reference and vs the catalog; pass/fail."""
    melody = melody_symbols(piece)
    per_reference = {name: longest_shared_notes(melody, ref) for name, ref in references.items()}
    catalog_shared = catalog.longest_shared_notes(melody) if catalog is not None else None
    worst = max([*per_reference.values(), catalog_shared or 0, 0])
    return {
        "melody_notes": len(melody) + 1 if melody else 0,
        "max_shared_notes_threshold": max_shared,
        "longest_shared_with_uploads": per_reference,
        "longest_shared_with_catalog": catalog_shared,
        "catalog_index_window_notes": catalog.window + 1 if catalog is not None else None,
        "longest_shared_notes": worst,
        "is_original": worst <= max_shared,
    }
