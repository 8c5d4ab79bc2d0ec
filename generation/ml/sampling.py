"""Sampling sections from the model under the key, range and grammar masks.

Sampling is constrained by the token grammar plus a key/range mask (:func:`make_mask_hook`) and
leaned towards the uploads' pitch-class distribution (:func:`pitch_class_bias`); each section is
sampled ``candidates`` times and the one that moves most like the uploads wins
(:func:`best_section`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from generation.ml import tonality
from generation.ml.groove import Groove, Motion, motion_of
from generation.ml.model import MusicTransformer
from generation.ml.sample import sample
from generation.ml.tokenizer import (
    BAR,
    BASS,
    BOS,
    CHORD_QUALITIES,
    CHORD_RANGE,
    CHORDS,
    EOS,
    MELODY,
    PITCH_RANGE,
    TOKEN_ID,
    Grammar,
    Piece,
    decode,
    tempo_bin,
)

MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10, 11)  # natural minor plus the leading tone
RANGES = {MELODY: (57, 86), CHORDS: (45, 76), BASS: (31, 57)}
# Most tokens one sampled bar may hold before it is closed. Catalog bars (all four roles) hold 21 tokens
# at the median, 155 at the 99th percentile and 220 at most; a section's budget is this per bar, so a
# model stuck on one place cannot leave the later bars of its section empty (it did, 2026-12-08).
BAR_TOKENS = 240


@dataclass
class ComposeRequest:
    tonic: int
    mode: str  # "major", "minor" (natural plus the leading tone) or a tonality.SCALES name (the uploads' scale)
    tempo_bpm: float
    seconds: float
    seed: int
    temperature: float = 0.95
    top_k: int = 24
    section_bars: int | None = None  # None: derived from seconds and tempo
    melody_center: int | None = None  # median melody pitch of the sources; None: the default range
    groove: Groove | None = None  # where the sources' chords and bass strike; None: a fixed pattern
    pitch_classes: tuple[float, ...] | None = None  # share of the sources' notes per pitch class
    motion: Motion | None = None  # the sources' busyness and leaps; picks among section candidates
    candidates: int = 1  # sections sampled per verse/chorus/bridge (the one closest to ``motion`` wins)
    rejects: Callable[[Piece], bool] | None = None  # e.g. "copies a source": such candidates lose
    programs: dict[str, int] | None = None  # GM program per tokenizer role for the MIDI; None: ROLE_PROGRAMS
    kit: str | None = None  # the uploads' drums (drums.KITS; "none": no drums); None: from the groove's feel


def scale_pitch_classes(tonic: int, mode: str) -> set[int]:
    """Pitch classes of the key: "major", "minor" (natural minor plus the leading tone) or a named scale."""
    if mode in ("major", "minor"):
        return {(tonic + d) % 12 for d in (MAJOR_SCALE if mode == "major" else MINOR_SCALE)}
    return set(tonality.scale_pitch_classes(tonic, mode))


def diatonic_chords(tonic: int, mode: str) -> set[str]:
    """Chord token suffixes ("root:quality") whose tones all lie in the key."""
    scale = scale_pitch_classes(tonic, mode)
    out = set()
    for root in range(12):
        for quality, intervals in CHORD_QUALITIES.items():
            if quality == "aug":
                continue
            if all((root + i) % 12 in scale for i in intervals):
                out.add(f"{root}:{quality}")
    return out


PITCH_CLASS_FLOOR = 0.06  # a pitch class outside the key is allowed when the sources give it this share
PITCH_CLASS_STRENGTH = 1.0  # weight of the log ratio to uniform added to pitch logits


def allowed_pitch_classes(tonic: int, mode: str, pitch_classes: tuple[float, ...] | None) -> set[int]:
    """The key's scale, plus pitch classes the sources use often (modal and blue notes, borrowed chords)."""
    scale = scale_pitch_classes(tonic, mode)
    if pitch_classes is None:
        return scale
    return scale | {pc for pc, share in enumerate(pitch_classes) if share >= PITCH_CLASS_FLOOR}


def pitch_class_bias(pitch_classes: tuple[float, ...] | None, vocab_size: int) -> np.ndarray | None:
    """Logit bias leaning every pitch token towards the sources' pitch-class distribution."""
    if pitch_classes is None:
        return None
    shares = np.asarray(pitch_classes, dtype=np.float64)
    weights = PITCH_CLASS_STRENGTH * np.log((shares + 0.01) / (shares.mean() + 0.01))
    bias = np.zeros(vocab_size, dtype=np.float32)
    pitches = np.arange(PITCH_RANGE[1] - PITCH_RANGE[0])
    bias[PITCH_RANGE[0] : PITCH_RANGE[1]] = weights[pitches % 12]
    return bias


def make_mask_hook(  # type: ignore[no-untyped-def]
    tonic: int,
    mode: str,
    *,
    bars: int,
    melody_center: int | None = None,
    pitch_classes: tuple[float, ...] | None = None,
):
    """Keep pitches in the key and each role's range, chords diatonic, and exactly ``bars`` full bars.

    With ``melody_center`` the melody stays within an octave of the sources' median melody pitch;
    with ``pitch_classes`` the pitch classes the sources use often are allowed too.
    """
    scale = allowed_pitch_classes(tonic, mode, pitch_classes)
    ranges = dict(RANGES)
    if melody_center is not None:
        center = min(max(melody_center, 52), 88)
        ranges[MELODY] = (center - 12, center + 12)
    pitch_ok = {role: np.zeros(128, dtype=bool) for role in ranges}
    for role, (lo, hi) in ranges.items():
        for p in range(lo, hi + 1):
            pitch_ok[role][p] = p % 12 in scale
    chord_ok = np.zeros(CHORD_RANGE[1] - CHORD_RANGE[0], dtype=bool)
    for name in diatonic_chords(tonic, mode):
        chord_ok[TOKEN_ID[f"CHORD_{name}"] - CHORD_RANGE[0]] = True

    def hook(grammar: Grammar, mask: np.ndarray) -> np.ndarray:
        if grammar.state == "track" and grammar.role in pitch_ok:
            mask[PITCH_RANGE[0] : PITCH_RANGE[1]] &= pitch_ok[grammar.role]
        elif grammar.state in ("dur",) and grammar.role in pitch_ok:
            # More notes at the same position (chords) obey the same range.
            mask[PITCH_RANGE[0] : PITCH_RANGE[1]] &= pitch_ok[grammar.role]
        mask[CHORD_RANGE[0] : CHORD_RANGE[1]] &= chord_ok
        if grammar.bars and grammar.bar_notes == 0:  # no empty bars: neither the next bar nor the end before a note
            mask[BAR] = False
            mask[EOS] = False
        if grammar.bars < bars:
            mask[EOS] = False
        return mask

    return hook


def header(tempo_bpm: float) -> list[int]:
    return [BOS, TOKEN_ID["TS_4/4"], TOKEN_ID[f"TEMPO_{tempo_bin(tempo_bpm)}"]]


def sample_section(
    model: MusicTransformer,
    request: ComposeRequest,
    *,
    bars: int,
    seed: int,
    context: list[int] | None = None,
) -> list[int]:
    """Sample ``bars`` bars (tokens BAR ... without header/EOS), optionally continuing ``context``."""
    prompt = header(request.tempo_bpm)
    context_bars = 0
    if context:
        tail = context[-(model.config.block_size // 2) :]
        first_bar = tail.index(BAR) if BAR in tail else len(tail)
        tail = tail[first_bar:]
        context_bars = tail.count(BAR)
        prompt = prompt + tail
    grammar = Grammar(max_bars=context_bars + bars, allow_roles=(MELODY, CHORDS, BASS), max_bar_tokens=BAR_TOKENS).feed(
        prompt
    )
    hook = make_mask_hook(
        request.tonic,
        request.mode,
        bars=context_bars + bars,
        melody_center=request.melody_center,
        pitch_classes=request.pitch_classes,
    )
    budget = (bars + 1) * BAR_TOKENS  # every bar fits, and the context's open bar
    tokens = sample(
        model,
        prompt,
        max_new_tokens=budget,
        grammar=grammar,
        seed=seed,
        temperature=request.temperature,
        top_k=request.top_k,
        mask_hook=hook,
        bias=pitch_class_bias(request.pitch_classes, model.config.vocab_size),
    )
    new = tokens[len(prompt) :]
    if new and new[-1] == EOS:
        new = new[:-1]
    return new


def best_section(
    model: MusicTransformer,
    request: ComposeRequest,
    *,
    bars: int,
    seed: int,
    context: list[int] | None = None,
) -> tuple[list[int], list[float | None]]:
    """The candidate section (of ``request.candidates``) that moves most like the sources.

    Candidates ``request.rejects`` (a copy of a source, say) never win: picking the candidate
    closest to the sources would otherwise favour the ones that quote them. Returns the tokens
    and every candidate's motion distance (None: rejected; the first candidate uses ``seed`` itself, so one
    candidate gives exactly what :func:`sample_section` gives).
    """
    count = max(1, request.candidates) if request.motion is not None else 1
    options = [
        sample_section(model, request, bars=bars, seed=seed + 100_003 * j, context=context) for j in range(count)
    ]
    if count == 1 or request.motion is None:
        return options[0], []
    target = request.motion
    distances = []
    for tokens in options:
        piece = section_piece(tokens, request.tempo_bpm)
        moved = motion_of([piece])
        rejected = request.rejects is not None and request.rejects(piece)
        distances.append(math.inf if rejected or moved is None else moved.distance(target))
    best = min(range(count), key=lambda j: distances[j])  # all rejected: the first, for the guard to judge
    return options[best], [round(d, 4) if math.isfinite(d) else None for d in distances]


def section_piece(tokens: list[int], tempo_bpm: float) -> Piece:
    return decode(header(tempo_bpm) + tokens)
