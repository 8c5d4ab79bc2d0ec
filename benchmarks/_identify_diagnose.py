"""Where the scale-invariant path loses a true recording: cached queries, real matcher, per-stage diagnosis.

Run by hand (``make bench`` skips ``_*`` scripts). The queries are the identification benchmark's own draw
(``benchmarks/identify.py``: seed 20261201, ``--queries`` per condition from the first ``--draw-songs``
songs) and look-alike sets drawn from the rng state after the positives as ``--negative-seed`` draws them
(A 1,000,000, B 1,500,000, C 2,000,000, D 2,500,000, … M 7,000,000). Their peaks are computed once and cached in
``data/bench/identify/queries-*.pkl``, so an index of any size (whose first ``--draw-songs`` songs are the
draw's catalog) and any matcher variant answer exactly the same queries.

For every miss among the tempo, pitch and speed positives it says where the true recording was lost:
not among the fitted alignments (and whether more fitted candidates, or a higher stop-word cap, would have
found it), fitted under the anchor floor, under the share floor, or under the background rule.

    nice -n 10 .venv/bin/python benchmarks/_identify_diagnose.py --index-dir data/bench/identify/index-30s-10k \
        --sets C D --variant max_hits_per_hash=800
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import identify as bench  # noqa: E402
from catalog.fingerprint import audio, landmarks, scale  # noqa: E402
from catalog.fingerprint.index import FingerprintIndex  # noqa: E402
from catalog.fingerprint.matcher import Matcher, Thresholds  # noqa: E402
from demo import fingerprint_synth as synth  # noqa: E402

SETS = {
    "A": 1_000_000,
    "B": 1_500_000,
    "C": 2_000_000,
    "D": 2_500_000,
    "E": 3_000_000,
    "F": 3_500_000,
    "G": 4_000_000,
    "H": 4_500_000,
    "I": 5_000_000,
    "J": 5_500_000,
    "K": 6_000_000,
    "L": 6_500_000,
    "M": 7_000_000,
}
CACHE = ROOT / "data" / "bench" / "identify"


def draw_queries(draw_songs: int, queries: int, sets: list[str], negatives: int) -> list[dict[str, Any]]:
    """The benchmark's positives (every condition, in its order) and the look-alike sets, peaks cached."""
    path = CACHE / f"queries-{draw_songs}-{queries}.pkl"
    cached: dict[str, Any] = pickle.loads(path.read_bytes()) if path.exists() else {}  # noqa: S301 (our own cache)
    rng = np.random.default_rng(20261201)
    if "positives" not in cached:
        pool = rng.choice(draw_songs, size=min(bench.QUERY_POOL, draw_songs), replace=False)
        songs: dict[int, np.ndarray] = {}
        rows = []
        for condition in bench.CONDITIONS:
            for _ in range(queries):
                seed = int(rng.choice(pool))
                if seed not in songs:
                    songs[seed] = bench.catalog_song(seed, 30.0)
                clip, scale_time, scale_freq = bench.degrade(condition, songs[seed], rng)
                peaks = landmarks.find_peaks(audio.resample(clip, bench.SOURCE_RATE))
                rows.append(
                    {"condition": condition, "expected": seed, "truth": (scale_time, scale_freq), "peaks": peaks}
                )
            print(f"  drew {condition}", flush=True)
        cached["positives"] = rows
        cached["rng_state"] = rng.bit_generator.state
        _save(path, cached)
    out = list(cached["positives"])
    for name in sets:
        key = f"look_alikes_{name}_{negatives}"
        if key not in cached:
            rng.bit_generator.state = cached["rng_state"]
            rows = []
            for k in range(negatives):
                of = int(rng.integers(0, draw_songs))
                clip = synth.look_alike(
                    SETS[name] + k, of, 10.0, bench.SOURCE_RATE, kits=bench.KITS, arrangements=bench.ARRANGEMENTS
                )
                peaks = landmarks.find_peaks(audio.resample(clip, bench.SOURCE_RATE))
                rows.append({"condition": f"look_alike_{name}", "expected": None, "twin": of, "peaks": peaks})
            cached[key] = rows
            _save(path, cached)
            print(f"  drew look-alike set {name}", flush=True)
        out.extend(cached[key])
    return out


def select(rows: list[dict[str, Any]], conditions: str) -> list[dict[str, Any]]:
    """The look-alikes and the positives whose condition starts with one of ``conditions`` (comma-separated
    prefixes; 'all' keeps every positive, 'none' none)."""
    prefixes = {"all": None, "none": ()}.get(conditions, tuple(conditions.split(",")))
    return [r for r in rows if r["expected"] is None or prefixes is None or r["condition"].startswith(prefixes)]


def _save(path: Path, cached: dict[str, Any]) -> None:
    """Write the cache whole or not at all: another run may be reading it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_bytes(pickle.dumps(cached))
    os.replace(temporary, path)


def where_lost(index: FingerprintIndex, matcher: Matcher, row: dict[str, Any]) -> str:
    """The stage at which the true recording of a missed positive dropped out."""
    s = matcher.catalog_scale_thresholds()
    alignments = scale.align(index, row["peaks"], s)
    fitted = [a for a in alignments if a.recording_id == row["expected"]]
    if fitted:
        a = fitted[0]
        if a.aligned < s.min_aligned:
            return "fitted under the anchor floor"
        share = s.strong_min_explained if a.aligned >= s.strong_aligned else s.min_explained
        if a.explained < share or a.explained_peaks < s.min_explained_peaks:
            return "share under the floor"
        if a.explained < s.min_explained_over_background * a.background:
            return "background"
        return "fitted and verifiable (lost to another candidate)"
    wider = scale.align(index, row["peaks"], replace(s, candidates=s.coarse_candidates))
    if any(a.recording_id == row["expected"] for a in wider):
        return "not fitted: in the coarse top, lost in the fine vote"
    coarser = scale.align(index, row["peaks"], replace(s, candidates=s.coarse_candidates, coarse_candidates=100_000))
    if any(a.recording_id == row["expected"] for a in coarser):
        return "not fitted: lost in the coarse vote"
    uncapped = scale.align(
        index,
        row["peaks"],
        replace(s, candidates=s.coarse_candidates, coarse_candidates=100_000, max_hits_per_hash=1 << 30),
    )
    if any(a.recording_id == row["expected"] for a in uncapped):
        return "not fitted: hits only in stop-word cells"
    return "not fitted: no usable hits"


def parse_variant(pairs: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``name=value`` pairs for ScaleThresholds or Thresholds fields."""
    scale_fields: dict[str, Any] = {}
    landmark_fields: dict[str, Any] = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        target = scale_fields if name in scale.ScaleThresholds.__dataclass_fields__ else landmark_fields
        if name not in scale.ScaleThresholds.__dataclass_fields__ and name not in Thresholds.__dataclass_fields__:
            known = sorted({*scale.ScaleThresholds.__dataclass_fields__, *Thresholds.__dataclass_fields__})
            raise SystemExit(f"unknown threshold {name!r}: use one of {', '.join(known)}")
        target[name] = type(getattr(scale.ScaleThresholds() if target is scale_fields else Thresholds(), name))(value)
    return scale_fields, landmark_fields


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index-dir", type=Path, required=True)
    parser.add_argument("--draw-songs", type=int, default=1000, help="catalog size of the benchmark's query draw")
    parser.add_argument("--queries", type=int, default=40, help="queries per condition in the draw")
    parser.add_argument("--negatives", type=int, default=400, help="look-alikes per set")
    parser.add_argument("--sets", nargs="*", default=[], help="look-alike sets (A B C D E F)")
    parser.add_argument("--conditions", default="tempo,pitch,speed", help="condition prefixes to run, 'all' or 'none'")
    parser.add_argument("--variant", nargs="*", default=[], help="threshold=value overrides")
    parser.add_argument("--diagnose", action="store_true", help="say where each missed positive was lost")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    rows = draw_queries(args.draw_songs, args.queries, args.sets, args.negatives)
    rows = select(rows, args.conditions)
    index = FingerprintIndex(args.index_dir)
    scale_fields, landmark_fields = parse_variant(args.variant)
    matcher = Matcher(
        index,
        thresholds=replace(Thresholds(), **landmark_fields),
        scale_thresholds=replace(scale.ScaleThresholds(), **scale_fields),
    )
    per_condition: dict[str, Counter[str]] = {}
    lost: Counter[str] = Counter()
    cpu: dict[str, list[float]] = {"positives": [], "look_alikes": []}
    began = time.perf_counter()
    for row in rows:
        start = time.process_time()
        candidate = matcher.match_peaks(row["peaks"])
        spent = (time.process_time() - start) * 1000
        cpu["positives" if row["expected"] is not None else "look_alikes"].append(spent)
        named = candidate.recording_id if candidate is not None and matcher.is_verified(candidate) else None
        outcome = "none" if named is None else "right" if named == row["expected"] else "wrong"
        per_condition.setdefault(row["condition"], Counter())[outcome] += 1
        if args.diagnose and row["expected"] is not None and outcome != "right":
            lost[where_lost(index, matcher, row)] += 1
    wall = time.perf_counter() - began
    print(f"index {args.index_dir} ({index.stats()['recordings']} songs), variant {args.variant or 'default'}")
    for condition, counts in per_condition.items():
        print(f"  {condition:<28} right {counts['right']:>3}  wrong {counts['wrong']:>3}  none {counts['none']:>3}")
    positives = [c for k, c in per_condition.items() if not k.startswith("look_alike")]
    scaled = [c for k, c in per_condition.items() if k.startswith(("tempo", "pitch"))]
    summary = {
        "positives_right": sum(c["right"] for c in positives),
        "positives": sum(sum(c.values()) for c in positives),
        "tempo_pitch_right": sum(c["right"] for c in scaled),
        "wrong": sum(c["wrong"] for c in positives),
        "look_alikes_named": {k: c["wrong"] for k, c in per_condition.items() if k.startswith("look_alike")},
        "cpu_ms_p50_p95": {k: [round(float(np.percentile(v, q)), 1) for q in (50, 95)] for k, v in cpu.items() if v},
        "wall_s": round(wall, 1),
        "lost": dict(lost),
    }
    print(json.dumps(summary, indent=2))
    if args.out:
        args.out.write_text(
            json.dumps(
                {
                    "variant": args.variant,
                    "summary": summary,
                    "conditions": {k: dict(v) for k, v in per_condition.items()},
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
