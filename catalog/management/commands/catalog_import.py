from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog.manifest import catalog_import
from songforge.errors import DomainError


class Command(BaseCommand):
    help = "Import a catalog manifest (see README, 'Catalog manifest'): all entries or none."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("manifest", type=Path, help="Path to manifest.json; audio paths are relative to it.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = catalog_import(manifest_path=options["manifest"])
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(
            f"{len(report.created)} created, {len(report.updated)} updated, {len(report.unchanged)} unchanged"
        )
