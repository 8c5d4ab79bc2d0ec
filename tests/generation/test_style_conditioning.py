"""Composition conditioned on the uploads: pitch-class prior, motion-matched candidates, rejects."""

from __future__ import annotations

import numpy as np
from django.conf import settings as django_settings

from generation.ml import tokenizer
from generation.ml.compose import ComposeRequest, compose
from generation.ml.groove import Motion, motion_of
from generation.ml.model import load_checkpoint
from generation.ml.sampling import (
    allowed_pitch_classes,
    best_section,
    pitch_class_bias,
    sample_section,
    section_piece,
)
from generation.ml.tokenizer import PITCH_RANGE, Note, Piece
from tests.generation.conftest import tiny_model


def _request(**extra: object) -> ComposeRequest:
    return ComposeRequest(tonic=0, mode="major", tempo_bpm=120.0, seconds=20, seed=5, section_bars=2, **extra)  # type: ignore[arg-type]


def test_motion_counts_onsets_per_beat_and_top_line_leaps() -> None:
    eighths = Piece(120.0, (4, 4), [Note(6 * k, 6, 60 + 7 * (k % 2), 90, 0) for k in range(16)])
    motion = motion_of([eighths])
    assert motion is not None
    assert abs(motion.onsets_per_beat - 16 / 8) < 1e-9
    assert motion.mean_leap == 7
    assert motion.distance(motion) == 0
    assert Motion(4.0, 2).distance(Motion(2.0, 2)) > Motion(2.5, 2).distance(Motion(2.0, 2))
    assert motion_of([Piece(120.0, (4, 4), [])]) is None


def test_the_sources_pitch_classes_widen_the_key_and_lean_the_pitches() -> None:
    shares = tuple([0.15, 0.0, 0.1, 0.0, 0.1, 0.1, 0.0, 0.15, 0.0, 0.1, 0.2, 0.1])  # C major with a flat seventh
    assert allowed_pitch_classes(0, "major", shares) == {0, 2, 4, 5, 7, 9, 10, 11}
    assert allowed_pitch_classes(0, "major", None) == {0, 2, 4, 5, 7, 9, 11}
    bias = pitch_class_bias(shares, 400)
    assert bias is not None
    assert bias[PITCH_RANGE[0] + 70] > bias[PITCH_RANGE[0] + 71] > bias[PITCH_RANGE[0] + 61]  # Bb > B > C#
    assert bias[: PITCH_RANGE[0]].any() is np.False_
    assert pitch_class_bias(None, 400) is None


def test_composition_uses_the_sources_borrowed_notes() -> None:
    shares = tuple([0.1, 0.0, 0.1, 0.0, 0.1, 0.1, 0.0, 0.1, 0.0, 0.1, 0.3, 0.1])
    model = tiny_model()
    plain = compose(model, _request())
    coloured = compose(model, _request(pitch_classes=shares))
    pitched = [n.pitch % 12 for n in coloured.piece.notes if n.role in (0, 1, 2)]
    assert set(pitched) <= {0, 2, 4, 5, 7, 9, 10, 11}
    assert 10 in pitched  # B-flat, which the plain key forbids
    assert 10 not in {n.pitch % 12 for n in plain.piece.notes if n.role in (0, 1, 2)}


def test_the_candidate_closest_to_the_sources_motion_wins_unless_rejected() -> None:
    model, _ = load_checkpoint(str(django_settings.GENERATION_CHECKPOINT))  # the committed catalog model
    request = _request(candidates=3)
    options = [sample_section(model, request, bars=2, seed=11 + 100_003 * j) for j in range(3)]
    motions = [motion_of([section_piece(t, 120.0)]) for t in options]
    assert all(m is not None for m in motions)
    target = motions[2]
    assert target is not None
    chosen, distances = best_section(model, _request(candidates=3, motion=target), bars=2, seed=11)
    assert distances[2] == 0
    assert chosen == options[int(np.argmin([d if d is not None else np.inf for d in distances]))]

    def busy(piece: tokenizer.Piece) -> bool:
        moved = motion_of([piece])
        return moved is not None and moved == target

    chosen, distances = best_section(model, _request(candidates=3, motion=target, rejects=busy), bars=2, seed=11)
    assert distances[2] is None
    assert chosen != options[2] or options.count(options[2]) > 1

    single, _ = best_section(model, _request(), bars=2, seed=11)
    assert single == options[0]  # one candidate: exactly the plain sample
