"""Gunicorn configuration for production: ``gunicorn -c python:songforge.gunicorn songforge.wsgi``.

Why WSGI and not ASGI: every SongForge view is synchronous (the ORM, storage, DRF, allauth, HTMX
partials); nothing streams or holds a socket open (no websockets, no server-sent events; long work
runs in Dramatiq workers). Under ASGI each of those views would run in a thread pool behind
``sync_to_async`` for no gain. Gunicorn's ``gthread`` workers give a fixed pool of processes ×
threads, which keeps slow uploads from blocking a whole process, and prometheus-client's
multiprocess mode knows gunicorn's process model.

Every knob is an environment variable with a default that fits one small host:

- ``SONGFORGE_WEB_BIND`` (``0.0.0.0:8000``), ``SONGFORGE_WEB_WORKERS`` (2 × CPUs + 1, at most 8),
  ``SONGFORGE_WEB_THREADS`` (4), ``SONGFORGE_WEB_TIMEOUT`` (seconds a request may take, 120: a
  200 MB upload at 2 MB/s behind a buffering proxy), ``SONGFORGE_WEB_MAX_REQUESTS`` (recycle a
  worker after this many requests, 2000, with jitter).
- ``PROMETHEUS_MULTIPROC_DIR``: where the processes share their metric files (set by the
  entrypoint; emptied here when the server starts).

The access log is one JSON object per line on stdout, with the request id that
``songforge.logging.RequestIdMiddleware`` echoes in ``X-Request-ID``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from gunicorn.glogging import Logger  # type: ignore[import-untyped]

_cpus = os.cpu_count() or 1


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    return int(raw) if raw.strip() else default


bind = os.environ.get("SONGFORGE_WEB_BIND", "0.0.0.0:8000")
workers = _env_int("SONGFORGE_WEB_WORKERS", min(2 * _cpus + 1, 8))
worker_class = "gthread"
threads = _env_int("SONGFORGE_WEB_THREADS", 4)
timeout = _env_int("SONGFORGE_WEB_TIMEOUT", 120)
graceful_timeout = 30
keepalive = 5
max_requests = _env_int("SONGFORGE_WEB_MAX_REQUESTS", 2000)
max_requests_jitter = max(max_requests // 10, 0)
# The reverse proxy (nginx, an ingress controller) sets X-Forwarded-For/-Proto; trust it only from
# the addresses named here (comma-separated; "*" inside a cluster where only the ingress reaches pods).
forwarded_allow_ips = os.environ.get("SONGFORGE_WEB_FORWARDED_ALLOW_IPS", "127.0.0.1")
limit_request_line = 8190
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("SONGFORGE_LOG_LEVEL", "INFO").lower()
# /dev/shm keeps the worker heartbeat files off a read-only or slow root filesystem.
worker_tmp_dir = "/dev/shm" if Path("/dev/shm").is_dir() else None  # noqa: S108


class JsonAccessLogger(Logger):
    """Writes each access-log line as JSON: one object per request, fields named for log shippers."""

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not self.access_log_enabled:
            return
        atoms = self.atoms(resp, req, environ, request_time)
        status = str(atoms["s"])
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),  # as songforge.logging.JsonFormatter
            "level": "INFO",
            "logger": "gunicorn.access",
            "kind": "access",
            "context_id": f"req:{atoms.get('{x-request-id}o', '-')}",
            "request_id": atoms.get("{x-request-id}o", "-"),
            "remote": atoms["h"],
            "method": atoms["m"],
            "path": atoms["U"],
            "query": atoms["q"],
            "status": int(status) if status.isdigit() else status,
            "bytes": atoms["B"] or 0,
            "duration_ms": atoms["M"],
            "user_agent": atoms["a"],
        }
        self.access_log.info(json.dumps(entry))


logger_class = JsonAccessLogger


def on_starting(server: Any) -> None:
    """Empties the metric files of a previous run, so counters start from zero with the server."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        shutil.rmtree(path, ignore_errors=True)
        Path(path).mkdir(parents=True, exist_ok=True)


def child_exit(server: Any, worker: Any) -> None:
    """Lets the metrics of a finished worker stop counting as live gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
