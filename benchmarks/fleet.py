"""Fleet soak: 2 gunicorn web processes and 3 ``rundramatiq`` workers on PostgreSQL, Redis and S3,
with artists uploading, generating and publishing over HTTP while a random worker is ``kill -9``-ed
every 30-90 s (and restarted at once).

When the time is up the kills stop and the fleet drains (every started job finishes), then one
statement covering every release is imported. Reports jobs per minute (identifications, generation
stages, generations), p50/p95 latency of each generation stage (claim to finish, from the
database), for each kill the work the dead worker held and how long until another worker took it
up, and the lost and duplicated jobs (expected: none), with the load average and CPU time.

Run: ``nice -n 10 .venv/bin/python benchmarks/fleet.py`` (30 minutes; ``--minutes 5`` for a short run).
Needs PostgreSQL (``--postgres``, default postgres://postgres@127.0.0.1:5432/postgres; the run creates
and drops its own database, ``--database``), Redis (``--redis``, default db 11, flushed) and
moto_server (started here). Writes benchmarks/results/fleet.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fleet.harness import Artist, Fleet, free_port, load_average  # noqa: E402
from tests.fleet.test_fleet import CATALOG_SECONDS, CATALOG_SIZE, statement_csv  # noqa: E402


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    executable = shutil.which("moto_server") or str(Path(sys.executable).with_name("moto_server"))
    port = free_port()
    process = subprocess.Popen(
        [executable, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            time.sleep(0.1)
    return process, f"http://127.0.0.1:{port}"


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def held_claims(fleet: Fleet) -> dict[str, tuple[int, str]]:
    """Every live claim now: key -> (attempts, the line its claiming worker logged)."""
    claims: dict[str, tuple[int, str]] = {}
    for stage_id, generation_id, name, attempts in fleet.query(
        "SELECT id, generation_id, name, attempts FROM generation_generationstage WHERE status = 'running'"
    ):
        claims[f"stage:{stage_id}:{name}"] = (
            attempts,
            f"generation {generation_id} stage {name} claimed (attempt {attempts})",
        )
    for upload_id, attempts in fleet.query(
        "SELECT id, identify_attempts FROM generation_upload "
        "WHERE status = 'identifying' AND identify_claimed_at IS NOT NULL"
    ):
        claims[f"upload:{upload_id}"] = (attempts, f"upload {upload_id} identification claimed (attempt {attempts})")
    return claims


def progressed(fleet: Fleet, key: str, attempts: int) -> bool:
    """Whether another worker took the work over (its attempts went up)."""
    kind, pk = key.split(":")[:2]
    if kind == "stage":
        rows = fleet.query("SELECT attempts FROM generation_generationstage WHERE id = %s", int(pk))
    else:
        rows = fleet.query("SELECT identify_attempts FROM generation_upload WHERE id = %s", int(pk))
    return bool(rows and rows[0][0] > attempts)


def killer(fleet: Fleet, stop: threading.Event, results: list[dict[str, Any]]) -> None:
    """Kill -9 a random worker every 30-90 s; time how long until another worker takes over its claims."""
    while not stop.wait(random.uniform(30, 90)):
        index = random.choice(list(fleet.worker_procs))
        log = fleet.workdir / "logs" / f"worker-{index}.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        held = {key: attempts for key, (attempts, line) in held_claims(fleet).items() if line in text}
        fleet.kill_worker(index)
        killed_at = time.monotonic()
        load = load_average()
        fleet.start_worker(index)
        recovered: dict[str, float | None] = dict.fromkeys(held)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and any(v is None for v in recovered.values()):
            for key, attempts in held.items():
                if recovered[key] is None and progressed(fleet, key, attempts):
                    recovered[key] = round(time.monotonic() - killed_at, 1)
            time.sleep(0.5)
        results.append({"worker": index, "held": sorted(held), "recovery_s": recovered, "load": load})
        print(f"kill -9 worker {index} (load {load:.1f}): held {sorted(held) or 'nothing'}; taken over {recovered}")


def artist_loop(fleet: Fleet, artist: Artist, songs: list[Path], offset: int, end: float) -> None:
    """Upload ten, wait for identification, generate, wait, publish; again until the time is up."""
    round_no = 0
    while time.monotonic() < end:
        files = [songs[(offset + round_no + k) % len(songs)] for k in range(10)]
        set_id = artist.upload_set(files)
        while fleet.query(
            "SELECT 1 FROM generation_upload WHERE upload_set_id = %s AND status = 'identifying'", set_id
        ):
            time.sleep(1)
        if time.monotonic() >= end:
            return
        generation_id = artist.generate(set_id)
        while fleet.query(
            "SELECT 1 FROM generation_generation WHERE id = %s AND status IN ('queued', 'running')", generation_id
        ):
            time.sleep(2)
        if fleet.query("SELECT 1 FROM generation_generation WHERE id = %s AND status = 'succeeded'", generation_id):
            response = artist.publish(generation_id)
            if response.status_code != 201:
                print(f"publishing {generation_id} refused: {response.status_code} {response.text[:300]}")
        round_no += 1


def duplicates_and_losses(fleet: Fleet) -> dict[str, Any]:
    """What was lost or done twice, read from the database, S3 and every worker's log."""
    logs = fleet.worker_logs()
    uploads = fleet.query("SELECT id, status, identify_attempts FROM generation_upload ORDER BY id")
    generations = fleet.query("SELECT id, status, master_wav FROM generation_generation ORDER BY id")
    stages = fleet.query("SELECT generation_id, name, attempts FROM generation_generationstage ORDER BY id")
    result_counts = [logs.count(f"upload {pk} identified:") for pk, _, _ in uploads]
    claims_mismatch = [
        pk for pk, _, attempts in uploads if logs.count(f"upload {pk} identification claimed (attempt ") != attempts
    ] + [
        f"{g}:{name}"
        for g, name, attempts in stages
        if logs.count(f"generation {g} stage {name} claimed (attempt ") != attempts
    ]
    releases = fleet.query(
        "SELECT r.id, r.status, COUNT(e.id) FROM distribution_release r LEFT JOIN distribution_deliveryevent e "
        "ON e.release_id = r.id AND e.kind = 'delivery' AND e.status = 'ok' GROUP BY r.id"
    )
    return {
        "uploads": len(uploads),
        "uploads_unfinished": sum(1 for _, status, _ in uploads if status == "identifying"),
        "uploads_not_matched": sum(1 for _, status, _ in uploads if status != "matched"),
        "upload_results_written_twice": sum(1 for n in result_counts if n > 1),
        "upload_results_missing": sum(1 for n in result_counts if n == 0),
        "upload_results_dropped": logs.count("while it was being identified"),
        "generations": len(generations),
        "generations_by_status": dict(Counter(status for _, status, _ in generations)),
        "stage_results_dropped": logs.count("result dropped"),
        "claims_not_matching_attempts": claims_mismatch,
        "releases": len(releases),
        "releases_not_delivered_once": [pk for pk, status, n in releases if status != "submitted" or n != 1],
        "duplicate_ledger_keys": len(
            fleet.query("SELECT idempotency_key FROM royalties_transaction GROUP BY 1 HAVING COUNT(*) > 1")
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/11")
    parser.add_argument("--artists", type=int, default=3)
    parser.add_argument("--database", default="songforge_fleet_bench", help="created and dropped by the run")
    parser.add_argument("--drain-minutes", type=float, default=15.0, help="how long unfinished work may take after")
    args = parser.parse_args()

    import boto3
    import redis

    moto, endpoint = start_moto()
    workdir = Path(tempfile.mkdtemp(prefix="songforge-fleet-"))
    redis.Redis.from_url(args.redis).flushdb()
    bucket = f"fleet-{uuid.uuid4().hex[:12]}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto's fixed test credentials
        region_name="us-east-1",
    ).create_bucket(Bucket=bucket)
    fleet = Fleet(
        workdir=workdir,
        postgres_url=args.postgres,
        database=args.database,
        redis_url=args.redis,
        s3_endpoint=endpoint,
        bucket=bucket,
        extra_env={"SONGFORGE_GENERATIONS_PER_DAY": "1000"},  # the artists generate all through the soak
    )
    kills: list[dict[str, Any]] = []
    loads: list[float] = []
    stop = threading.Event()
    try:
        with fleet.phase("setup"):
            fleet.create_migrated_database()
            audio, artists, accountant = fleet.populate(
                catalog_size=CATALOG_SIZE, catalog_seconds=CATALOG_SECONDS, artists=args.artists
            )
        songs = sorted(audio.glob("*.ogg"))
        with fleet.running():
            for artist in artists:
                artist.login()
            started = time.monotonic()
            end = started + args.minutes * 60
            thread = threading.Thread(target=killer, args=(fleet, stop, kills), daemon=True)

            def sample_load() -> None:
                while not stop.wait(30):
                    loads.append(load_average())

            sampler = threading.Thread(target=sample_load, daemon=True)
            with fleet.phase(f"soak {args.minutes:g} min with kills"):
                thread.start()
                sampler.start()
                loops = [
                    threading.Thread(target=artist_loop, args=(fleet, artist, songs, 3 * k, end), daemon=True)
                    for k, artist in enumerate(artists)
                ]
                for loop in loops:
                    loop.start()
                for loop in loops:
                    loop.join()
                stop.set()
                thread.join(timeout=400)
            elapsed_min = (time.monotonic() - started) / 60
            with fleet.phase("drain"):
                deadline = time.monotonic() + args.drain_minutes * 60
                while time.monotonic() < deadline and fleet.query(
                    "SELECT 1 FROM generation_upload WHERE status = 'identifying' UNION ALL "
                    "SELECT 1 FROM generation_generation WHERE status IN ('queued', 'running') UNION ALL "
                    "SELECT 1 FROM distribution_release WHERE status IN ('draft', 'queued')"
                ):
                    time.sleep(2)
            with fleet.phase("statement import"):
                isrcs = [row[0] for row in fleet.query("SELECT isrc FROM distribution_release ORDER BY id")]
                period = datetime.now(UTC).strftime("%Y-%m")
                imported = accountant.api(
                    "POST",
                    "/api/royalties/imports/",
                    files={"file": (f"soak-{period}.csv", statement_csv(isrcs, period), "text/csv")},
                )
                print(f"statement import: {imported.status_code} {imported.text[:300]}")
        ledger = fleet.manage("ledger_check")

        identified = fleet.query("SELECT COUNT(*) FROM generation_upload WHERE status <> 'identifying'")[0][0]
        stages = fleet.query(
            "SELECT name, EXTRACT(EPOCH FROM finished_at - started_at) FROM generation_generationstage "
            "WHERE status = 'done'"
        )
        generations = dict(fleet.query("SELECT status, COUNT(*) FROM generation_generation GROUP BY status"))
        by_stage: dict[str, list[float]] = {}
        for name, seconds in stages:
            by_stage.setdefault(name, []).append(float(seconds))
        recoveries = [v for kill in kills for v in kill["recovery_s"].values() if v is not None]
        soak = next(p for p in fleet.phases if p.name.startswith("soak"))
        report = {
            "minutes": round(elapsed_min, 2),
            "catalog_song_seconds": CATALOG_SECONDS,
            "artists": args.artists,
            "load_average": {
                "min": min(loads, default=None),
                "median": statistics.median(loads) if loads else None,
                "max": max(loads, default=None),
            },
            "soak_cpu_seconds": round(soak.total_cpu_s, 1),
            "soak_cpu_seconds_by_role": soak.cpu_s,
            "soak_wall_seconds": round(soak.wall_s, 1),
            "identifications_per_minute": round(identified / elapsed_min, 2),
            "stages_per_minute": round(len(stages) / elapsed_min, 2),
            "generations": generations,
            "generations_succeeded_per_minute": round(generations.get("succeeded", 0) / elapsed_min, 3),
            "stage_latency_s": {
                name: {
                    "n": len(values),
                    "p50": round(statistics.median(values), 2),
                    "p95": round(percentile(values, 0.95) or 0.0, 2),
                }
                for name, values in sorted(by_stage.items())
            },
            "kills": kills,
            "recovery_s": {
                "n": len(recoveries),
                "p50": percentile(recoveries, 0.5),
                "p95": percentile(recoveries, 0.95),
                "max": max(recoveries, default=None),
                "unrecovered": sum(1 for kill in kills for v in kill["recovery_s"].values() if v is None),
            },
            "lost_and_duplicated": duplicates_and_losses(fleet),
            "statement_import_status": imported.status_code,
            "ledger_check": ledger.strip().splitlines()[-1],
            "phases": [vars(p) for p in fleet.phases],
        }
        out = ROOT / "benchmarks" / "results" / "fleet.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2, default=str))
        print(fleet.phase_table())
        print(json.dumps({k: v for k, v in report.items() if k != "kills"}, indent=2, default=str))
    finally:
        stop.set()
        fleet.stop_all()
        fleet.drop_database()
        moto.terminate()
        moto.wait(timeout=10)
        if not os.environ.get("FLEET_KEEP"):
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
