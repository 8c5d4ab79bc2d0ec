"""Rebuild the fingerprint index from every catalog recording's audio (or preview)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from catalog.indexing import get_index, index_rebuild


class Command(BaseCommand):
    help = "Rebuild the fingerprint index in SONGFORGE_DATA_DIR/fingerprints; queries keep working until the swap."

    def handle(self, *args: Any, **options: Any) -> None:
        def progress(done: int, total: int) -> None:
            self.stdout.write(f"{done}/{total} recordings fingerprinted")

        outcome = index_rebuild(progress=progress)
        for recording_id, reason in sorted(outcome.skipped.items()):
            self.stderr.write(f"recording {recording_id} skipped: {reason}")
        stats = get_index().stats()
        self.stdout.write(
            f"indexed {len(outcome.indexed)} recordings ({stats['seconds'] / 3600:.2f} h of audio, "
            f"{stats['entries']} landmarks, {stats['bytes'] / 1e6:.1f} MB); skipped {len(outcome.skipped)}"
        )
