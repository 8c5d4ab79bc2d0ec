"""Royalties import + allocation throughput on PostgreSQL (default) or SQLite (``--sqlite``).

Creates a scratch database (default ``songforge_bench_royalties`` on the server of
``DATABASE_URL`` or postgres://postgres@127.0.0.1:5432; with ``--sqlite`` a fresh
SQLite file ``/tmp/<database>.sqlite3``), 10,000 releases with
split sheets over a catalog of 2,000 recordings, streams a statement of
``--lines`` lines (default 10,000,000) to a file, then times
``statement_import`` (COPY, validation, grouping, posting and allocation, all in
one database transaction) and a second, idempotent import of the same file.

Prints a table (wall, CPU of this process and of the PostgreSQL backend, per import phase,
and the load average) and stores it under ``--label`` (default ``after``) in
benchmarks/results/royalties[-sqlite].json, keeping the runs of other labels (``before``). Peak memory is the
Python process's max RSS and the PostgreSQL backend's VmHWM (read from /proc).

``--serial`` runs PostgreSQL without parallel query workers, so the backend's CPU seconds are all the
database's CPU (with workers, their CPU is not counted and ``lines_per_cpu_s`` is an upper bound).
``--reuse`` keeps the catalog of an earlier run (both databases) and only empties the royalties tables.

Usage: nice -n 10 .venv/bin/python benchmarks/royalties.py [--lines N] [--keep-file] [--sqlite] [--serial]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import resource
import sys
import time
from fractions import Fraction
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STORES = ["Spotify", "Apple Music", "YouTube Music", "Amazon Music", "Deezer"]
TERRITORIES = ["US", "GB", "DE", "FR", "BR", "JP", "MX", "SE", "AU", "CA"]


def _database_url(name: str) -> str:
    base = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/test"
    parts = urlparse(base)
    return urlunparse(parts._replace(path=f"/{name}"))


def _recreate_database(url: str) -> None:
    import psycopg2

    parts = urlparse(url)
    name = parts.path.lstrip("/")
    admin = psycopg2.connect(urlunparse(parts._replace(path="/postgres")))
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()


def _backend_peak_kb() -> int | None:
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _backend_pid() -> int:
    from django.db import connection

    if connection.vendor != "postgresql":
        return os.getpid()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    return int(pid)


def _process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of another process on this machine (the PostgreSQL backend)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _instrument_phases(backend: int, phases: dict[str, dict[str, float]]) -> None:
    """Record wall seconds, the PostgreSQL backend's CPU seconds and this process's CPU seconds per import phase.

    Wraps the import's phase clock (``royalties.imports._Clock.lap``); on SQLite all the work is this process's.
    """
    from royalties import imports

    original = imports._Clock.lap
    last = {"wall": time.perf_counter(), "backend": _process_cpu_s(backend) or 0.0, "python": time.process_time()}

    def lap(self: imports._Clock, phase: str) -> None:
        original(self, phase)
        now = {"wall": time.perf_counter(), "backend": _process_cpu_s(backend) or 0.0, "python": time.process_time()}
        figures = phases.setdefault(phase, {"wall_s": 0.0, "backend_cpu_s": 0.0, "python_cpu_s": 0.0})
        figures["wall_s"] += now["wall"] - last["wall"]
        figures["backend_cpu_s"] += now["backend"] - last["backend"]
        figures["python_cpu_s"] += now["python"] - last["python"]
        last.update(now)

    imports._Clock.lap = lap  # type: ignore[method-assign]


def setup_catalog(releases: int, recordings: int, holders: int, seed: int) -> list[str]:
    """Bulk-create holders, recordings with rights, releases and their split sheets; returns ISRCs."""
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from catalog.models import Recording, RecordingShare, RightsHolder
    from catalog.services import escrow_holder
    from distribution.models import Release
    from generation.models import Generation
    from royalties.models import SplitSheet, SplitSheetLine
    from royalties.splits import compute_split
    from uploads.models import UploadSet

    rng = random.Random(seed)
    user = get_user_model().objects.create(username="bench")
    upload_set = UploadSet.objects.create(owner=user)
    holder_objs = RightsHolder.objects.bulk_create(
        [RightsHolder(name=f"Bench holder {i}", kind=RightsHolder.Kind.LABEL) for i in range(holders)]
    )
    escrow_id = escrow_holder().pk
    recording_objs = Recording.objects.bulk_create(
        [Recording(external_id=f"bench-{i}", title=f"Song {i}", artist="Bench") for i in range(recordings)]
    )
    rights: dict[int, list[tuple[int, str, int]]] = {}
    shares = []
    for recording in recording_objs:
        entries = []
        if rng.random() < 0.9:  # 10% of recordings have unknown holders → escrow
            master = rng.sample(holder_objs, 2)
            entries += [(master[0].pk, "master", 6000), (master[1].pk, "master", 4000)]
            entries += [(rng.choice(holder_objs).pk, "publishing", 10_000)]
        rights[recording.pk] = entries
        shares += [RecordingShare(recording=recording, holder_id=h, side=s, share_bps=b) for h, s, b in entries]
    RecordingShare.objects.bulk_create(shares)
    generations = Generation.objects.bulk_create(
        [Generation(upload_set=upload_set, status=Generation.Status.SUCCEEDED) for _ in range(releases)]
    )
    isrcs = [f"QZS8F{26 + i // 100_000:02d}{i % 100_000:05d}" for i in range(releases)]
    release_objs = Release.objects.bulk_create(
        [
            Release(generation=g, title=f"Release {i}", artist_name="Bench", isrc=isrcs[i])
            for i, g in enumerate(generations)
        ]
    )
    sheets = SplitSheet.objects.bulk_create(
        [
            SplitSheet(
                release=r,
                source_share_bps=settings.SOURCE_SHARE_BPS,
                master_share_bps=settings.MASTER_SHARE_BPS,
                influence_split=settings.INFLUENCE_SPLIT,
                inputs={},
            )
            for r in release_objs
        ]
    )
    lines = []
    for sheet in sheets:
        sources = [(r.pk, Fraction(rng.randint(1, 100))) for r in rng.sample(recording_objs, 10)]
        training = [(r.pk, rng.randint(100, 5000)) for r in rng.sample(recording_objs, 5)] + [(None, 1000)]
        data = compute_split(
            sources=sources,
            training=training,
            rights=rights,
            escrow_holder_id=escrow_id,
            source_share_bps=settings.SOURCE_SHARE_BPS,
            master_share_bps=settings.MASTER_SHARE_BPS,
            influence_split=settings.INFLUENCE_SPLIT,
        )
        lines += [
            SplitSheetLine(sheet=sheet, holder_id=ln.holder_id, ppb=ln.ppb, pool=ln.pool, provenance=[])
            for ln in data.lines
        ]
    SplitSheetLine.objects.bulk_create(lines, batch_size=20_000)
    return isrcs


def write_statement(path: Path, isrcs: list[str], lines: int, seed: int, unknown_fraction: float = 0.01) -> None:
    """Stream a statement to ``path`` (never held in memory)."""
    rng = random.Random(seed)
    unknown = [f"ZZXXX{i:07d}" for i in range(100)]
    keys = [f"{store},{territory}" for store in STORES for territory in TERRITORIES]
    with path.open("w", buffering=1 << 20) as handle:
        handle.write("period,store,territory,isrc,units,net_revenue,currency\n")
        batch = []
        for _ in range(lines):
            isrc = rng.choice(unknown) if rng.random() < unknown_fraction else rng.choice(isrcs)
            units = rng.randint(1, 500)
            micro = units * rng.randint(2000, 6000)
            batch.append(
                f"2026-10,{rng.choice(keys)},{isrc},{units},{micro // 1_000_000}.{micro % 1_000_000:06d},USD\n"
            )
            if len(batch) >= 10_000:
                handle.write("".join(batch))
                batch.clear()
        handle.write("".join(batch))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=10_000_000)
    parser.add_argument("--releases", type=int, default=10_000)
    parser.add_argument("--database", default="songforge_bench_royalties")
    parser.add_argument("--file", type=Path, default=Path("/tmp/songforge_bench_statement.csv"))
    parser.add_argument("--keep-file", action="store_true")
    parser.add_argument("--existing-file", action="store_true", help="Reuse --file if it exists (with --reuse)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--sqlite", action="store_true", help="Benchmark SQLite (a fresh file) instead of PostgreSQL")
    parser.add_argument(
        "--reuse", action="store_true", help="Keep the catalog of a previous run; only empty the royalties tables"
    )
    parser.add_argument(
        "--serial",
        action="store_true",
        help="PostgreSQL without parallel workers, so the backend's CPU seconds are all the database's CPU",
    )
    parser.add_argument(
        "--label",
        default="after",
        help="Store this run under LABEL in the results JSON (e.g. before/after), keeping the other labels' runs",
    )
    args = parser.parse_args()

    if args.sqlite:
        sqlite_path = Path(f"/tmp/{args.database}.sqlite3")
        if not args.reuse:
            sqlite_path.unlink(missing_ok=True)
        url = f"sqlite:///{sqlite_path}"
    else:
        url = _database_url(args.database)
        if not args.reuse:
            _recreate_database(url)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "songforge.settings")
    os.environ["DEBUG"] = "0"  # DEBUG would keep every query's SQL (bulk inserts) in memory
    os.environ.setdefault("SECRET_KEY", "benchmark-only-secret-key")
    os.environ.setdefault("SONGFORGE_EMBEDDED_WORKER", "0")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("royalties").setLevel(logging.INFO)

    from distribution.models import Release

    started = time.perf_counter()
    if args.reuse and Release.objects.exists():
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(
                    "TRUNCATE royalties_statementupload, royalties_payout, royalties_payoutrun, royalties_entry, "
                    "royalties_transaction, royalties_linegroup, royalties_statement, royalties_carry, "
                    "royalties_account CASCADE"  # with the escrow claims and carry moves that refer to them
                )
            else:  # SQLite has no TRUNCATE; its triggers refuse UPDATE, not DELETE
                for table in (
                    "royalties_statementupload",
                    "royalties_escrowclaim",
                    "royalties_payout",
                    "royalties_payoutrun",
                    "royalties_carrymove",
                    "royalties_entry",
                    "royalties_transaction",
                    "royalties_linegroup",
                    "royalties_statement",
                    "royalties_carry",
                    "royalties_account",
                ):
                    cursor.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed names
        isrcs = list(Release.objects.order_by("pk").values_list("isrc", flat=True))
    else:
        isrcs = setup_catalog(args.releases, 2_000, 500, args.seed)
    setup_s = time.perf_counter() - started
    print(f"catalog and split sheets: {setup_s:.1f} s", flush=True)
    started = time.perf_counter()
    if args.existing_file and args.file.exists():
        print(f"using the existing statement {args.file} (assumed to hold --lines lines)", flush=True)
    else:
        write_statement(args.file, isrcs, args.lines, args.seed)
    generate_s = time.perf_counter() - started
    print(f"statement file: {generate_s:.1f} s", flush=True)
    size_mb = args.file.stat().st_size / 1e6
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")
        if args.serial and connection.vendor == "postgresql":
            cursor.execute("SET max_parallel_workers_per_gather = 0")  # for the session: the import's transaction

    from royalties import ledger
    from royalties.imports import statement_import
    from royalties.models import Entry, LineGroup

    rss_before_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    backend = _backend_pid()
    phases: dict[str, dict[str, float]] = {}
    _instrument_phases(backend, phases)
    load_before = os.getloadavg()[0]
    backend_cpu_before = _process_cpu_s(backend)
    python_cpu_before = time.process_time()
    started = time.perf_counter()
    result = statement_import(path=args.file, reference="bench-2026-10")
    import_s = time.perf_counter() - started
    python_cpu_s = time.process_time() - python_cpu_before
    backend_cpu_after = _process_cpu_s(backend)
    backend_cpu_s = (
        backend_cpu_after - backend_cpu_before
        if backend_cpu_after is not None and backend_cpu_before is not None
        else None
    )
    load_after = os.getloadavg()[0]
    python_peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    backend_peak_kb = _backend_peak_kb()

    started = time.perf_counter()
    again = statement_import(path=args.file, reference="bench-2026-10")
    reimport_s = time.perf_counter() - started
    check = ledger.check()

    figures = {
        "database": connection.vendor,
        "lines": args.lines,
        "releases": args.releases,
        "file_mb": round(size_mb, 1),
        "line_groups": LineGroup.objects.count(),
        "ledger_entries": Entry.objects.count(),
        "setup_s": round(setup_s, 1),
        "generate_s": round(generate_s, 1),
        "import_and_allocation_s": round(import_s, 2),
        "lines_per_s": round(args.lines / import_s),
        "load_average_before_after": [round(load_before, 1), round(load_after, 1)],
        "python_cpu_s": round(python_cpu_s, 1),
        "postgres_backend_cpu_s": round(backend_cpu_s, 1) if backend_cpu_s is not None and not args.sqlite else None,
        "lines_per_cpu_s": (
            round(args.lines / (python_cpu_s + backend_cpu_s))
            if backend_cpu_s and not args.sqlite
            else round(args.lines / python_cpu_s)
        ),
        "phases": {phase: {k: round(v, 2) for k, v in figures.items()} for phase, figures in phases.items()},
        "reimport_s": round(reimport_s, 2),
        "reimport_is_noop": not again.is_created and again.statement.pk == result.statement.pk,
        "python_peak_rss_mb": round(python_peak_kb / 1024, 1),
        "python_rss_before_import_mb": round(rss_before_kb / 1024, 1),
        "postgres_backend_peak_rss_mb": round(backend_peak_kb / 1024, 1) if backend_peak_kb else None,
        "ledger_balanced": check.is_balanced,
        "totals": result.statement.totals,
        "cores": os.cpu_count(),
        "parallel_workers": not args.serial if connection.vendor == "postgresql" else None,
        "notes": (
            "postgres_backend_cpu_s counts the session's backend only, not parallel query workers "
            "(with parallel_workers the aggregation of a large file may run in parallel, and lines_per_cpu_s is "
            "then an upper bound; --serial counts it all); wall times depend on the machine's load "
            "(load_average_before_after)"
        ),
    }
    width = max(len(k) for k in figures)
    print(f"{'metric':<{width}}  value")
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    results = out / ("royalties-sqlite.json" if args.sqlite else "royalties.json")
    runs = json.loads(results.read_text()) if results.exists() else {}
    if "database" in runs:  # a single run written by an earlier version of this script
        runs = {"earlier": runs}
    runs[args.label] = figures
    results.write_text(json.dumps(runs, indent=2) + "\n")
    if not args.keep_file:
        args.file.unlink(missing_ok=True)
    connection.close()


if __name__ == "__main__":
    main()
