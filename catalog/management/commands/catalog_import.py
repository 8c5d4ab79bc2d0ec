from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper

from catalog.manifest import ImportReport, catalog_import
from generation.services.training import link_imported_recordings
from songforge import jobs
from songforge.errors import DomainError


def manifest_import(manifest_path: Path, *, stderr: OutputWrapper, stdout: OutputWrapper | None = None) -> ImportReport:
    """Import a manifest, then link the training items that name its recordings (the 33% pool).

    The import commits first; a linking failure is logged and reported on ``stderr`` but keeps the
    import, and importing the same manifest again retries the linking. The indexing the import
    enqueues is finished before this returns with the embedded broker (progress on ``stdout``), so
    ``manage.py identify`` right after it finds the new recordings; with Redis the workers do it.
    """

    def progress(done: int, total: int) -> None:
        if stdout is not None:
            stdout.write(f"indexing: {done}/{total} jobs done")

    with jobs.run_enqueued_here(progress):
        try:
            report = catalog_import(manifest_path=manifest_path)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        if link_imported_recordings(report.recording_ids) is None:
            stderr.write(
                "Linking training items to the imported recordings failed (see the log); import again to retry."
            )
    if not jobs.is_embedded() and stdout is not None:
        stdout.write("New recordings are indexed by the workers (manage.py rundramatiq) in the background.")
    return report


class Command(BaseCommand):
    help = "Import a catalog manifest (see README, 'Catalog manifest'): all entries or none."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("manifest", type=Path, help="Path to manifest.json; audio paths are relative to it.")

    def handle(self, *args: Any, **options: Any) -> None:
        report = manifest_import(options["manifest"], stderr=self.stderr, stdout=self.stdout)
        self.stdout.write(
            f"{len(report.created)} created, {len(report.updated)} updated, {len(report.unchanged)} unchanged"
        )
