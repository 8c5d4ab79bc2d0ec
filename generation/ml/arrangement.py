"""Arrangement: the band parts added by rule to a sampled section (pads, bass and the kit).

The model writes melody and, when it chooses to, chords and bass; :func:`accompaniment` fills the
parts it left thin from the section's chord tokens (or chords estimated from its notes), struck
where the uploads' groove strikes, and adds the kit (:mod:`generation.ml.drums`).
"""

from __future__ import annotations

import numpy as np

from generation.ml import tonality
from generation.ml.drums import drums
from generation.ml.form import BAR_TICKS, SECTION_LOUDNESS
from generation.ml.groove import SLOT_TICKS, Groove
from generation.ml.sampling import diatonic_chords
from generation.ml.tokenizer import BASS, CHORD_QUALITIES, CHORDS, Note, Piece, estimate_chords


def chord_timeline(piece: Piece, bars: int, tonic: int, mode: str) -> list[tuple[int, int, str]]:
    """(start, end, "root:quality") per half bar, from sampled chord tokens or estimated from notes."""
    allowed = diatonic_chords(tonic, mode)
    tonic_chord = f"{tonic}:{'maj' if tonality.FAMILY.get(mode, mode) == 'major' else 'min'}"
    sampled = {t: c for t, c in piece.chords.items() if c in allowed}
    if len(sampled) < max(1, bars // 4):
        estimated = estimate_chords(piece.notes, bar_ticks=BAR_TICKS)
        sampled.update({t: c for t, c in estimated.items() if c in allowed and t not in sampled})
    out = []
    current = tonic_chord
    half = BAR_TICKS // 2
    for start in range(0, bars * BAR_TICKS, half):
        for t in sorted(sampled):
            if t <= start:
                current = sampled[t]
        out.append((start, start + half, current))
    return out


def _chord_pitches(label: str) -> tuple[int, list[int]]:
    root_s, quality = label.split(":")
    root = int(root_s)
    return root, [(root + i) % 12 for i in CHORD_QUALITIES[quality]]


def _grooved_part(
    timeline: list[tuple[int, int, str]], *, bars: int, slots: list[int], role: int, loud: int, move: int
) -> list[Note]:
    """Pads or bass struck on ``slots`` of every bar, each held until the next strike."""
    notes: list[Note] = []
    starts = [bar * BAR_TICKS + slot * SLOT_TICKS for bar in range(bars) for slot in slots]
    for index, start in enumerate(starts):
        end = starts[index + 1] if index + 1 < len(starts) else bars * BAR_TICKS
        end = min(end, (start // BAR_TICKS + 1) * BAR_TICKS)  # never across a bar line
        label = next(lab for s, e, lab in timeline if s <= start < e)
        root, pcs = _chord_pitches(label)
        if role == CHORDS:
            for pc in pcs[:3]:
                notes.append(Note(start, max(1, end - start - 1), 52 + (pc - 52) % 12, 56 + 8 * loud, CHORDS))
            continue
        bass_pitch = 36 + (root - 36) % 12
        chord_start = next(s for s, e, _ in timeline if s <= start < e)
        leap = move and start != chord_start and index % 2 == 1
        pitch = bass_pitch + move if leap and bass_pitch + move <= 57 else bass_pitch
        notes.append(Note(start, max(1, end - start - 1), pitch, 80 + 4 * loud, BASS))
    return notes


def _fixed_part(timeline: list[tuple[int, int, str]], *, loud: int, chords: bool, bass: bool) -> list[Note]:
    """Half-bar pads and a root bass (root-fifth eighths in choruses): the pattern without a groove."""
    notes: list[Note] = []
    for start, end, label in timeline:
        root, pcs = _chord_pitches(label)
        if chords:
            for pc in pcs[:3]:
                notes.append(Note(start, end - start, 52 + (pc - 52) % 12, 56 + 8 * loud, CHORDS))
        if bass:
            bass_pitch = 36 + (root - 36) % 12
            if loud == 2:
                for k in range(4):
                    p = bass_pitch if k % 2 == 0 else bass_pitch + 7 if bass_pitch + 7 <= 55 else bass_pitch
                    notes.append(Note(start + k * 6, 6, p, 88, BASS))
            else:
                notes.append(Note(start, end - start - 1, bass_pitch, 80, BASS))
    return notes


def accompaniment(
    piece: Piece,
    *,
    bars: int,
    kind: str,
    tonic: int,
    mode: str,
    rng: np.random.Generator,
    groove: Groove | None = None,
    kit: str | None = None,
) -> list[Note]:
    """Pads, bass and drums for a section; pads/bass only where the model left them thin.

    With a ``groove`` pads and bass strike where the uploads' chords and bass do (more of their
    positions in louder sections) and the kit follows their feel; without one all follow a fixed
    pop pattern. A ``kit`` recognised in the uploads wins over the feel; "none" plays no drums.
    """
    notes: list[Note] = []
    timeline = chord_timeline(piece, bars, tonic, mode)
    has_chords = sum(1 for n in piece.notes if n.role == CHORDS) >= bars * 2
    has_bass = sum(1 for n in piece.notes if n.role == BASS) >= bars
    loud = SECTION_LOUDNESS[kind]
    if groove is not None:
        for role, present in ((CHORDS, has_chords), (BASS, has_bass)):
            if not present:
                slots = groove.strikes(role, loud)
                notes += _grooved_part(timeline, bars=bars, slots=slots, role=role, loud=loud, move=groove.bass_move)
    else:
        notes += _fixed_part(timeline, loud=loud, chords=not has_chords, bass=not has_bass)
    feel = kit or (groove.feel if groove is not None else "backbeat")
    if feel != "none":
        notes += drums(bars=bars, kind=kind, feel=feel, rng=rng)
    return notes
