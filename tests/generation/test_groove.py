from __future__ import annotations

import numpy as np

from generation.ml.arrangement import accompaniment
from generation.ml.drums import drums
from generation.ml.groove import BAR_TICKS, SLOT_TICKS, groove_of
from generation.ml.tokenizer import BASS, CHORDS, Note, Piece


def _song(*, chord_slots: tuple[int, ...], bass_slots: tuple[int, ...], bass_leap: int, bars: int = 8) -> Piece:
    notes = []
    for bar in range(bars):
        b0 = bar * BAR_TICKS
        for slot in chord_slots:
            notes += [Note(b0 + slot * SLOT_TICKS, 6, p, 70, CHORDS) for p in (60, 64, 67)]
        for index, slot in enumerate(bass_slots):
            notes.append(Note(b0 + slot * SLOT_TICKS, 6, 36 + (bass_leap if index % 2 else 0), 90, BASS))
        notes.append(Note(b0, 12, 72, 96, 0))
    return Piece(tempo_bpm=120.0, time_signature=(4, 4), notes=notes)


def test_the_groove_is_where_the_songs_strike_and_how_their_bass_leaps() -> None:
    dance = [_song(chord_slots=(0, 4, 8, 12), bass_slots=tuple(range(0, 16, 2)), bass_leap=12) for _ in range(2)]
    groove = groove_of(dance)
    assert groove is not None
    assert groove.bars == 16
    assert [round(r, 2) for r in groove.chords] == [1.0 if s % 4 == 0 else 0.0 for s in range(16)]
    assert groove.bass_move == 12
    assert groove.strikes(BASS, 2) == list(range(0, 16, 2))

    ballad = groove_of([_song(chord_slots=(0,), bass_slots=(0, 8), bass_leap=0)])
    assert ballad is not None
    assert ballad.strikes(CHORDS, 2) == [0]
    assert ballad.bass_move == 0


def test_too_little_music_gives_no_groove() -> None:
    assert groove_of([_song(chord_slots=(0,), bass_slots=(0,), bass_leap=0, bars=3)]) is None
    assert groove_of([]) is None


def test_accompaniment_follows_the_groove() -> None:
    melody_only = Piece(120.0, (4, 4), [Note(b * BAR_TICKS, 24, 74, 96, 0) for b in range(4)], {0: "2:min"})
    rng = np.random.default_rng(0)
    dance = groove_of([_song(chord_slots=(0, 4, 8, 12), bass_slots=tuple(range(0, 16, 2)), bass_leap=12)])
    ballad = groove_of([_song(chord_slots=(0,), bass_slots=(0,), bass_leap=0)])
    band = {}
    for name, groove in (("dance", dance), ("ballad", ballad)):
        notes = accompaniment(melody_only, bars=4, kind="chorus", tonic=2, mode="minor", rng=rng, groove=groove)
        band[name] = notes
    bass_onsets = {name: sorted({n.start % BAR_TICKS for n in notes if n.role == BASS}) for name, notes in band.items()}
    assert bass_onsets["dance"] == [s * SLOT_TICKS for s in range(0, 16, 2)]
    assert bass_onsets["ballad"] == [0]
    dance_bass = [n.pitch for n in band["dance"] if n.role == BASS and n.start < BAR_TICKS // 2]
    assert max(dance_bass) - min(dance_bass) == 12  # the octave leap the songs make
    pads = {name: {n.start for n in notes if n.role == CHORDS} for name, notes in band.items()}
    assert len(pads["dance"]) == 4 * len(pads["ballad"])
    assert all(n.duration < BAR_TICKS for n in band["ballad"] if n.role == CHORDS)  # held, never across a bar line


def test_the_kit_follows_the_feel_of_the_songs() -> None:
    dance = groove_of([_song(chord_slots=tuple(range(0, 16, 2)), bass_slots=tuple(range(0, 16, 2)), bass_leap=12)])
    pop = groove_of([_song(chord_slots=(0, 4, 8, 12), bass_slots=(0, 8), bass_leap=7)])
    ballad = groove_of([_song(chord_slots=(0,), bass_slots=(0,), bass_leap=0)])
    assert dance is not None
    assert pop is not None
    assert ballad is not None
    assert (dance.feel, pop.feel, ballad.feel) == ("four", "backbeat", "light")
    rng = np.random.default_rng(0)
    kits = {feel: drums(bars=2, kind="chorus", feel=feel, rng=rng) for feel in ("four", "backbeat", "light")}
    kicks = {feel: sorted({n.start % BAR_TICKS for n in notes if n.pitch == 36}) for feel, notes in kits.items()}
    assert kicks["four"] == [0, 12, 24, 36]
    assert kicks["backbeat"][:2] == [0, 24]
    assert kicks["light"] == [0]
    eighth_offbeats = {feel: any(n.start % 12 == 6 for n in notes) for feel, notes in kits.items()}
    assert eighth_offbeats == {"four": True, "backbeat": True, "light": False}  # no double-time pulse when light
