"""The uploads' groove and motion: where their chords and bass strike, how busy and leaping they are.

The catalog model writes melody (and sometimes chords and bass); the rest of the band used to be
one fixed pattern whatever the uploads were, so a ballad artist got the same strummed quarters
and walking eighths as a dance act. Here the quantised transcriptions of the ten songs say, per
16th of the bar, how often a chord or a bass note starts there; composition strikes where the
uploads do (more positions in louder sections) and moves the bass the way theirs moves. Their
:class:`Motion` (onsets per beat, leaps of the top line) picks, among a few sampled candidates
for each section, the one that moves most like them.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from generation.ml.originality import melody_line
from generation.ml.tokenizer import ROLES, TICKS_PER_BEAT, Piece

SLOTS = 16  # 16ths of a 4/4 bar
SLOT_TICKS = TICKS_PER_BEAT // 4
BAR_TICKS = SLOTS * SLOT_TICKS
CHORDS, BASS, DRUMS = ROLES.index("chords"), ROLES.index("bass"), ROLES.index("drums")
# How often (share of bars) a slot must be struck to be played, by section loudness 0..2.
LOUDNESS_THRESHOLDS = (0.7, 0.5, 0.38)
MIN_BARS = 8


@dataclass(frozen=True)
class Groove:
    """Share of bars in which the uploads start a chord / bass note on each 16th, and the bass's moves.

    ``bass_move`` is the interval (semitones) the bass most often leaps to within a bar: 12 for
    octave jumps, 7 for root-fifth, 0 when it mostly repeats or holds the root.
    """

    chords: tuple[float, ...]
    bass: tuple[float, ...]
    bass_move: int
    bars: int

    def strikes(self, role: int, loudness: int) -> list[int]:
        """Slots to strike in a bar: those the uploads play at least as often as the threshold.

        The downbeat is always among them, so a sparse groove still sounds the harmony once a bar.
        """
        rates = self.chords if role == CHORDS else self.bass
        threshold = LOUDNESS_THRESHOLDS[max(0, min(loudness, 2))]
        slots = [s for s, rate in enumerate(rates) if rate >= threshold]
        return sorted({0, *slots})

    @property
    def feel(self) -> str:
        """The kit this groove wants: "four" (driving eighths), "light" (sparse beats) or "backbeat".

        Driving: chords and bass start on most off-beat eighths. Light: past the downbeat, chords
        start on fewer than 60 % of the beats (a ballad or chamber piece that holds its chords).
        """
        offbeats = [self.chords[s] for s in (2, 6, 10, 14)] + [self.bass[s] for s in (2, 6, 10, 14)]
        if sum(offbeats) / len(offbeats) >= 0.6:
            return "four"
        if sum(self.chords[s] for s in (4, 8, 12)) / 3 < 0.6:
            return "light"
        return "backbeat"

    def as_dict(self) -> dict[str, object]:
        return {
            "feel": self.feel,
            "chords": [round(r, 3) for r in self.chords],
            "bass": [round(r, 3) for r in self.bass],
            "bass_move": self.bass_move,
            "bars": self.bars,
        }


def groove_of(pieces: Sequence[Piece]) -> Groove | None:
    """The pooled groove of quantised 4/4 transcriptions; None when they hold fewer than 8 bars."""
    hits = {CHORDS: [0] * SLOTS, BASS: [0] * SLOTS}
    moves = {0: 0, 7: 0, 12: 0}
    bars = 0
    for piece in pieces:
        if piece.bar_ticks != BAR_TICKS or not piece.notes:
            continue
        n_bars = max(n.start for n in piece.notes) // BAR_TICKS + 1
        bars += n_bars
        struck: dict[int, set[tuple[int, int]]] = {CHORDS: set(), BASS: set()}
        bass_by_bar: dict[int, list[tuple[int, int]]] = {}
        for note in piece.notes:
            if note.role in struck and note.start % SLOT_TICKS == 0:
                bar, slot = divmod(note.start, BAR_TICKS)
                struck[note.role].add((bar, slot // SLOT_TICKS))
                if note.role == BASS:
                    bass_by_bar.setdefault(bar, []).append((note.start, note.pitch))
        for role, cells in struck.items():
            for _, slot in cells:
                hits[role][slot] += 1
        for notes in bass_by_bar.values():
            notes.sort()
            for (_, a), (_, b) in itertools.pairwise(notes):
                leap = abs(b - a)
                moves[12 if leap == 12 else 7 if leap in (5, 7) else 0] += 1
    if bars < MIN_BARS:
        return None
    total_moves = sum(moves.values())
    leaps = {m: c for m, c in moves.items() if m and c >= 0.25 * total_moves}
    return Groove(
        chords=tuple(h / bars for h in hits[CHORDS]),
        bass=tuple(h / bars for h in hits[BASS]),
        bass_move=max(leaps, key=lambda m: leaps[m]) if leaps else 0,
        bars=bars,
    )


@dataclass(frozen=True)
class Motion:
    """How busy and how leaping the music is: pitched onsets per beat, mean leap of the top line."""

    onsets_per_beat: float
    mean_leap: float

    def distance(self, other: Motion) -> float:
        """Log ratio of busyness, so twice as busy counts the same at any tempo.

        Leaps are reported but not compared: the top line of a transcribed mix jumps between
        melody, harmony and overtones, so its leaps say more about the mix than the tune.
        """
        return abs(math.log((self.onsets_per_beat + 0.05) / (other.onsets_per_beat + 0.05)))


def motion_of(pieces: Sequence[Piece]) -> Motion | None:
    """Pooled motion of pieces (onsets over all their beats, leaps over all their top lines)."""
    onsets = beats = 0
    leaps: list[int] = []
    for piece in pieces:
        starts = sorted({n.start for n in piece.notes if n.role != DRUMS})
        if len(starts) < 2:
            continue
        onsets += len(starts)
        beats += max(1, (starts[-1] - starts[0]) // TICKS_PER_BEAT + 1)
        line = melody_line(piece.notes)
        leaps += [abs(b.pitch - a.pitch) for a, b in itertools.pairwise(line)]
    if not beats or not leaps:
        return None
    return Motion(onsets_per_beat=onsets / beats, mean_leap=sum(leaps) / len(leaps))
