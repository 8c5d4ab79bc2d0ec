"""The headless end-to-end demo that `make demo` runs on bundled data.

Each capability adds its step here; the command prints what really happened.
"""

from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the whole SongForge flow headless on the bundled demo data and report what happened."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(self.style.MIGRATE_HEADING("SongForge demo"))
        self.stdout.write(self.style.MIGRATE_LABEL("1. Configured parts"))
        call_command("doctor", stdout=self.stdout)
