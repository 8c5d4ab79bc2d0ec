"""Run the container entrypoint's commands on this machine, as the image would, without a container."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

REPO = Path(__file__).resolve().parents[2]
ENTRYPOINT = REPO / "deploy" / "entrypoint.sh"


def app_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a production process: DEBUG off, JSON logs, its own data dir."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTEST_", "SONGFORGE_", "DJANGO_", "PROMETHEUS_"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "songforge.settings",
            "SECRET_KEY": "deploy-test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
            "SONGFORGE_DATA_DIR": str(data_dir),
            "SONGFORGE_APP_DIR": str(REPO),
            "SONGFORGE_SECURE_COOKIES": "0",
            "SONGFORGE_SSL_REDIRECT": "0",  # plain HTTP on loopback: no TLS proxy in front
            "SONGFORGE_LOG_JSON": "1",
            "SONGFORGE_EMBEDDED_WORKER": "0",
            "DATABASE_URL": f"sqlite:///{data_dir / 'db.sqlite3'}",
            # The cache the test run already filled: a cold one would compile librosa in every process.
            "NUMBA_CACHE_DIR": str(settings.NUMBA_CACHE_DIR),
            "PYTHON": str(REPO / ".venv" / "bin" / "python"),
            "PATH": f"{REPO / '.venv' / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "TMPDIR": str(data_dir / "tmp"),
        }
    )
    (data_dir / "tmp").mkdir(parents=True, exist_ok=True)
    env.update(extra)
    return env


def entrypoint(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ENTRYPOINT), *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False
    )


def wait_http(
    url: str, *, timeout: float = 120, process: subprocess.Popen[bytes] | None = None, want_ok: bool = False
) -> None:
    """Waits until ``url`` answers (any HTTP status, or only 2xx with ``want_ok``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"{url}: the process exited with {process.returncode} before answering")
        try:
            # A loaded machine answers slowly (a /healthz probe of S3, the database and Redis took 30 s
            # at a load average of 27 on 2 cores): wait for the answer rather than giving up on it.
            with urllib.request.urlopen(url, timeout=max(5.0, min(60.0, deadline - time.monotonic()))):
                return
        except urllib.error.HTTPError:
            if not want_ok:
                return  # it answers
            time.sleep(0.5)
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {timeout} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts; stopped (by their own pid) at the end."""
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in reversed(processes):
        stop(process)
