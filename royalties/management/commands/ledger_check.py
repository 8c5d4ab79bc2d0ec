"""Verify the ledger: ``manage.py ledger_check`` exits non-zero if anything is off."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from royalties import ledger


class Command(BaseCommand):
    help = (
        "Check that every transaction balances per currency, the ledger sums to zero, every amount is an integer "
        "and the revenue and suspense carries agree with the ledger."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        result = ledger.check()
        self.stdout.write(f"{result.transactions} transactions, {result.entries} entries")
        for currency, total in result.totals.items():
            self.stdout.write(f"  total {currency}: {total}")
        if not result.is_balanced:
            for row in result.unbalanced:
                self.stderr.write(f"  unbalanced: {row}")
            for pk in result.single_leg:
                self.stderr.write(f"  transaction {pk} has fewer than two entries")
            for pk in result.non_integer:
                self.stderr.write(f"  entry {pk} holds an amount that is not an integer")
            for row in result.carry_mismatch:
                self.stderr.write(f"  carry of account {row['account_id']} says {row['carry']}, ledger {row['ledger']}")
            raise CommandError("The ledger does not balance.")
        self.stdout.write("Ledger balanced.")
