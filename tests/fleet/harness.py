"""A small production-like fleet on loopback: gunicorn web processes and ``rundramatiq`` workers
sharing PostgreSQL, Redis (``DRAMATIQ_BROKER_URL``) and an S3 server, driven over HTTP.

Used by ``tests/fleet/test_fleet.py`` (CI) and ``benchmarks/fleet.py`` (the soak). No Django is
imported here: the fleet's processes are separate, and the harness reads their state with plain
SQL through psycopg2, as an operator would.

Setup is the expensive part of a fleet on 2 cores (every Django process imports torch and scipy,
about 9 CPU-seconds), so it is kept to as few processes as possible: the migrated schema is
cloned from a template database (``CREATE DATABASE … TEMPLATE``, rebuilt only when a migration or
a requirement changes), and the demo catalog, its import and every account are made in a single
``manage.py shell`` process, with the rendered catalog cached under ``data/fleet-cache/``.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import psycopg2
import requests

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "fleet-password-1"
STAFF_USERNAME = "accountant"
# What the fleet may reuse between runs of the same clone, like the benchmarks' data/bench/: the
# demo catalog it renders (deterministic for its size and length).
CACHE_DIR = ROOT / "data" / "fleet-cache"
# The numba cache the rest of the test run fills (settings' default: data/numba-cache): librosa's
# kernels compiled once per clone, not once more for the fleet (about 45 CPU-seconds on a cold cache).
# The compile lock (songforge/numba_cache.py) keeps it consistent when test workers fill it at once;
# tests/ops/test_numba_cache.py proves the fresh-cache case.
NUMBA_CACHE = Path(os.environ.get("NUMBA_CACHE_DIR") or ROOT / "data" / "numba-cache")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


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


def load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def _group_cpu(pgids: Collection[int]) -> float:
    """CPU seconds (user + system, with their exited children's) of the live processes in these groups."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        # after "pid (comm) ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime ...
        if int(fields[2]) in pgids:
            total += sum(int(value) for value in fields[11:15])
    return total / CLOCK_TICKS


@dataclass
class Kill:
    """One ``kill -9`` of a worker holding a claim, and when its work was taken up again."""

    what: str
    killed_at: float
    resumed_at: float | None = None
    last_words: str = ""  # what the killed process logged in its lifetime, up to the kill

    def lost_line_after(self, claim_line: str) -> bool:
        """Whether this process made ``claim_line``'s claim: a line it logged after that may be lost."""
        return claim_line in self.last_words

    @property
    def recovery_s(self) -> float | None:
        return None if self.resumed_at is None else self.resumed_at - self.killed_at


@dataclass
class Stop:
    """One SIGTERM of a worker holding a claim (a deploy or a scale-down): it should finish the work first."""

    what: str
    exit_s: float  # SIGTERM to the process's exit
    finished_by_it: bool  # the work was done by the stopping worker, with no takeover


@dataclass
class Phase:
    name: str
    wall_s: float
    cpu_s: dict[str, float]  # by role: driver, commands, web, workers
    load: float

    @property
    def total_cpu_s(self) -> float:
        return sum(self.cpu_s.values())


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
    worker_log_starts: dict[int, int] = field(default_factory=dict)  # byte offset where each lifetime begins
    kills: list[Kill] = field(default_factory=list)  # every kill -9, timed takeover or not
    phases: list[Phase] = field(default_factory=list)
    log: Callable[[str], None] = print
    ended_cpu: dict[str, float] = field(default_factory=lambda: {"web": 0.0, "workers": 0.0, "commands": 0.0})

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
                "SONGFORGE_GENERATION_SECONDS": "10",  # the shortest song the settings allow
                "SONGFORGE_GENERATION_TAKES": "1",  # recovery is what is tested here; takes are tests/generation
                "SONGFORGE_SECTION_BARS": "2",
                "SONGFORGE_FINETUNE_STEPS": "12",
                "SONGFORGE_SECTION_CANDIDATES": "1",
                "OMP_NUM_THREADS": "1",
                "OPENBLAS_NUM_THREADS": "1",
                "MKL_NUM_THREADS": "1",
                "NUMBA_CACHE_DIR": str(NUMBA_CACHE),  # warmed by populate() if still cold, see there
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.extra_env)
        return env

    def manage(self, *args: str, env: dict[str, str] | None = None, timeout: float = 900) -> str:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env or self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.ended_cpu["commands"] += after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        return result.stdout

    # --- time and CPU ------------------------------------------------------------------------

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds used so far, by role: this driver, ``manage.py`` commands, web and worker processes.

        A web or worker process group is read from ``/proc`` while it lives and just before it is
        stopped or killed (a ``kill -9``'s orphans are never waited for, so ``getrusage`` would miss
        them). The PostgreSQL, Redis and S3 servers are outside the count.
        """
        own = os.times()
        cpu = dict(self.ended_cpu, driver=own.user + own.system)
        for role, processes in (("web", self.web_procs), ("workers", self.worker_procs)):
            cpu[role] += _group_cpu([p.pid for p in processes.values() if p.returncode is None])
        return cpu

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Record the wall time, the fleet's CPU time and the load average of a step."""
        wall, cpu = time.monotonic(), self.cpu_seconds()
        try:
            yield
        finally:
            now = self.cpu_seconds()
            used = {role: round(now[role] - cpu[role], 1) for role in now}
            entry = Phase(name, time.monotonic() - wall, used, load_average())
            self.phases.append(entry)
            self.log(
                f"[phase] {name}: {entry.wall_s:.1f} s wall, {entry.total_cpu_s:.1f} CPU-s {used}, "
                f"load {entry.load:.1f}"
            )

    def phase_table(self) -> str:
        roles = ("driver", "commands", "web", "workers")
        lines = [f"{'phase':<40} {'wall s':>7} {'CPU s':>7} " + " ".join(f"{r:>8}" for r in roles) + "   load"]
        for p in self.phases:
            lines.append(
                f"{p.name:<40} {p.wall_s:>7.1f} {p.total_cpu_s:>7.1f} "
                + " ".join(f"{p.cpu_s.get(r, 0.0):>8.1f}" for r in roles)
                + f" {p.load:>6.1f}"
            )
        return "\n".join(lines)

    # --- the database ------------------------------------------------------------------------

    def _admin(self) -> Any:
        maintenance = urlparse(self.postgres_url)._replace(path="/postgres").geturl()
        connection = psycopg2.connect(maintenance)
        connection.autocommit = True
        return connection

    def _admin_execute(self, *statements: str) -> None:
        connection = self._admin()
        try:
            with connection.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)
        finally:
            connection.close()

    def create_database(self) -> None:
        """An empty database, to migrate (see :meth:`create_migrated_database` for the fast way)."""
        self._admin_execute(
            f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)', f'CREATE DATABASE "{self.database}"'
        )

    def create_migrated_database(self) -> bool:
        """The fleet's database, cloned from a migrated template; returns whether the template was reused.

        The template is named after a hash of every migration file and requirement pin, so a new
        migration builds a new one (and drops the old). Concurrent fleets each build their own
        under a temporary name; the first rename wins.
        """
        template = self.template_name()
        connection = self._admin()
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (template,))
                reused = cursor.fetchone() is not None
        finally:
            connection.close()
        if not reused:
            self._build_template(template)
        self._admin_execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        for attempt in range(20):
            try:
                self._admin_execute(f'CREATE DATABASE "{self.database}" TEMPLATE "{template}"')
                break
            except psycopg2.errors.ObjectInUse:  # another fleet is cloning it right now
                time.sleep(0.5 * (attempt + 1))
        else:
            raise RuntimeError(f"the template database {template} stayed in use")
        return reused

    def template_name(self) -> str:
        digest = hashlib.sha256()
        sources = sorted(ROOT.glob("*/migrations/*.py")) + sorted(ROOT.glob("requirements*.txt"))
        for path in sources:
            digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
        return f"{self.database}_tpl_{digest.hexdigest()[:12]}"

    def _build_template(self, template: str) -> None:
        building = f"{template}_{os.getpid()}"
        self._admin_execute(f'DROP DATABASE IF EXISTS "{building}" WITH (FORCE)', f'CREATE DATABASE "{building}"')
        env = self.env()
        env["DATABASE_URL"] = urlparse(self.postgres_url)._replace(path=f"/{building}").geturl()
        try:
            self.manage("migrate", "--noinput", "-v", "0", env=env)
            connection = self._admin()
            try:
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT datname FROM pg_database WHERE datname LIKE %s AND datname <> %s",
                        (f"{self.database}\\_tpl\\_%", building),
                    )
                    for (stale,) in cursor.fetchall():
                        if "_" not in stale[len(f"{self.database}_tpl_") :]:  # a finished template, not a build
                            cursor.execute(f'DROP DATABASE IF EXISTS "{stale}" WITH (FORCE)')
                    cursor.execute(f'ALTER DATABASE "{building}" RENAME TO "{template}"')
            finally:
                connection.close()
        except psycopg2.errors.DuplicateDatabase:  # another fleet finished first
            pass
        finally:
            self._admin_execute(f'DROP DATABASE IF EXISTS "{building}" WITH (FORCE)')

    def drop_database(self) -> None:
        self._admin_execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        connection = psycopg2.connect(self.database_url)
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                return list(cursor.fetchall())
        finally:
            connection.close()

    # --- catalog and accounts ----------------------------------------------------------------

    def populate(self, *, catalog_size: int, catalog_seconds: int, artists: int) -> tuple[Path, list[Artist], Artist]:
        """Build (or reuse) and import the demo catalog, warm the numba cache, make the accounts.

        One ``manage.py shell`` process does it all, with the embedded broker so that the import's
        indexing runs before it exits. Like a deployment's ``warm`` step before its workers start,
        it analyses and transcribes one catalog song, so librosa's kernels are compiled once, by one
        process, into the cache the workers share (each cold worker would otherwise spend about 45
        CPU-seconds compiling its own), and checks the cache holds no mismatched pair. Artists have
        confirmed addresses and an API token; the accountant is staff in the *Royalty accountant*
        role (statement imports). Every account gets the same password hash, computed once.
        """
        out = CACHE_DIR / f"catalog-{catalog_size}x{catalog_seconds}s"
        script = f"""
import json, time
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.core.management import call_command
from apitokens.services import api_token_create
started = time.monotonic()
call_command("catalog_build_demo", size={catalog_size}, seconds={catalog_seconds}, workers=1, out={str(out)!r})
catalog_s = time.monotonic() - started
from pathlib import Path
from django.conf import settings
from generation import features
from songforge.numba_cache import abi_mismatches
song = sorted(Path({str(out)!r}).glob("audio/*"))[0]
features.analyse_audio(song)
features.transcribe(song)
assert not abi_mismatches(settings.NUMBA_CACHE_DIR), abi_mismatches(settings.NUMBA_CACHE_DIR)
warm_s = time.monotonic() - started - catalog_s
User = get_user_model()
password = make_password({PASSWORD!r})
accounts = {{}}
for name in [f"artist{{k}}" for k in range({artists})] + [{STAFF_USERNAME!r}]:
    user = User.objects.create(username=name, email=f"{{name}}@example.com", password=password)
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    accounts[name] = api_token_create(user_id=user.pk, name="fleet").token
staff = User.objects.get(username={STAFF_USERNAME!r})
staff.is_staff = True
staff.save(update_fields=["is_staff"])
staff.groups.add(Group.objects.get(name="Royalty accountant"))
accounts_s = time.monotonic() - started - catalog_s - warm_s
timings = {{"catalog_s": catalog_s, "warm_s": warm_s, "accounts_s": accounts_s}}
print("FLEET " + json.dumps({{"accounts": accounts, **timings}}))
"""
        env = self.env()
        env.pop("DRAMATIQ_BROKER_URL")
        output = self.manage("shell", "-c", script, env=env)
        result = json.loads(next(line for line in output.splitlines() if line.startswith("FLEET "))[6:])
        self.log(
            f"catalog built and imported in {result['catalog_s']:.1f} s, numba cache warm in {result['warm_s']:.1f} s, "
            f"accounts in {result['accounts_s']:.1f} s"
        )
        accounts: dict[str, str] = result["accounts"]
        staff = Artist(self, STAFF_USERNAME, accounts.pop(STAFF_USERNAME))
        return out / "audio", [Artist(self, name, token) for name, token in accounts.items()], staff

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
        path = self._worker_log_path(index)
        self.worker_log_starts[index] = path.stat().st_size if path.exists() else 0
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

    def _worker_log_path(self, index: int) -> Path:
        return self.workdir / "logs" / f"worker-{index}.log"

    def lifetime_log(self, index: int) -> str:
        """What worker ``index``'s current (or, once it is dead, last) process has logged."""
        path = self._worker_log_path(index)
        if not path.exists():
            return ""
        with path.open("rb") as log:
            log.seek(self.worker_log_starts.get(index, 0))
            return log.read().decode(errors="replace")

    def worker_logs(self) -> str:
        """Every worker's log, restarts included (each worker appends to its own file)."""
        return "".join(
            path.read_text(errors="replace") for path in sorted((self.workdir / "logs").glob("worker-*.log"))
        )

    def _kill_group(self, process: subprocess.Popen[bytes], sig: int, *, grace_s: float = 30) -> None:
        if process.returncode is None:
            role = "web" if process in self.web_procs.values() else "workers"
            self.ended_cpu[role] += _group_cpu([process.pid])
        with suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)

    def kill_worker(self, index: int) -> None:
        """``kill -9`` the worker (its whole process group: rundramatiq, dramatiq and its children)."""
        self._kill_group(self.worker_procs[index], signal.SIGKILL)

    def restart_web(self, index: int) -> float:
        """SIGTERM one web process, start it again; returns the seconds it did not answer."""
        stopped = time.monotonic()
        self._kill_group(self.web_procs[index], signal.SIGTERM)
        self.start_web(index)
        wait_for_port(self.web_ports[index])
        down = time.monotonic() - stopped
        self.log(f"web process {index} restarted: answering again after {down:.1f} s")
        return down

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
                path = self._worker_log_path(index)
                if path.exists() and claim_line in path.read_text(errors="replace"):
                    return index
            time.sleep(0.2)
        return None

    def stop_holder(self, what: str, state: Callable[[], tuple[bool, Any, int] | None], claim_line: str) -> Stop | None:
        """SIGTERM the worker holding a claim, wait for it to exit, start it again.

        Dramatiq stops taking messages, lets the running ones finish (their heartbeats go on) and
        requeues the ones it had prefetched, so the work is finished by the stopping worker: its
        attempts do not go up. ``state`` and ``claim_line`` as for :meth:`kill_holder`.
        """
        before = state()
        if before is None or before[0]:
            return None
        index = self.holder(claim_line.format(before[2]))
        current = state()
        if index is None or current is None or current[0] or current[2] != before[2]:
            return None
        stopped = time.monotonic()
        self._kill_group(self.worker_procs[index], signal.SIGTERM, grace_s=120)
        exit_s = time.monotonic() - stopped
        self.start_worker(index)
        after = state()
        stop = Stop(what=what, exit_s=exit_s, finished_by_it=after is not None and after[0] and after[2] == before[2])
        self.log(f"SIGTERM of worker {index} during {what}: exited after {exit_s:.1f} s, {stop}")
        return stop

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
        if index is None or current is None or current[0] or current[2] != before[2]:
            return None
        self.kill_worker(index)
        killed_at = time.monotonic()
        last_words = self.lifetime_log(index)  # read before the restart moves the lifetime's start
        self.start_worker(index)
        kill = Kill(what=what, killed_at=killed_at, last_words=last_words)
        self.kills.append(kill)
        deadline = killed_at + 180
        while time.monotonic() < deadline:
            now = state()
            if now is not None and now[2] > before[2]:
                kill.resumed_at = time.monotonic()
                break
            if now is not None and now[0]:
                return None  # it finished just before the kill: no takeover to time (the kill still counts)
            time.sleep(0.2)
        self.log(f"kill -9 of worker {index} during {what}: resumed after {kill.recovery_s} s")
        return kill


class Artist:
    """One account's HTTP sessions: logs in through the site's form, calls the API with its token."""

    def __init__(self, fleet: Fleet, username: str, token: str) -> None:
        self.fleet = fleet
        self.username = username
        self.token = token
        self.http = requests.Session()  # the site's pages: a logged-in session with CSRF
        self.api_http = requests.Session()  # the API: token only (a session would make DRF ask for CSRF)

    def base(self, prefer: int | None = None) -> tuple[int, str]:
        indexes = sorted(self.fleet.web_ports)
        index = prefer if prefer is not None else random.choice(indexes)
        return index, f"http://127.0.0.1:{self.fleet.web_ports[index]}"

    def request(
        self, method: str, path: str, *, http: requests.Session | None = None, **kwargs: Any
    ) -> requests.Response:
        """Send to a random web process; when the connection fails (a restart), try again, maybe the other one.

        A web process stopped with SIGTERM finishes the requests it has read, so a failed
        connection means the request was not handled; a duplicate would show as a refusal.
        """
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

    def upload_set(self, files: list[Path], *, halfway: threading.Event | None = None) -> int:
        """A new set of ten through the API, each file posted as the upload page's script does.

        ``halfway``: post the first half, then wait (up to 300 s) for the event before the second.
        """
        response = self.api("POST", "/api/upload-sets/", json={"title": f"{self.username}'s ten"})
        assert response.status_code == 201, response.text
        set_id = int(response.json()["id"])
        for index, path in enumerate(files):
            if halfway is not None and index == len(files) // 2:
                halfway.wait(300)
            # Bytes, not an open file: a retry after a web restart must send the file again, not its EOF.
            body = {"file": (path.name, path.read_bytes())}
            added = self.api("POST", f"/api/upload-sets/{set_id}/uploads/", files=body)
            assert added.status_code == 201, added.text
        return set_id

    def generate(self, set_id: int) -> int:
        """Press Generate on the set's page; returns the new song's id."""
        response = self.post_form(f"/songs/sets/{set_id}/generate")
        assert response.status_code == 302, response.text[:2000]
        location = response.headers["Location"].rstrip("/")
        assert re.search(r"/songs/\d+$", location), f"Generate did not start a song: redirected to {location}"
        return int(location.split("/")[-1])

    def publish(self, generation_id: int) -> requests.Response:
        return self.api(
            "POST",
            "/api/releases/",
            json={
                "generation_id": generation_id,
                "title": f"Forged by {self.username} #{generation_id}",
                "artist_name": self.username.title(),
                "genre": "Electronic",
                "language": "zxx",
                "ai_disclosure": "Composed and produced by SongForge's AI from ten source songs.",
            },
        )


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
