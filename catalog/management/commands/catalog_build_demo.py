from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog.management.commands.catalog_import import manifest_import
from demo.catalog_build import build_demo_catalog


class Command(BaseCommand):
    help = (
        "Build the open demo catalog from music21's corpus (rendered with the TimGM6mb soundfont) and import it. "
        "Cached and resumable: entries already in --out are reused."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--size", type=int, default=500, help="Number of entries (default 500).")
        parser.add_argument("--seconds", type=float, default=45.0, help="Length of each entry in seconds (default 45).")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--out", type=Path, default=None, help="Build folder (default DATA_DIR/demo_catalog).")
        parser.add_argument("--format", choices=("ogg", "flac", "wav"), default="ogg")
        parser.add_argument("--sample-rate", type=int, choices=(22050, 44100), default=22050)
        parser.add_argument("--workers", type=int, default=None, help="Processes (default: number of CPUs).")
        parser.add_argument("--no-import", action="store_true", help="Only build the manifest and audio.")

    def handle(self, *args: Any, **options: Any) -> None:
        out = options["out"] or Path(settings.DATA_DIR) / "demo_catalog"
        size = options["size"]
        started = time.monotonic()
        step = max(1, size // 20)

        def progress(done: int, total: int) -> None:
            if done % step == 0 or done == total:
                self.stdout.write(f"built {done}/{total} ({time.monotonic() - started:.0f} s)")

        try:
            manifest = build_demo_catalog(
                out,
                size,
                options["seconds"],
                options["seed"],
                sample_rate=options["sample_rate"],
                audio_format=options["format"],
                workers=options["workers"],
                progress=progress if options["verbosity"] > 0 else None,
            )
        except (ValueError, RuntimeError) as exc:
            raise CommandError(str(exc)) from None
        built = time.monotonic() - started
        self.stdout.write(f"manifest {manifest} ({size} entries, built in {built:.1f} s)")
        if options["no_import"]:
            return
        report = manifest_import(manifest, stderr=self.stderr, stdout=self.stdout)
        self.stdout.write(
            f"imported: {len(report.created)} created, {len(report.updated)} updated, "
            f"{len(report.unchanged)} unchanged ({time.monotonic() - started - built:.1f} s)"
        )
