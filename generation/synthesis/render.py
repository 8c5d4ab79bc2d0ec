"""From a MIDI file to a plain stereo rendering with the General MIDI sound font pretty_midi ships.

Steps: read and validate the piece, give every track a role (drums, bass, melody,
harmony) and a program chosen from the target profile, fit it to a target length by
looping or trimming whole bars, humanise timing and velocity (seeded), and render all
tracks with tinysoundfont, one MIDI channel per instrument.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pretty_midi
import tinysoundfont

from generation.ml import tonality
from generation.synthesis.errors import (
    EmptyPieceError,
    InvalidPieceError,
    PieceTooLongError,
    UnknownInstrumentError,
)
from generation.synthesis.features import SAMPLE_RATE, FloatArray

DRUM_CHANNEL = 9
PITCHED_CHANNELS = tuple(c for c in range(16) if c != DRUM_CHANNEL)
TIMING_JITTER_S = 0.004  # standard deviation of the humanised onset shift
TIMING_JITTER_LIMIT_S = 0.010
VELOCITY_JITTER = 0.07  # relative standard deviation of velocities
RELEASE_TAIL_S = 1.5  # rendered after the last note-off so releases ring out
ROLE_PAN = {"drums": 64, "bass": 64, "melody": 52, "harmony": 84, "pad": 40}
ROLE_VOLUME = {"drums": 100, "bass": 105, "melody": 110, "harmony": 88, "pad": 80}
LIGHT_PERCUSSION_VOLUME = 45  # drum tracks when the uploads hold almost no percussion


def sound_font_path() -> Path:
    """TimGM6mb.sf2 from the installed pretty_midi package."""
    return Path(pretty_midi.__file__).resolve().parent / "TimGM6mb.sf2"


@lru_cache(maxsize=1)
def _sound_font_bytes() -> bytes:
    return sound_font_path().read_bytes()


@dataclass(frozen=True)
class TrackPlan:
    index: int
    name: str
    role: str
    is_drum: bool
    program: int
    note_count: int

    def as_dict(self) -> dict[str, Any]:
        instrument = "Drum kit" if self.is_drum else pretty_midi.program_to_instrument_name(self.program)
        return {
            "track": self.index,
            "name": self.name,
            "role": self.role,
            "is_drum": self.is_drum,
            "program": self.program,
            "instrument": instrument,
            "notes": self.note_count,
        }


def load_piece(midi_path: Path, *, max_seconds: float) -> pretty_midi.PrettyMIDI:
    """Read a MIDI file and refuse what cannot become a song."""
    try:
        piece = pretty_midi.PrettyMIDI(str(midi_path))
    except Exception as exc:  # mido/pretty_midi raise many types for a corrupt file
        raise InvalidPieceError(
            f"The piece {midi_path.name} is not a readable MIDI file ({exc}); compose it again.",
            extra={"path": str(midi_path)},
        ) from exc
    note_count = sum(len(instrument.notes) for instrument in piece.instruments)
    if note_count == 0:
        raise EmptyPieceError(
            "The piece has no notes, so there is nothing to render; compose it again.",
            extra={"path": str(midi_path), "tracks": len(piece.instruments)},
        )
    length = float(piece.get_end_time())
    if length > max_seconds:
        raise PieceTooLongError(
            f"The piece lasts {length:.0f} s, more than the {max_seconds:.0f} s allowed "
            "(SONGFORGE_SYNTHESIS_MAX_SECONDS); compose a shorter piece or ask for a target length.",
            extra={"length_s": round(length, 2), "max_seconds": max_seconds},
        )
    for index, instrument in enumerate(piece.instruments):
        if not 0 <= instrument.program <= 127:
            raise UnknownInstrumentError(
                f"Track {index} uses program {instrument.program}; General MIDI programs are 0-127.",
                extra={"track": index, "program": instrument.program},
            )
    return piece


def composed_tempo(piece: pretty_midi.PrettyMIDI) -> float:
    """Duration-weighted tempo of the piece, in BPM."""
    times, tempi = piece.get_tempo_changes()
    if len(tempi) == 0:
        return 120.0
    end = max(float(piece.get_end_time()), float(times[-1]) + 1e-3)
    durations = np.diff(np.append(times, end))
    return float(np.sum(tempi * durations) / np.sum(durations)) if durations.sum() > 0 else float(tempi[0])


def estimate_key(piece: pretty_midi.PrettyMIDI) -> str:
    """Key of the pitched notes, weighted by duration (e.g. "A minor"); "unknown" without notes."""
    weights = tonality.pitch_class_weights(
        (note.pitch, note.end - note.start)
        for instrument in piece.instruments
        if not instrument.is_drum
        for note in instrument.notes
    )
    if not weights.any():
        return "unknown"
    return tonality.estimate_key(weights).name


# Track names SongForge's composer writes (``tokenizer.to_pretty_midi``) and the role each plays.
NAMED_ROLES = {"melody": "melody", "chords": "harmony", "bass": "bass", "drums": "drums"}


def _role_of(instrument: pretty_midi.Instrument, highest_median: float) -> str:
    """The composer's own track name decides; other MIDI is read by register.

    A composed bass that climbs (a lullaby's octave leaps: median 50 or above) is still the bass,
    so it gets the bass program the MIDI carries instead of the harmony's.
    """
    if instrument.is_drum:
        return "drums"
    named = NAMED_ROLES.get(instrument.name.strip().lower())
    if named is not None:
        return named
    median_pitch = float(np.median([note.pitch for note in instrument.notes]))
    if median_pitch < 50:
        return "bass"
    if median_pitch >= highest_median:
        return "melody"
    return "harmony"


def plan_tracks(piece: pretty_midi.PrettyMIDI, profile: dict[str, Any]) -> list[TrackPlan]:
    """Give each track with notes a role and a program: the profile's program for that role, else the track's."""
    programs = dict(profile.get("instrumentation", {}).get("programs", {}))
    for role, program in programs.items():
        if program is None:
            continue
        if not isinstance(program, int) or isinstance(program, bool) or not 0 <= program <= 127:
            raise UnknownInstrumentError(
                f"The target profile asks for program {program!r} for the {role}; "
                "General MIDI programs are integers 0-127. Rebuild the profile from the uploads.",
                extra={"role": role, "program": program},
            )
    sounding = [(index, inst) for index, inst in enumerate(piece.instruments) if inst.notes]
    pitched_medians = [
        float(np.median([note.pitch for note in inst.notes]))
        for _, inst in sounding
        if not inst.is_drum and np.median([note.pitch for note in inst.notes]) >= 50
    ]
    highest = max(pitched_medians) if len(pitched_medians) > 0 else math.inf
    plans: list[TrackPlan] = []
    harmony_seen = 0
    for index, instrument in sounding:
        role = _role_of(instrument, highest)
        if role == "harmony":
            role = "harmony" if harmony_seen % 2 == 0 or programs.get("pad") is None else "pad"
            harmony_seen += 1
        chosen = programs.get(role)
        program = int(chosen) if chosen is not None and not instrument.is_drum else int(instrument.program)
        plans.append(
            TrackPlan(
                index=index,
                name=instrument.name or f"track {index}",
                role=role,
                is_drum=bool(instrument.is_drum),
                program=program,
                note_count=len(instrument.notes),
            )
        )
    return plans


def bar_length(piece: pretty_midi.PrettyMIDI) -> float:
    downbeats = piece.get_downbeats()
    if len(downbeats) >= 2:
        return float(np.median(np.diff(downbeats)))
    return 4 * 60.0 / composed_tempo(piece)


def fit_length(piece: pretty_midi.PrettyMIDI, target_seconds: float) -> tuple[pretty_midi.PrettyMIDI, float]:
    """Loop the piece by whole bars until it covers the target, then cut at the bar line before the target.

    Returns the new piece and the cut time; notes crossing the cut are shortened to it.
    The audio keeps ringing after the cut and is faded out by the mastering stage.
    """
    bar = bar_length(piece)
    first_downbeat = float(piece.get_downbeats()[0]) if len(piece.get_downbeats()) else 0.0
    bars_in_piece = max(1, math.ceil((piece.get_end_time() - first_downbeat) / bar - 0.05))
    loop_length = bars_in_piece * bar
    usable = max(bar, target_seconds - RELEASE_TAIL_S)
    cut = first_downbeat + max(1, math.floor((usable - first_downbeat) / bar + 1e-6)) * bar
    copies = max(1, math.ceil((cut - first_downbeat) / loop_length))
    fitted = pretty_midi.PrettyMIDI(initial_tempo=composed_tempo(piece))
    for instrument in piece.instruments:
        clone = pretty_midi.Instrument(program=instrument.program, is_drum=instrument.is_drum, name=instrument.name)
        for copy in range(copies):
            shift = copy * loop_length
            for note in instrument.notes:
                start = note.start + shift
                if start >= cut - 1e-6 or (copy > 0 and note.start < first_downbeat):
                    continue
                end = min(note.end + shift, cut)
                clone.notes.append(pretty_midi.Note(velocity=note.velocity, pitch=note.pitch, start=start, end=end))
            for change in instrument.control_changes:
                if change.time + shift < cut:
                    clone.control_changes.append(
                        pretty_midi.ControlChange(number=change.number, value=change.value, time=change.time + shift)
                    )
            for bend in instrument.pitch_bends:
                if bend.time + shift < cut:
                    clone.pitch_bends.append(pretty_midi.PitchBend(pitch=bend.pitch, time=bend.time + shift))
        fitted.instruments.append(clone)
    return fitted, cut


def _events(
    piece: pretty_midi.PrettyMIDI, plans: list[TrackPlan], channels: dict[int, int], rng: np.random.Generator
) -> list[tuple[int, int, int, int, int, int]]:
    """(sample, order, kind, channel, a, b) tuples; kind 0 control, 1 bend, 2 note-off, 3 note-on."""
    events: list[tuple[int, int, int, int, int, int]] = []
    for plan in plans:
        instrument = piece.instruments[plan.index]
        channel = channels[plan.index]
        jitter = TIMING_JITTER_S / (2 if plan.is_drum else 1)
        for note in instrument.notes:
            shift = float(np.clip(rng.normal(0.0, jitter), -TIMING_JITTER_LIMIT_S, TIMING_JITTER_LIMIT_S))
            start = max(0.0, note.start + shift)
            end = max(start + 0.01, note.end + shift)
            velocity = int(np.clip(round(note.velocity * rng.normal(1.0, VELOCITY_JITTER)), 1, 127))
            events.append((round(start * SAMPLE_RATE), 1, 3, channel, note.pitch, velocity))
            events.append((round(end * SAMPLE_RATE), 0, 2, channel, note.pitch, 0))
        for change in instrument.control_changes:
            if change.number in (1, 11, 64):
                events.append((round(change.time * SAMPLE_RATE), 0, 0, channel, change.number, change.value))
        for bend in instrument.pitch_bends:
            events.append((round(bend.time * SAMPLE_RATE), 0, 1, channel, bend.pitch + 8192, 0))
    events.sort()
    return events


def render(piece: pretty_midi.PrettyMIDI, plans: list[TrackPlan], *, seed: int, profile: dict[str, Any]) -> FloatArray:
    """Render every planned track into one stereo mix, (2, samples) float64."""
    synth = tinysoundfont.Synth(samplerate=SAMPLE_RATE, gain=-6.0)
    font = synth.sfload(_sound_font_bytes(), max_voices=256)
    has_drums = bool(profile.get("instrumentation", {}).get("families", {}).get("drums", True))
    channels: dict[int, int] = {}
    program_channels: dict[int, int] = {}
    for plan in plans:
        if plan.is_drum:
            channels[plan.index] = DRUM_CHANNEL
            continue
        if plan.program not in program_channels:
            if len(program_channels) == len(PITCHED_CHANNELS):
                raise UnknownInstrumentError(
                    f"The piece uses more than {len(PITCHED_CHANNELS)} different pitched instruments; "
                    "merge tracks that share a role.",
                    extra={"programs": sorted({p.program for p in plans if not p.is_drum})},
                )
            program_channels[plan.program] = PITCHED_CHANNELS[len(program_channels)]
        channels[plan.index] = program_channels[plan.program]
    for plan in plans:
        channel = channels[plan.index]
        bank = 128 if plan.is_drum else 0
        if synth.sfpreset_name(font, bank, 0 if plan.is_drum else plan.program) is None:
            raise UnknownInstrumentError(
                f"Program {plan.program} is not in the sound font {sound_font_path().name}; pick another instrument.",
                extra={"program": plan.program, "track": plan.index},
            )
        synth.program_select(channel, font, bank, 0 if plan.is_drum else plan.program, is_drums=plan.is_drum)
        volume = ROLE_VOLUME[plan.role] if has_drums or not plan.is_drum else LIGHT_PERCUSSION_VOLUME
        synth.control_change(channel, 7, volume)
        synth.control_change(channel, 10, ROLE_PAN[plan.role])
    rng = np.random.default_rng(seed)
    events = _events(piece, plans, channels, rng)
    total = (events[-1][0] if events else 0) + int(RELEASE_TAIL_S * SAMPLE_RATE)
    output = np.zeros((total, 2), dtype=np.float32)
    view = output.data.cast("B")
    frame_bytes = 2 * 4
    position = 0
    for sample, _order, kind, channel, first, second in events:
        if sample > position:
            synth.generate_simple(sample - position, buffer=view[position * frame_bytes : sample * frame_bytes])
            position = sample
        if kind == 3:
            synth.noteon(channel, first, second)
        elif kind == 2:
            synth.noteoff(channel, first)
        elif kind == 1:
            synth.pitchbend(channel, first)
        else:
            synth.control_change(channel, first, second)
    if total > position:
        synth.generate_simple(total - position, buffer=view[position * frame_bytes : total * frame_bytes])
    return np.ascontiguousarray(output.T, dtype=np.float64)
