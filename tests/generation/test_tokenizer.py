from __future__ import annotations

import numpy as np
import pretty_midi

from generation.ml import tokenizer
from generation.ml.tokenizer import Grammar, Note, Piece
from tests.generation.conftest import song_piece


def _band_midi() -> pretty_midi.PrettyMIDI:
    midi = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    seconds_per_16th = 0.125
    for program, is_drum, pitches in ((73, False, (72, 74, 76)), (33, False, (36, 43)), (0, True, (36, 38))):
        inst = pretty_midi.Instrument(program=program, is_drum=is_drum)
        for k in range(32):
            pitch = pitches[k % len(pitches)]
            start = k * 2 * seconds_per_16th
            inst.notes.append(pretty_midi.Note(velocity=90, pitch=pitch, start=start, end=start + seconds_per_16th))
        midi.instruments.append(inst)
    return midi


def test_round_trip_reproduces_on_grid_notes() -> None:
    original = _band_midi()
    tokens = tokenizer.encode(tokenizer.from_pretty_midi(original))
    decoded = tokenizer.to_pretty_midi(tokenizer.decode(tokens))
    agreement = tokenizer.round_trip_agreement(original, decoded)
    assert agreement == {"notes": 96.0, "onset_pitch": 1.0, "duration": 1.0}


def test_round_trip_of_tokens_is_exact() -> None:
    tokens = tokenizer.encode(song_piece(3))
    assert tokenizer.encode(tokenizer.decode(tokens)) == tokens


def test_roles_follow_programs_and_drums() -> None:
    piece = tokenizer.from_pretty_midi(_band_midi())
    roles = {n.role for n in piece.notes}
    assert roles == {0, 2, 3}


def test_grammar_accepts_encoded_pieces() -> None:
    tokens = tokenizer.encode(song_piece(1))
    grammar = Grammar()
    for t in tokens:
        assert grammar.allowed()[t], tokenizer.VOCAB[t]
        grammar.step(t)


def test_grammar_forbids_going_back_in_a_bar() -> None:
    grammar = Grammar().feed(tokenizer.encode(Piece(120.0, (4, 4), [Note(24, 6, 60, 80, 0)]))[:-1])
    mask = grammar.allowed()
    positions = np.flatnonzero(mask[tokenizer.POS_RANGE[0] : tokenizer.POS_RANGE[1]])
    assert positions.min() == 25
    assert positions.max() == 47
