"""A small production-like fleet on loopback: gunicorn web processes and ``rundramatiq`` workers
sharing PostgreSQL, Redis (``DRAMATIQ_BROKER_URL``) and an S3 server, driven over HTTP.

Used by ``tests/fleet/test_fleet.py`` (CI) and ``benchmarks/fleet.py`` (the soak). No Django is
imported here: the fleet's processes are separate, and the harness reads their state with plain
SQL through psycopg2, as an operator would.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import psycopg2
import requests

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "fleet-password-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, *, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")


@dataclass
class Kill:
    """One ``kill -9`` of a worker holding a claim, and when its work was taken up again."""

    what: str
    killed_at: float
    resumed_at: float | None = None

    @property
    def recovery_s(self) -> float | None:
        return None if self.resumed_at is None else self.resumed_at - self.killed_at


@dataclass
class Fleet:
    """Settings and processes of one fleet. Use :meth:`running` as a context manager."""

    workdir: Path
    postgres_url: str  # postgres://user@host:port/<any db>; the fleet creates and drops its own database
    database: str
    redis_url: str
    s3_endpoint: str
    bucket: str
    heartbeat_s: int = 1
    stale_after_s: int = 6
    webs: int = 2
    workers: int = 3
    worker_threads: int = 2
    extra_env: dict[str, str] = field(default_factory=dict)
    web_procs: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    web_ports: dict[int, int] = field(default_factory=dict)
    worker_procs: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    kills: list[Kill] = field(default_factory=list)
    log: Callable[[str], None] = print

    # --- environment -------------------------------------------------------------------------

    @property
    def database_url(self) -> str:
        parsed = urlparse(self.postgres_url)
        return parsed._replace(path=f"/{self.database}").geturl()

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SONGFORGE_", "PYTEST", "DJANGO_"))}
        env.pop("DATABASE_URL", None)
        env.update(
            {
                "DATABASE_URL": self.database_url,
                "DRAMATIQ_BROKER_URL": self.redis_url,
                "SECRET_KEY": "fleet-test-secret-key-not-for-production-0123456789",
                "DEBUG": "0",
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                "SONGFORGE_TESTING": "0",
                "SONGFORGE_SECURE_COOKIES": "0",
                "SONGFORGE_SSL_REDIRECT": "0",  # plain HTTP on loopback: no TLS proxy in front
                "SONGFORGE_DATA_DIR": str(self.workdir / "data"),
                "SONGFORGE_STORAGE": "s3",
                "SONGFORGE_S3_BUCKET": self.bucket,
                "SONGFORGE_S3_ENDPOINT_URL": self.s3_endpoint,
                "SONGFORGE_S3_ACCESS_KEY_ID": "testing",
                "SONGFORGE_S3_SECRET_ACCESS_KEY": "testing",
                "SONGFORGE_JOB_HEARTBEAT_SECONDS": str(self.heartbeat_s),
                "SONGFORGE_JOB_STALE_AFTER_SECONDS": str(self.stale_after_s),
                "SONGFORGE_JOB_MAX_ATTEMPTS": "6",  # the kill hunt may hit one job more than once
                "SONGFORGE_LOG_LEVEL": "INFO",
                "SONGFORGE_TORCH_THREADS": "1",
                "SONGFORGE_GENERATION_SECONDS": "10",
                "SONGFORGE_SECTION_BARS": "2",
                "SONGFORGE_FINETUNE_STEPS": "12",
                "SONGFORGE_SECTION_CANDIDATES": "1",
                "OMP_NUM_THREADS": "1",
                "OPENBLAS_NUM_THREADS": "1",
                "MKL_NUM_THREADS": "1",
                "NUMBA_CACHE_DIR": str(self.workdir / "numba-cache"),
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.extra_env)
        return env

    def manage(self, *args: str, env: dict[str, str] | None = None, timeout: float = 900) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env or self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        return result.stdout

    # --- the database ------------------------------------------------------------------------

    def _admin(self) -> Any:
        maintenance = urlparse(self.postgres_url)._replace(path="/postgres").geturl()
        connection = psycopg2.connect(maintenance)
        connection.autocommit = True
        return connection

    def create_database(self) -> None:
        connection = self._admin()
        try:
            with connection.cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
                cursor.execute(f'CREATE DATABASE "{self.database}"')
        finally:
            connection.close()

    def drop_database(self) -> None:
        connection = self._admin()
        try:
            with connection.cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        finally:
            connection.close()

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        connection = psycopg2.connect(self.database_url)
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                return list(cursor.fetchall())
        finally:
            connection.close()

    # --- processes ---------------------------------------------------------------------------

    def start_web(self, index: int) -> None:
        port = self.web_ports.setdefault(index, free_port())
        self.web_procs[index] = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "songforge.wsgi",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
                "--threads",
                "4",
                "--timeout",
                "300",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=self.env(),
            stdout=self._logfile(f"web-{index}"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start_worker(self, index: int) -> None:
        self.worker_procs[index] = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "rundramatiq",
                "--processes",
                "1",
                "--threads",
                str(self.worker_threads),
            ],
            cwd=ROOT,
            env=self.env(),
            stdout=self._logfile(f"worker-{index}"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def _logfile(self, name: str) -> Any:
        folder = self.workdir / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        return open(folder / f"{name}.log", "ab")  # the child process owns it

    @staticmethod
    def _kill_group(process: subprocess.Popen[bytes], sig: int) -> None:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)

    def kill_worker(self, index: int) -> None:
        """``kill -9`` the worker (its whole process group: rundramatiq, dramatiq and its children)."""
        self._kill_group(self.worker_procs[index], signal.SIGKILL)

    def restart_web(self, index: int) -> None:
        self._kill_group(self.web_procs[index], signal.SIGTERM)
        self.start_web(index)
        wait_for_port(self.web_ports[index])

    def stop_all(self) -> None:
        for process in [*self.web_procs.values(), *self.worker_procs.values()]:
            if process.poll() is None:
                self._kill_group(process, signal.SIGTERM)

    @contextmanager
    def running(self) -> Iterator[Fleet]:
        try:
            for index in range(self.webs):
                self.start_web(index)
            for index in range(self.workers):
                self.start_worker(index)
            for port in self.web_ports.values():
                wait_for_port(port)
            yield self
        finally:
            self.stop_all()

    # --- kills -------------------------------------------------------------------------------

    def holder(self, claim_line: str, *, timeout: float = 15.0) -> int | None:
        """The worker whose log says it made this claim (each worker logs to its own file)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for index in self.worker_procs:
                path = self.workdir / "logs" / f"worker-{index}.log"
                if path.exists() and claim_line in path.read_text(errors="replace"):
                    return index
            time.sleep(0.2)
        return None

    def kill_holder(self, what: str, state: Callable[[], tuple[bool, Any, int] | None], claim_line: str) -> Kill | None:
        """``kill -9`` the worker holding a claim, restart it at once, and time the takeover.

        ``state()`` reads ``(finished, claim token, attempts)`` of the work; ``claim_line.format(attempts)``
        is the line the claiming worker logs. The work resumed when its attempts go up (another
        worker's reaper released the stale claim and a worker claimed it again).
        """
        before = state()
        if before is None or before[0]:
            return None
        index = self.holder(claim_line.format(before[2]))
        current = state()
        if index is None or current is None or current[0]:
            return None
        self.kill_worker(index)
        killed_at = time.monotonic()
        self.start_worker(index)
        kill = Kill(what=what, killed_at=killed_at)
        self.kills.append(kill)
        deadline = killed_at + 180
        while time.monotonic() < deadline:
            now = state()
            if now is not None and now[2] > before[2]:
                kill.resumed_at = time.monotonic()
                break
            if now is not None and now[0]:
                self.kills.remove(kill)  # it finished just before the kill: no takeover to time
                return None
            time.sleep(0.2)
        self.log(f"kill -9 of worker {index} during {what}: resumed after {kill.recovery_s} s")
        return kill


class Artist:
    """One artist's HTTP session: logs in through the site's form, calls the API with its token."""

    def __init__(self, fleet: Fleet, username: str, token: str) -> None:
        self.fleet = fleet
        self.username = username
        self.token = token
        self.http = requests.Session()  # the site's pages: a logged-in session with CSRF
        self.api_http = requests.Session()  # the API: token only (a session would make DRF ask for CSRF)
        self._logged_in_on: set[int] = set()

    def base(self, prefer: int | None = None) -> tuple[int, str]:
        indexes = sorted(self.fleet.web_ports)
        index = prefer if prefer is not None else random.choice(indexes)
        return index, f"http://127.0.0.1:{self.fleet.web_ports[index]}"

    def request(
        self, method: str, path: str, *, http: requests.Session | None = None, **kwargs: Any
    ) -> requests.Response:
        """Send to a random web process; on a refused connection (a restart), try the other one."""
        last: Exception | None = None
        for attempt in range(40):
            _, base = self.base()
            try:
                return (http or self.http).request(method, base + path, timeout=300, **kwargs)
            except requests.ConnectionError as error:
                last = error
                time.sleep(0.25 * (attempt + 1))
        raise RuntimeError(f"{method} {path} failed on every web process") from last

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Token {self.token}"}
        return self.request(method, path, http=self.api_http, headers=headers, **kwargs)

    def login(self) -> None:
        page = self.request("GET", "/accounts/login/")
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert csrf, page.text[:500]
        response = self.request(
            "POST",
            "/accounts/login/",
            data={"login": f"{self.username}@example.com", "password": PASSWORD, "csrfmiddlewaretoken": csrf.group(1)},
            headers={"Referer": page.url},
            allow_redirects=False,
        )
        assert response.status_code == 302, response.text[:1000]

    def post_form(self, path: str) -> requests.Response:
        csrf = self.http.cookies.get("csrftoken")
        if csrf is None:
            self.request("GET", "/")
            csrf = self.http.cookies.get("csrftoken", "")
        return self.request("POST", path, data={"csrfmiddlewaretoken": csrf}, headers={}, allow_redirects=False)


def create_artists(fleet: Fleet, count: int) -> list[Artist]:
    script = (
        "from allauth.account.models import EmailAddress\n"
        "from django.contrib.auth import get_user_model\n"
        "from apitokens.services import api_token_create\n"
        "User = get_user_model()\n"
        f"for k in range({count}):\n"
        f"    user = User.objects.create_user(username=f'artist{{k}}', email=f'artist{{k}}@example.com', "
        f"password={PASSWORD!r})\n"
        "    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)\n"
        "    print(user.username, api_token_create(user_id=user.pk, name='fleet').token)\n"
    )
    out = fleet.manage("shell", "-c", script)
    return [Artist(fleet, *line.split()) for line in out.splitlines() if line.startswith("artist")]


def run_threads(functions: list[Callable[[], None]]) -> None:
    errors: list[BaseException] = []

    def wrap(fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                fn()
            except BaseException as error:  # re-raised in the caller
                errors.append(error)

        return run

    threads = [threading.Thread(target=wrap(fn)) for fn in functions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def copy_tree(source: Path, target: Path) -> None:
    shutil.copytree(source, target, dirs_exist_ok=True)
