"""Identification benchmark: accuracy, false matches, query time, indexing speed and index size.

Builds its own catalog of procedural songs (catalog.fingerprint.synth; seeded, additive synthesis with
per-song timbres, chords, melody and drums) and caches the index under data/bench/identify/. Queries
are 10-second clips at random offsets, degraded per condition, and songs that are not in the catalog.
Three matchers run on the same queries:

- ``textbook``: plain Wang landmarks (raw offset histogram, best candidate always returned, no
  tolerance, no speed handling);
- ``verified``: ours without the speed search (distinct-anchor cells, ±1 frame, verification);
- ``songforge``: the production matcher (verification + speed search over 0.97..1.03).

Run: ``nice -n 10 .venv/bin/python benchmarks/identify.py`` (``--quick`` for a small smoke run).
Writes benchmarks/results/identify.json and prints a table.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import av
import numpy as np
from scipy import signal

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from catalog.fingerprint import audio, landmarks, synth  # noqa: E402
from catalog.fingerprint.index import Entry, FingerprintIndex, index_params  # noqa: E402
from catalog.fingerprint.matcher import Matcher, Thresholds  # noqa: E402

SOURCE_RATE = 16000
CLIP_SECONDS = 10.0
NEGATIVE_SEED = 1_000_000
CALIBRATION_SEED = 2_000_000


def build_audio(directory: Path, size: int, seconds: float) -> np.ndarray:
    """The catalog's audio as an int16 (size, samples) array at SOURCE_RATE, synthesised once and cached."""
    directory.mkdir(parents=True, exist_ok=True)
    n = int(seconds * SOURCE_RATE)
    path = directory / f"audio-{size}x{int(seconds)}s-{synth_version()}.npy"
    if path.exists():
        cached: np.ndarray = np.load(path, mmap_mode="r")
        return cached
    partial = path.with_suffix(".partial.npy")
    array = np.lib.format.open_memmap(partial, mode="w+", dtype=np.int16, shape=(size, n))
    started = time.perf_counter()
    for seed in range(size):
        array[seed] = np.round(synth.song(seed, seconds, SOURCE_RATE) * 32767).astype(np.int16)
        if seed % 100 == 99:
            print(f"  synthesised {seed + 1}/{size} songs ({time.perf_counter() - started:.0f} s)", flush=True)
    array.flush()
    del array
    partial.rename(path)
    loaded: np.ndarray = np.load(path, mmap_mode="r")
    return loaded


def build_index(directory: Path, songs: np.ndarray, seconds: float) -> dict[str, Any]:
    """Fingerprint every cached song into ``directory`` unless a matching index exists."""
    size = songs.shape[0]
    stamp = {"size": size, "seconds": seconds, "params": index_params(), "synth": synth_version()}
    stamp_path = directory / "bench.json"
    if stamp_path.exists() and json.loads(stamp_path.read_text()).get("stamp") == stamp:
        return dict(json.loads(stamp_path.read_text()))
    if directory.exists():
        shutil.rmtree(directory)
    index = FingerprintIndex(directory)
    fingerprint_time = 0.0
    batch: list[Entry] = []
    for seed in range(size):
        samples = songs[seed].astype(np.float32) / 32767
        started = time.perf_counter()
        hashes, times = landmarks.fingerprint(audio.resample(samples, SOURCE_RATE))
        batch.append(Entry(seed, hashes, times, seconds))
        if len(batch) == 100:
            index.add(batch)
            batch = []
        fingerprint_time += time.perf_counter() - started
    started = time.perf_counter()
    index.add(batch)
    index.compact()
    fingerprint_time += time.perf_counter() - started
    stats = index.stats()
    info = {
        "stamp": stamp,
        "recordings": stats["recordings"],
        "audio_hours": size * seconds / 3600,
        "entries": stats["entries"],
        "index_bytes": stats["bytes"],
        "index_mb_per_hour": stats["bytes"] / 1e6 / (size * seconds / 3600),
        "hashes_per_second": stats["entries"] / (size * seconds),
        "indexing_x_realtime": size * seconds / fingerprint_time,
    }
    stamp_path.write_text(json.dumps(info, indent=2))
    return info


def synth_version() -> str:
    return hashlib.sha256(Path(synth.__file__).read_bytes()).hexdigest()[:12]


def add_noise(clip: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    power = float(np.mean(clip**2))
    noise = rng.standard_normal(clip.size) * np.sqrt(power / 10 ** (snr_db / 10))
    noisy: np.ndarray = (clip + noise).astype(np.float32)
    return noisy


def change_speed(clip: np.ndarray, speed: float) -> np.ndarray:
    """Play ``speed`` times faster (pitch and tempo together, like a mis-clocked rip)."""
    up = 1000
    down = round(1000 * speed)
    changed: np.ndarray = signal.resample_poly(clip, up, down).astype(np.float32)
    return changed


def mp3_round_trip(clip: np.ndarray, bitrate: int = 64_000) -> np.ndarray:
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp3") as container:
        stream = container.add_stream("libmp3lame", rate=SOURCE_RATE, layout="mono")
        stream.bit_rate = bitrate
        pcm = np.clip(clip * 32767, -32768, 32767).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = SOURCE_RATE
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    buffer.seek(0)
    return audio.decode(buffer, sample_rate=SOURCE_RATE)


class SongCache:
    def __init__(self, songs: np.ndarray) -> None:
        self.songs = songs

    def get(self, seed: int) -> np.ndarray:
        samples: np.ndarray = self.songs[seed].astype(np.float32) / 32767
        return samples


def make_queries(
    catalog: np.ndarray, per_condition: int, rng: np.random.Generator
) -> list[tuple[str, int | None, np.ndarray]]:
    """(condition, expected recording or None, clip at the fingerprint rate) for every query."""
    songs = SongCache(catalog)
    size = catalog.shape[0]
    queries: list[tuple[str, int | None, np.ndarray]] = []
    n = int(CLIP_SECONDS * SOURCE_RATE)

    def clip_of(seed: int, length: int) -> np.ndarray:
        full = songs.get(seed)
        start = int(rng.integers(0, full.size - length))
        return full[start : start + length]

    conditions = ["clean", "noise_10db", "noise_0db", "mp3_64k", "speed_+3%", "speed_-3%"]
    for condition in conditions:
        count = per_condition // 2 if condition.startswith("speed") else per_condition
        for _ in range(count):
            seed = int(rng.integers(0, size))
            if condition.startswith("speed"):
                speed = 1.03 if condition == "speed_+3%" else 0.97
                clip = change_speed(clip_of(seed, int(n * speed) + 16), speed)[:n]
            else:
                clip = clip_of(seed, n)
            if condition == "noise_10db":
                clip = add_noise(clip, 10, rng)
            elif condition == "noise_0db":
                clip = add_noise(clip, 0, rng)
            elif condition == "mp3_64k":
                clip = mp3_round_trip(clip)[:n]
            queries.append((condition, seed, audio.resample(clip, SOURCE_RATE)))
    for k in range(per_condition):
        clip = synth.song(NEGATIVE_SEED + k, CLIP_SECONDS, SOURCE_RATE)
        queries.append(("not_in_catalog", None, audio.resample(clip, SOURCE_RATE)))
    # Whole songs, as an artist uploads them: windows spread over the song vote (Matcher.identify).
    for _ in range(per_condition // 3):
        seed = int(rng.integers(0, size))
        queries.append(("full_song_0db", seed, audio.resample(add_noise(songs.get(seed), 0, rng), SOURCE_RATE)))
    for k in range(per_condition // 3):
        whole = synth.song(NEGATIVE_SEED + 10_000 + k, songs.songs.shape[1] / SOURCE_RATE, SOURCE_RATE)
        queries.append(("full_not_in_catalog", None, audio.resample(whole, SOURCE_RATE)))
    return queries


def evaluate(matcher: Matcher, queries: list[tuple[str, int | None, np.ndarray]]) -> dict[str, Any]:
    results: dict[str, dict[str, Any]] = {}
    times: list[float] = []
    cpu_times: list[float] = []
    for condition, expected, clip in queries:
        is_full = condition.startswith("full")
        started, started_cpu = time.perf_counter(), time.process_time()
        match = matcher.identify(clip) if is_full else matcher.match_clip(clip)
        if not is_full:  # query time is reported per 10-second clip
            times.append(time.perf_counter() - started)
            cpu_times.append(time.process_time() - started_cpu)
        row = results.setdefault(condition, {"n": 0, "correct": 0, "wrong": 0, "none": 0})
        row["n"] += 1
        if match is None:
            row["none"] += 1
        elif match.recording_id == expected:
            row["correct"] += 1
        else:
            row["wrong"] += 1
    for row in results.values():
        row["accuracy"] = row["correct"] / row["n"]
        row["false_match_rate"] = row["wrong"] / row["n"]
    return {
        "conditions": results,
        "query_ms_p50": float(np.percentile(times, 50) * 1000),
        "query_ms_p95": float(np.percentile(times, 95) * 1000),
        "query_cpu_ms_p95": float(np.percentile(cpu_times, 95) * 1000),
    }


def calibrate(index: FingerprintIndex, catalog: np.ndarray, count: int, rng: np.random.Generator) -> None:
    """Print candidate statistics of negatives and hard positives (used to set the thresholds)."""
    matcher = Matcher(index, verify=False)
    negatives = []
    for k in range(count):
        clip = audio.resample(synth.song(CALIBRATION_SEED + k, CLIP_SECONDS, SOURCE_RATE), SOURCE_RATE)
        candidate = matcher.match_peaks(landmarks.find_peaks(clip))
        if candidate:
            negatives.append((candidate.aligned, candidate.runner_up, candidate.query_hashes))
    negatives.sort(reverse=True)
    print("negatives (aligned, runner_up, query_hashes), worst first:", negatives[:15])
    songs = SongCache(catalog)
    positives = []
    for _ in range(count):
        seed = int(rng.integers(0, catalog.shape[0]))
        full = songs.get(seed)
        start = int(rng.integers(0, full.size - int(CLIP_SECONDS * SOURCE_RATE)))
        clip = add_noise(full[start : start + int(CLIP_SECONDS * SOURCE_RATE)], 0, rng)
        candidate = matcher.match_peaks(landmarks.find_peaks(audio.resample(clip, SOURCE_RATE)))
        if candidate:
            positives.append((candidate.aligned, candidate.runner_up, candidate.recording_id == seed))
    positives.sort()
    print("0 dB positives (aligned, runner_up, correct), weakest first:", positives[:30])


def demo_check(manifest: Path, holdout: int, rng: np.random.Generator) -> dict[str, Any]:
    """A small check on demo/catalog_build.py audio (music21 tunes, GM soundfont): index all but ``holdout``
    entries, query clips of the indexed ones under each condition, and whole held-out entries as negatives."""
    import tempfile

    entries = json.loads(manifest.read_text())["entries"]
    songs = [audio.decode(manifest.parent / e["audio"], sample_rate=SOURCE_RATE) for e in entries]
    indexed, held = songs[:-holdout], songs[-holdout:]
    index = FingerprintIndex(Path(tempfile.mkdtemp(prefix="songforge-demo-index-")))
    index.add(
        Entry(i, *landmarks.fingerprint(audio.resample(x, SOURCE_RATE)), x.size / SOURCE_RATE)
        for i, x in enumerate(indexed)
    )
    matcher = Matcher(index)
    n = int(CLIP_SECONDS * SOURCE_RATE)
    rows: dict[str, dict[str, int]] = {}
    for condition in ("clean", "noise_10db", "noise_0db", "mp3_64k", "speed_+3%", "speed_-3%"):
        row = rows.setdefault(condition, {"n": 0, "correct": 0, "wrong": 0})
        for i, full in enumerate(indexed):
            speed = {"speed_+3%": 1.03, "speed_-3%": 0.97}.get(condition, 1.0)
            length = int(n * speed) + 16
            if full.size <= length:
                continue
            start = int(rng.integers(0, full.size - length))
            clip = change_speed(full[start : start + length], speed)[:n] if speed != 1.0 else full[start : start + n]
            if condition.startswith("noise"):
                clip = add_noise(clip, 10 if condition == "noise_10db" else 0, rng)
            elif condition == "mp3_64k":
                clip = mp3_round_trip(clip)[:n]
            match = matcher.match_clip(audio.resample(clip, SOURCE_RATE))
            row["n"] += 1
            row["correct"] += int(match is not None and match.recording_id == i)
            row["wrong"] += int(match is not None and match.recording_id != i)
    negative = rows.setdefault("not_in_catalog", {"n": 0, "correct": 0, "wrong": 0})
    for full in held:
        for start in range(0, max(full.size - n, 1), n):
            match = matcher.match_clip(audio.resample(full[start : start + n], SOURCE_RATE))
            negative["n"] += 1
            negative["wrong"] += int(match is not None)
    print(f"demo catalog check ({len(indexed)} indexed, {holdout} held out as negatives, {manifest}):")
    for condition, row in rows.items():
        value = row["wrong"] if condition == "not_in_catalog" else row["correct"]
        label = "false matches" if condition == "not_in_catalog" else "correct"
        print(f"  {condition:<16} {value}/{row['n']} {label}")
    return {"manifest": str(manifest), "indexed": len(indexed), "held_out": holdout, "conditions": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1000, help="catalog recordings (default 1000)")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each catalog recording")
    parser.add_argument("--queries", type=int, default=300, help="queries per condition")
    parser.add_argument("--quick", action="store_true", help="tiny smoke run (100 songs, 40 queries)")
    parser.add_argument("--calibrate", action="store_true", help="print threshold calibration data and stop")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "identify.json")
    parser.add_argument(
        "--demo-manifest", type=Path, help="also check a demo/catalog_build.py manifest (last --demo-holdout held out)"
    )
    parser.add_argument("--demo-holdout", type=int, default=20)
    parser.add_argument("--demo-only", action="store_true", help="run only the demo manifest check")
    args = parser.parse_args()
    if args.quick:
        args.size, args.queries = 100, 40
    rng = np.random.default_rng(20261126)
    if args.demo_only:
        result = demo_check(args.demo_manifest, args.demo_holdout, rng)
        (args.out.parent / "identify-demo.json").write_text(json.dumps(result, indent=2))
        return
    bench_dir = ROOT / "data" / "bench" / "identify"
    cache = bench_dir / f"index-{args.size}x{int(args.seconds)}s"
    started = time.perf_counter()
    catalog = build_audio(bench_dir, args.size, args.seconds)
    info = build_index(cache, catalog, args.seconds)
    print(
        f"index: {info['recordings']} recordings, {info['audio_hours']:.2f} h, built/cached in "
        f"{time.perf_counter() - started:.1f} s"
    )
    index = FingerprintIndex(cache)
    if args.calibrate:
        calibrate(index, catalog, args.queries, rng)
        return
    started = time.perf_counter()
    queries = make_queries(catalog, args.queries, rng)
    print(f"{len(queries)} queries prepared in {time.perf_counter() - started:.1f} s")
    matchers = {
        "textbook": Matcher(index, speeds=(1.0,), verify=False, tolerance=0, distinct_anchors=False),
        "verified": Matcher(index, speeds=(1.0,)),
        "songforge": Matcher(index),
    }
    report: dict[str, Any] = {"index": info, "thresholds": Thresholds().__dict__, "matchers": {}}
    for name, matcher in matchers.items():
        started = time.perf_counter()
        report["matchers"][name] = evaluate(matcher, queries)
        print(f"{name}: {time.perf_counter() - started:.1f} s")
    print_table(report)
    if args.demo_manifest:
        report["demo_catalog"] = demo_check(args.demo_manifest, args.demo_holdout, rng)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")


def print_table(report: dict[str, Any]) -> None:
    names = list(report["matchers"])
    targets = {
        "clean": "≥99%",
        "noise_10db": "≥97%",
        "noise_0db": "≥85%",
        "mp3_64k": "≥98%",
        "speed_+3%": "≥80%",
        "speed_-3%": "≥80%",
        "not_in_catalog": "≤1% false",
        "full_song_0db": "",
        "full_not_in_catalog": "≤1% false",
    }
    header = f"| {'condition':<19} | {'target':<10} | " + " | ".join(f"{n:>10}" for n in names) + " |"
    print(header)
    print("|" + "-" * (len(header) - 2) + "|")
    for condition, target in targets.items():
        cells = []
        for name in names:
            row = report["matchers"][name]["conditions"][condition]
            value = row["false_match_rate"] if "not_in_catalog" in condition else row["accuracy"]
            cells.append(f"{value * 100:9.1f}%")
        print(f"| {condition:<19} | {target:<10} | " + " | ".join(cells) + " |")
    for key, label in (
        ("query_ms_p50", "query p50 ms"),
        ("query_ms_p95", "query p95 ms"),
        ("query_cpu_ms_p95", "query p95 CPU ms"),
    ):
        cells = [f"{report['matchers'][n][key]:10.1f}" for n in names]
        print(f"| {label:<19} | {'≤100 ms' if 'p95' in key else '':<10} | " + " | ".join(cells) + " |")
    info = report["index"]
    print(
        f"index: {info['recordings']} recordings, {info['audio_hours']:.2f} h audio, "
        f"{info['hashes_per_second']:.0f} hashes/s, {info['index_mb_per_hour']:.2f} MB per hour, "
        f"indexing {info['indexing_x_realtime']:.0f}× real time"
    )


if __name__ == "__main__":
    main()
