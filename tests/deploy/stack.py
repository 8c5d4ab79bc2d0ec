"""SongForge as production runs it, on loopback: the image's entrypoint starts gunicorn (``web``) and a
``rundramatiq`` worker on every queue, with PostgreSQL (``DATABASE_URL``), Redis
(``DRAMATIQ_BROKER_URL``) and S3 (moto's server) as its outside services.

Used by ``tests/deploy/test_prometheus_scrape.py`` and ``tests/e2e/test_deploy_e2e.py``. Only the
sizes are small (8-second uploads, a 10-second song, a few fine-tuning steps); every step runs the
real code in the real processes. :func:`seed` runs inside the stack (``manage.py shell``).
"""

from __future__ import annotations

import io
import os
import subprocess
import time
import urllib.request
import uuid
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

from tests.conftest import free_port, skip_or_fail
from tests.deploy.conftest import REPO, app_env, entrypoint, wait_http

ARTIST_EMAIL = "stack-artist@example.com"
PASSWORD = "stack-password-0123"
METRICS_TOKEN = "stack-metrics-token"
QUEUES = ("default", "identify", "catalog", "indexing", "ml", "royalties", "distribution")
SMALL = {
    "SONGFORGE_GENERATION_SECONDS": "10",
    "SONGFORGE_GENERATION_TAKES": "1",  # each stage runs once; tests/generation covers the second take
    "SONGFORGE_SECTION_BARS": "2",
    "SONGFORGE_FINETUNE_STEPS": "4",
    "SONGFORGE_SECTION_CANDIDATES": "1",
    "SONGFORGE_TORCH_THREADS": "1",
    "OMP_NUM_THREADS": "1",
}


@dataclass
class Stack:
    root: Path
    env: dict[str, str]
    web_url: str
    worker_metrics_url: str
    database: str
    excerpts: list[Path] = field(default_factory=list)
    token: str = ""

    def manage(self, *args: str, timeout: float = 600) -> str:
        done = entrypoint("manage", *args, env=self.env, timeout=timeout)
        assert done.returncode == 0, f"manage {' '.join(args)}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        return done.stdout

    def worker_sample(self, name: str, **labels: str) -> float:
        """A sample of the worker's own /metrics (summed over matching label sets), 0 when absent."""
        from prometheus_client.parser import text_string_to_metric_families

        with urllib.request.urlopen(self.worker_metrics_url, timeout=10) as response:
            text = response.read().decode()
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
        )

    def wait_indexed(self, timeout: float = 1200) -> None:
        """Until the worker has fingerprinted the seeded catalog (its indexing job is done)."""
        deadline = time.monotonic() + timeout
        while self.worker_sample("songforge_jobs_total", actor="recordings_index_task", outcome="done") < 1:
            if time.monotonic() > deadline:
                raise AssertionError(f"the worker did not index the catalog within {timeout} s")
            time.sleep(1)

    def log(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""


def _database_url(name: str) -> str:
    return urlunparse(urlparse(os.environ["DATABASE_URL"])._replace(path=f"/{name}"))


def _psql(sql: str) -> None:
    subprocess.run(["psql", _database_url("postgres"), "-qv", "ON_ERROR_STOP=1", "-c", sql], check=True, timeout=60)


def start(
    root: Path, started: list[Any], *, redis_url: str, s3_endpoint: str, name: str, static: bool = False
) -> Stack:
    """Migrate, seed the catalog and an artist, start web and worker; returns when both answer.

    ``static``: ``collectstatic`` and hashed, compressed static files, as ``make serve`` and the image
    do (minutes of CPU on a loaded machine; the browser needs them, Prometheus does not).
    """
    import boto3

    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        skip_or_fail("needs PostgreSQL: set DATABASE_URL=postgres://…")
    stem = urlparse(os.environ["DATABASE_URL"]).path.lstrip("/") or "songforge"
    database = f"{stem}_{name}"
    _psql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    _psql(f'CREATE DATABASE "{database}"')
    bucket = f"songforge-{name}-{uuid.uuid4().hex[:8]}"
    boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    ).create_bucket(Bucket=bucket)
    web_port, worker_port = free_port(), free_port()
    env = app_env(
        root / "data",
        DATABASE_URL=_database_url(database),
        DRAMATIQ_BROKER_URL=redis_url,
        # Its own keys in the shared test Redis database: other tests' workers (tests/fleet, the
        # foundation round trip) never take its messages, nor it theirs.
        SONGFORGE_DRAMATIQ_NAMESPACE=f"songforge-{name}-{uuid.uuid4().hex[:8]}",
        SONGFORGE_STORAGE="s3",
        SONGFORGE_S3_BUCKET=bucket,
        SONGFORGE_S3_ENDPOINT_URL=s3_endpoint,
        SONGFORGE_S3_ACCESS_KEY_ID="testing",
        SONGFORGE_S3_SECRET_ACCESS_KEY="testing",
        SONGFORGE_S3_REGION="us-east-1",
        SONGFORGE_METRICS_TOKEN=METRICS_TOKEN,
        SONGFORGE_WEB_BIND=f"127.0.0.1:{web_port}",
        SONGFORGE_WEB_WORKERS="2",
        SONGFORGE_WORKER_METRICS_PORT=str(worker_port),
        SONGFORGE_WORKER_THREADS="2",
        SONGFORGE_STATIC_MANIFEST="1" if static else "0",
        SONGFORGE_STATIC_ROOT=str(root / "static"),
        PYTHONUNBUFFERED="1",
        **SMALL,
    )
    stack = Stack(
        root=root,
        env=env,
        web_url=f"http://127.0.0.1:{web_port}",
        worker_metrics_url=f"http://127.0.0.1:{worker_port}/metrics",
        database=database,
    )
    migrated = entrypoint("migrate", env=env, timeout=1800)  # minutes on a loaded machine
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    if static:
        stack.manage("collectstatic", "--noinput", "-v", "0", timeout=1200)

    def run(log_name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (root / f"{log_name}.log").open("wb")
        process = subprocess.Popen(
            [str(REPO / "deploy" / "entrypoint.sh"), *args], env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT
        )
        started.append(process)
        return process

    web = run("web", "web")
    worker = run("worker", "worker", *QUEUES)
    wait_http(f"{stack.web_url}/healthz", process=web, timeout=600, want_ok=True)
    wait_http(stack.worker_metrics_url, process=worker, timeout=900)

    excerpts = root / "excerpts"
    excerpts.mkdir()
    out = stack.manage("shell", "-c", f"from tests.deploy.stack import seed; seed({str(excerpts)!r})")
    stack.token = next(line.split()[1] for line in out.splitlines() if line.startswith("TOKEN "))
    stack.excerpts = sorted(excerpts.glob("*.wav"))
    assert len(stack.excerpts) == 10
    return stack


def _wav(samples: Any, rate: int = 16000) -> bytes:
    import numpy as np

    pcm = (np.clip(samples, -1.0, 1.0) * 30000).astype("<i2").tobytes()
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)
    return buffer.getvalue()


def seed(out_dir: str) -> None:
    """Inside the stack: ten catalog songs with audio and rights (handed to the worker for indexing),
    an 8-second excerpt of each written to ``out_dir`` to upload, and an artist with a confirmed
    address, a password and an API token (printed as ``TOKEN …``)."""
    from allauth.account.models import EmailAddress
    from django.contrib.auth import get_user_model
    from django.core.files.base import ContentFile
    from django.db import transaction

    from apitokens.services import api_token_create
    from catalog.models import RecordingShare
    from catalog.services import (
        recording_shares_set,
        recording_upsert,
        recordings_notify_imported,
        rights_holder_get_or_create,
    )
    from demo.fingerprint_synth import song

    with transaction.atomic():
        label, _ = rights_holder_get_or_create(name="Stack Label", kind="label")
        writer, _ = rights_holder_get_or_create(name="Stack Writer", kind="writer")
        ids = []
        for index in range(10):
            audio = song(seed=2000 + index, seconds=16.0)
            recording, _ = recording_upsert(
                external_id=f"stack-{index:02d}",
                title=f"Stack Song {index:02d}",
                artist=f"Stack Band {chr(65 + index)}",
                album="Stack Album",
                isrc=f"QZS8F27{index:05d}",
            )
            recording.audio.save(f"stack-{index:02d}.wav", ContentFile(_wav(audio)), save=True)
            for side, holder in ((RecordingShare.Side.MASTER, label), (RecordingShare.Side.PUBLISHING, writer)):
                recording_shares_set(
                    recording_id=recording.pk, side=side, shares=[(holder.pk, 10_000)], by_user_id=None
                )
            ids.append(recording.pk)
            (Path(out_dir) / f"my-song-{index:02d}.wav").write_bytes(_wav(audio[3 * 16000 : 11 * 16000]))
        recordings_notify_imported(ids)  # after commit: a message to the worker's indexing queue
        user = get_user_model().objects.create_user(username="stack-artist", email=ARTIST_EMAIL, password=PASSWORD)
        EmailAddress.objects.create(user=user, email=ARTIST_EMAIL, verified=True, primary=True)
        print("TOKEN", api_token_create(user_id=user.pk, name="deploy test").token)


def settle(upload_set_id: int) -> None:
    """Inside the stack: staff match whatever identification left unmatched (printed as ``BY_HAND n``).

    Artists' own picks wait for a staff review (tests/e2e/test_journey_e2e.py drives that); here the
    identification engine is not under test, so staff settle its misses directly.
    """
    from catalog.models import Recording
    from uploads.models import Upload
    from uploads.services import upload_match_manually

    by_hand = 0
    for upload in Upload.objects.filter(upload_set_id=upload_set_id).exclude(status=Upload.Status.MATCHED):
        recording = Recording.objects.get(external_id=f"stack-{upload.original_name[8:10]}")
        upload_match_manually(upload_id=upload.pk, recording_id=recording.pk)
        by_hand += 1
    print("BY_HAND", by_hand)


def settle_and_generate(upload_set_id: int) -> None:
    """:func:`settle`, then start the generation, whose pipeline the worker runs (printed as ``GENERATION id``)."""
    from generation.services.pipeline import generation_start
    from uploads.models import UploadSet

    settle(upload_set_id)
    owner_id = UploadSet.objects.values_list("owner_id", flat=True).get(pk=upload_set_id)
    print("GENERATION", generation_start(upload_set_id=upload_set_id, owner_id=owner_id).pk)
