"""Composition: sample 8-16-bar sections with the model, arrange them into a song form, add a band.

The model writes the musical material (melody, and chords/bass when it chooses to); sampling is
constrained by the token grammar plus a key/range mask. Long-range form comes from a plan
(intro-verse-chorus-verse-chorus-bridge-chorus-outro), not from the 512-token context. Parts the
model left thin (harmony, bass) are filled by rule from the sampled chord tokens; drums are always
by rule (the corpus has none).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from generation.ml.groove import SLOT_TICKS, Groove, Motion, motion_of
from generation.ml.model import MusicTransformer
from generation.ml.sample import sample
from generation.ml.tokenizer import (
    BAR,
    BOS,
    CHORD_QUALITIES,
    CHORD_RANGE,
    EOS,
    PITCH_RANGE,
    ROLES,
    TICKS_PER_BEAT,
    TOKEN_ID,
    Grammar,
    Note,
    Piece,
    decode,
    estimate_chords,
    tempo_bin,
)

MELODY, CHORDS, BASS, DRUMS = (ROLES.index(r) for r in ("melody", "chords", "bass", "drums"))
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10, 11)  # natural minor plus the leading tone
RANGES = {MELODY: (57, 86), CHORDS: (45, 76), BASS: (31, 57)}
FORM = ("intro", "verse", "chorus", "verse", "chorus", "bridge", "chorus", "outro")
SECTION_LOUDNESS = {"intro": 0, "verse": 1, "chorus": 2, "bridge": 1, "outro": 0}
BAR_TICKS = 4 * TICKS_PER_BEAT


@dataclass
class ComposeRequest:
    tonic: int
    mode: str
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


@dataclass
class Composition:
    piece: Piece
    plan: list[dict[str, object]]
    section_tokens: dict[str, list[int]]
    sampled_tokens: int
    stats: dict[str, object] = field(default_factory=dict)


def scale_pitch_classes(tonic: int, mode: str) -> set[int]:
    return {(tonic + d) % 12 for d in (MAJOR_SCALE if mode == "major" else MINOR_SCALE)}


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
        if grammar.state == "bar":
            mask[BAR] = False  # no empty bars
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
    grammar = Grammar(max_bars=context_bars + bars, allow_roles=(MELODY, CHORDS, BASS)).feed(prompt)
    hook = make_mask_hook(
        request.tonic,
        request.mode,
        bars=context_bars + bars,
        melody_center=request.melody_center,
        pitch_classes=request.pitch_classes,
    )
    budget = bars * 160
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


def chord_timeline(piece: Piece, bars: int, tonic: int, mode: str) -> list[tuple[int, int, str]]:
    """(start, end, "root:quality") per half bar, from sampled chord tokens or estimated from notes."""
    allowed = diatonic_chords(tonic, mode)
    tonic_chord = f"{tonic}:{'maj' if mode == 'major' else 'min'}"
    sampled = {t: c for t, c in piece.chords.items() if c in allowed}
    if len(sampled) < max(1, bars // 4):
        estimated = estimate_chords(piece.notes, bar_ticks=BAR_TICKS)
        sampled.update({t: c for t, c in estimated.items() if c in allowed and t not in sampled})
    out = []
    current = tonic_chord
    half = BAR_TICKS // 2
    for start in range(0, bars * BAR_TICKS, half):
        for t in sorted(sampled):
            if t <= start:
                current = sampled[t]
        out.append((start, start + half, current))
    return out


def _chord_pitches(label: str) -> tuple[int, list[int]]:
    root_s, quality = label.split(":")
    root = int(root_s)
    return root, [(root + i) % 12 for i in CHORD_QUALITIES[quality]]


def _grooved_part(
    timeline: list[tuple[int, int, str]], *, bars: int, slots: list[int], role: int, loud: int, move: int
) -> list[Note]:
    """Pads or bass struck on ``slots`` of every bar, each held until the next strike."""
    notes: list[Note] = []
    starts = [bar * BAR_TICKS + slot * SLOT_TICKS for bar in range(bars) for slot in slots]
    for index, start in enumerate(starts):
        end = starts[index + 1] if index + 1 < len(starts) else bars * BAR_TICKS
        end = min(end, (start // BAR_TICKS + 1) * BAR_TICKS)  # never across a bar line
        label = next(lab for s, e, lab in timeline if s <= start < e)
        root, pcs = _chord_pitches(label)
        if role == CHORDS:
            for pc in pcs[:3]:
                notes.append(Note(start, max(1, end - start - 1), 52 + (pc - 52) % 12, 56 + 8 * loud, CHORDS))
            continue
        bass_pitch = 36 + (root - 36) % 12
        chord_start = next(s for s, e, _ in timeline if s <= start < e)
        leap = move and start != chord_start and index % 2 == 1
        pitch = bass_pitch + move if leap and bass_pitch + move <= 57 else bass_pitch
        notes.append(Note(start, max(1, end - start - 1), pitch, 80 + 4 * loud, BASS))
    return notes


def _fixed_part(timeline: list[tuple[int, int, str]], *, loud: int, chords: bool, bass: bool) -> list[Note]:
    """Half-bar pads and a root bass (root-fifth eighths in choruses): the pattern without a groove."""
    notes: list[Note] = []
    for start, end, label in timeline:
        root, pcs = _chord_pitches(label)
        if chords:
            for pc in pcs[:3]:
                notes.append(Note(start, end - start, 52 + (pc - 52) % 12, 56 + 8 * loud, CHORDS))
        if bass:
            bass_pitch = 36 + (root - 36) % 12
            if loud == 2:
                for k in range(4):
                    p = bass_pitch if k % 2 == 0 else bass_pitch + 7 if bass_pitch + 7 <= 55 else bass_pitch
                    notes.append(Note(start + k * 6, 6, p, 88, BASS))
            else:
                notes.append(Note(start, end - start - 1, bass_pitch, 80, BASS))
    return notes


def accompaniment(
    piece: Piece,
    *,
    bars: int,
    kind: str,
    tonic: int,
    mode: str,
    rng: np.random.Generator,
    groove: Groove | None = None,
) -> list[Note]:
    """Pads, bass and drums for a section; pads/bass only where the model left them thin.

    With a ``groove`` pads and bass strike where the uploads' chords and bass do (more of their
    positions in louder sections) and the kit follows their feel; without one all follow a fixed
    pop pattern.
    """
    notes: list[Note] = []
    timeline = chord_timeline(piece, bars, tonic, mode)
    has_chords = sum(1 for n in piece.notes if n.role == CHORDS) >= bars * 2
    has_bass = sum(1 for n in piece.notes if n.role == BASS) >= bars
    loud = SECTION_LOUDNESS[kind]
    if groove is not None:
        for role, present in ((CHORDS, has_chords), (BASS, has_bass)):
            if not present:
                slots = groove.strikes(role, loud)
                notes += _grooved_part(timeline, bars=bars, slots=slots, role=role, loud=loud, move=groove.bass_move)
    else:
        notes += _fixed_part(timeline, loud=loud, chords=not has_chords, bass=not has_bass)
    notes += drums(bars=bars, kind=kind, feel=groove.feel if groove is not None else "backbeat", rng=rng)
    return notes


def drums(*, bars: int, kind: str, feel: str, rng: np.random.Generator) -> list[Note]:
    """A kit part for the uploads' feel (:attr:`Groove.feel`); the corpus has no drums to learn from.

    "light": pedal hat on the beats, kick on one, a side stick on three when it gets louder (so
    a slow ballad isn't heard at double time); "backbeat": kick on one and three, snare on two and
    four, eighth hats; "four": kick on every beat, off-beat open hats, clap on two and four.
    """
    notes: list[Note] = []
    loud = SECTION_LOUDNESS[kind]
    for bar in range(bars):
        b0 = bar * BAR_TICKS
        if bar == 0 and kind in ("chorus", "bridge") and feel != "light":
            notes.append(Note(b0, 24, 49, 96, DRUMS))
        for beat in range(4):
            t = b0 + beat * TICKS_PER_BEAT
            if feel == "light":
                notes.append(Note(t, 3, 44, 48 + 6 * loud, DRUMS))
                if beat == 0 and (loud >= 1 or bar % 2 == 0):
                    notes.append(Note(t, 3, 36, 80 + 5 * loud, DRUMS))
                if beat == 2 and loud >= 1:
                    notes.append(Note(t, 3, 37, 62 + 6 * loud, DRUMS))
                continue
            if feel == "four":
                notes.append(Note(t, 3, 36, 100 + 4 * loud, DRUMS))
                notes.append(Note(t + 6, 3, 46 if beat % 2 else 42, 60 + 6 * loud, DRUMS))
                if beat in (1, 3) and loud >= 1:
                    notes.append(Note(t, 3, 39, 85 + 5 * loud, DRUMS))
                continue
            if loud >= 1 or beat % 2 == 0:
                notes.append(Note(t, 3, 42, 60 + 10 * loud, DRUMS))
            if loud >= 1:
                notes.append(Note(t + 6, 3, 42 if loud < 2 else 46, 50 + 8 * loud, DRUMS))
            if beat in (0, 2) and (loud >= 1 or bar % 2 == 0):
                notes.append(Note(t, 3, 36, 90 + 5 * loud, DRUMS))
            if beat in (1, 3) and loud >= 1:
                notes.append(Note(t, 3, 38, 85 + 5 * loud, DRUMS))
        if feel == "backbeat" and loud == 2 and bar % 4 == 3 and rng.random() < 0.8:
            notes.append(Note(b0 + 3 * TICKS_PER_BEAT + 6, 3, 36, 90, DRUMS))
    return notes


def section_bars(request: ComposeRequest) -> int:
    """Bars per full section so the 7-unit form lasts about request.seconds (even, 8 to 16)."""
    if request.section_bars:
        return request.section_bars
    total_bars = request.seconds * request.tempo_bpm / 60.0 / 4.0
    per_unit = total_bars / 7.0
    return int(min(16, max(8, round(per_unit / 2) * 2)))


def compose(model: MusicTransformer, request: ComposeRequest) -> Composition:
    """Sample verse, chorus and bridge (each continuing the previous one), then arrange the form."""
    bars = section_bars(request)
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
            section, bars=length, kind=kind, tonic=request.tonic, mode=request.mode, rng=rng, groove=request.groove
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
        stats={
            "section_bars": bars,
            "total_bars": cursor // BAR_TICKS,
            "seconds": round(cursor / TICKS_PER_BEAT * 60.0 / request.tempo_bpm, 2),
            "sampled_notes_by_role": roles_sampled,
            "groove": request.groove.as_dict() if request.groove else None,
            "motion_target": vars(request.motion) if request.motion else None,
            "candidate_motion_distances": {"verse": verse_d, "chorus": chorus_d, "bridge": bridge_d},
        },
    )
