"""The backup and restore drill of docs/operations.md, on this machine's PostgreSQL and an S3 server.

A database holding a finished flow (``manage.py demo``: catalog, uploads, a generation, a release,
a statement, a payout run) with its audio in an S3 bucket (moto's server, started by the tests) is
dumped with ``pg_dump``, restored with ``pg_restore`` into a fresh database, and checked as an
operator would: ``ledger_check`` clean, the same payouts, and a fingerprint index rebuilt from the
bucket's audio into an empty data folder answering the same identifications. The bucket outlives
the lost host (versioned or replicated in production); only the database comes from the dump.
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

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.s3, pytest.mark.timeout(3600)]
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


@pytest.fixture
def bucket_env(s3_endpoint: str) -> dict[str, str]:
    """A fresh bucket on the moto S3 server, as the production processes' settings name it."""
    import uuid

    import boto3

    bucket = f"songforge-drill-{uuid.uuid4().hex[:12]}"
    boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    ).create_bucket(Bucket=bucket)
    return {
        "SONGFORGE_STORAGE": "s3",
        "SONGFORGE_S3_BUCKET": bucket,
        "SONGFORGE_S3_ENDPOINT_URL": s3_endpoint,
        "SONGFORGE_S3_ACCESS_KEY_ID": "testing",
        "SONGFORGE_S3_SECRET_ACCESS_KEY": "testing",
        "SONGFORGE_S3_REGION": "us-east-1",
    }


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
def databases() -> Iterator[tuple[str, str]]:
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        skip_or_fail("needs PostgreSQL: set DATABASE_URL=postgres://…")
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        skip_or_fail("needs pg_dump and pg_restore (postgresql-client)")
    stem = urlparse(os.environ["DATABASE_URL"]).path.lstrip("/") or "songforge"
    names = (f"{stem}_drill_source", f"{stem}_drill_restored")
    for name in names:
        _psql_admin(f'DROP DATABASE IF EXISTS "{name}"')
        _psql_admin(f'CREATE DATABASE "{name}"')
    yield names[0], names[1]
    for name in names:
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
    tmp_path: Path, databases: tuple[str, str], bucket_env: dict[str, str]
) -> None:
    source_name, restored_name = databases
    # Small sizes, the real code: a few fine-tuning steps, 2-bar sections, one candidate per section.
    quick = {
        "SONGFORGE_FINETUNE_STEPS": "4",
        "SONGFORGE_SECTION_BARS": "2",
        "SONGFORGE_SECTION_CANDIDATES": "1",
        "SONGFORGE_GENERATION_TAKES": "1",
        **bucket_env,
    }
    source = app_env(tmp_path / "source", DATABASE_URL=_database_url(source_name), **quick)
    # A finished flow, through the same services as the site (embedded broker: jobs run in the command).
    migrated = entrypoint("migrate", env=source)
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    demo = entrypoint(
        "manage",
        "demo",
        "--catalog-size",
        "12",
        "--catalog-seconds",
        "30",  # the demo cuts 15 s excerpts starting up to 14 s in
        "--song-seconds",
        "20",
        "--timeout",
        "1500",
        env={**source, "SONGFORGE_EMBEDDED_WORKER": "1", "DEBUG": "1"},
        timeout=3000,
    )
    (tmp_path / "demo.out").write_text(demo.stdout)
    (tmp_path / "demo.err").write_text(demo.stderr)
    errors = [line for line in demo.stderr.splitlines() if "Error" in line or "refused" in line][-5:]
    assert demo.returncode == 0, demo.stdout[-2000:] + "\n".join(errors)
    stored = _bucket_keys(bucket_env)
    assert any(key.startswith("catalog/audio/") for key in stored), sorted(stored)[:20]
    assert any(key.startswith("uploads/") for key in stored), sorted(stored)[:20]
    assert not (tmp_path / "source" / "media").exists()  # every file went to the bucket
    before_payouts = _marked(entrypoint("manage", "shell", "-c", PAYOUTS, env=source).stdout, "PAYOUTS")
    assert before_payouts, "the demo made no payouts"
    queries = tmp_path / "queries"
    queries.mkdir()
    exported = entrypoint("manage", "shell", "-c", EXPORT_AUDIO.replace("OUT_DIR", str(queries)), env=source)
    files = list(_marked(exported.stdout, "FILES"))  # type: ignore[call-overload]
    assert files
    before_answers = _identify(source, files)
    assert all(answer["status"] == "matched" for answer in before_answers), before_answers  # type: ignore[index]

    dump = tmp_path / "songforge.dump"
    subprocess.run(
        ["pg_dump", "--format=custom", "--no-owner", f"--file={dump}", _database_url(source_name)],
        check=True,
        timeout=600,
    )
    subprocess.run(
        ["pg_restore", "--no-owner", f"--dbname={_database_url(restored_name)}", str(dump)], check=True, timeout=600
    )

    # The restored database beside the same bucket, with no data folder (no fingerprint index):
    # what a lost host leaves.
    restored = app_env(tmp_path / "restored", DATABASE_URL=_database_url(restored_name), **quick)
    assert not (tmp_path / "restored" / "fingerprints").exists()
    migrate_again = entrypoint("migrate", env=restored)
    assert migrate_again.returncode == 0
    assert "No migrations to apply" in migrate_again.stdout
    check = entrypoint("manage", "ledger_check", env=restored)
    assert check.returncode == 0, check.stderr
    assert "Ledger balanced." in check.stdout
    after_payouts = _marked(entrypoint("manage", "shell", "-c", PAYOUTS, env=restored).stdout, "PAYOUTS")
    assert after_payouts == before_payouts
    rebuilt = entrypoint("manage", "index_rebuild", env=restored, timeout=1200)
    assert rebuilt.returncode == 0, rebuilt.stderr[-3000:]
    assert _identify(restored, files) == before_answers
