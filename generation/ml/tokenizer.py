"""A REMI-style tokenizer of our own (see README.md for the choice and the measured round-trip loss).

A piece is a tempo, a time signature and a list of notes on a grid of 12 ticks per quarter note
(16ths and triplets are exact). Each note belongs to one of four *tracks* (roles): melody, chords,
bass, drums; each role maps to a fixed General MIDI program on decode.

Token order (the grammar that :class:`Grammar` enforces while sampling)::

    BOS TS_<n/d> TEMPO_<bin>
    ( BAR ( POS_<p> [CHORD_<c>] ( TRACK_<r> ( PITCH_<k> VEL_<v> DUR_<d> )+ )* )* )*
    EOS

Positions increase strictly inside a bar and stay below the bar's length; at one position the
tracks come in role order, each at most once, and a track's pitches rise strictly, at most
``MAX_NOTES_AT_POSITION[role]`` of them (what sampling may write; :func:`encode` keeps the order).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

TICKS_PER_BEAT = 12
MAX_BAR_TICKS = 72  # up to 6 quarter notes per bar
ROLES = ("melody", "chords", "bass", "drums")
MELODY, CHORDS, BASS, DRUMS = range(len(ROLES))  # role indices, in ROLES order
ROLE_PROGRAMS = {"melody": 73, "chords": 48, "bass": 33, "drums": 0}  # flute, strings, fingered bass, kit
# Notes one role may start at one position, by role (melody, chords, bass, drums). The catalog's
# sequences have at most 2, 6, 1 and 3. Without a bound a fine-tuned model sampled 126 copies of one
# bass note at one position and ran out of its section's token budget (2026-12-08). The bass is held to
# two (an octave or a fifth): uploads' transcriptions give the bass role every low note, up to 6 at once,
# and a model that learnt them played 5-7 note clusters on a bass program.
MAX_NOTES_AT_POSITION = (2, 6, 2, 8)
TIME_SIGNATURES = ((4, 4), (3, 4), (2, 4), (6, 8), (2, 2), (3, 2), (9, 8), (12, 8), (5, 4), (6, 4), (3, 8))
TEMPO_MIN, TEMPO_MAX, TEMPO_BINS = 40.0, 240.0, 32
VELOCITY_BINS = 8
DURATIONS = (1, 2, 3, 4, 5, 6, 8, 9, 10, 12, 15, 16, 18, 20, 24, 30, 32, 36, 42, 48, 60, 72, 84, 96)
CHORD_QUALITIES = {
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "dim": (0, 3, 6),
    "aug": (0, 4, 8),
    "dom7": (0, 4, 7, 10),
}
PITCH_CLASS_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


def _build_vocab() -> list[str]:
    names = ["PAD", "BOS", "EOS", "BAR"]
    names += [f"POS_{p}" for p in range(MAX_BAR_TICKS)]
    names += [f"TS_{n}/{d}" for n, d in TIME_SIGNATURES]
    names += [f"TEMPO_{b}" for b in range(TEMPO_BINS)]
    names += ["CHORD_N"] + [f"CHORD_{r}:{q}" for r in range(12) for q in CHORD_QUALITIES]
    names += [f"TRACK_{r}" for r in ROLES]
    names += [f"PITCH_{k}" for k in range(128)]
    names += [f"VEL_{v}" for v in range(VELOCITY_BINS)]
    names += [f"DUR_{d}" for d in range(len(DURATIONS))]
    return names


VOCAB: list[str] = _build_vocab()
TOKEN_ID: dict[str, int] = {name: i for i, name in enumerate(VOCAB)}
VOCAB_SIZE = len(VOCAB)
PAD, BOS, EOS, BAR = 0, 1, 2, 3


def _range(prefix: str) -> tuple[int, int]:
    ids = [i for i, n in enumerate(VOCAB) if n.startswith(prefix)]
    return ids[0], ids[-1] + 1


POS_RANGE = _range("POS_")
TS_RANGE = _range("TS_")
TEMPO_RANGE = _range("TEMPO_")
CHORD_RANGE = _range("CHORD_")
TRACK_RANGE = _range("TRACK_")
PITCH_RANGE = _range("PITCH_")
VEL_RANGE = _range("VEL_")
DUR_RANGE = _range("DUR_")


@dataclass(frozen=True)
class Note:
    """One note: start and duration in ticks (12 per quarter), MIDI pitch and velocity, role index."""

    start: int
    duration: int
    pitch: int
    velocity: int
    role: int


@dataclass
class Piece:
    """A quantised piece; ``chords`` maps a tick to a chord token name suffix (e.g. ``"0:maj"``)."""

    tempo_bpm: float
    time_signature: tuple[int, int]
    notes: list[Note]
    chords: dict[int, str] = field(default_factory=dict)

    @property
    def bar_ticks(self) -> int:
        numerator, denominator = self.time_signature
        return numerator * TICKS_PER_BEAT * 4 // denominator


def tempo_bin(bpm: float) -> int:
    """Log-spaced tempo bin in [0, TEMPO_BINS)."""
    bpm = min(max(bpm, TEMPO_MIN), TEMPO_MAX)
    ratio = np.log(bpm / TEMPO_MIN) / np.log(TEMPO_MAX / TEMPO_MIN)
    return round(float(ratio) * (TEMPO_BINS - 1))


def tempo_from_bin(index: int) -> float:
    return float(TEMPO_MIN * (TEMPO_MAX / TEMPO_MIN) ** (index / (TEMPO_BINS - 1)))


def velocity_bin(velocity: int) -> int:
    return min(VELOCITY_BINS - 1, max(0, int(velocity) * VELOCITY_BINS // 128))


def velocity_from_bin(index: int) -> int:
    return int((index + 0.5) * 128 / VELOCITY_BINS)


def duration_bin(ticks: int) -> int:
    ticks = max(1, ticks)
    i = bisect.bisect_left(DURATIONS, ticks)
    if i == 0:
        return 0
    if i >= len(DURATIONS):
        return len(DURATIONS) - 1
    return i if DURATIONS[i] - ticks < ticks - DURATIONS[i - 1] else i - 1


def nearest_time_signature(numerator: int, denominator: int) -> tuple[int, int]:
    if (numerator, denominator) in TIME_SIGNATURES:
        return (numerator, denominator)
    bar = numerator * 4 / denominator
    return min(TIME_SIGNATURES, key=lambda ts: abs(ts[0] * 4 / ts[1] - bar))


def estimate_chords(notes: Sequence[Note], *, bar_ticks: int, span: int = TICKS_PER_BEAT * 2) -> dict[int, str]:
    """Template-match pitch-class histograms over ``span``-tick windows; emit only changes.

    Drums are ignored. Returns {tick: "root:quality"} or "N" for windows without pitched notes.
    """
    if not notes:
        return {}
    end = max(n.start + n.duration for n in notes)
    span = min(span, bar_ticks)
    chords: dict[int, str] = {}
    previous = ""
    drum_role = ROLES.index("drums")
    for window_start in range(0, end, span):
        window_end = window_start + span
        hist = np.zeros(12)
        for n in notes:
            if n.role == drum_role:
                continue
            overlap = min(n.start + n.duration, window_end) - max(n.start, window_start)
            if overlap > 0:
                hist[n.pitch % 12] += overlap * (1.5 if n.role == ROLES.index("bass") else 1.0)
        label = chord_from_histogram(hist)
        if label != previous:
            chords[window_start] = label
            previous = label
    return chords


def chord_from_histogram(hist: np.ndarray) -> str:
    """Best chord template for a 12-bin pitch-class histogram (cosine score), "N" if empty."""
    total = float(hist.sum())
    if total <= 0:
        return "N"
    best, best_score = "N", -1.0
    norm_hist = hist / (np.linalg.norm(hist) + 1e-9)
    for root in range(12):
        for quality, intervals in CHORD_QUALITIES.items():
            template = np.zeros(12)
            for interval in intervals:
                template[(root + interval) % 12] = 1.0
            score = float(norm_hist @ (template / np.linalg.norm(template)))
            if quality in ("dim", "aug", "dom7"):
                score -= 0.05  # prefer plain triads when equally good
            if score > best_score:
                best, best_score = f"{root}:{quality}", score
    return best


def encode(piece: Piece, *, max_bars: int | None = None) -> list[int]:
    """Piece -> token ids (starts with BOS, ends with EOS). Notes past ``max_bars`` are dropped."""
    bar_ticks = piece.bar_ticks
    if bar_ticks > MAX_BAR_TICKS:
        raise ValueError(f"bar of {bar_ticks} ticks exceeds {MAX_BAR_TICKS}")
    ts = nearest_time_signature(*piece.time_signature)
    tokens = [BOS, TOKEN_ID[f"TS_{ts[0]}/{ts[1]}"], TOKEN_ID[f"TEMPO_{tempo_bin(piece.tempo_bpm)}"]]
    unique: dict[tuple[int, int, int], Note] = {}
    for n in piece.notes:  # one note per start, role and pitch: the longest (the grammar's strictly rising pitches)
        key = (n.start, n.role, n.pitch)
        if key not in unique or n.duration > unique[key].duration:
            unique[key] = n
    notes = sorted(unique.values(), key=lambda n: (n.start, n.role, n.pitch))
    if not notes:
        return [*tokens, EOS]
    last_tick = max(n.start for n in notes)
    n_bars = last_tick // bar_ticks + 1
    if max_bars is not None:
        n_bars = min(n_bars, max_bars)
    by_bar: dict[int, dict[int, list[Note]]] = {}
    for n in notes:
        bar = n.start // bar_ticks
        if bar < n_bars:
            by_bar.setdefault(bar, {}).setdefault(n.start % bar_ticks, []).append(n)
    chords_by_bar: dict[int, dict[int, str]] = {}
    for tick, label in piece.chords.items():
        bar = tick // bar_ticks
        if bar < n_bars:
            chords_by_bar.setdefault(bar, {})[tick % bar_ticks] = label
    for bar in range(n_bars):
        tokens.append(BAR)
        positions = by_bar.get(bar, {})
        bar_chords = chords_by_bar.get(bar, {})
        for pos in sorted(set(positions) | set(bar_chords)):
            tokens.append(POS_RANGE[0] + pos)
            if pos in bar_chords:
                tokens.append(TOKEN_ID[f"CHORD_{bar_chords[pos]}"])
            role = -1
            for n in positions.get(pos, []):
                if n.role != role:
                    role = n.role
                    tokens.append(TRACK_RANGE[0] + role)
                tokens.append(PITCH_RANGE[0] + n.pitch)
                tokens.append(VEL_RANGE[0] + velocity_bin(n.velocity))
                tokens.append(DUR_RANGE[0] + duration_bin(n.duration))
    tokens.append(EOS)
    return tokens


def _token_kinds() -> list[tuple[str, object]]:
    kinds: list[tuple[str, object]] = []
    for name in VOCAB:
        head, _, value = name.partition("_")
        if name in ("PAD", "BOS", "EOS", "BAR"):
            kinds.append((name, None))
        elif head == "TS":
            n, d = value.split("/")
            kinds.append(("TS", (int(n), int(d))))
        elif head == "CHORD":
            kinds.append(("CHORD", value))
        elif head == "TRACK":
            kinds.append(("TRACK", ROLES.index(value)))
        else:
            kinds.append((head, int(value)))
    return kinds


TOKEN_KINDS = _token_kinds()


def decode(tokens: Iterable[int]) -> Piece:
    """Token ids -> Piece. Tolerant: tokens out of grammar order are skipped, never raised on."""
    ts = (4, 4)
    tempo = 120.0
    notes: list[Note] = []
    chords: dict[int, str] = {}
    bar = -1
    pos = 0
    role = 0
    pitch: int | None = None
    velocity = 64
    bar_start = 0
    bar_ticks = 48
    for t in tokens:
        t = int(t)
        if not 0 <= t < VOCAB_SIZE:
            continue
        kind, value = TOKEN_KINDS[t]
        if kind == "EOS":
            break
        if kind == "PITCH":
            pitch = int(value)  # type: ignore[call-overload]
        elif kind == "VEL":
            velocity = velocity_from_bin(int(value))  # type: ignore[call-overload]
        elif kind == "DUR":
            if pitch is not None:
                notes.append(Note(bar_start + pos, DURATIONS[int(value)], pitch, velocity, role))  # type: ignore[call-overload]
                pitch = None
        elif kind == "POS":
            pos = int(value)  # type: ignore[call-overload]
        elif kind == "TRACK":
            role = int(value)  # type: ignore[call-overload]
        elif kind == "BAR":
            bar += 1
            bar_start = max(bar, 0) * bar_ticks
            pos = 0
        elif kind == "CHORD":
            chords[max(bar, 0) * bar_ticks + pos] = str(value)
        elif kind == "TS":
            assert isinstance(value, tuple)
            ts = (value[0], value[1])
            bar_ticks = ts[0] * TICKS_PER_BEAT * 4 // ts[1]
        elif kind == "TEMPO":
            tempo = tempo_from_bin(int(value))  # type: ignore[call-overload]
    return Piece(tempo_bpm=tempo, time_signature=ts, notes=notes, chords=chords)


# --- pretty_midi bridge -------------------------------------------------------


def assign_roles(instruments: Sequence[tuple[bool, int, Sequence[int]]]) -> list[int]:
    """Pick a role per instrument from (is_drum, program, pitches).

    Drums -> drums; GM bass programs (32-39) or the lowest of 3+ parts -> bass; the highest
    remaining part -> melody; the rest -> chords.
    """
    roles = [-1] * len(instruments)
    pitched = []
    for i, (is_drum, program, pitches) in enumerate(instruments):
        if is_drum:
            roles[i] = ROLES.index("drums")
        elif 32 <= program <= 39:
            roles[i] = ROLES.index("bass")
        elif len(pitches):
            pitched.append((float(np.mean(pitches)), i))
    pitched.sort()
    if pitched:
        roles[pitched[-1][1]] = ROLES.index("melody")
        has_bass = any(r == ROLES.index("bass") for r in roles)
        if not has_bass and len(pitched) >= 3:
            roles[pitched[0][1]] = ROLES.index("bass")
        for _, i in pitched:
            if roles[i] == -1:
                roles[i] = ROLES.index("chords")
    return [r if r >= 0 else ROLES.index("chords") for r in roles]


def from_pretty_midi(midi: object, *, with_chords: bool = True, roles: Sequence[int] | None = None) -> Piece:
    """Quantise a ``pretty_midi.PrettyMIDI`` to the tick grid using its first tempo and metre.

    ``roles`` (one ROLES index per instrument) overrides the guess of :func:`assign_roles`.
    """
    import pretty_midi

    assert isinstance(midi, pretty_midi.PrettyMIDI)
    _, tempi = midi.get_tempo_changes()
    tempo = float(tempi[0]) if len(tempi) else 120.0
    if midi.time_signature_changes:
        first = midi.time_signature_changes[0]
        ts = nearest_time_signature(first.numerator, first.denominator)
    else:
        ts = (4, 4)
    seconds_per_tick = 60.0 / tempo / TICKS_PER_BEAT
    if roles is None:
        roles = assign_roles([(i.is_drum, i.program, [n.pitch for n in i.notes]) for i in midi.instruments])
    notes = []
    for inst, role in zip(midi.instruments, roles, strict=True):
        for n in inst.notes:
            start = round(n.start / seconds_per_tick)
            duration = max(1, round((n.end - n.start) / seconds_per_tick))
            notes.append(Note(start, duration, int(n.pitch), int(n.velocity), role))
    piece = Piece(tempo_bpm=tempo, time_signature=ts, notes=_dedupe(notes))
    if with_chords:
        piece.chords = estimate_chords(piece.notes, bar_ticks=piece.bar_ticks)
    return piece


def _dedupe(notes: list[Note]) -> list[Note]:
    seen: set[tuple[int, int, int]] = set()
    out = []
    for n in sorted(notes, key=lambda n: (n.start, n.role, n.pitch, -n.duration)):
        key = (n.start, n.role, n.pitch)
        if key not in seen:
            seen.add(key)
            out.append(n)
    return out


def to_pretty_midi(piece: Piece, *, programs: dict[str, int] | None = None) -> object:
    """Piece -> ``pretty_midi.PrettyMIDI`` with one instrument per used role."""
    import pretty_midi

    programs = {**ROLE_PROGRAMS, **(programs or {})}
    midi = pretty_midi.PrettyMIDI(initial_tempo=piece.tempo_bpm)
    midi.time_signature_changes.append(pretty_midi.TimeSignature(*piece.time_signature, 0.0))
    seconds_per_tick = 60.0 / piece.tempo_bpm / TICKS_PER_BEAT
    instruments: dict[int, pretty_midi.Instrument] = {}
    for n in sorted(piece.notes, key=lambda n: (n.start, n.pitch)):
        if n.role not in instruments:
            name = ROLES[n.role]
            instruments[n.role] = pretty_midi.Instrument(
                program=programs[name], is_drum=name == "drums", name=name.capitalize()
            )
        start = n.start * seconds_per_tick
        instruments[n.role].notes.append(
            pretty_midi.Note(velocity=n.velocity, pitch=n.pitch, start=start, end=start + n.duration * seconds_per_tick)
        )
    midi.instruments.extend(instruments[r] for r in sorted(instruments))
    return midi


def round_trip_agreement(original: object, decoded: object, *, tolerance_s: float = 0.03) -> dict[str, float]:
    """Share of original notes whose onset, pitch and duration the decoded MIDI reproduces.

    onset: same pitch with onset within ``tolerance_s``; duration: of those, end within 20% of the
    duration (or ``tolerance_s``).
    """
    import pretty_midi

    assert isinstance(original, pretty_midi.PrettyMIDI)
    assert isinstance(decoded, pretty_midi.PrettyMIDI)
    source = sorted((n.start, n.end, n.pitch) for i in original.instruments for n in i.notes)
    target: dict[int, list[tuple[float, float]]] = {}
    for inst in decoded.instruments:
        for n in inst.notes:
            target.setdefault(n.pitch, []).append((n.start, n.end))
    onset_hits = duration_hits = 0
    for start, end, pitch in source:
        candidates = target.get(pitch, [])
        best = min(candidates, key=lambda c: abs(c[0] - start), default=None)
        if best is not None and abs(best[0] - start) <= tolerance_s:
            onset_hits += 1
            duration = end - start
            if abs((best[1] - best[0]) - duration) <= max(tolerance_s, 0.2 * duration):
                duration_hits += 1
    total = max(1, len(source))
    return {"notes": float(len(source)), "onset_pitch": onset_hits / total, "duration": duration_hits / total}


# --- grammar for constrained decoding -----------------------------------------------


class Grammar:
    """Tracks the token grammar and answers which ids may come next.

    ``allowed()`` returns a boolean mask of size VOCAB_SIZE; ``step(token)`` advances the state.
    ``allow_roles`` limits TRACK tokens (e.g. melody only), ``max_bars`` forces EOS afterwards and
    ``max_bar_tokens`` closes a bar (next BAR or EOS) once it holds that many tokens, so a model that
    will not move on still fills every bar of a section within a known budget.
    """

    def __init__(
        self,
        *,
        max_bars: int | None = None,
        allow_roles: Sequence[int] | None = None,
        max_bar_tokens: int | None = None,
    ) -> None:
        self.state = "start"
        self.bar_ticks = 48
        self.position = -1
        self.bars = 0
        self.max_bars = max_bars
        self.roles = tuple(allow_roles) if allow_roles is not None else tuple(range(len(ROLES)))
        self.role = -1
        self.position_has_chord = False
        self.last_pitch = -1  # the current track's last pitch at this position
        self.notes_here = 0  # notes the current track has started at this position
        self.max_bar_tokens = max_bar_tokens
        self.bar_tokens = 0  # tokens since the last BAR
        self.bar_notes = 0  # notes since the last BAR

    def allowed(self) -> np.ndarray:
        mask = np.zeros(VOCAB_SIZE, dtype=bool)
        s = self.state

        def allow(rng: tuple[int, int]) -> None:
            mask[rng[0] : rng[1]] = True

        def allow_bar_or_end() -> None:
            if self.max_bars is None or self.bars < self.max_bars:
                mask[BAR] = True
            if self.bars > 0:
                mask[EOS] = True

        def allow_next_position() -> None:
            lo = POS_RANGE[0] + self.position + 1
            hi = POS_RANGE[0] + self.bar_ticks
            if lo < hi:
                mask[lo:hi] = True

        def allow_tracks() -> None:  # the roles after the current one: each track once per position
            for r in self.roles:
                if r > self.role:
                    mask[TRACK_RANGE[0] + r] = True

        if s == "start":
            mask[BOS] = True
        elif s == "bos":
            allow(TS_RANGE)
        elif s == "ts":
            allow(TEMPO_RANGE)
        elif s == "tempo":
            mask[BAR] = True
        elif s == "bar":
            allow_next_position()
            allow_bar_or_end()
        elif s == "pos":
            allow(CHORD_RANGE)
            allow_tracks()
        elif s in ("chord", "dur") and self.max_bar_tokens is not None and self.bar_tokens >= self.max_bar_tokens:
            allow_bar_or_end()  # the bar is full: close it
        elif s == "chord":
            allow_tracks()
            allow_next_position()
            allow_bar_or_end()
        elif s == "track":
            allow(PITCH_RANGE)
        elif s == "pitch":
            allow(VEL_RANGE)
        elif s == "vel":
            allow(DUR_RANGE)
        elif s == "dur":
            if self.notes_here < MAX_NOTES_AT_POSITION[self.role]:  # another note of the chord, higher than the last
                mask[PITCH_RANGE[0] + self.last_pitch + 1 : PITCH_RANGE[1]] = True
            allow_tracks()
            allow_next_position()
            allow_bar_or_end()
        elif s == "end":
            mask[PAD] = True
        if not mask.any():
            mask[EOS] = True
        return mask

    def step(self, token: int) -> None:
        name = VOCAB[token]
        self.bar_tokens += 1
        if token == BOS:
            self.state = "bos"
        elif name.startswith("TS_"):
            n, d = name[3:].split("/")
            self.bar_ticks = int(n) * TICKS_PER_BEAT * 4 // int(d)
            self.state = "ts"
        elif name.startswith("TEMPO_"):
            self.state = "tempo"
        elif token == BAR:
            self.bars += 1
            self.bar_tokens = self.bar_notes = 0
            self.position = -1
            self.state = "bar"
        elif name.startswith("POS_"):
            self.position = token - POS_RANGE[0]
            self.role = -1
            self.state = "pos"
        elif name.startswith("CHORD_"):
            self.state = "chord"
        elif name.startswith("TRACK_"):
            self.role = token - TRACK_RANGE[0]
            self.last_pitch, self.notes_here = -1, 0
            self.state = "track"
        elif name.startswith("PITCH_"):
            self.last_pitch = token - PITCH_RANGE[0]
            self.notes_here += 1
            self.bar_notes += 1
            self.state = "pitch"
        elif name.startswith("VEL_"):
            self.state = "vel"
        elif name.startswith("DUR_"):
            self.state = "dur"
        elif token == EOS:
            self.state = "end"

    def feed(self, tokens: Iterable[int]) -> Grammar:
        for t in tokens:
            self.step(int(t))
        return self
