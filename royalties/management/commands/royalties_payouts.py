"""Create (or show) a period's payout run: ``manage.py royalties_payouts --period YYYY-MM [--json]``."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from royalties.money import format_for_people
from royalties.payouts import payout_run_create
from royalties.selectors import payout_run_summary
from songforge.errors import DomainError


class Command(BaseCommand):
    help = "Create the payout run of a period (idempotent) and print each holder's payout."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--period", required=True, help="YYYY-MM")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            run = payout_run_create(period=options["period"])
        except DomainError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        summary = payout_run_summary(run_id=run.pk)
        if options["json"]:
            self.stdout.write(json.dumps(summary, indent=2))
            return
        currencies = sorted({payout["currency"] for payout in summary["payouts"]}) or ["USD"]
        minimum = ", ".join(format_for_people(run.minimum_minor, currency) for currency in currencies)
        self.stdout.write(f"Payout run {run.period} ({run.status}), minimum {minimum}")
        for payout in summary["payouts"]:
            self.stdout.write(f"  {payout['holder']}: {format_for_people(payout['amount_minor'], payout['currency'])}")
