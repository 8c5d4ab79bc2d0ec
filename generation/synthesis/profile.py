"""The target profile: what the uploads sound like, as a JSON-serialisable dict.

It holds the level-normalised spectral envelope (27 1/3-octave bands, for the EQ match),
the mean log-mel vector (40 bands, for the timbre distance), dynamics (integrated
loudness, crest factor, loudness range) and an instrumentation summary: measured source
features (HPSS percussive share, bass share, pitched polyphony, brightness, sustain,
flatness), the GM families they point to and the program chosen for each role.

Families come from thresholds on those features (drums are unmistakable: the percussive
share of the 3-10 kHz band is above 0.8 with a kit and under 0.25 without, measured on the
sound font's own renders). Programs are then chosen by sound: a short probe arrangement
is rendered with each candidate program for a role (harmony, melody, bass in turn, the
others held), and the candidate whose render has the smallest timbre distance to the
uploads wins. The distances are kept in the profile (``program_search``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from generation.synthesis.analysis import decode_audio
from generation.synthesis.errors import InvalidProfileError
from generation.synthesis.features import (
    N_MELS,
    SAMPLE_RATE,
    THIRD_OCTAVE_CENTRES,
    dynamics,
    instrumentation_features,
    integrated_lufs,
    spectra,
    timbre_distance,
)

PROFILE_VERSION = 1
MAX_ANALYSED_SECONDS = 240.0
DRUMS_HIGH_PERCUSSIVE_RATIO = 0.5
BASS_RATIO = 0.08
SUSTAINED = 0.93
SYNTHETIC_FLATNESS = 0.045


def choose_programs(features: dict[str, float]) -> tuple[dict[str, bool], dict[str, int | None]]:
    """GM families present, and a first guess of a program per role (the sound search refines it)."""
    has_drums = features["high_percussive_ratio"] >= DRUMS_HIGH_PERCUSSIVE_RATIO
    has_bass = features["bass_ratio"] >= BASS_RATIO
    is_sustained = features["sustain"] >= SUSTAINED
    is_synthetic = features["flatness"] >= SYNTHETIC_FLATNESS
    brightness = features["brightness_hz"]
    is_polyphonic = features["polyphony"] >= 2.5

    if is_synthetic:
        bass = 38  # Synth Bass 1
    elif has_drums:
        bass = 33  # Electric Bass (finger)
    else:
        bass = 32  # Acoustic Bass
    if is_sustained:
        harmony = 89 if brightness < 600 else (48 if brightness < 800 else 50)  # Warm Pad / Strings / Synth Strings
        melody = 81 if is_synthetic else (40 if brightness >= 700 else 73)  # Saw Lead / Violin / Flute
    else:
        harmony = 0 if brightness < 500 else (4 if brightness < 650 else 25)  # Piano / E-Piano / Steel Guitar
        melody = 80 if is_synthetic else (27 if brightness >= 650 else 11)  # Square Lead / Clean Guitar / Vibraphone
    pad = (89 if harmony != 89 else 48) if is_polyphonic else None
    families = {
        "drums": has_drums,
        "bass": has_bass,
        "sustained": is_sustained,
        "plucked_or_struck": not is_sustained,
        "synthetic": is_synthetic,
        "polyphonic": is_polyphonic,
    }
    programs: dict[str, int | None] = {"bass": bass, "melody": melody, "harmony": harmony, "pad": pad}
    return families, programs


PROGRAM_CANDIDATES: dict[str, tuple[int, ...]] = {
    "harmony": (0, 4, 16, 25, 48, 50, 89),  # piano, e-piano, organ, steel guitar, strings, synth strings, pad
    "melody": (0, 11, 27, 40, 56, 65, 73, 80, 81),  # piano, vibes, guitar, violin, trumpet, sax, flute, leads
    "bass": (32, 33, 34, 38, 43),  # acoustic, finger, pick, synth bass, contrabass
}
PROBE_SECONDS = 8.0


def search_programs(
    target_mel: list[float], *, families: dict[str, bool], start: dict[str, int | None]
) -> tuple[dict[str, int | None], dict[str, dict[str, float]]]:
    """Greedy per-role search for the programs whose rendering is closest in timbre to the uploads."""
    from generation.synthesis import demo, render  # render imports the sound font; keep profile import light

    probe = demo.piece_midi(seconds=PROBE_SECONDS, tempo=110.0, seed=0, with_drums=families["drums"])
    chosen = dict(start)
    distances: dict[str, dict[str, float]] = {}
    for role, candidates in PROGRAM_CANDIDATES.items():
        distances[role] = {}
        for program in candidates:
            trial = {"instrumentation": {"programs": {**chosen, role: program}, "families": families}}
            audio = render.render(probe, render.plan_tracks(probe, trial), seed=0, profile=trial)
            distances[role][str(program)] = round(timbre_distance(spectra(audio).mel_db, target_mel), 3)
        chosen[role] = int(min(distances[role], key=lambda key: distances[role][key]))
    return chosen, distances


def profile_from_audio(
    paths: list[Path], *, programs: dict[str, int] | None = None, kit: str | None = None
) -> dict[str, Any]:
    """Analyse the uploads and return the target profile (JSON-serialisable; see the module docstring).

    ``programs`` (melody, harmony, bass) and ``kit`` recognised in the uploads
    (:mod:`generation.synthesis.recognition`) are used as they are: no probe search, no pad, and
    the drums family follows the kit. Without them the families and the timbre search decide.
    """
    if not paths:
        raise InvalidProfileError("A target profile needs at least one upload; add the songs first.")
    per_upload: list[dict[str, Any]] = []
    third_octaves, mels, feature_rows = [], [], []
    for path in paths:
        audio = decode_audio(Path(path), max_seconds=MAX_ANALYSED_SECONDS)
        if not np.any(np.abs(audio) > 1e-5):
            raise InvalidProfileError(
                f"{Path(path).name} is silent, so it says nothing about the sound; replace it.",
                extra={"path": str(path)},
            )
        measured = spectra(audio)
        features = instrumentation_features(audio, max_seconds=45.0)
        levels = dynamics(audio)
        third_octaves.append(measured.third_octave_db)
        mels.append(measured.mel_db)
        feature_rows.append(features)
        per_upload.append(
            {
                "name": Path(path).name,
                "seconds_analysed": round(audio.shape[-1] / SAMPLE_RATE, 2),
                "integrated_lufs": round(integrated_lufs(audio), 2),
                **{key: round(float(value), 3) for key, value in levels.items()},
                **{key: round(float(value), 4) for key, value in features.items()},
            }
        )
    summary = {key: float(np.median([row[key] for row in feature_rows])) for key in feature_rows[0]}
    families, guessed = choose_programs(summary)
    mel_target = [round(float(v), 3) for v in np.mean(mels, axis=0)]
    program_search: dict[str, dict[str, float]] = {}
    chosen: dict[str, int | None]
    if programs:
        chosen = {"melody": programs["melody"], "harmony": programs["harmony"], "bass": programs["bass"], "pad": None}
    else:
        chosen, program_search = search_programs(mel_target, families=families, start=guessed)
    if kit is not None:
        families["drums"] = kit != "none"
    return {
        "version": PROFILE_VERSION,
        "sample_rate": SAMPLE_RATE,
        "uploads": len(paths),
        "spectrum": {
            "third_octave_hz": list(THIRD_OCTAVE_CENTRES),
            "third_octave_db": [round(float(v), 3) for v in np.mean(third_octaves, axis=0)],
            "mel_bands": N_MELS,
            "mel_db": mel_target,
        },
        "dynamics": {
            "integrated_lufs": round(float(np.median([u["integrated_lufs"] for u in per_upload])), 2),
            "crest_factor_db": round(float(np.median([u["crest_factor_db"] for u in per_upload])), 2),
            "loudness_range_db": round(float(np.median([u["loudness_range_db"] for u in per_upload])), 2),
        },
        "instrumentation": {
            "features": {key: round(value, 4) for key, value in summary.items()},
            "families": families,
            "programs": chosen,
            "program_search": program_search,
            "recognised": bool(programs),
            "kit": kit,
        },
        "per_upload": per_upload,
    }


def validate_profile(profile: dict[str, Any]) -> None:
    """Refuse a profile the adaptation cannot use (wrong band count, missing dynamics)."""
    try:
        bands = profile["spectrum"]["third_octave_db"]
        mel = profile["spectrum"]["mel_db"]
        crest = float(profile["dynamics"]["crest_factor_db"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidProfileError(
            f"The target profile lacks {exc}; rebuild it with profile_from_audio from the uploads.",
            extra={"missing": str(exc)},
        ) from exc
    if len(bands) != len(THIRD_OCTAVE_CENTRES) or len(mel) != N_MELS or not np.isfinite(crest):
        raise InvalidProfileError(
            "The target profile was made by another version of the analysis; rebuild it from the uploads.",
            extra={"bands": len(bands), "mel_bands": len(mel)},
        )
