"""Composition: sample verse, chorus and bridge with the model, arrange them into the song form, add a band.

The model writes the musical material (melody, and chords/bass when it chooses to) through
:mod:`generation.ml.sampling`; the form comes from :mod:`generation.ml.form`; parts the model left
thin (harmony, bass) and the kit are added by :mod:`generation.ml.arrangement`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from generation.ml.arrangement import accompaniment
from generation.ml.form import BAR_TICKS, FORM, section_bars
from generation.ml.model import MusicTransformer
from generation.ml.sampling import ComposeRequest, best_section, header, section_piece
from generation.ml.tokenizer import BASS, CHORDS, MELODY, ROLES, TICKS_PER_BEAT, Note, Piece

__all__ = ["ComposeRequest", "Composition", "compose", "header"]


@dataclass
class Composition:
    piece: Piece
    plan: list[dict[str, object]]
    section_tokens: dict[str, list[int]]
    sampled_tokens: int
    stats: dict[str, object] = field(default_factory=dict)
    programs: dict[str, int] | None = None  # what the MIDI export plays per role (the request's)


def compose(model: MusicTransformer, request: ComposeRequest) -> Composition:
    """Sample verse, chorus and bridge (each continuing the previous one), then arrange the form."""
    bars = section_bars(seconds=request.seconds, tempo_bpm=request.tempo_bpm, fixed=request.section_bars)
    verse, verse_d = best_section(model, request, bars=bars, seed=request.seed * 1009 + 1)
    chorus, chorus_d = best_section(model, request, bars=bars, seed=request.seed * 1009 + 2, context=verse)
    bridge, bridge_d = best_section(model, request, bars=bars, seed=request.seed * 1009 + 3, context=chorus)
    material = {
        "verse": section_piece(verse, request.tempo_bpm),
        "chorus": section_piece(chorus, request.tempo_bpm),
        "bridge": section_piece(bridge, request.tempo_bpm),
    }
    rng = np.random.default_rng(request.seed)
    notes: list[Note] = []
    chords: dict[int, str] = {}
    plan: list[dict[str, object]] = []
    cursor = 0
    half = bars // 2
    for kind in FORM:
        if kind in material:
            source, length = material[kind], bars
            body = [n for n in source.notes if n.start < length * BAR_TICKS]
        elif kind == "intro":
            source, length = material["chorus"], half
            body = [n for n in source.notes if n.role != MELODY and n.start < length * BAR_TICKS]
        else:  # outro: the chorus's last half, melody thinning out
            source, length = material["chorus"], half
            offset = (bars - half) * BAR_TICKS
            shifted = [Note(n.start - offset, n.duration, n.pitch, n.velocity, n.role) for n in source.notes]
            body = [n for n in shifted if 0 <= n.start < length * BAR_TICKS]
            source = Piece(source.tempo_bpm, (4, 4), body, {t - offset: c for t, c in source.chords.items()})
        section = Piece(request.tempo_bpm, (4, 4), body, dict(source.chords))
        band = accompaniment(
            section,
            bars=length,
            kind=kind,
            tonic=request.tonic,
            mode=request.mode,
            rng=rng,
            groove=request.groove,
            kit=request.kit,
        )
        fade = 1.0
        for n in body + band:
            if kind == "outro":
                fade = 1.0 - 0.5 * n.start / (length * BAR_TICKS)
            end = min(n.start + n.duration, length * BAR_TICKS)
            notes.append(Note(cursor + n.start, max(1, end - n.start), n.pitch, max(1, int(n.velocity * fade)), n.role))
        for t, c in section.chords.items():
            if 0 <= t < length * BAR_TICKS:
                chords[cursor + t] = c
        plan.append({"section": kind, "start_bar": cursor // BAR_TICKS, "bars": length})
        cursor += length * BAR_TICKS
    piece = Piece(tempo_bpm=request.tempo_bpm, time_signature=(4, 4), notes=notes, chords=chords)
    sampled = len(verse) + len(chorus) + len(bridge)
    roles_sampled = {
        ROLES[r]: sum(1 for p in material.values() for n in p.notes if n.role == r) for r in (MELODY, CHORDS, BASS)
    }
    return Composition(
        piece=piece,
        plan=plan,
        section_tokens={"verse": verse, "chorus": chorus, "bridge": bridge},
        sampled_tokens=sampled,
        programs=request.programs,
        stats={
            "section_bars": bars,
            "total_bars": cursor // BAR_TICKS,
            "seconds": round(cursor / TICKS_PER_BEAT * 60.0 / request.tempo_bpm, 2),
            "sampled_notes_by_role": roles_sampled,
            "groove": request.groove.as_dict() if request.groove else None,
            "scale": request.mode,
            "kit": request.kit or (request.groove.feel if request.groove else "backbeat"),
            "motion_target": vars(request.motion) if request.motion else None,
            "candidate_motion_distances": {"verse": verse_d, "chorus": chorus_d, "bridge": bridge_d},
        },
    )
