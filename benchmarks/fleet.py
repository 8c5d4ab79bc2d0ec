"""Fleet soak: 2 gunicorn web processes and 3 ``rundramatiq`` workers on PostgreSQL, Redis and S3,
with artists uploading and generating over HTTP while a random worker is ``kill -9``-ed every
30-90 s (and restarted at once).

Reports jobs per minute (identifications, generation stages, generations), p50/p95 latency of
each generation stage (claim to finish, from the database), and for each kill the work the dead
worker held and how long until another worker took it up.

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
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fleet.harness import Fleet, create_artists, free_port  # noqa: E402
from tests.fleet.test_fleet import SONG_SECONDS, upload_set_of  # noqa: E402


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
        claims[f"stage:{stage_id}"] = (
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
    kind, pk = key.split(":")
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
        fleet.start_worker(index)
        recovered: dict[str, float | None] = dict.fromkeys(held)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and any(v is None for v in recovered.values()):
            for key, attempts in held.items():
                if recovered[key] is None and progressed(fleet, key, attempts):
                    recovered[key] = round(time.monotonic() - killed_at, 1)
            time.sleep(0.5)
        results.append({"worker": index, "held": sorted(held), "recovery_s": recovered})
        print(f"kill -9 worker {index}: held {sorted(held) or 'nothing'}; taken over after {recovered}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/11")
    parser.add_argument("--artists", type=int, default=3)
    parser.add_argument("--database", default="songforge_fleet_bench", help="created and dropped by the run")
    args = parser.parse_args()

    import boto3
    import redis

    from tests.fleet import test_fleet

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
    )
    kills: list[dict[str, Any]] = []
    stop = threading.Event()
    fleet.create_database()
    try:
        fleet.manage("migrate", "--noinput")
        songs = sorted(test_fleet.build_catalog(fleet).iterdir())
        artists = create_artists(fleet, args.artists)
        with fleet.running():
            for artist in artists:
                artist.login()
            started = time.monotonic()
            end = started + args.minutes * 60
            thread = threading.Thread(target=killer, args=(fleet, stop, kills), daemon=True)
            thread.start()

            def artist_loop(artist: Any, offset: int) -> None:
                round_no = 0
                while time.monotonic() < end:
                    files = [songs[(offset + round_no + k) % len(songs)] for k in range(10)]
                    set_id = upload_set_of(artist, files)
                    while time.monotonic() < end and fleet.query(
                        "SELECT 1 FROM generation_upload WHERE upload_set_id = %s AND status = 'identifying'", set_id
                    ):
                        time.sleep(1)
                    if time.monotonic() >= end:
                        return
                    artist.post_form(f"/songs/sets/{set_id}/generate")
                    while time.monotonic() < end and fleet.query(
                        "SELECT 1 FROM generation_generation WHERE upload_set_id = %s "
                        "AND status IN ('queued', 'running')",
                        set_id,
                    ):
                        time.sleep(2)
                    round_no += 1

            loops = [
                threading.Thread(target=artist_loop, args=(artist, 3 * k), daemon=True)
                for k, artist in enumerate(artists)
            ]
            for loop in loops:
                loop.start()
            for loop in loops:
                loop.join()
            stop.set()
            thread.join(timeout=400)
            elapsed_min = (time.monotonic() - started) / 60

        identified = fleet.query("SELECT COUNT(*) FROM generation_upload WHERE status <> 'identifying'")[0][0]
        stages = fleet.query(
            "SELECT name, EXTRACT(EPOCH FROM finished_at - started_at) FROM generation_generationstage "
            "WHERE status = 'done'"
        )
        generations = fleet.query("SELECT status, COUNT(*) FROM generation_generation GROUP BY status")
        by_stage: dict[str, list[float]] = {}
        for name, seconds in stages:
            by_stage.setdefault(name, []).append(float(seconds))
        recoveries = [v for kill in kills for v in kill["recovery_s"].values() if v is not None]
        report = {
            "minutes": round(elapsed_min, 2),
            "song_seconds": SONG_SECONDS,
            "artists": args.artists,
            "identifications_per_minute": round(identified / elapsed_min, 2),
            "stages_per_minute": round(len(stages) / elapsed_min, 2),
            "generations": dict(generations),
            "generations_succeeded_per_minute": round(dict(generations).get("succeeded", 0) / elapsed_min, 3),
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
                "max": max(recoveries, default=None),
                "p50": percentile(recoveries, 0.5),
                "unrecovered": sum(1 for kill in kills for v in kill["recovery_s"].values() if v is None),
            },
        }
        out = ROOT / "benchmarks" / "results" / "fleet.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2, default=str))
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
