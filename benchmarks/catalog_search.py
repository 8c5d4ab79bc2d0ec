"""Catalog search latency on a 100,000-recording catalog in PostgreSQL (target: p95 < 20 ms).

Uses its own database (default ``songforge_bench`` on postgres://postgres@127.0.0.1:5432, created
when missing; override with ``SONGFORGE_BENCH_DATABASE_URL``), migrates it, bulk-creates synthetic
recordings once (reused by later runs: titles, artists and albums drawn Zipf-like from 44 common
song words plus 3,000 invented ones, 15% with an accented word), then times ``catalog.selectors.recording_search`` for
exact, typo, accent-free, artist and partial queries. Prints a table and writes
benchmarks/results/catalog_search.json. ``--sqlite N`` also times the SQLite fallback on N rows.

Run: ``nice -n 10 .venv/bin/python benchmarks/catalog_search.py``
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/songforge_bench"
WORDS = [
    "love",
    "night",
    "heart",
    "fire",
    "rain",
    "summer",
    "dance",
    "river",
    "blue",
    "dream",
    "light",
    "shadow",
    "gold",
    "road",
    "home",
    "wild",
    "ocean",
    "silver",
    "city",
    "moon",
    "star",
    "wind",
    "storm",
    "garden",
    "sky",
    "song",
    "winter",
    "paper",
    "glass",
    "stone",
    "angel",
    "ghost",
    "echo",
    "forever",
    "tonight",
    "yesterday",
    "sunrise",
    "highway",
    "thunder",
    "velvet",
    "crystal",
    "lonely",
    "electric",
    "hollow",
]
ACCENTED = ("Café", "Señorita", "Déjà Vu", "Über", "Noël", "Fiancée", "Mañana", "Açaí", "Élan", "Brûlée")
FIRST = ("Ana", "Zoë", "Björn", "Léa", "Mateo", "Chloé", "Sean", "Inès", "Ravi", "José", "Mira", "Oskar")
LAST = ("Marín", "Okafor", "Lindqvist", "Dubois", "Núñez", "Kowalski", "Müller", "Sato", "Haddad", "Keane")


SYLLABLES = ("ka", "lo", "mi", "ra", "ven", "tor", "sel", "dan", "bri", "qua", "zen", "fol", "mar", "tis", "pe",
             "no", "lu", "sha", "gri", "hol", "ber", "win", "dro", "fa", "ce")  # fmt: skip


def vocabulary(size: int = 3000) -> list[str]:
    """Common song words first, then pronounceable invented words: a long tail like a real catalog's."""
    rng = random.Random(3)
    invented: set[str] = set()
    while len(invented) < size:
        invented.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))))
    return [*WORDS, *sorted(invented)]


VOCABULARY = vocabulary()
# Zipf-like weights: the k-th word is drawn with probability proportional to 1 / (k + 10).
WEIGHTS = [1 / (rank + 10) for rank in range(len(VOCABULARY))]


def pick_words(rng: random.Random, count: int) -> list[str]:
    return list(dict.fromkeys(rng.choices(VOCABULARY, weights=WEIGHTS, k=count)))


def synthetic(index: int, rng: random.Random) -> tuple[str, str, str]:
    words = pick_words(rng, rng.randint(1, 4))
    if rng.random() < 0.15:
        words.insert(0, rng.choice(ACCENTED))
    title = " ".join(w.capitalize() for w in words)
    artist = (
        f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        if rng.random() < 0.6
        else "The " + " ".join(w.capitalize() for w in pick_words(rng, 2)) + "s"
    )
    album = " ".join(w.capitalize() for w in pick_words(rng, rng.randint(1, 3)))
    return title, artist, f"{album} {index % 97}"


def typo(text: str, rng: random.Random) -> str:
    if len(text) < 5:
        return text
    i = rng.randrange(1, len(text) - 2)
    kind = rng.choice(("drop", "swap", "double"))
    if kind == "drop":
        return text[:i] + text[i + 1 :]
    if kind == "swap":
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    return text[:i] + text[i] + text[i:]


def ensure_database(url: str) -> None:
    import psycopg2

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = psycopg2.connect(
        host=parsed.hostname, port=parsed.port or 5432, user=parsed.username or "postgres", dbname="postgres"
    )
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()


def populate(size: int) -> float:
    from catalog.models import Recording
    from catalog.text import search_text_for

    existing = Recording.objects.filter(external_id__startswith="bench-").count()
    if existing >= size:
        return 0.0
    Recording.objects.filter(external_id__startswith="bench-").delete()
    rng = random.Random(42)
    started = time.perf_counter()
    batch = []
    for index in range(size):
        title, artist, album = synthetic(index, rng)
        batch.append(
            Recording(
                external_id=f"bench-{index:06d}",
                title=title,
                artist=artist,
                album=album,
                duration_ms=rng.randint(120_000, 300_000),
                search_text=search_text_for(title=title, artist=artist, album=album),
            )
        )
        if len(batch) == 5000:
            Recording.objects.bulk_create(batch)
            batch = []
    Recording.objects.bulk_create(batch)
    from django.db import connection

    from catalog.services import search_vocabulary_refresh

    search_vocabulary_refresh()  # bulk_create bypasses the service that maintains it
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE catalog_recording")
            cursor.execute("ANALYZE catalog_search_word")
    return time.perf_counter() - started


def queries(count: int) -> list[tuple[str, str]]:
    from catalog.models import Recording
    from catalog.text import normalise

    rng = random.Random(7)
    rows = list(Recording.objects.filter(external_id__startswith="bench-").values_list("title", "artist", "album"))
    picked = [rows[rng.randrange(len(rows))] for _ in range(count)]
    out: list[tuple[str, str]] = []
    kinds = ("exact title", "title typo", "accent-free", "artist", "title + artist", "partial")
    for i, (title, artist, _album) in enumerate(picked):
        kind = kinds[i % len(kinds)]
        if kind == "exact title":
            out.append((kind, title))
        elif kind == "title typo":
            out.append((kind, typo(title, rng)))
        elif kind == "accent-free":
            out.append((kind, normalise(f"{title} {artist}")))
        elif kind == "artist":
            out.append((kind, artist))
        elif kind == "title + artist":
            out.append((kind, f"{title.split()[0]} {artist.split()[-1]}"))
        else:
            out.append((kind, title.split()[0][:4]))
    return out


def measure(count: int) -> dict[str, Any]:
    from catalog.selectors import recording_search

    plan = queries(count)
    for _, query in plan[:20]:  # warm caches and connections
        recording_search(query, 20)
    timings: dict[str, list[float]] = {}
    hits = 0
    for kind, query in plan:
        started = time.perf_counter()
        results = recording_search(query, 20)
        timings.setdefault(kind, []).append((time.perf_counter() - started) * 1000)
        hits += bool(results)
    every = [t for values in timings.values() for t in values]

    def summary(values: list[float]) -> dict[str, float]:
        ordered = sorted(values)
        return {
            "n": len(ordered),
            "p50_ms": round(statistics.median(ordered), 2),
            "p95_ms": round(ordered[max(0, int(0.95 * len(ordered)) - 1)], 2),
            "max_ms": round(ordered[-1], 2),
        }

    return {
        "all": summary(every),
        "by_kind": {kind: summary(values) for kind, values in timings.items()},
        "queries_with_results": hits,
    }


def run(database_url: str, size: int, count: int) -> dict[str, Any]:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "songforge.settings")
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("SONGFORGE_EMBEDDED_WORKER", "0")
    import django
    from django.core.management import call_command
    from django.db import connection

    django.setup()
    call_command("migrate", "--noinput", verbosity=0)
    populate_seconds = populate(size)
    result = measure(count)
    result.update(
        {
            "database": connection.vendor,
            "rows": size,
            "populate_seconds": round(populate_seconds, 1),
        }
    )
    return result


def print_table(result: dict[str, Any]) -> None:
    print(f"catalog search on {result['rows']:,} recordings ({result['database']})")
    print(f"{'query kind':<16}{'n':>6}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}")
    for kind, row in [*result["by_kind"].items(), ("ALL", result["all"])]:
        print(f"{kind:<16}{row['n']:>6}{row['p50_ms']:>10}{row['p95_ms']:>10}{row['max_ms']:>10}")
    print(f"queries with results: {result['queries_with_results']}/{result['all']['n']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=600)
    parser.add_argument("--sqlite", type=int, default=0, help="Also time the SQLite fallback on this many rows.")
    parser.add_argument("--_child-sqlite", dest="child_sqlite", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child_sqlite:  # a separate process: Django can be set up once per process only
        result = run(args.child_sqlite, args.size, args.queries)
        print(json.dumps(result))
        return 0

    url = os.environ.get("SONGFORGE_BENCH_DATABASE_URL", DEFAULT_URL)
    results: dict[str, Any] = {
        "target_p95_ms": 20,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpu_count": os.cpu_count(),
        # Latency depends on what else runs: record the machine's load when the run started.
        "load_average_1m_at_start": round(os.getloadavg()[0], 2),
    }
    try:
        ensure_database(url)
    except Exception as exc:
        print(f"catalog search benchmark skipped: PostgreSQL unreachable at {url}: {exc}")
        return 0
    results["postgresql"] = run(url, args.size, args.queries)
    print_table(results["postgresql"])
    print(f"(load average at start {results['load_average_1m_at_start']} on {results['cpu_count']} CPUs)")
    if args.sqlite:
        import subprocess

        with tempfile.TemporaryDirectory() as folder:
            child = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--size",
                    str(args.sqlite),
                    "--queries",
                    str(min(args.queries, 300)),
                    "--_child-sqlite",
                    f"sqlite:///{folder}/bench.sqlite3",
                ],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, "SONGFORGE_DATA_DIR": folder},
            )
            results["sqlite"] = json.loads(child.stdout.strip().splitlines()[-1])
        print_table(results["sqlite"])
    out = ROOT / "benchmarks" / "results" / "catalog_search.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
