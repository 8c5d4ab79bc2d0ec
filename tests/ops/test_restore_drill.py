"""The backup and restore drill of docs/operations.md, on this machine's PostgreSQL and an S3 server.

The database of the production stack (the session's ``production``, tests/deploy/production.py),
holding a finished flow (catalog, uploads, a generation and a release made in the browser test, then a
statement and a payout run made here with the operator's commands), with its audio in an S3 bucket
(moto's server, started by the tests), is dumped with ``pg_dump`` while the stack runs, restored with
``pg_restore`` into a fresh database, and checked as an operator would: ``ledger_check`` clean, the
same payouts, and a fingerprint index rebuilt from the bucket's audio into an empty data folder
answering the same identifications. The bucket outlives the lost host (versioned or replicated in
production); only the database comes from the dump.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pytest

from tests.conftest import skip_or_fail
from tests.deploy.conftest import app_env, entrypoint
from tests.deploy.production import Production

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.s3,
    pytest.mark.xdist_group("production"),
    pytest.mark.timeout(3600),
]
LEDGER_CHECK = """
from django.core.management import call_command
call_command("ledger_check")
"""
PAYOUTS = """
import json
from django.apps import apps
Payout = apps.get_model("royalties", "Payout")
fields = [f.attname for f in Payout._meta.concrete_fields if f.attname not in {"created_at", "updated_at"}]
print("PAYOUTS " + json.dumps(list(Payout.objects.order_by("pk").values(*fields)), default=str))
"""
EXPORT_AUDIO = """
import json
from pathlib import Path
from django.apps import apps
Recording = apps.get_model("catalog", "Recording")
out = Path("OUT_DIR")
files = []
for recording in Recording.objects.exclude(audio="").order_by("pk")[:4]:
    target = out / f"query-{recording.pk}{Path(recording.audio.name).suffix}"
    with recording.audio.open("rb") as source:
        target.write_bytes(source.read())
    files.append(str(target))
print("FILES " + json.dumps(files))
"""


def _database_url(name: str) -> str:
    base = urlparse(os.environ.get("DATABASE_URL", ""))
    return urlunparse(base._replace(path=f"/{name}"))


def _psql_admin(sql: str) -> None:
    subprocess.run(["psql", _database_url("postgres"), "-v", "ON_ERROR_STOP=1", "-c", sql], check=True, timeout=60)


def _bucket_keys(env: dict[str, str]) -> set[str]:
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=env["SONGFORGE_S3_ENDPOINT_URL"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=env["SONGFORGE_S3_BUCKET"])
    return {item["Key"] for page in pages for item in page.get("Contents", [])}


@pytest.fixture
def restored_database() -> Iterator[str]:
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        skip_or_fail("needs pg_dump and pg_restore (postgresql-client)")
    stem = urlparse(os.environ["DATABASE_URL"]).path.lstrip("/") or "songforge"
    name = f"{stem}_drill_restored"
    _psql_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _psql_admin(f'CREATE DATABASE "{name}"')
    yield name
    _psql_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _marked(output: str, marker: str) -> object:
    line = next(line for line in output.splitlines() if line.startswith(marker + " "))
    return json.loads(line.removeprefix(marker + " "))


def _identify(env: dict[str, str], files: list[str]) -> list[object]:
    done = entrypoint("manage", "identify", "--json", *files, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(rows) == len(files)
    return [
        {k: row.get(k) for k in ("status", "recording_id", "recording", "isrc", "method") if k in row} for row in rows
    ]


def test_a_dump_restored_into_a_fresh_database_balances_pays_the_same_and_identifies_the_same(
    tmp_path: Path, production: Production, restored_database: str
) -> None:
    stack = production.stack
    source = stack.env
    period = production.statement_and_payouts()  # the flow's release earns; the period's run pays
    stored = _bucket_keys(source)
    assert any(key.startswith("catalog/audio/") for key in stored), sorted(stored)[:20]
    assert any(key.startswith("uploads/") for key in stored), sorted(stored)[:20]
    assert any(key.startswith(f"generations/{production.generation_id}/") for key in stored), sorted(stored)[:20]
    assert not (stack.root / "data" / "media").exists()  # every file went to the bucket
    queries = tmp_path / "queries"
    queries.mkdir()
    # One process for both reads (each start imports torch: seconds of CPU).
    out = stack.manage("shell", "-c", PAYOUTS + EXPORT_AUDIO.replace("OUT_DIR", str(queries)))
    before_payouts = _marked(out, "PAYOUTS")
    assert before_payouts, f"the payout run of {period} paid nobody"
    files = list(_marked(out, "FILES"))  # type: ignore[call-overload]
    assert files
    before_answers = _identify(source, files)
    assert all(answer["status"] == "matched" for answer in before_answers), before_answers  # type: ignore[index]

    dump = tmp_path / "songforge.dump"
    subprocess.run(
        ["pg_dump", "--format=custom", "--no-owner", f"--file={dump}", source["DATABASE_URL"]],
        check=True,
        timeout=600,
    )
    production.stop()  # this is its last test: the rest runs without the stack's processes
    subprocess.run(
        ["pg_restore", "--no-owner", f"--dbname={_database_url(restored_database)}", str(dump)],
        check=True,
        timeout=600,
    )

    # The restored database beside the same bucket, with no data folder (no fingerprint index) and no
    # broker (the commands run their own jobs): what a lost host leaves.
    bucket = {key: source[key] for key in source if key.startswith("SONGFORGE_S3_") or key == "SONGFORGE_STORAGE"}
    restored = app_env(tmp_path / "restored", DATABASE_URL=_database_url(restored_database), **bucket)
    assert not (tmp_path / "restored" / "fingerprints").exists()
    migrate_again = entrypoint("migrate", env=restored)
    assert migrate_again.returncode == 0
    assert "No migrations to apply" in migrate_again.stdout
    # ledger_check (it raises, so the process fails, when the ledger does not balance), then the payouts.
    check = entrypoint("manage", "shell", "-c", LEDGER_CHECK + PAYOUTS, env=restored)
    assert check.returncode == 0, check.stderr[-3000:]
    assert "Ledger balanced." in check.stdout
    after_payouts = _marked(check.stdout, "PAYOUTS")
    assert after_payouts == before_payouts
    rebuilt = entrypoint("manage", "index_rebuild", env=restored, timeout=1200)
    assert rebuilt.returncode == 0, rebuilt.stderr[-3000:]
    assert _identify(restored, files) == before_answers
