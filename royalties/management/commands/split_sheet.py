"""Print a release's stored split sheet: ``manage.py split_sheet RELEASE [--json]``."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from royalties.selectors import split_sheet_for_release
from royalties.splits import percent_of, split_sheet_as_json


class Command(BaseCommand):
    help = "Print the split sheet of a release (by id or ISRC)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("release", help="Release id or ISRC")
        parser.add_argument("--json", action="store_true", help="Machine-readable output")

    def handle(self, *args: Any, **options: Any) -> None:
        sheet = split_sheet_for_release(options["release"])
        if sheet is None:
            raise CommandError(f"Release {options['release']!r} has no split sheet; publish it first.")
        data = split_sheet_as_json(sheet)
        if options["json"]:
            self.stdout.write(json.dumps(data, indent=2))
            return
        self.stdout.write(f"Split sheet of {data['isrc']} (total {data['total_ppb']} ppb)")
        for line in data["lines"]:
            self.stdout.write(f"  {line['percent']:>12}%  {line['holder']} [{line['pool']}]")
        pool = data["training_pool"]
        self.stdout.write(f"Training pool (public-domain policy: {pool['policy']}):")
        for item in pool["classes"]:
            self.stdout.write(
                f"  {item['label']}: {item['tokens']:,} tokens, {percent_of(item['ppm'], 4)} of the song's earnings"
            )
        self.stdout.write(
            f"  {percent_of(pool['named_of_pool_ppm'])} of the training pool reaches named holders, "
            f"{percent_of(pool['escrow_of_pool_ppm'])} is in escrow"
        )
