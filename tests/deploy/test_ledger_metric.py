"""/metrics reports the full ledger_check, which catches what the trial balance cannot."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from royalties import ledger
from royalties.models import Account, Entry, Transaction
from songforge import metrics

pytestmark = pytest.mark.django_db


def _gauges(client: Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def test_two_wrong_transactions_that_cancel_out_pass_the_trial_balance_but_not_the_metric(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Entries written behind ledger.post's back (PostgreSQL's deferred trigger would refuse them at commit;
    this test never commits): +5.00 in one transaction, -5.00 in another, on the same account."""
    monkeypatch.setattr(metrics, "_ledger_check", {})
    clean = _gauges(client)
    assert clean[("songforge_ledger_balanced", ())] == 1.0
    assert clean[("songforge_ledger_check_problems", (("problem", "unbalanced_transactions"),))] == 0.0

    revenue = ledger.account_for(kind=Account.Kind.REVENUE, currency="USD")

    class Undo(Exception):
        """Rolls the savepoint back, with the deferred trigger events PostgreSQL would fire at commit."""

    seen: list[dict[tuple[str, tuple[tuple[str, str], ...]], float]] = []

    def write_and_scrape() -> None:
        with transaction.atomic():
            for key, amount in (("raw-1", 500), ("raw-2", -500)):
                txn = Transaction.objects.create(kind="import", idempotency_key=key, request_hash="x")
                Entry.objects.create(transaction=txn, account=revenue, amount_minor=amount, currency="USD")
            seen.append(_gauges(client))  # within LEDGER_CHECK_EVERY_SECONDS the last result stands
            monkeypatch.setattr(metrics, "_ledger_check", {})
            seen.append(_gauges(client))
            raise Undo

    with pytest.raises(Undo):
        write_and_scrape()
    cached, broken = seen
    assert cached[("songforge_ledger_check_problems", (("problem", "unbalanced_transactions"),))] == 0.0
    assert broken[("songforge_ledger_balanced", ())] == 1.0  # the trial balance still sums to zero
    problems: dict[str, Any] = {
        labels[0][1]: value for (name, labels), value in broken.items() if name == "songforge_ledger_check_problems"
    }
    assert problems["unbalanced_transactions"] == 2.0
    assert problems["single_leg_transactions"] == 2.0
    assert problems["nonzero_currency_totals"] == 0.0
    assert broken[("songforge_ledger_check_age_seconds", ())] < 5
