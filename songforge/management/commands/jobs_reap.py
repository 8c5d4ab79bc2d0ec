"""``manage.py jobs_reap``: run every stale-job reaper once (the Kubernetes CronJob backstop).

Every worker process already runs the reapers every heartbeat interval
(:class:`songforge.jobs.ReaperMiddleware`). This command runs the same code once, so a schedule
outside the workers (the ``jobs-reap`` CronJob in ``deploy/k8s/base/cronjobs.yaml``) recovers
stale claims and lost messages even when no worker process's reaper is running (every worker of
a queue scaled to zero or crash-looping, ``SONGFORGE_JOB_REAPER=0``). The reapers claim what
they re-enqueue with conditional UPDATEs, so running it beside live workers is safe.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.module_loading import autodiscover_modules

from songforge import jobs


class _Failures(logging.Handler):
    """Collects the errors the reapers log (``songforge.jobs`` logs a failing reaper and goes on)."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


class Command(BaseCommand):
    help = (
        "Release stale job claims and re-enqueue lost work once (what every worker's reaper does each heartbeat). "
        "Exits non-zero when a reaper fails."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        autodiscover_modules(*settings.DRAMATIQ_AUTODISCOVER_MODULES)  # every app's tasks register their reapers
        failures = _Failures()
        jobs.logger.addHandler(failures)
        try:
            # Embedded broker: the re-enqueued work runs here before the command exits (nothing is lost
            # with the process); Redis or RabbitMQ: the workers run it.
            with jobs.run_enqueued_here():
                sent = jobs.reap()
        finally:
            jobs.logger.removeHandler(failures)
        self.stdout.write(f"Re-enqueued {sent} job(s).")
        if failures.messages:
            raise CommandError(f"{len(failures.messages)} reaper(s) failed: {'; '.join(failures.messages)}")
