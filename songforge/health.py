"""Reachability checks for the configured database, storage and broker.

Shared by ``/healthz`` and ``manage.py doctor`` so both tell the same truth.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import dramatiq
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Check:
    name: str
    kind: str
    detail: str
    is_ok: bool
    error: str = ""
    milliseconds: float = 0.0


def _timed(name: str, kind: str, detail: str, probe: Callable[[], None]) -> Check:
    started = time.perf_counter()
    try:
        probe()
    except Exception as exc:  # every failure is reported, none is raised
        return Check(name, kind, detail, False, f"{type(exc).__name__}: {exc}", (time.perf_counter() - started) * 1e3)
    return Check(name, kind, detail, True, "", (time.perf_counter() - started) * 1e3)


def check_database() -> Check:
    db = settings.DATABASES["default"]
    detail = str(db.get("NAME")) if connection.vendor == "sqlite" else f"{db.get('HOST') or 'socket'}/{db.get('NAME')}"

    def probe() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")

    return _timed("database", connection.vendor, detail, probe)


def check_storage() -> Check:
    backend = settings.STORAGES["default"]["BACKEND"]
    options = settings.STORAGES["default"].get("OPTIONS", {})
    detail = (
        f"s3://{options.get('bucket_name')} at {options.get('endpoint_url') or 'AWS'}"
        if settings.STORAGE_KIND == "s3"
        else str(settings.MEDIA_ROOT)
    )

    def probe() -> None:
        name = default_storage.save(f"healthz/{uuid.uuid4().hex}.txt", ContentFile(b"ok"))
        try:
            with default_storage.open(name) as handle:
                if handle.read() != b"ok":
                    raise OSError("storage returned different bytes than were written")
        finally:
            default_storage.delete(name)

    return _timed("storage", settings.STORAGE_KIND, detail or backend, probe)


def check_broker() -> Check:
    kind = settings.DRAMATIQ_BROKER_KIND
    detail = "in-process" if kind == "embedded" else _redact(settings.DRAMATIQ_BROKER_URL)

    def probe() -> None:
        broker = dramatiq.get_broker()
        if kind == "redis":
            broker.client.ping()  # type: ignore[attr-defined]
        elif kind == "rabbitmq" and not broker.connection.is_open:  # type: ignore[attr-defined]
            raise ConnectionError("RabbitMQ connection is not open")

    return _timed("broker", kind, detail, probe)


def _redact(url: str) -> str:
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(f":{parsed.password}@", ":***@")
    return url


def run_all() -> list[Check]:
    checks = [check_database(), check_storage(), check_broker()]
    for check in checks:
        if not check.is_ok:
            logger.warning("health check %s (%s, %s) failed: %s", check.name, check.kind, check.detail, check.error)
    return checks


def as_json(check: Check, *, detailed: bool) -> dict[str, Any]:
    """One check for /healthz: "ok"/"down" for anyone; kind, timing and error only when ``detailed``."""
    if not detailed:
        return {"ok": check.is_ok, "state": "ok" if check.is_ok else "down"}
    return {
        "ok": check.is_ok,
        "state": "ok" if check.is_ok else "down",
        "kind": check.kind,
        "ms": round(check.milliseconds, 1),
        **({"error": check.error} if check.error else {}),
    }
