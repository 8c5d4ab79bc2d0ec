"""The kit, by rule (the corpus has no drums to learn from), on General MIDI percussion keys."""

from __future__ import annotations

import numpy as np

from generation.ml.form import BAR_TICKS, SECTION_LOUDNESS
from generation.ml.tokenizer import DRUMS, TICKS_PER_BEAT, Note

# General MIDI percussion key map (channel 10), the keys the patterns below play.
KICK = 36
SIDE_STICK = 37
SNARE = 38
HAND_CLAP = 39
CLOSED_HAT = 42
PEDAL_HAT = 44
OPEN_HAT = 46
CRASH = 49
RIDE = 51

# Kits by name: the groove's feels ("light", "backbeat", "four") and the recogniser's styles.
KITS = ("none", "light", "brushes", "four", "backbeat", "breakbeat")


def drums(*, bars: int, kind: str, feel: str, rng: np.random.Generator) -> list[Note]:
    """A kit part for the uploads' feel (:attr:`Groove.feel`); the corpus has no drums to learn from.

    "light": pedal hat on the beats, kick on one, a side stick on three when it gets louder (so
    a slow ballad isn't heard at double time); "backbeat": kick on one and three, snare on two and
    four, eighth hats; "four": kick on every beat, off-beat open hats, clap on two and four;
    "brushes": ride on the beats with a triplet skip, a soft snare on two and four, a feathered
    kick; "breakbeat": sixteenth hats, kicks on one and the "and" of three, snare on two and four
    with ghost notes. "none" (or any unknown name) plays nothing.
    """
    if feel == "brushes":
        return _brushes(bars=bars, kind=kind)
    if feel == "breakbeat":
        return _breakbeat(bars=bars, kind=kind, rng=rng)
    if feel not in KITS or feel == "none":
        return []
    notes: list[Note] = []
    loud = SECTION_LOUDNESS[kind]
    for bar in range(bars):
        b0 = bar * BAR_TICKS
        if bar == 0 and kind in ("chorus", "bridge") and feel != "light":
            notes.append(Note(b0, 24, CRASH, 96, DRUMS))
        for beat in range(4):
            t = b0 + beat * TICKS_PER_BEAT
            if feel == "light":
                notes.append(Note(t, 3, PEDAL_HAT, 48 + 6 * loud, DRUMS))
                if beat == 0 and (loud >= 1 or bar % 2 == 0):
                    notes.append(Note(t, 3, KICK, 80 + 5 * loud, DRUMS))
                if beat == 2 and loud >= 1:
                    notes.append(Note(t, 3, SIDE_STICK, 62 + 6 * loud, DRUMS))
                continue
            if feel == "four":
                notes.append(Note(t, 3, KICK, 100 + 4 * loud, DRUMS))
                notes.append(Note(t + 6, 3, OPEN_HAT if beat % 2 else CLOSED_HAT, 60 + 6 * loud, DRUMS))
                if beat in (1, 3) and loud >= 1:
                    notes.append(Note(t, 3, HAND_CLAP, 85 + 5 * loud, DRUMS))
                continue
            if loud >= 1 or beat % 2 == 0:
                notes.append(Note(t, 3, CLOSED_HAT, 60 + 10 * loud, DRUMS))
            if loud >= 1:
                notes.append(Note(t + 6, 3, CLOSED_HAT if loud < 2 else OPEN_HAT, 50 + 8 * loud, DRUMS))
            if beat in (0, 2) and (loud >= 1 or bar % 2 == 0):
                notes.append(Note(t, 3, KICK, 90 + 5 * loud, DRUMS))
            if beat in (1, 3) and loud >= 1:
                notes.append(Note(t, 3, SNARE, 85 + 5 * loud, DRUMS))
        if feel == "backbeat" and loud == 2 and bar % 4 == 3 and rng.random() < 0.8:
            notes.append(Note(b0 + 3 * TICKS_PER_BEAT + 6, 3, KICK, 90, DRUMS))
    return notes


def _brushes(*, bars: int, kind: str) -> list[Note]:
    notes: list[Note] = []
    loud = SECTION_LOUDNESS[kind]
    skip = TICKS_PER_BEAT * 2 // 3  # the last triplet of the beat
    for bar in range(bars):
        b0 = bar * BAR_TICKS
        for beat in range(4):
            t = b0 + beat * TICKS_PER_BEAT
            notes.append(Note(t, 3, RIDE, 58 + 6 * loud, DRUMS))
            if beat % 2 == 1:
                notes.append(Note(t + skip, 3, RIDE, 40 + 4 * loud, DRUMS))
                if loud >= 1:
                    notes.append(Note(t, 3, SNARE, 38 + 6 * loud, DRUMS))
            if beat == 0:
                notes.append(Note(t, 3, KICK, 50 + 5 * loud, DRUMS))
    return notes


def _breakbeat(*, bars: int, kind: str, rng: np.random.Generator) -> list[Note]:
    notes: list[Note] = []
    loud = SECTION_LOUDNESS[kind]
    sixteenth = TICKS_PER_BEAT // 4
    for bar in range(bars):
        b0 = bar * BAR_TICKS
        if bar == 0 and kind in ("chorus", "bridge"):
            notes.append(Note(b0, 24, CRASH, 96, DRUMS))
        for step in range(16):
            if loud >= 1 or step % 2 == 0:
                notes.append(
                    Note(b0 + step * sixteenth, 2, CLOSED_HAT, (66 if step % 2 == 0 else 42) + 4 * loud, DRUMS)
                )
        for step, key, velocity in ((0, KICK, 108), (4, SNARE, 100), (10, KICK, 98), (12, SNARE, 100)):
            notes.append(Note(b0 + step * sixteenth, 3, key, velocity + 3 * loud, DRUMS))
        if loud >= 1:
            notes.append(Note(b0 + 7 * sixteenth, 2, SNARE, 48, DRUMS))
            notes.append(Note(b0 + 9 * sixteenth, 3, KICK, 80, DRUMS))
        if loud == 2 and rng.random() < 0.5:
            notes.append(Note(b0 + 15 * sixteenth, 2, SNARE, 56, DRUMS))
    return notes
