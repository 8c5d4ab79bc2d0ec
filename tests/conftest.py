"""Shared fixtures: isolated data folders, real outside services, Dramatiq workers.

Tests that need PostgreSQL, Redis or the S3 server skip when it is absent, unless
``SONGFORGE_REQUIRE_SERVICES=1`` (CI), which turns every such skip into a failure.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dramatiq
import pytest
from django.conf import settings as django_settings
from dramatiq.worker import _WorkerMiddleware

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's loop lives in the main thread


def skip_or_fail(reason: str) -> None:
    """Skip a test whose outside service is missing, or fail when CI requires it."""
    if django_settings.REQUIRE_SERVICES:
        pytest.fail(f"{reason} (SONGFORGE_REQUIRE_SERVICES=1 forbids skipping)")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _isolated_data_dirs(settings: Any, tmp_path: Path) -> None:
    """Every test writes media, indexes and outboxes below its own tmp_path."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.FINGERPRINT_INDEX_DIR = tmp_path / "fingerprints"
    settings.OUTBOX_DIR = tmp_path / "outbox"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def postgres_db(db: None) -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        skip_or_fail("needs PostgreSQL: set DATABASE_URL=postgres://…")


@pytest.fixture(scope="session")
def redis_url() -> str:
    import redis

    url = os.environ.get("SONGFORGE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        skip_or_fail(f"needs Redis at {url}: {exc}")
    return url


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A moto S3-compatible server on 127.0.0.1, started for this test session."""
    executable = shutil.which("moto_server") or str(Path(sys.executable).with_name("moto_server"))
    if not Path(executable).exists():
        skip_or_fail("needs moto_server (pip install moto[server])")
    port = free_port()
    process = subprocess.Popen(
        [executable, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            time.sleep(0.1)
    else:
        process.kill()
        skip_or_fail("moto_server did not start within 20 s")
    yield endpoint
    process.terminate()
    process.wait(timeout=10)


# The heaviest tests, dispatched first and in this order (`make test` runs pytest-xdist with
# `--dist loadgroup --no-loadscope-reorder`, so units go out in collection order): the fleet to one
# worker, the production stack's three tests to the other, then the next heaviest, so that neither
# worker is left with a long test at the end while the other idles. The production stack's tests
# must also run in this order: the browser flow, what Prometheus scraped of it, the web process's own
# checks, the restore drill of its database, which stops the stack (tests/deploy/production.py).
FIRST = (
    "tests/fleet/test_fleet.py",
    "tests/e2e/test_deploy_e2e.py",
    "tests/deploy/test_prometheus_scrape.py",
    "tests/deploy/test_entrypoint.py",
    "tests/ops/test_restore_drill.py",
    "tests/ops/test_numba_cache.py",
    "tests/synthesis/",
)


def _rank(item: pytest.Item) -> int:
    """Where a test goes: the FIRST ones in order, then the rest; a transactional test never moves ahead.

    A transactional test ends by flushing every table, which deletes the rows data migrations wrote (the
    staff roles): pytest-django runs them after the other database tests for that reason. Sending one
    first (the journey e2e once was) left every later test on its worker without roles (seen in CI).
    """
    marker = item.get_closest_marker("django_db")
    if "transactional_db" in getattr(item, "fixturenames", ()) or (
        marker is not None and marker.kwargs.get("transaction")
    ):
        return len(FIRST)
    path = item.nodeid.split("::")[0]
    return next((rank for rank, prefix in enumerate(FIRST) if path.startswith(prefix)), len(FIRST))


def _tag_xdist_groups(items: list[pytest.Item]) -> None:
    """Append ``@group`` to the node id of every ``xdist_group`` test, as pytest-xdist means to.

    pytest-xdist 3.8 tags them by assigning ``item._nodeid``, which pytest 9 no longer reads (a node
    keeps its id in ``_id``), so every group was silently ignored: ``--dist loadgroup`` sent the tests
    of one group to both workers (seen: the production stack started twice, one dropping the other's
    database). Its scheduler groups by the ``@`` suffix of the ids the workers report.
    """
    from _pytest.nodeid import coerce_node_id

    for item in items:
        names = sorted(
            {
                str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
                for mark in item.iter_markers("xdist_group")
            }
        )
        if names and not item.nodeid.endswith("@" + "_".join(names)):
            item._id = coerce_node_id(f"{item.nodeid}@{'_'.join(names)}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=_rank)  # stable: the rest keep their collection order
    if getattr(config.option, "loadgroup", False):  # set on the workers of --dist loadgroup
        _tag_xdist_groups(items)


@pytest.fixture(scope="session")
def production(tmp_path_factory: pytest.TempPathFactory, redis_url: str, s3_endpoint: str) -> Iterator[Any]:
    """One production stack (gunicorn, a rundramatiq worker, PostgreSQL, Redis, S3, Prometheus) per session."""
    # Imported here: tests/deploy/production.py imports this module (free_port, skip_or_fail).
    from tests.deploy.production import production_stack

    yield from production_stack(tmp_path_factory, redis_url, s3_endpoint)


@pytest.fixture
def s3_storage(settings: Any, s3_endpoint: str) -> str:
    """Points Django's default storage at a fresh bucket on the moto server."""
    import uuid

    import boto3

    from songforge.storage import s3_transfer_config

    bucket = f"songforge-test-{uuid.uuid4().hex[:12]}"
    boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    ).create_bucket(Bucket=bucket)
    settings.STORAGE_KIND = "s3"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket,
                "endpoint_url": s3_endpoint,
                "access_key": "testing",
                "secret_key": "testing",
                "region_name": "us-east-1",
                "addressing_style": "path",
                "signature_version": "s3v4",
                "file_overwrite": False,
                "querystring_auth": True,
                "max_memory_size": 8 * 1024 * 1024,
                "transfer_config": s3_transfer_config(),
            },
        },
    }
    return bucket  # Django resets default_storage whenever STORAGES changes


def _forget_stopped_workers(broker: dramatiq.Broker) -> None:
    """Drop the hooks that earlier tests' workers left on the shared broker.

    ``Worker.stop()`` leaves its ``_WorkerMiddleware`` behind; when a queue is declared later
    (a delay queue on the first retry, say), that hook gives the *stopped* worker a consumer,
    which takes messages that no thread will ever process, and ``broker.join`` then hangs.
    """
    broker.middleware[:] = [m for m in broker.middleware if not isinstance(m, _WorkerMiddleware)]


@pytest.fixture
def stub_broker() -> Iterator[dramatiq.Broker]:
    broker = dramatiq.get_broker()
    _forget_stopped_workers(broker)
    broker.flush_all()
    yield broker
    broker.flush_all()
    _forget_stopped_workers(broker)


@pytest.fixture
def stub_worker(stub_broker: dramatiq.Broker) -> Iterator[dramatiq.Worker]:
    """A worker thread on the test broker; tests using it need django_db(transaction=True)."""
    worker = dramatiq.Worker(stub_broker, worker_timeout=100, worker_threads=1)
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def reviewer(db: None) -> Any:
    """A staff member allowed to approve or reject artists' manual matches."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    user = get_user_model().objects.create_user(
        username="reviewer", email="reviewer@example.com", password="x-pass-123", is_staff=True
    )
    user.user_permissions.add(Permission.objects.get(codename="review_matchclaim"))
    return user
