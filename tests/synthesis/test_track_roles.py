"""Which role (and so which recognised program) each composed track is rendered with.

Seen in the artist-style benchmark (2026-12-07): a lullaby take's bass leapt octaves (notes 33-57,
median 50 or above), was read as harmony by register and rendered with the harp (46) while its
exported MIDI said acoustic bass (32).
"""

import pretty_midi

from generation.ml import tokenizer
from generation.synthesis import render

RECOGNISED = {"instrumentation": {"programs": {"melody": 10, "harmony": 46, "bass": 32}}}


def composed(bass_pitches: list[int]) -> pretty_midi.PrettyMIDI:
    """A piece as the composer writes it (``tokenizer.to_pretty_midi``: tracks Melody, Chords, Bass)."""
    melody, chords, bass = (tokenizer.ROLES.index(r) for r in ("melody", "chords", "bass"))
    notes = []
    for bar in range(4):
        start = bar * 48
        notes += [tokenizer.Note(start + 12 * k, 12, 72 + k, 96, melody) for k in range(4)]
        notes += [tokenizer.Note(start, 48, pitch, 70, chords) for pitch in (55, 59, 62)]
        notes += [tokenizer.Note(start + 24 * k, 24, pitch, 90, bass) for k, pitch in enumerate(bass_pitches)]
    piece = tokenizer.Piece(tempo_bpm=70.0, time_signature=(4, 4), notes=notes)
    midi = tokenizer.to_pretty_midi(piece, programs={"melody": 10, "chords": 46, "bass": 32})
    assert isinstance(midi, pretty_midi.PrettyMIDI)
    return midi


def plans_by_name(midi: pretty_midi.PrettyMIDI) -> dict[str, tuple[str, int]]:
    return {plan.name: (plan.role, plan.program) for plan in render.plan_tracks(midi, RECOGNISED)}


def test_it_renders_a_climbing_composed_bass_as_the_bass():
    midi = composed(bass_pitches=[45, 57])  # median 51: "harmony" by register alone
    plans = plans_by_name(midi)
    assert plans["Bass"] == ("bass", 32)
    assert plans["Chords"] == ("harmony", 46)
    assert plans["Melody"] == ("melody", 10)
    # The exported MIDI and the render agree on every track's program.
    exported = {inst.name: int(inst.program) for inst in midi.instruments}
    assert exported == {name: program for name, (_, program) in plans.items()}


def test_it_reads_other_midi_by_register():
    midi = pretty_midi.PrettyMIDI(initial_tempo=100.0)
    for name, pitch in (("lead", 76), ("pad", 60), ("low", 40)):
        track = pretty_midi.Instrument(program=0, name=name)
        track.notes = [pretty_midi.Note(80, pitch, t, t + 0.5) for t in (0.0, 0.5, 1.0)]
        midi.instruments.append(track)
    plans = plans_by_name(midi)
    assert plans == {"lead": ("melody", 10), "pad": ("harmony", 46), "low": ("bass", 32)}
