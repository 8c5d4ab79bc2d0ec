"""Procedural, seeded MIDI pieces for tests and benchmarks (not for users).

A piece is a four-chord progression with a drum groove, a bass line, a chord track and a
melody; tempo, key, programs and which tracks are present vary with the arguments.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pretty_midi

_PROGRESSIONS = ((0, 5, 3, 4), (0, 3, 4, 4), (5, 3, 0, 4), (0, 4, 5, 3))
_MAJOR_STEPS = (0, 2, 4, 5, 7, 9, 11)


def build_piece(path: Path, **options: Any) -> Path:
    """Write :func:`piece_midi` to ``path`` (a .mid file) and return the path."""
    piece = piece_midi(**options)
    path.parent.mkdir(parents=True, exist_ok=True)
    piece.write(str(path))
    return path


def piece_midi(
    *,
    seconds: float,
    tempo: float = 120.0,
    seed: int = 0,
    tonic: int = 60,
    programs: tuple[int, int, int] = (0, 33, 48),
    with_drums: bool = True,
    with_melody: bool = True,
) -> pretty_midi.PrettyMIDI:
    """A piece of about ``seconds`` (whole bars of 4/4).

    ``programs`` are (melody, bass, chords).
    """
    rng = np.random.default_rng(seed)
    beat = 60.0 / tempo
    bars = max(1, round(seconds / (4 * beat)))
    piece = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    melody = pretty_midi.Instrument(program=programs[0], name="melody")
    bass = pretty_midi.Instrument(program=programs[1], name="bass")
    chords = pretty_midi.Instrument(program=programs[2], name="chords")
    drums = pretty_midi.Instrument(program=0, is_drum=True, name="drums")
    progression = _PROGRESSIONS[int(rng.integers(len(_PROGRESSIONS)))]
    for bar in range(bars):
        start = bar * 4 * beat
        degree = progression[bar % 4]
        root = tonic + _MAJOR_STEPS[degree]
        triad = [tonic + _MAJOR_STEPS[(degree + k) % 7] + 12 * ((degree + k) // 7) for k in (0, 2, 4)]
        for pitch in triad:
            chords.notes.append(pretty_midi.Note(velocity=70, pitch=pitch, start=start, end=start + 4 * beat - 0.02))
        for step in range(4):
            pitch = root - 24 + (7 if step == 2 else 0)
            onset = start + step * beat
            bass.notes.append(pretty_midi.Note(velocity=90, pitch=pitch, start=onset, end=onset + beat * 0.9))
        for step in range(8):
            onset = start + step * beat / 2
            drums.notes.append(
                pretty_midi.Note(velocity=70 + 10 * (step % 2 == 0), pitch=42, start=onset, end=onset + 0.05)
            )
            if step in (0, 4):
                drums.notes.append(pretty_midi.Note(velocity=110, pitch=36, start=onset, end=onset + 0.1))
            if step in (2, 6):
                drums.notes.append(pretty_midi.Note(velocity=100, pitch=38, start=onset, end=onset + 0.1))
        for step in range(4):
            if rng.random() < 0.2:
                continue
            onset = start + step * beat
            pitch = triad[int(rng.integers(3))] + 12 + int(rng.choice([0, 0, 2, -1]))
            length = beat * float(rng.choice([0.5, 0.9]))
            melody.notes.append(
                pretty_midi.Note(velocity=int(rng.integers(80, 110)), pitch=pitch, start=onset, end=onset + length)
            )
    piece.instruments.extend([chords, bass])
    if with_melody:
        piece.instruments.append(melody)
    if with_drums:
        piece.instruments.append(drums)
    return piece
