"""Import a distributor statement: ``manage.py royalties_import FILE [--reference NAME]``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from royalties.imports import statement_import
from songforge.errors import DomainError


class Command(BaseCommand):
    help = "Import a CSV/TSV royalty statement (period, store, territory, isrc, units, net_revenue, currency)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--reference", help="The statement's identity (default: the file name)")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"{path} is not a file.")
        try:
            result = statement_import(path=path, reference=options["reference"])
        except DomainError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        statement = result.statement
        summary = {
            "statement_id": statement.pk,
            "reference": statement.reference,
            "sha256": statement.sha256,
            "is_created": result.is_created,
            "lines": statement.line_count,
            "groups": statement.group_count,
            "totals": statement.totals,
        }
        if options["json"]:
            self.stdout.write(json.dumps(summary, indent=2))
        elif result.is_created:
            self.stdout.write(
                f"Imported {statement.reference}: {statement.line_count} lines, {statement.group_count} groups."
            )
        else:
            self.stdout.write(f"Already imported as {statement.reference} (statement {statement.pk}); nothing changed.")
