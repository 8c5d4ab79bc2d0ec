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


def _tokens(*names: str) -> list[int]:
    return [tokenizer.TOKEN_ID[name] for name in names]


BAR_START = ("BOS", "TS_4/4", "TEMPO_10", "BAR", "POS_0")


def _allowed(grammar: Grammar, *names: str) -> list[bool]:
    mask = grammar.allowed()
    return [bool(mask[t]) for t in _tokens(*names)]


def test_grammar_refuses_the_same_note_twice_at_one_position() -> None:
    """The attack seen in a fine-tuned model: PITCH_42 sampled 126 times at one position of the bass."""
    grammar = Grammar().feed(_tokens(*BAR_START, "TRACK_bass", "PITCH_42", "VEL_4", "DUR_3"))
    assert _allowed(grammar, "PITCH_41", "PITCH_42", "PITCH_43") == [False, False, True]  # a chord goes upwards
    # each track once per position, in role order: no way back to the bass (or the melody) here
    assert _allowed(grammar, "TRACK_melody", "TRACK_chords", "TRACK_bass", "TRACK_drums") == [False, False, False, True]
    assert _allowed(grammar, "POS_1", "BAR") == [True, True]


def test_grammar_caps_the_notes_one_role_starts_at_a_position() -> None:
    tokens = _tokens(*BAR_START, "TRACK_chords")
    for k in range(tokenizer.MAX_NOTES_AT_POSITION[tokenizer.CHORDS]):
        tokens += _tokens(f"PITCH_{40 + k}", "VEL_4", "DUR_3")
    grammar = Grammar().feed(tokens)
    assert not grammar.allowed()[tokenizer.PITCH_RANGE[0] : tokenizer.PITCH_RANGE[1]].any()
    assert _allowed(grammar, "TRACK_bass", "POS_1") == [True, True]
    # the bass plays two notes at most (an octave, a fifth): not the clusters of a transcription's low notes
    bass = Grammar().feed(_tokens(*BAR_START, "TRACK_bass", "PITCH_36", "VEL_4", "DUR_3", "PITCH_43", "VEL_4", "DUR_3"))
    assert not bass.allowed()[tokenizer.PITCH_RANGE[0] : tokenizer.PITCH_RANGE[1]].any()
    # a new position starts the count again
    mask = Grammar().feed([*tokens, *_tokens("POS_1", "TRACK_chords")]).allowed()
    assert mask[tokenizer.PITCH_RANGE[0] : tokenizer.PITCH_RANGE[1]].all()


def test_grammar_closes_a_full_bar() -> None:
    tokens = _tokens(*BAR_START, "TRACK_melody", "PITCH_60", "VEL_4", "DUR_3")
    open_bar = Grammar(max_bars=2, max_bar_tokens=6).feed(tokens)  # 5 tokens since BAR: room for more
    assert _allowed(open_bar, "PITCH_62", "TRACK_bass", "POS_1", "BAR") == [True, True, True, True]
    full = Grammar(max_bars=2, max_bar_tokens=5).feed(tokens)
    assert _allowed(full, "PITCH_62", "TRACK_bass", "POS_1", "BAR", "EOS") == [False, False, False, True, True]


def test_encode_keeps_one_note_per_start_role_and_pitch_so_the_grammar_accepts_it() -> None:
    doubled = Piece(120.0, (4, 4), [Note(0, 6, 60, 80, 1), Note(0, 12, 60, 70, 1), Note(0, 6, 64, 80, 1)])
    tokens = tokenizer.encode(doubled)
    notes = tokenizer.decode(tokens).notes
    assert sorted((n.pitch, n.duration) for n in notes) == [(60, 12), (64, 6)]  # the longer 60 stays
    grammar = Grammar()
    for t in tokens:
        assert grammar.allowed()[t], tokenizer.VOCAB[t]
        grammar.step(t)
