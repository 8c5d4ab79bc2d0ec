"""Synthesis benchmark: time for a 3-minute piece, mastering specs over 20 pieces, timbre distance plain vs adapted.

Upload sets (there is no real upload audio in the repository, so both are made here):

- ``additive``: 4 songs from demo.fingerprint_synth (seeded additive synthesis: its own
  timbres, chords, melody and drums), i.e. a sound source other than the sound font;
- ``gm-tilted``: 3 sound-font renders with other programs, no drums, and a strong EQ tilt.

Pieces are procedural (generation.synthesis.demo): seeded, tempo 72-160 BPM, programs and
drums varying. Each is rendered, adapted and mastered by render_and_master; the plain render's
timbre distance, the adapted master's, and (for the first pieces) a master made with the
adaptation switched off are reported, so the effect of adaptation is not confused with mastering.

Run: ``nice -n 10 .venv/bin/python benchmarks/synthesis.py`` (``--quick``: 5 pieces, 60 s long piece).
Writes benchmarks/results/synthesis.json and prints tables.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "songforge.settings")
os.environ.setdefault("DEBUG", "1")

import django  # noqa: E402
from django.conf import settings  # noqa: E402

django.setup()

from generation.synthesis import demo, profile_from_audio, render  # noqa: E402
from generation.synthesis.adapt import apply_fir, eq_filter  # noqa: E402
from generation.synthesis.service import render_and_master_with_options  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "synthesis.json"
PROGRAM_SETS = ((0, 33, 48), (25, 34, 0), (81, 38, 89), (73, 32, 48), (27, 33, 4), (11, 35, 16))


def additive_uploads(folder: Path) -> list[Path]:
    from demo import fingerprint_synth as synth

    paths = []
    for seed in range(4):
        mono = synth.song(seed=100 + seed, seconds=30.0, sample_rate=44100).astype(np.float64)
        path = folder / f"additive{seed}.wav"
        soundfile.write(str(path), np.stack([mono, mono], axis=1) / np.abs(mono).max() * 0.8, 44100)
        paths.append(path)
    return paths


def tilted_uploads(folder: Path) -> list[Path]:
    paths = []
    for seed, programs in enumerate(((48, 32, 48), (73, 32, 89), (40, 43, 48))):
        midi = demo.build_piece(
            folder / f"tilted{seed}.mid",
            seconds=30,
            tempo=84 + 6 * seed,
            seed=50 + seed,
            programs=programs,
            with_drums=False,
        )
        piece = render.load_piece(midi, max_seconds=600)
        audio = render.render(piece, render.plan_tracks(piece, {}), seed=seed, profile={})
        audio = apply_fir(audio, eq_filter(np.interp(np.arange(27), [0, 10, 20, 26], [-4.0, 5.0, -6.0, -10.0])))
        path = folder / f"tilted{seed}.wav"
        soundfile.write(str(path), (audio / np.abs(audio).max() * 0.7).T, 44100)
        paths.append(path)
    return paths


def run_piece(
    folder: Path, index: int, profile: dict[str, Any], *, seconds: float, target: float | None, is_adapted: bool = True
) -> dict[str, Any]:
    rng = np.random.default_rng(index)
    tempo = float(rng.choice([72, 84, 90, 96, 100, 108, 116, 120, 128, 140, 150, 160]))
    programs = PROGRAM_SETS[index % len(PROGRAM_SETS)]
    midi = demo.build_piece(
        folder / f"piece{index}.mid",
        seconds=seconds,
        tempo=tempo,
        seed=index,
        programs=programs,
        with_drums=index % 4 != 3,
        tonic=int(rng.integers(55, 67)),
    )
    started = time.perf_counter()
    report = render_and_master_with_options(
        midi,
        target_profile=profile,
        out_dir=folder / f"out{index}-{int(is_adapted)}",
        seed=index,
        max_seconds=float(settings.SYNTHESIS_MAX_SECONDS),
        target_seconds=target,
        tags={"title": f"Bench {index}"},
        is_adapted=is_adapted,
    )
    report["wall_s"] = round(time.perf_counter() - started, 2)
    return report


def in_spec(report: dict[str, Any]) -> bool:
    return bool(
        abs(report["integrated_lufs"] + 14.0) <= 0.5
        and report["true_peak_dbtp"] <= -1.0
        and abs(report["tempo_bpm_measured"] - report["tempo_bpm_composed"]) <= 1.0
        and report["max_sample"] < 1.0
        and report["dc_offset"] < 1e-4
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--pieces", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each of the spec-check pieces")
    args = parser.parse_args()
    pieces = 5 if args.quick else args.pieces
    long_seconds = 60.0 if args.quick else 180.0
    load_before = os.getloadavg()
    results: dict[str, Any] = {"cores": os.cpu_count(), "load_average_at_start": [round(v, 2) for v in load_before]}
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        profiles: dict[str, dict[str, Any]] = {}
        for name, make in (("additive", additive_uploads), ("gm-tilted", tilted_uploads)):
            started = time.perf_counter()
            profiles[name] = profile_from_audio(make(folder))
            profiles[name]["_seconds"] = round(time.perf_counter() - started, 2)
            instrumentation = profiles[name]["instrumentation"]
            print(f"profile {name}: {profiles[name]['_seconds']} s, families {instrumentation['families']}")
            print(f"  programs {instrumentation['programs']}")
        results["profiles"] = {
            name: {
                "seconds": p.pop("_seconds"),
                "instrumentation": p["instrumentation"],
                "dynamics": p["dynamics"],
            }
            for name, p in profiles.items()
        }

        # 1. a 3-minute piece, end to end
        long_report = run_piece(folder, 100, profiles["additive"], seconds=long_seconds, target=None)
        timings = long_report["timings_s"]
        stages = ("render", "room", "dynamics_match", "spectral_match", "loudness_range_match", "loudness_and_limiter")
        core = sum(timings.get(k, 0.0) for k in stages)
        results["long_piece"] = {
            "length_s": long_report["length_s"],
            "render_adapt_master_s": round(core, 2),
            "wall_s_including_files_and_measurements": long_report["wall_s"],
            "cpu_s_including_files_and_measurements": timings["cpu_total"],
            "loudness_passes": long_report["mastering"]["passes"],
            "timings_s": timings,
            "integrated_lufs": long_report["integrated_lufs"],
            "true_peak_dbtp": long_report["true_peak_dbtp"],
            "tempo": [long_report["tempo_bpm_composed"], long_report["tempo_bpm_measured"]],
        }
        print(
            f"\n{long_report['length_s']:.0f} s piece: render+adapt+master {core:.1f} s "
            f"(target <= 60 s), whole call {long_report['wall_s']:.1f} s wall, {timings['cpu_total']:.1f} s CPU; "
            f"stages {timings}"
        )

        # 2. spec checks and timbre distances over N pieces
        rows = []
        for index in range(pieces):
            profile_name = "additive" if index % 2 == 0 else "gm-tilted"
            target = None if index % 3 == 0 else (args.seconds * (0.7 if index % 3 == 1 else 1.3))
            report = run_piece(folder, index, profiles[profile_name], seconds=args.seconds, target=target)
            row = {
                "piece": index,
                "profile": profile_name,
                "tempo_composed": report["tempo_bpm_composed"],
                "tempo_measured": report["tempo_bpm_measured"],
                "integrated_lufs": report["integrated_lufs"],
                "true_peak_dbtp": report["true_peak_dbtp"],
                "length_s": report["length_s"],
                "target_s": target,
                "timbre_plain": report["timbre_distance_plain"],
                "timbre_adapted": report["timbre_distance_adapted"],
                "compression_ratio": report["dynamics_match"]["ratio"],
                "wall_s": report["wall_s"],
                "in_spec": in_spec(report),
            }
            if index < 5:
                unadapted = run_piece(
                    folder, index, profiles[profile_name], seconds=args.seconds, target=target, is_adapted=False
                )
                row["timbre_mastered_unadapted"] = unadapted["timbre_distance_adapted"]
            rows.append(row)
            print(
                f"piece {index:2d} {profile_name:9s} tempo {row['tempo_composed']:6.1f}->{row['tempo_measured']:6.2f} "
                f"LUFS {row['integrated_lufs']:6.2f} TP {row['true_peak_dbtp']:5.2f} len {row['length_s']:5.1f} "
                f"timbre {row['timbre_plain']:.2f}->{row['timbre_adapted']:.2f}"
                + (f" (mastered, unadapted {row['timbre_mastered_unadapted']:.2f})" if index < 5 else "")
                + f" {row['wall_s']:.1f}s {'ok' if row['in_spec'] else 'OUT OF SPEC'}"
            )
        results["pieces"] = rows
        results["piece_seconds"] = args.seconds
        results["summary"] = {
            "pieces": len(rows),
            "in_spec": sum(r["in_spec"] for r in rows),
            "lufs_range": [min(r["integrated_lufs"] for r in rows), max(r["integrated_lufs"] for r in rows)],
            "max_true_peak_dbtp": max(r["true_peak_dbtp"] for r in rows),
            "max_tempo_error_bpm": round(max(abs(r["tempo_measured"] - r["tempo_composed"]) for r in rows), 3),
            "adapted_lower_than_plain": sum(r["timbre_adapted"] < r["timbre_plain"] for r in rows),
            "mean_timbre_plain": round(float(np.mean([r["timbre_plain"] for r in rows])), 3),
            "mean_timbre_adapted": round(float(np.mean([r["timbre_adapted"] for r in rows])), 3),
        }
    results["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    print(f"\nsummary: {results['summary']}")
    print(f"load average start {results['load_average_at_start']} end {results['load_average_at_end']}")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
