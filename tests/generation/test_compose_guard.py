from __future__ import annotations

import pretty_midi
import pytest

from generation.ml import tokenizer
from generation.ml.compose import ComposeRequest, compose
from generation.ml.originality import NgramIndex, melody_symbols, originality_report
from tests.generation.conftest import song_piece, tiny_model


def _request(seed: int) -> ComposeRequest:
    return ComposeRequest(tonic=2, mode="minor", tempo_bpm=120.0, seconds=20, seed=seed, section_bars=2)


@pytest.mark.slow
def test_same_inputs_and_seed_give_the_same_piece() -> None:
    model = tiny_model()
    first = compose(model, _request(7))
    second = compose(model, _request(7))
    other = compose(model, _request(8))
    assert first.section_tokens == second.section_tokens
    assert tokenizer.encode(first.piece) == tokenizer.encode(second.piece)
    assert other.section_tokens != first.section_tokens


def test_composed_pieces_follow_the_form_and_key() -> None:
    composition = compose(tiny_model(), _request(3))
    assert [p["section"] for p in composition.plan] == [
        "intro", "verse", "chorus", "verse", "chorus", "bridge", "chorus", "outro",
    ]  # fmt: skip
    scale = {(2 + d) % 12 for d in (0, 2, 3, 5, 7, 8, 10, 11)}
    pitched = [n for n in composition.piece.notes if n.role != 3]
    assert pitched
    assert all(n.pitch % 12 in scale for n in pitched)
    assert {n.role for n in composition.piece.notes} == {0, 1, 2, 3}


def test_guard_refuses_a_copied_melody() -> None:
    source = song_piece(4)
    references = {"4": melody_symbols(source)}
    copied = tokenizer.Piece(130.0, (4, 4), [n for n in source.notes if n.role == 0])
    transposed = tokenizer.Piece(
        130.0, (4, 4), [tokenizer.Note(n.start, n.duration, n.pitch + 5, n.velocity, 0) for n in copied.notes]
    )
    report = originality_report(transposed, references, catalog=None, max_shared=8)
    assert report["is_original"] is False
    assert report["longest_shared_with_uploads"] == {"4": len(copied.notes)}


def test_guard_finds_copies_of_catalog_melodies() -> None:
    catalog_piece = song_piece(50)
    index = NgramIndex.from_token_items([tokenizer.encode(catalog_piece)], window=8)
    report = originality_report(catalog_piece, {}, catalog=index, max_shared=8)
    assert report["is_original"] is False
    assert report["longest_shared_with_catalog"] == len([n for n in catalog_piece.notes if n.role == 0])


def test_guard_passes_an_unrelated_melody() -> None:
    report = originality_report(song_piece(1), {"2": melody_symbols(song_piece(2))}, catalog=None, max_shared=8)
    assert report["is_original"] is True


def test_a_piece_in_the_artists_scale_without_drums_carries_their_programs() -> None:
    request = ComposeRequest(
        tonic=2,
        mode="minor_pentatonic",
        tempo_bpm=70.0,
        seconds=20,
        seed=3,
        section_bars=2,
        kit="none",
        programs={"melody": 10, "chords": 46, "bass": 32},
    )
    composition = compose(tiny_model(), request)
    assert not [n for n in composition.piece.notes if n.role == tokenizer.DRUMS]
    assert {n.pitch % 12 for n in composition.piece.notes} <= {2, 5, 7, 9, 0}
    assert composition.piece.tempo_bpm == 70.0
    midi = tokenizer.to_pretty_midi(composition.piece, programs=composition.programs)
    assert isinstance(midi, pretty_midi.PrettyMIDI)
    assert {i.name: i.program for i in midi.instruments} == {"Melody": 10, "Chords": 46, "Bass": 32}
    assert composition.stats["kit"] == "none"
