"""Every fitted triplet alignment of the cached draw's queries against one index, with the matcher's verdict.

Run by hand, for calibrating the triplet rules offline (``benchmarks/_identify_diagnose.py`` caches the queries):

    nice -n 10 .venv/bin/python benchmarks/_fits_dump.py --index-dir data/bench/identify/index-30s-10k \
        --sets A B C --conditions tempo,pitch --out /tmp/fits-10k-ABC.pkl
"""

from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import _identify_diagnose as diag  # noqa: E402
from catalog.fingerprint import scale  # noqa: E402
from catalog.fingerprint.index import FingerprintIndex  # noqa: E402
from catalog.fingerprint.matcher import Matcher  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index-dir", type=Path, required=True)
    parser.add_argument("--draw-songs", type=int, default=1000, help="catalog size of the benchmark's query draw")
    parser.add_argument("--negatives", type=int, default=400, help="look-alikes per set")
    parser.add_argument("--sets", nargs="*", default=[])
    parser.add_argument("--conditions", default="tempo,pitch", help="condition prefixes, 'all', or 'none'")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    rows = diag.draw_queries(args.draw_songs, 40, args.sets, args.negatives)
    rows = diag.select(rows, args.conditions)
    index = FingerprintIndex(args.index_dir)
    matcher = Matcher(index)
    captured: list[list[scale.Alignment]] = []
    real_align = scale.align

    def capture(*a: Any, **k: Any) -> list[scale.Alignment]:
        result = real_align(*a, **k)
        captured.append(result)
        return result

    scale.align = capture
    out = []
    for row in rows:
        captured.clear()
        candidate = matcher.match_peaks(row["peaks"])
        named = candidate if candidate is not None and matcher.is_verified(candidate) else None
        out.append(
            {
                "condition": row["condition"],
                "expected": row["expected"],
                "twin": row.get("twin"),
                "named": named.recording_id if named else None,
                "engine": named.engine if named else None,
                "alignments": captured[0] if captured else None,
            }
        )
    args.out.write_bytes(pickle.dumps(out))
    print(f"{len(out)} queries -> {args.out}")


if __name__ == "__main__":
    main()
