"""Build the open demo catalog: music21 corpus scores arranged into short songs and rendered to audio.

No Django here: ``build_demo_catalog(out_dir, size, seconds, seed)`` writes
``out_dir/audio/demo-NNNNN.ogg`` and ``out_dir/manifest.json`` (the format
``catalog.manifest`` imports) and can be called from any script, e.g. the
identification benchmark.

Each entry takes one corpus work (folk tune, Bach chorale or Renaissance/medieval
polyphony) and arranges it by rule: the melody (and for polyphony the other voices)
on varied General MIDI instruments, a diatonic chord per bar chosen to cover the
melody notes of that bar, a bass line on the chord roots, and a drum pattern on
channel 10, all at a varied tempo and key. It renders with pretty_midi's bundled
TimGM6mb.sf2 soundfont through tinysoundfont, adds a simple room (convolution with
decaying noise) and normalises to -1 dBFS.

Every entry is deterministic given (seed, index, seconds, sample rate, format) and
cached: ``out_dir/entries/demo-NNNNN.json`` records what was built; a rerun skips
entries whose record and audio already exist, so an interrupted build resumes.

Licences: scores come from music21's corpus; the Essen folk song collection is for
non-commercial use only, which the entries' ``license`` field says.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from generation.ml import tonality

BUILD_VERSION = 2
DEMO_ISRC_PREFIX = "QZDEM00"  # country QZ, registrant DEM, year 00: never assigned to real releases here

CATEGORY_COLLECTIONS = {
    "folk": ("oneills1850", "ryansMammoth", "airdsAirs", "miscFolk", "essenFolksong"),
    "chorale": ("bach",),
    "polyphony": ("palestrina", "monteverdi", "josquin", "trecento"),
}
# Which category each of ten consecutive entries draws from: half folk, a fifth chorales, the rest polyphony.
CATEGORY_PATTERN = ("folk", "polyphony", "folk", "chorale", "folk", "polyphony", "folk", "chorale", "folk", "polyphony")
MUSIC_SUFFIXES = (".abc", ".mxl", ".xml", ".krn", ".musicxml", ".mid")
ATTEMPTS_PER_ENTRY = 6

# General MIDI programs (0-based) per role and style.
MELODY_PROGRAMS = (0, 4, 11, 13, 22, 24, 25, 40, 56, 65, 68, 71, 73, 75, 80, 81, 105)
STYLES: dict[str, dict[str, tuple[int, ...]]] = {
    "pop": {"chords": (0, 4, 24, 25, 27), "bass": (33, 34)},
    "ballad": {"chords": (88, 89, 48, 49, 52), "bass": (32, 33)},
    "folk": {"chords": (24, 25, 21, 105), "bass": (32, 43)},
    "dance": {"chords": (81, 90, 87, 62), "bass": (38, 39)},
    "chamber": {"chords": (48, 49, 19, 52), "bass": (42, 43)},
}
VOICE_PROGRAMS = (40, 41, 42, 52, 56, 57, 60, 68, 70, 71, 73, 19)
GENRES = {
    "pop": "Pop",
    "ballad": "Singer-songwriter",
    "folk": "Folk",
    "dance": "Electronic",
    "chamber": "Classical crossover",
}

KICK, SIDE_STICK, SNARE, CLAP, HAT, PEDAL_HAT, OPEN_HAT, CRASH, RIDE, TAMBOURINE, SHAKER = (
    36,
    37,
    38,
    39,
    42,
    44,
    46,
    49,
    51,
    54,
    70,
)

# (semitones above tonic, chord quality) per scale degree; the minor V is major (harmonic minor).
MAJOR_TRIADS = ((0, "maj"), (2, "min"), (4, "min"), (5, "maj"), (7, "maj"), (9, "min"))
MINOR_TRIADS = ((0, "min"), (3, "maj"), (5, "min"), (7, "maj"), (8, "maj"), (10, "maj"))
QUALITY_INTERVALS = {"maj": (0, 4, 7), "min": (0, 3, 7)}

ADJECTIVES = (
    "Silver", "Hollow", "Golden", "Quiet", "Electric", "Paper", "Velvet", "Northern", "Crimson", "Wandering",
    "Distant", "Lucky", "Broken", "Secret", "Midnight", "Amber", "Wild", "Gentle", "Rusty", "Bright",
)  # fmt: skip
NOUNS = (
    "Harbour", "Lanterns", "Orchard", "Sparrows", "Rivers", "Engines", "Meadow", "Comets", "Tides", "Foxes",
    "Bridges", "Echoes", "Hills", "Pilots", "Gardens", "Wolves", "Mirrors", "Islands", "Bells", "Kites",
)  # fmt: skip
FIRST_NAMES = (
    "Ana", "Zoë", "Björn", "Léa", "Mateo", "Chloé", "Sean", "Noémie", "Jonas", "Inès", "Ravi", "Maëlle",
    "Tomás", "Ingrid", "Yusuf", "Renée", "Oskar", "Aoife", "José", "Mira",
)  # fmt: skip
LAST_NAMES = (
    "Marín", "Okafor", "Lindqvist", "Dubois", "Núñez", "Kowalski", "Byrne", "Müller", "Sato", "Ferreira",
    "Åberg", "Haddad", "O'Neill", "Castaño", "Novák", "Keane", "Çelik", "Moreau", "Petrov", "Larsen",
)  # fmt: skip
LABELS = (
    "Harbour Light Records", "Northwind Music", "Paper Moon Label", "Tidewater Sound", "Kestrel Recordings",
    "Orchard Lane Records",
)  # fmt: skip
PUBLISHERS = ("Bluefield Publishing", "Maplewood Songs", "Cobalt Music Publishing", "Lantern Editions")


@dataclass(frozen=True)
class Work:
    """One piece of the music21 corpus: a file and, for collections of tunes, the tune number."""

    path: str
    number: int | None
    category: str

    @property
    def source(self) -> str:
        return f"music21:{self.path}" + (f"#{self.number}" if self.number is not None else "")

    @property
    def license(self) -> str:
        if self.path.startswith("essenFolksong/"):
            return "music21 corpus, Essen Folksong Collection: non-commercial use only"
        return "music21 corpus score (see music21/corpus/license.txt)"


@dataclass(frozen=True)
class Piece:
    """A parsed work: voices of (start beat, length in beats, MIDI pitch), highest voice first."""

    title: str
    composer: str
    beats_per_bar: float
    voices: list[list[tuple[float, float, int]]]

    @property
    def length_beats(self) -> float:
        end = max(start + length for voice in self.voices for start, length, _ in voice)
        return math.ceil(end / self.beats_per_bar) * self.beats_per_bar


@dataclass(frozen=True)
class Persona:
    """An artist's habits, shared by all their songs: style, tempo, key offset and sounds.

    Real upload sets come from one artist and hang together; demo catalog entries don't (each
    draws its own style), so benchmarks that need coherent sets arrange works with a persona.
    """

    style: str
    tempo: float
    transpose: int
    melody_program: int
    chord_program: int
    bass_program: int
    melody_octave: int = 0
    tempo_spread: int = 4
    drums: str | None = None  # a DRUM_STYLES kit instead of the style's own; "none": no drums at all
    scale: str | None = None  # recast the work into this scale (generation.ml.tonality.SCALES) on its tonic


@dataclass
class Arrangement:
    """Timed MIDI events of one song plus the choices that made it (kept in the entry record)."""

    events: list[tuple[float, int, int, int, int]] = field(default_factory=list)  # (seconds, on 1/off 0, ch, key, vel)
    programs: dict[int, int] = field(default_factory=dict)
    style: str = ""
    tempo: float = 120.0
    transpose: int = 0
    key: str = ""
    room_seconds: float = 0.0
    room_wet: float = 0.0


# --- corpus -------------------------------------------------------------------


_ABC_NUMBER = re.compile(r"^X:\s*(\d+)", re.MULTILINE)


def corpus_works(seed: int) -> list[Work]:
    """Every usable corpus work, interleaved by category, shuffled deterministically by ``seed``.

    Tune collections (ABC files with several ``X:`` numbers) give one work per tune; reading
    the numbers from the text is far cheaper than music21's metadata bundle.
    """
    from music21 import corpus

    by_category: dict[str, list[Work]] = {name: [] for name in CATEGORY_COLLECTIONS}
    collection_category = {c: name for name, cs in CATEGORY_COLLECTIONS.items() for c in cs}
    for full in corpus.getPaths():
        full_path = Path(str(full))
        parts = full_path.parts
        if "corpus" not in parts:
            continue
        relative = "/".join(parts[len(parts) - parts[::-1].index("corpus") :])
        category = collection_category.get(relative.split("/")[0])
        if category is None or not relative.endswith(MUSIC_SUFFIXES):
            continue
        if relative.endswith(".abc"):
            numbers = sorted({int(n) for n in _ABC_NUMBER.findall(full_path.read_text(errors="replace"))})
            if len(numbers) > 1:
                by_category[category].extend(Work(path=relative, number=n, category=category) for n in numbers)
                continue
        by_category[category].append(Work(path=relative, number=None, category=category))
    rng = random.Random(seed)
    for works in by_category.values():
        works.sort(key=lambda w: (w.path, w.number or 0))
        rng.shuffle(works)
    ordered: list[Work] = []
    cursors = dict.fromkeys(by_category, 0)
    while any(cursors[name] < len(works) for name, works in by_category.items()):
        for name in CATEGORY_PATTERN:
            if cursors[name] < len(by_category[name]):
                ordered.append(by_category[name][cursors[name]])
                cursors[name] += 1
    return ordered


def parse_work(work: Work, *, max_voices: int = 4) -> Piece:
    """Load a work with music21; raises ValueError when it has too few notes to make a song."""
    from music21 import corpus, stream

    score = corpus.parse(work.path, number=work.number) if work.number is not None else corpus.parse(work.path)
    if isinstance(score, stream.Opus):
        score = score.scores[0]
    beats_per_bar = 4.0
    signatures = score.flatten().getElementsByClass("TimeSignature")
    if signatures:
        beats_per_bar = float(signatures[0].barDuration.quarterLength) or 4.0
    parts = list(score.parts) or [score]
    voices: list[list[tuple[float, float, int]]] = []
    for part in parts[:max_voices]:
        notes: list[tuple[float, float, int]] = []
        for element in part.flatten().notes:
            length = float(element.quarterLength)
            if length <= 0:
                continue
            pitches = [p.midi for p in element.pitches]
            if pitches:
                notes.append((float(element.offset), length, max(pitches)))
        if len(notes) >= 4:
            voices.append(notes)
    if not voices or len(voices[0]) < 8:
        raise ValueError(f"{work.source} has too few notes")
    metadata = score.metadata
    title = (metadata.title if metadata is not None and metadata.title else "") or ""
    composer = (metadata.composer if metadata is not None and metadata.composer else "") or ""
    return Piece(title=title, composer=composer, beats_per_bar=beats_per_bar, voices=voices)


# --- arrangement ----------------------------------------------------------------


def estimate_key(piece: Piece) -> tuple[int, str]:
    """(tonic pitch class, "major" | "minor") from duration-weighted pitch classes."""
    weights = tonality.pitch_class_weights((pitch, length) for voice in piece.voices for _, length, pitch in voice)
    key = tonality.estimate_key(weights)
    return key.tonic, key.mode


def choose_chords(piece: Piece, tonic: int, mode: str) -> list[tuple[int, str]]:
    """One (root pitch class, quality) per bar: the diatonic triad covering most melody duration."""
    triads = MAJOR_TRIADS if mode == "major" else MINOR_TRIADS
    bars = int(piece.length_beats / piece.beats_per_bar)
    weight = np.zeros((bars, 12))
    for start, length, pitch in piece.voices[0]:
        bar = min(int(start / piece.beats_per_bar), bars - 1)
        weight[bar, pitch % 12] += length
    chords = []
    for bar in range(bars):
        scores = []
        for degree, (offset, quality) in enumerate(triads):
            root = (tonic + offset) % 12
            tones = [(root + i) % 12 for i in QUALITY_INTERVALS[quality]]
            score = float(weight[bar, tones].sum()) + (0.3 if degree in (0, 3, 4) else 0.0)
            if degree == 0 and bar in (0, bars - 1):
                score += 1.0
            scores.append((score, -degree, root, quality))
        _, _, root, quality = max(scores)
        chords.append((root, quality))
    return chords


def _fit(pitch: int, low: int, high: int) -> int:
    while pitch < low:
        pitch += 12
    while pitch > high:
        pitch -= 12
    return pitch


DRUM_STYLES = ("none", "brushes", "four", "backbeat", "breakbeat")


def _drum_pattern(style: str, beats_per_bar: float) -> list[tuple[float, int, int]]:
    """(beat within bar, drum key, velocity) for one bar: an arrangement style's kit or a DRUM_STYLES one."""
    beats = max(1, round(beats_per_bar))
    hits: list[tuple[float, int, int]] = []
    if style == "none":
        return []
    if style == "brushes":  # ride on the beats with a skip note, feathered kick, soft snare on the backbeats
        for b in range(beats):
            hits += [(float(b), RIDE, 62), (b + 2 / 3, RIDE, 40)]
            if b % 2 == 1:
                hits.append((float(b), SNARE, 40))
        return [*hits, (0.0, KICK, 55)]
    if style == "four":
        style = "dance"
    if style == "backbeat":
        style = "pop"
    if style == "breakbeat":  # syncopated kicks, backbeat snare with ghost notes, sixteenth hats
        for step in range(beats * 4):
            hits.append((step / 4, HAT, 70 if step % 2 == 0 else 45))
        hits += [(0.0, KICK, 110), (1.0, SNARE, 100), (1.75, SNARE, 50), (2.5, KICK, 100), (3.0, SNARE, 100)]
        if beats >= 4:
            hits += [(2.25, KICK, 80), (3.75, SNARE, 55)]
        return [h for h in hits if h[0] < beats]
    if style == "chamber":
        return [(float(b), SHAKER, 50 if b else 70) for b in range(beats)] + [(0.0, TAMBOURINE, 45)]
    if style == "dance":
        for b in range(beats):
            hits += [(float(b), KICK, 110), (b + 0.5, OPEN_HAT if b % 2 else HAT, 70)]
            if b % 2 == 1:
                hits.append((float(b), CLAP, 95))
        return hits
    if style == "ballad":
        hits = [(0.0, KICK, 85)] + [(float(b), PEDAL_HAT, 55) for b in range(beats)]
        if beats >= 3:
            hits.append((float(beats - 1), SIDE_STICK, 70))
        return hits
    if style == "folk":
        for b in range(beats):
            hits += [(float(b), TAMBOURINE, 60), (b + 0.5, HAT, 45)]
        return [*hits, (0.0, KICK, 90)]
    # pop: kick on 1 (and 3), snare on the backbeats, eighth-note hats
    for b in range(beats):
        hits.append((float(b), HAT, 70))
        hits.append((b + 0.5, HAT, 50))
        if b % 2 == 0:
            hits.append((float(b), KICK, 105))
        elif beats != 3:
            hits.append((float(b), SNARE, 95))
    if beats == 3:
        hits += [(1.0, SNARE, 80), (2.0, SNARE, 80)]
    return hits


def scale_map(tonic: int, mode: str, scale: str) -> Callable[[int], int]:
    """Recast pitches from the work's key (``tonic`` ``mode``) into ``scale`` on the same tonic.

    Scale degrees map to the same degree of the new scale (a pentatonic keeps the nearest of its
    five notes); notes outside the key snap to the nearest note of the new scale.
    """
    source = tonality.SCALES["major" if mode == "major" else "minor"]
    target = tonality.SCALES[scale]

    def nearest(relative: int) -> int:
        return min(target, key=lambda t: (min((t - relative) % 12, (relative - t) % 12), t))

    def recast(pitch: int) -> int:
        relative = (pitch - tonic) % 12
        same_size = relative in source and len(target) == len(source)
        new = target[source.index(relative)] if same_size else nearest(relative)
        moved = pitch - relative + new
        return moved - 12 if moved - pitch > 6 else moved + 12 if pitch - moved > 6 else moved

    return recast


TEMPO_RANGES = {"chamber": (66, 100), "ballad": (68, 96), "folk": (92, 132), "pop": (90, 128), "dance": (118, 132)}


def arrange(piece: Piece, rng: random.Random, *, seconds: float, persona: Persona | None = None) -> Arrangement:
    """Loop the piece to ``seconds`` and add chords, bass and drums; all choices come from ``rng``.

    With a ``persona`` its style, sounds and key offset are used and the tempo stays within
    ``persona.tempo_spread`` of its own (the draws without one are unchanged, so catalogs rebuild
    identically).
    """
    style = (
        rng.choice(("chamber", "ballad")) if len(piece.voices) > 2 and rng.random() < 0.5 else rng.choice(tuple(STYLES))
    )
    style = persona.style if persona else style
    tempo = float(rng.randint(*TEMPO_RANGES[style]))
    transpose = rng.randint(-5, 6)
    if persona:
        tempo = persona.tempo + rng.randint(-persona.tempo_spread, persona.tempo_spread)
        transpose = persona.transpose
    tonic, mode = estimate_key(piece)
    chords = choose_chords(piece, tonic, mode)
    recast = scale_map(tonic, mode, persona.scale) if persona and persona.scale else (lambda pitch: pitch)
    bpb = piece.beats_per_bar
    spb = 60.0 / tempo  # seconds per beat
    total_beats = math.ceil(seconds / spb / bpb) * bpb + bpb
    piece_beats = piece.length_beats
    arrangement = Arrangement(
        style=style,
        tempo=tempo,
        transpose=transpose,
        key=f"{tonality.PITCH_NAMES[(tonic + transpose) % 12]} {persona.scale if persona and persona.scale else mode}",
        room_seconds=round(rng.uniform(0.3, 2.2), 2),
        room_wet=round(rng.uniform(0.08, 0.35), 2),
    )
    programs = {
        0: rng.choice(MELODY_PROGRAMS),
        1: rng.choice(STYLES[style]["chords"]),
        2: rng.choice(STYLES[style]["bass"]),
    }
    for channel in range(3, 2 + len(piece.voices)):
        programs[channel] = rng.choice(VOICE_PROGRAMS)
    if persona:
        programs.update({0: persona.melody_program, 1: persona.chord_program, 2: persona.bass_program})
    arrangement.programs = programs
    events = arrangement.events

    def note(beat: float, length: float, channel: int, pitch: int, velocity: int) -> None:
        if beat >= total_beats:
            return
        velocity = max(1, min(127, velocity + rng.randint(-6, 6)))
        start = beat * spb
        events.append((start, 1, channel, pitch, velocity))
        events.append((start + max(0.05, length * spb * 0.92), 0, channel, pitch, 0))

    repeats = math.ceil(total_beats / piece_beats)
    melody_octave = rng.choice((0, 0, 12, -12)) if programs[0] not in (40, 73, 75) else 0
    melody_octave = persona.melody_octave if persona else melody_octave
    drum_pattern = _drum_pattern(persona.drums if persona and persona.drums else style, bpb)
    comp_beats = [0.0] if style in ("ballad", "chamber") else [float(b) for b in range(max(1, round(bpb)))]
    for repeat in range(repeats):
        offset = repeat * piece_beats
        for index, voice in enumerate(piece.voices):
            channel = 0 if index == 0 else 2 + index
            low, high = (55, 88) if index == 0 else (40, 76)
            for start, length, pitch in voice:
                moved = _fit(recast(pitch) + transpose + (melody_octave if index == 0 else 0), low, high)
                note(offset + start, length, channel, moved, 96 if index == 0 else 70)
        for bar, (root, quality) in enumerate(chords):
            bar_beat = offset + bar * bpb
            tones = [_fit(recast(root + i) + transpose, 52, 71) for i in QUALITY_INTERVALS[quality]]
            for beat in comp_beats:
                length = bpb if len(comp_beats) == 1 else 0.9
                for tone in tones:
                    note(bar_beat + beat, length, 1, tone, 62 if beat else 70)
            bass_root = _fit(recast(root) + transpose, 33, 47)
            if style == "dance":
                for step in range(int(bpb * 2)):
                    note(bar_beat + step / 2, 0.45, 2, bass_root + (12 if step % 2 else 0), 90)
            elif style in ("pop", "folk") and bpb >= 2:
                note(bar_beat, bpb / 2, 2, bass_root, 95)
                note(bar_beat + bpb / 2, bpb / 2, 2, _fit(bass_root + 7, 33, 50), 85)
            else:
                note(bar_beat, bpb, 2, bass_root, 90)
            for beat, key, velocity in drum_pattern:
                note(bar_beat + beat, 0.25, 9, key, velocity)
            if bar == 0 and repeat > 0 and drum_pattern:
                note(bar_beat, 1.0, 9, CRASH if style != "chamber" else RIDE, 85)
    events.sort(key=lambda e: (e[0], e[1]))
    return arrangement


# --- rendering --------------------------------------------------------------------


def soundfont_path() -> Path:
    import pretty_midi

    return Path(pretty_midi.__file__).with_name("TimGM6mb.sf2")


def render(arrangement: Arrangement, *, seconds: float, sample_rate: int, soundfont: Path | None = None) -> np.ndarray:
    """Synthesise the events with tinysoundfont (``soundfont``, default TimGM6mb): float32 (samples, 2)."""
    import tinysoundfont

    synth = tinysoundfont.Synth(samplerate=sample_rate, gain=-3.0)
    font = synth.sfload(str(soundfont or soundfont_path()))
    return play(synth, font, arrangement, seconds=seconds, sample_rate=sample_rate)


def play(synth: Any, font: int, arrangement: Arrangement, *, seconds: float, sample_rate: int) -> np.ndarray:
    """The events through a loaded tinysoundfont ``synth`` and its ``font`` handle: float32 (samples, 2).

    Split from :func:`render` so a caller rendering many examples loads each font once.
    """
    for channel, program in arrangement.programs.items():
        synth.program_select(channel, font, 0, program)
    synth.program_select(9, font, 128, 0, is_drums=True)
    total = int(seconds * sample_rate)
    out = np.zeros((total, 2), dtype=np.float32)
    position = 0
    for time, is_on, channel, key, velocity in arrangement.events:
        frame = min(int(time * sample_rate), total)
        if frame > position:
            block = np.frombuffer(synth.generate(frame - position), dtype=np.float32).reshape(-1, 2)
            out[position:frame] = block
            position = frame
        if position >= total:
            break
        if is_on:
            synth.noteon(channel, key, velocity)
        else:
            synth.noteoff(channel, key)
    if position < total:
        out[position:] = np.frombuffer(synth.generate(total - position), dtype=np.float32).reshape(-1, 2)
    return out


def add_room(audio: np.ndarray, *, sample_rate: int, room_seconds: float, wet: float, rng: random.Random) -> np.ndarray:
    """A cheap room: convolve with exponentially decaying stereo noise (RT60 = room_seconds)."""
    from scipy.signal import oaconvolve

    length = max(1, int(room_seconds * sample_rate))
    t = np.arange(length) / sample_rate
    noise = np.random.default_rng(rng.getrandbits(32)).standard_normal((length, 2))
    impulse = noise * np.exp(-6.9 * t / room_seconds)[:, None]
    predelay = int(0.012 * sample_rate)
    impulse = np.concatenate([np.zeros((predelay, 2)), impulse])
    impulse /= np.sqrt((impulse**2).sum(axis=0, keepdims=True))
    reverb = np.stack([oaconvolve(audio[:, c], impulse[:, c])[: len(audio)] for c in range(2)], axis=1)
    return ((1 - wet) * audio + wet * reverb).astype(np.float32)


def finish(audio: np.ndarray, *, sample_rate: int, fade_seconds: float = 1.5) -> np.ndarray:
    """Fade out the end and normalise the peak to -1 dBFS."""
    fade = min(len(audio), int(fade_seconds * sample_rate))
    if fade:
        audio[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)[:, None]
    peak = float(np.abs(audio).max())
    if peak > 0:
        audio *= 0.891 / peak
    return audio


# --- entries and rights -------------------------------------------------------------


@dataclass(frozen=True)
class Artist:
    name: str
    label: str
    albums: tuple[str, ...]
    writers: tuple[str, ...]


ARTIST_POOL = 100


def demo_people(seed: int) -> tuple[list[Artist], list[str]]:
    """Invented artists (each with a home label, albums and writers) and the writer pool, from ``seed``.

    The pool does not depend on the catalog's size, so entry N has the same artist and rights
    holders in a 50-entry demo as in the 500-entry catalog the model was trained on.
    """
    rng = random.Random(f"people:{seed}")
    writers = sorted({f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}" for _ in range(40)})
    names: set[str] = set()
    artists: list[Artist] = []
    for _ in range(ARTIST_POOL):
        for _attempt in range(50):
            kind = rng.random()
            if kind < 0.4:
                name = f"The {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}"
            elif kind < 0.8:
                name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
            else:
                name = f"{rng.choice(FIRST_NAMES)} & the {rng.choice(NOUNS)}"
            if name not in names:
                break
        else:
            name = f"{name} {len(artists) + 1}"
        names.add(name)
        albums = tuple(f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}" for _ in range(rng.randint(1, 3)))
        artists.append(
            Artist(name=name, label=rng.choice(LABELS), albums=albums, writers=tuple(rng.sample(writers, 3)))
        )
    return artists, writers


def _split(total: int, parts: int, rng: random.Random, step: int = 50) -> list[int]:
    """``parts`` positive multiples of ``step`` summing to ``total``."""
    units = total // step
    cuts = sorted(rng.sample(range(1, units), parts - 1)) if parts > 1 else []
    bounds = [0, *cuts, units]
    return [(bounds[i + 1] - bounds[i]) * step for i in range(parts)]


def demo_rights(artist: Artist, rng: random.Random) -> dict[str, list[dict[str, Any]]]:
    """Varied master and publishing splits; about 1 in 16 entries has unknown publishing (escrow)."""
    if rng.random() < 0.8:
        master = [{"holder": artist.label, "share_bps": 10_000}]
    else:
        other = rng.choice([label for label in LABELS if label != artist.label])
        first = rng.choice((5000, 6000, 7000, 7500, 8500))
        master = [{"holder": artist.label, "share_bps": first}, {"holder": other, "share_bps": 10_000 - first}]
    if rng.random() < 1 / 16:
        return {"master": master, "publishing": []}
    writers = list(artist.writers[: rng.randint(1, 3)])
    holders = writers + ([rng.choice(PUBLISHERS)] if rng.random() < 0.7 else [])
    shares = _split(10_000, len(holders), rng)
    publishing = [{"holder": name, "share_bps": bps} for name, bps in zip(holders, shares, strict=True)]
    return {"master": master, "publishing": publishing}


def _clean_title(raw: str) -> str:
    if any("\x80" <= ch <= "\x9f" for ch in raw):  # some Essen files are in a DOS code page
        raw = raw.encode("latin-1", errors="ignore").decode("cp437", errors="ignore")
    raw = raw.replace("]", "").replace("[", "")
    title = " ".join(raw.replace("_", " ").replace("--", "-").split()).strip(" .,;")
    return title.title() if title.isupper() else title


def entry_id(index: int) -> str:
    return f"demo-{index + 1:05d}"


def build_key(*, seed: int, index: int, seconds: float, sample_rate: int, audio_format: str) -> str:
    raw = json.dumps([BUILD_VERSION, seed, index, seconds, sample_rate, audio_format])
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class EntryJob:
    out_dir: Path
    index: int
    size: int
    seconds: float
    seed: int
    sample_rate: int
    audio_format: str


_WORKS_CACHE: dict[int, list[Work]] = {}
_PEOPLE_CACHE: dict[int, tuple[list[Artist], list[str]]] = {}


def _works_and_artists(seed: int) -> tuple[list[Work], list[Artist]]:
    works = _WORKS_CACHE.get(seed)
    if works is None:
        works = _WORKS_CACHE[seed] = corpus_works(seed)
    people = _PEOPLE_CACHE.get(seed)
    if people is None:
        people = _PEOPLE_CACHE[seed] = demo_people(seed)
    return works, people[0]


def _arrange_job(job: EntryJob) -> tuple[Work, Piece, Arrangement, random.Random]:
    """The entry's work, parsed piece and arrangement, and its rng positioned just after arranging."""
    works, _ = _works_and_artists(job.seed)
    rng = random.Random(f"entry:{job.seed}:{job.index}")
    last_error = ""
    for attempt in range(ATTEMPTS_PER_ENTRY):
        work = works[(job.index + attempt * 7919) % len(works)]  # a fallback that ignores size
        try:
            piece = parse_work(work)
        except Exception as exc:
            last_error = f"{work.source}: {exc}"
            continue
        break
    else:
        raise RuntimeError(f"{entry_id(job.index)}: no usable corpus work ({last_error})")
    return work, piece, arrange(piece, rng, seconds=job.seconds), rng


def _entry_metadata(
    job: EntryJob, work: Work, piece: Piece, arrangement: Arrangement, rng: random.Random
) -> dict[str, Any]:
    """The manifest entry; ``rng`` must be where rendering leaves it (after the room's draw)."""
    _, artists = _works_and_artists(job.seed)
    artist = artists[rng.randrange(len(artists))]
    title = _clean_title(piece.title) or f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}"
    if len(title) > 80:
        title = title[:80].rsplit(" ", 1)[0]
    composer = piece.composer or "Traditional"
    return {
        "id": entry_id(job.index),
        "title": title,
        "artist": artist.name,
        "album": rng.choice(artist.albums),
        "isrc": f"{DEMO_ISRC_PREFIX}{job.index + 1:05d}" if job.index < 99_999 else None,
        "audio": f"audio/{entry_id(job.index)}.{job.audio_format}",
        "genre": GENRES[arrangement.style],
        "year": 1990 + rng.randrange(36),
        "duration_ms": round(job.seconds * 1000),
        "composer": f"{composer} (arr. SongForge demo)",
        "source": work.source,
        "license": work.license,
        "rights": demo_rights(artist, rng),
    }


def arrangement_record(arrangement: Arrangement) -> dict[str, Any]:
    return {
        "style": arrangement.style,
        "tempo": arrangement.tempo,
        "key": arrangement.key,
        "transpose": arrangement.transpose,
        "programs": arrangement.programs,
        "room_seconds": arrangement.room_seconds,
        "room_wet": arrangement.room_wet,
    }


def arrangement_midi(arrangement: Arrangement, *, beats_per_bar: float) -> Any:
    """The arrangement as a ``pretty_midi.PrettyMIDI``: one instrument per channel, named by role.

    Instrument names: ``melody`` (channel 0), ``chords`` (1), ``bass`` (2), ``voice`` (3+, the
    other polyphonic voices) and ``drums`` (channel 10); tempo and metre are the arrangement's.
    """
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(initial_tempo=arrangement.tempo)
    if float(beats_per_bar).is_integer():
        numerator, denominator = int(beats_per_bar), 4
    else:
        numerator, denominator = round(beats_per_bar * 2), 8
    midi.time_signature_changes.append(pretty_midi.TimeSignature(numerator, denominator, 0.0))
    names = {0: "melody", 1: "chords", 2: "bass", 9: "drums"}
    instruments: dict[int, pretty_midi.Instrument] = {}
    sounding: dict[tuple[int, int], list[tuple[float, int]]] = {}
    for time, is_on, channel, key, velocity in arrangement.events:
        if is_on:
            sounding.setdefault((channel, key), []).append((time, velocity))
            continue
        started = sounding.get((channel, key))
        if not started:
            continue
        start, on_velocity = started.pop(0)
        if channel not in instruments:
            instruments[channel] = pretty_midi.Instrument(
                program=arrangement.programs.get(channel, 0), is_drum=channel == 9, name=names.get(channel, "voice")
            )
        instruments[channel].notes.append(pretty_midi.Note(on_velocity, key, start, max(time, start + 0.01)))
    midi.instruments.extend(instruments[c] for c in sorted(instruments))
    return midi


def arrange_entry(index: int, seed: int = 0, *, size: int = 500, seconds: float = 45.0) -> tuple[Any, dict[str, Any]]:
    """Entry ``index`` (0-based) of the demo catalog as symbolic MIDI, without rendering audio.

    Returns ``(pretty_midi.PrettyMIDI, record)`` where ``record`` holds the manifest ``entry``
    (identical to what ``build_demo_catalog(..., size, seconds, seed)`` writes, audio format ogg)
    and the ``arrangement`` choices. Deterministic for (index, seed, size, seconds).
    """
    job = EntryJob(
        out_dir=Path("."), index=index, size=size, seconds=seconds, seed=seed, sample_rate=22050, audio_format="ogg"
    )
    work, piece, arrangement, rng = _arrange_job(job)
    rng.getrandbits(32)  # the draw add_room makes when rendering, so the metadata matches the built entry
    entry = _entry_metadata(job, work, piece, arrangement, rng)
    record = {"entry": entry, "arrangement": arrangement_record(arrangement)}
    return arrangement_midi(arrangement, beats_per_bar=piece.beats_per_bar), record


def build_entry(job: EntryJob) -> dict[str, Any]:
    """Render entry ``job.index`` (or reuse it when already built); returns its record."""
    record_path = job.out_dir / "entries" / f"{entry_id(job.index)}.json"
    key = build_key(
        seed=job.seed, index=job.index, seconds=job.seconds, sample_rate=job.sample_rate, audio_format=job.audio_format
    )
    if record_path.exists():
        record: dict[str, Any] = json.loads(record_path.read_text())
        if record.get("build_key") == key and (job.out_dir / record["entry"]["audio"]).exists():
            return record
    work, piece, arrangement, rng = _arrange_job(job)
    audio = render(arrangement, seconds=job.seconds, sample_rate=job.sample_rate)
    audio = add_room(
        audio, sample_rate=job.sample_rate, room_seconds=arrangement.room_seconds, wet=arrangement.room_wet, rng=rng
    )
    audio = finish(audio, sample_rate=job.sample_rate)
    entry = _entry_metadata(job, work, piece, arrangement, rng)
    write_audio(job.out_dir / entry["audio"], audio, job.sample_rate, job.audio_format)
    record = {"build_key": key, "entry": entry, "arrangement": arrangement_record(arrangement)}
    record_path.parent.mkdir(parents=True, exist_ok=True)
    temporary = record_path.with_suffix(".tmp")
    temporary.write_text(json.dumps(record, ensure_ascii=False, indent=1))
    temporary.replace(record_path)
    return record


def write_audio(path: Path, audio: np.ndarray, sample_rate: int, audio_format: str) -> None:
    import soundfile

    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.part")
    subtype = {"ogg": "VORBIS", "flac": "PCM_16", "wav": "PCM_16"}[audio_format]
    soundfile.write(str(temporary), audio, sample_rate, format=audio_format.upper(), subtype=subtype)
    temporary.replace(path)


def _iter_records(jobs: list[EntryJob], workers: int) -> Iterator[dict[str, Any]]:
    if workers <= 1:
        for job in jobs:
            yield build_entry(job)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(build_entry, jobs, chunksize=1)


def build_demo_catalog(
    out_dir: Path | str,
    size: int = 500,
    seconds: float = 45.0,
    seed: int = 0,
    *,
    sample_rate: int = 22050,
    audio_format: str = "ogg",
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Build (or resume) ``size`` demo entries of ``seconds`` each in ``out_dir``; returns the manifest path.

    Deterministic for a given (seed, seconds, sample_rate, audio_format); entries already built are reused.
    ``workers`` defaults to the number of CPUs. ``progress(done, size)`` is called after each entry.
    """
    if audio_format not in ("ogg", "flac", "wav"):
        raise ValueError(f"audio_format must be ogg, flac or wav, not {audio_format!r}")
    if size < 1 or seconds < 2:
        raise ValueError("size must be at least 1 and seconds at least 2")
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    jobs = [
        EntryJob(
            out_dir=out,
            index=i,
            size=size,
            seconds=seconds,
            seed=seed,
            sample_rate=sample_rate,
            audio_format=audio_format,
        )
        for i in range(size)
    ]
    workers = workers if workers is not None else (os.cpu_count() or 1)
    entries: list[dict[str, Any]] = []
    for done, record in enumerate(_iter_records(jobs, min(workers, size)), start=1):
        entries.append(record["entry"])
        if progress is not None:
            progress(done, size)
    holders = (
        [{"name": name, "kind": "label"} for name in LABELS]
        + [{"name": name, "kind": "publisher"} for name in PUBLISHERS]
        + [{"name": name, "kind": "writer"} for name in demo_people(seed)[1]]
    )
    manifest = {"is_demo": True, "holders": holders, "entries": entries}
    path = out / "manifest.json"
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(manifest, ensure_ascii=False, indent=1))
    temporary.replace(path)
    return path
