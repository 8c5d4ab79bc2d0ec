"""Re-apply suspense lines whose ISRC is now known: ``manage.py royalties_reapply``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from royalties.allocation import suspense_reapply


class Command(BaseCommand):
    help = "Move suspense line groups to their release's holders once the ISRC and split sheet exist."

    def handle(self, *args: Any, **options: Any) -> None:
        result = suspense_reapply()
        self.stdout.write(f"Re-applied {result.reapplied} groups; {result.still_in_suspense} remain in suspense.")
