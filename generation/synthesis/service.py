"""render_and_master: a composed MIDI piece in, finished and measured audio files out.

Chain: validate -> fit length (whole bars) -> plan programs from the profile -> humanised
render -> 25 Hz high-pass -> room -> dynamics match (bus compressor) -> spectral envelope
match (EQ) -> fades -> loudness to -14 LUFS with a 4x oversampled true-peak limiter ->
24-bit WAV, AAC, MP3, peaks, tags -> measurements for the report.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from generation.synthesis import adapt, deliver, master, render
from generation.synthesis.analysis import measure_tempo
from generation.synthesis.errors import PieceTooLongError
from generation.synthesis.features import SAMPLE_RATE, FloatArray, dynamics, spectra, timbre_distance
from generation.synthesis.profile import validate_profile

FADE_OUT_S = 3.0
MIN_TARGET_SECONDS = 5.0


def render_and_master(
    midi_path: Path,
    *,
    target_profile: dict[str, Any],
    out_dir: Path,
    seed: int,
    max_seconds: float,
    target_seconds: float | None = None,
    tags: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Render, adapt and master a piece; write master.wav, listen.m4a, listen.mp3, peaks.json into out_dir.

    ``target_profile`` comes from :func:`generation.synthesis.profile_from_audio`; ``max_seconds`` is
    the longest piece or requested length accepted (the service passes
    SONGFORGE_SYNTHESIS_MAX_SECONDS); ``tags`` may hold
    title, artist, isrc, artwork (PNG/JPEG bytes or path) and comment. Returns the report dict
    (all values JSON-serialisable). Raises a SynthesisError subclass for a piece that cannot
    become a song. Deterministic for a given seed.
    """
    return render_and_master_with_options(
        midi_path,
        target_profile=target_profile,
        out_dir=out_dir,
        seed=seed,
        max_seconds=max_seconds,
        target_seconds=target_seconds,
        tags=tags,
        is_adapted=True,
    )


def adapt_to_profile(
    audio: FloatArray, target_profile: dict[str, Any], *, lap: Callable[[str], None] = lambda stage: None
) -> tuple[FloatArray, dict[str, Any], list[float]]:
    """Crest factor, then spectrum, then loudness range towards the uploads'; returns audio, report, EQ gains (dB).

    The range is matched last because the EQ changes it: a +12 dB boost of the lows made the
    sections where the bass plays much louder than those where it rests, and a lullaby take
    levelled to 2.7 dB left the EQ at 12.6 dB and the master at 9.0 dB (uploads: 1.9 dB).
    """
    audio, report = adapt.match_dynamics(audio, float(target_profile["dynamics"]["crest_factor_db"]))
    lap("dynamics_match")
    audio, gains = adapt.match_spectrum(
        audio, target_profile["spectrum"]["third_octave_db"], target_profile["spectrum"]["mel_db"]
    )
    lap("spectral_match")
    target_range = target_profile["dynamics"].get("loudness_range_db")
    if target_range is not None:
        audio, range_report = adapt.match_loudness_range(audio, float(target_range))
        report = {**report, **range_report}
        lap("loudness_range_match")
    return audio, report, [round(float(g), 2) for g in gains]


def render_and_master_with_options(
    midi_path: Path,
    *,
    target_profile: dict[str, Any],
    out_dir: Path,
    seed: int,
    max_seconds: float,
    target_seconds: float | None,
    tags: dict[str, Any] | None,
    is_adapted: bool,
) -> dict[str, Any]:
    """render_and_master with the adaptation switchable (benchmarks compare both)."""
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    cpu_start = time.process_time()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[stage] = round(now - clock, 3)
        clock = now

    validate_profile(target_profile)
    if target_seconds is not None and not MIN_TARGET_SECONDS <= target_seconds <= max_seconds:
        raise PieceTooLongError(
            f"A target length of {target_seconds:.0f} s is outside {MIN_TARGET_SECONDS:.0f}-{max_seconds:.0f} s "
            "(SONGFORGE_SYNTHESIS_MAX_SECONDS); ask for a length in that range.",
            extra={"target_seconds": target_seconds, "max_seconds": max_seconds},
        )
    piece = render.load_piece(Path(midi_path), max_seconds=max_seconds)
    tempo_composed = render.composed_tempo(piece)
    key = render.estimate_key(piece)
    cut_s: float | None = None
    if target_seconds is not None:
        piece, cut_s = render.fit_length(piece, target_seconds)
    plans = render.plan_tracks(piece, target_profile)
    plain = render.render(piece, plans, seed=seed, profile=target_profile)
    if target_seconds is not None:
        length = round(target_seconds * SAMPLE_RATE)
        plain = np.pad(plain, ((0, 0), (0, max(0, length - plain.shape[-1]))))[:, :length]
    lap("render")

    target_mel = target_profile["spectrum"]["mel_db"]
    distance_plain = timbre_distance(spectra(plain).mel_db, target_mel)
    audio: FloatArray = master.remove_rumble(plain)
    audio = master.add_room(audio, seed=seed)
    lap("room")
    dynamics_report: dict[str, Any] = {"ratio": 1.0}
    eq_gains: list[float] = []
    if is_adapted:
        audio, dynamics_report, eq_gains = adapt_to_profile(audio, target_profile, lap=lap)
    audio = master.apply_fades(audio, fade_out_s=min(FADE_OUT_S, audio.shape[-1] / SAMPLE_RATE / 4))
    audio, loudness_report = master.loudness_master(audio)
    lap("loudness_and_limiter")

    out_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "master_wav": out_dir / "master.wav",
        "listen_m4a": out_dir / "listen.m4a",
        "listen_mp3": out_dir / "listen.mp3",
        "peaks": out_dir / "peaks.json",
    }
    all_tags = dict(tags or {})
    deliver.write_master_wav(files["master_wav"], audio)
    deliver.tag_wav(files["master_wav"], all_tags)
    with ThreadPoolExecutor(max_workers=2) as pool:  # the two encodes are independent
        encodes = [
            pool.submit(
                deliver.encode, files["listen_m4a"], audio, container="mp4", codec="aac", bit_rate=deliver.AAC_BIT_RATE
            ),
            pool.submit(
                deliver.encode,
                files["listen_mp3"],
                audio,
                container="mp3",
                codec="libmp3lame",
                bit_rate=deliver.MP3_BIT_RATE,
            ),
        ]
        for encoded in encodes:
            encoded.result()
    deliver.tag_m4a(files["listen_m4a"], all_tags)
    deliver.tag_mp3(files["listen_mp3"], all_tags)
    peaks = deliver.write_peaks(files["peaks"], audio)
    lap("deliverables")

    distance_adapted = timbre_distance(spectra(audio).mel_db, target_mel)
    tempo_measured = measure_tempo(audio, composed_bpm=tempo_composed)
    lap("measure")
    timings["cpu_total"] = round(time.process_time() - cpu_start, 3)  # all threads; wall times above
    return {
        "integrated_lufs": loudness_report["integrated_lufs"],
        "true_peak_dbtp": loudness_report["true_peak_dbtp"],
        "tempo_bpm_measured": round(tempo_measured, 2),
        "tempo_bpm_composed": round(tempo_composed, 2),
        "tempo_bpm": round(tempo_measured, 2),  # what the song page shows
        "key": key,
        "length_s": round(audio.shape[-1] / SAMPLE_RATE, 3),
        "cut_at_bar_s": None if cut_s is None else round(cut_s, 3),
        "sample_rate": SAMPLE_RATE,
        "channels": int(audio.shape[0]),
        "bit_depth": 24,
        "dc_offset": float(np.abs(audio.mean(axis=1)).max()),
        "max_sample": round(float(np.abs(audio).max()), 6),
        "timbre_distance_plain": round(distance_plain, 3),
        "timbre_distance_adapted": round(distance_adapted, 3),
        "timbre_distance_unit": "RMS dB over 40 level-normalised mean log-mel bands",
        "is_adapted": is_adapted,
        "instruments": [plan.as_dict() for plan in plans],
        "dynamics_match": {
            **dynamics_report,
            **{f"{k}_master": round(float(v), 2) for k, v in dynamics(audio).items()},
            "crest_factor_db_uploads": target_profile["dynamics"]["crest_factor_db"],
            "loudness_range_db_uploads": target_profile["dynamics"].get("loudness_range_db"),
        },
        "eq_gains_db": eq_gains,
        "mastering": loudness_report,
        "peaks_pairs": peaks["length"],
        "seed": seed,
        "timings_s": timings,
        "files": {name: str(path) for name, path in files.items()},
    }
