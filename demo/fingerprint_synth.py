"""Procedural music-like audio for tests and benchmarks (seeded, numpy only).

Each seed gives a different "song": its own key, tempo, timbres and chord progression, a random-walk
melody over the scale, a bass line, a chord pad and kick/hi-hat percussion. It is not art, but it has
what landmark fingerprints feed on — harmonic partials with onsets and decays — and songs from the same
generator share a style, which makes false matches between them a fair test.

For larger benchmarks, ``kits`` and ``arrangements`` draw each song's drum kit (sounds and one-bar
pattern) and arrangement (chord voicing, bass pattern, lead register) from a small shared set, so that
many catalog songs share a kit; :func:`look_alike` makes a song that is *not* a given one but has its
kit, key and scale and a tempo within 2 % (optionally its arrangement too): the hardest stranger for a
fingerprint.
Without those options a seed gives the same audio as it always did.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)


def _midi_hz(note: float) -> float:
    return float(440.0 * 2.0 ** ((note - 69.0) / 12.0))


def _tone(
    out: npt.NDArray[np.float64],
    sample_rate: int,
    start_s: float,
    length_s: float,
    hz: float,
    partials: npt.NDArray[np.float64],
    level: float,
    decay: float,
    vibrato: float = 0.0,
) -> None:
    start = int(start_s * sample_rate)
    length = min(int(length_s * sample_rate), out.size - start)
    if length <= 0:
        return
    t = np.arange(length) / sample_rate
    envelope = np.minimum(t / 0.01, 1.0) * np.exp(-t * decay)
    release = min(length, int(0.03 * sample_rate))
    envelope[length - release :] *= np.linspace(1.0, 0.0, release)
    # Phase of a tone with a 5.5 Hz vibrato of relative depth ``vibrato``.
    if vibrato:
        phase = 2 * np.pi * hz * (t + vibrato / (2 * np.pi * 5.5) * (1 - np.cos(2 * np.pi * 5.5 * t)))
    else:
        phase = 2 * np.pi * hz * t
    # sin(k·phase) by the Chebyshev recurrence sin(kx) = 2·cos(x)·sin((k−1)x) − sin((k−2)x): one sine and
    # one cosine per tone instead of one sine per partial (synthesis dominated the 10,000-song benchmark).
    wave = np.zeros(length)
    twice_cos = 2.0 * np.cos(phase)
    previous, current = np.zeros(length), np.sin(phase)
    for k, amplitude in enumerate(partials, start=1):
        if hz * k >= sample_rate / 2 - 200:
            break
        wave += amplitude * current
        previous, current = current, twice_cos * current - previous
    out[start : start + length] += level * envelope * wave


KIT_SEED = 7_000_000
ARRANGEMENT_SEED = 8_000_000


@dataclass(frozen=True)
class Style:
    """What a song shares with its look-alikes: tempo, key (root with tuning) and scale, kit, arrangement."""

    bpm: float
    root: float
    minor: bool
    kit: int | None = None
    arrangement: int | None = None


def style_of(seed: int, *, kits: int | None = None, arrangements: int | None = None) -> Style:
    """The style :func:`song` gives ``seed`` with these options (its first draws, replayed)."""
    rng = np.random.default_rng(seed)
    bpm = float(rng.uniform(80, 160))
    root = int(rng.integers(45, 58)) + float(np.clip(rng.normal(0.0, 0.15), -0.4, 0.4))
    minor = not rng.random() < 0.5
    return Style(
        bpm=bpm,
        root=root,
        minor=minor,
        kit=None if kits is None else seed % kits,
        arrangement=None if arrangements is None else (seed // max(kits or 1, 1)) % arrangements,
    )


def look_alike(
    seed: int,
    of: int,
    seconds: float,
    sample_rate: int = 16000,
    *,
    kits: int = 8,
    arrangements: int = 6,
    same_arrangement: bool = False,
) -> npt.NDArray[np.float32]:
    """A song that is not ``of`` but shares its drum kit, key and scale, at a tempo within 2 %.

    ``same_arrangement`` also copies its chord voicing, bass rhythm and lead register (harder still).
    """
    target = style_of(of, kits=kits, arrangements=arrangements)
    rng = np.random.default_rng(seed)
    bpm = target.bpm * float(rng.uniform(0.98, 1.02))
    arrangement = target.arrangement if same_arrangement else int(rng.integers(arrangements))
    return song(seed, seconds, sample_rate, style=Style(bpm, target.root, target.minor, target.kit, arrangement))


def _kit(
    kit: int, sample_rate: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Kick and hi-hat sounds and their one-bar patterns of shared kit number ``kit``."""
    rng = np.random.default_rng(KIT_SEED + kit)
    kick_t = np.arange(int(0.15 * sample_rate)) / sample_rate
    kick_hz = rng.uniform(40, 70)
    kick = np.sin(2 * np.pi * (kick_hz + 60 * np.exp(-kick_t * 30)) * kick_t) * np.exp(-kick_t * rng.uniform(12, 30))
    hat_n = int(0.05 * sample_rate)
    hat = rng.standard_normal(hat_n) * np.exp(-np.arange(hat_n) / (rng.uniform(0.005, 0.02) * sample_rate))
    hat = np.convolve(hat, np.concatenate(([1.0], rng.uniform(-0.3, 0.3, 5))), mode="same")
    kick_pattern = rng.random(8) < 0.3
    kick_pattern[0] = True
    hat_pattern = rng.random(8) < 0.6
    return kick, hat, kick_pattern, hat_pattern


def song(
    seed: int,
    seconds: float,
    sample_rate: int = 16000,
    *,
    kits: int | None = None,
    arrangements: int | None = None,
    style: Style | None = None,
) -> npt.NDArray[np.float32]:
    """``seconds`` of a procedural song as mono float32 in [-1, 1] at ``sample_rate``.

    Played like people play: each song has its own tuning (A = 440 Hz ± a few tens of cents), notes are
    a little early or late and vary in loudness, and the lead has vibrato. ``kits``/``arrangements`` take
    the kit and arrangement from shared sets (see :func:`style_of`); ``style`` overrides tempo, key, scale,
    kit and arrangement (see :func:`look_alike`).
    """
    if style is None and (kits is not None or arrangements is not None):
        style = style_of(seed, kits=kits, arrangements=arrangements)
    rng = np.random.default_rng(seed)
    out = np.zeros(int(seconds * sample_rate))
    beat = 60.0 / rng.uniform(80, 160)
    root = int(rng.integers(45, 58)) + float(np.clip(rng.normal(0.0, 0.15), -0.4, 0.4))
    scale = MAJOR if rng.random() < 0.5 else MINOR
    if style is not None:
        beat, root, scale = 60.0 / style.bpm, style.root, MINOR if style.minor else MAJOR
    lead = rng.uniform(0.1, 1.0, 7) / np.arange(1, 8) ** rng.uniform(0.5, 1.5)
    pad = rng.uniform(0.2, 1.0, 4) / np.arange(1, 5)
    bass = rng.uniform(0.3, 1.0, 3) / np.arange(1, 4)
    progression = rng.choice(7, size=4)
    voicing = ((0, 2, 4), (2, 4, 7), (4, 7, 9))[int(rng.integers(3))]
    bass_pattern = rng.random(8) < 0.5
    bass_pattern[0] = True
    vibrato = rng.uniform(0.002, 0.008)
    lead_octave = int(rng.choice([12, 24]))
    if style is not None and style.arrangement is not None:
        shared = np.random.default_rng(ARRANGEMENT_SEED + style.arrangement)
        voicing = ((0, 2, 4), (2, 4, 7), (4, 7, 9))[int(shared.integers(3))]
        bass_pattern = shared.random(8) < 0.5
        bass_pattern[0] = True
        lead_octave = int(shared.choice([12, 24]))

    def degree(d: int) -> float:
        return root + 12 * (d // 7) + scale[d % 7]

    def jitter() -> float:
        return float(rng.normal(0.0, 0.008))

    bars = int(seconds / (4 * beat)) + 1
    for bar in range(bars):
        chord = int(progression[bar % 4])
        t0 = bar * 4 * beat
        for voice in voicing:
            note = _midi_hz(degree(chord + voice) + 12)
            _tone(out, sample_rate, max(t0 + jitter(), 0.0), 4 * beat, note, pad, 0.05 * rng.uniform(0.7, 1.0), 0.6)
        for e in range(8):
            if bass_pattern[e]:
                note = _midi_hz(degree(chord + (4 if e % 4 == 3 else 0)) - 12)
                start = max(t0 + e * beat / 2 + jitter(), 0.0)
                _tone(out, sample_rate, start, beat * 0.45, note, bass, 0.12 * rng.uniform(0.7, 1.0), 3.0)
    # Melody: a random walk on the scale with varied note lengths and rests.
    position = 0.0
    step = int(rng.integers(7, 14))
    while position < seconds:
        length = beat * float(rng.choice([0.25, 0.5, 0.5, 1.0, 1.0, 1.5, 2.0]))
        if rng.random() > 0.12:
            step = int(np.clip(step + rng.integers(-3, 4), 0, 20))
            note = _midi_hz(degree(step) + lead_octave - 12)
            level = 0.16 * rng.uniform(0.6, 1.0)
            _tone(
                out,
                sample_rate,
                max(position + jitter(), 0.0),
                length,
                note,
                lead,
                level,
                rng.uniform(1.0, 4.0),
                vibrato,
            )
        position += length
    # Percussion: each song has its own kit (kick pitch, hi-hat colour) and a one-bar pattern on 8th notes.
    eighth = beat / 2
    kick_t = np.arange(int(0.15 * sample_rate)) / sample_rate
    kick_hz = rng.uniform(40, 70)
    kick = np.sin(2 * np.pi * (kick_hz + 60 * np.exp(-kick_t * 30)) * kick_t) * np.exp(-kick_t * rng.uniform(12, 30))
    hat_n = int(0.05 * sample_rate)
    hat = rng.standard_normal(hat_n) * np.exp(-np.arange(hat_n) / (rng.uniform(0.005, 0.02) * sample_rate))
    colour = rng.uniform(-0.3, 0.3, 5)
    hat = np.convolve(hat, np.concatenate(([1.0], colour)), mode="same")
    kick_pattern = rng.random(8) < 0.3
    kick_pattern[0] = True
    hat_pattern = rng.random(8) < 0.6
    if style is not None and style.kit is not None:
        kick, hat, kick_pattern, hat_pattern = _kit(style.kit, sample_rate)
    for e in range(int(seconds / eighth) + 1):
        for sound, level, pattern in ((kick, 0.3, kick_pattern), (hat, 0.04, hat_pattern)):
            if not pattern[e % 8]:
                continue
            start = max(int((e * eighth + jitter()) * sample_rate), 0)
            end = min(out.size, start + sound.size)
            if end > start:
                out[start:end] += level * sound[: end - start]
    peak = float(np.max(np.abs(out))) or 1.0
    return (0.9 * out / peak).astype(np.float32)
