"""Payout runs: what each holder is paid for a period, with a minimum and carry-forward.

``payout_run_create(period=P)`` takes, for every holder account, the balance of
its entries dated up to P (earnings minus earlier payouts). A balance of at least
``PAYOUT_MINIMUM_MINOR`` becomes a ``Payout`` and is moved to the ``payable``
account; a smaller one stays on the holder account and is carried forward to the
next run. Escrow is never paid out.

Four eyes: someone other than the run's creator approves it (``payout_run_approve``,
permission ``approve_payoutrun``); paying is a separate step (``payout_run_pay``,
permission ``pay_payoutrun``) that records the payment reference and only then moves
each payout from payable to paid. Each step writes an audit event; repeating one
changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from royalties import ledger
from royalties.errors import PayoutRunInvalid, PayoutRunTransitionInvalid
from royalties.models import Account, Entry, Payout, PayoutRun, Transaction
from songforge.codes import PERIOD_RE
from staff.services import audit_record, values_of


@dataclass(frozen=True)
class PayoutLine:
    statement: str
    isrc: str
    period: str
    amount_minor: int


def _check_period(period: str) -> None:
    if not PERIOD_RE.match(period):
        raise PayoutRunInvalid(f"{period!r} is not a period; use YYYY-MM, e.g. 2026-10.", extra={"period": period})


@transaction.atomic
def payout_run_create(*, period: str, by_id: int | None = None) -> PayoutRun:
    """Create the period's payout run, or return it if it exists (idempotent).

    ``by_id`` is the creator, who may not approve the run (None: created by a command).

    Refused when a run for a later period exists: that run already took the
    balances, so an earlier one would pay from the wrong point in time.
    """
    _check_period(period)
    existing = PayoutRun.objects.filter(period=period).first()
    if existing is not None:
        return existing
    later = PayoutRun.objects.filter(period__gt=period).order_by("period").first()
    if later is not None:
        raise PayoutRunInvalid(
            f"A payout run for {later.period} exists; runs go forward in time, so create one for a later period.",
            extra={"period": period, "later_period": later.period},
        )
    minimum = settings.PAYOUT_MINIMUM_MINOR
    run = PayoutRun.objects.create(period=period, minimum_minor=minimum, created_by_id=by_id)
    audit_record(actor_id=by_id, action="payout_run.create", target=run, new=_run_values(run))
    balances = (
        Entry.objects.filter(account__kind=Account.Kind.HOLDER, period__lte=period)
        .values("account_id", "account__holder_id", "currency")
        .annotate(total=Sum("amount_minor"))
        .order_by("account__holder_id", "currency")
    )
    payable_accounts: dict[str, int] = {}
    for row in balances:
        owed = -int(row["total"])
        if owed < max(minimum, 1):
            continue  # carried forward
        currency = row["currency"]
        if currency not in payable_accounts:
            payable_accounts[currency] = ledger.account_for(kind=Account.Kind.PAYABLE, currency=currency).pk
        txn = ledger.post(
            kind=Transaction.Kind.PAYOUT,
            idempotency_key=f"payout:{period}:{row['account__holder_id']}:{currency}",
            entries=[
                ledger.EntrySpec(row["account_id"], owed, currency, period),
                ledger.EntrySpec(payable_accounts[currency], -owed, currency, period),
            ],
            memo=f"Payout {period} to holder {row['account__holder_id']}",
        )
        Payout.objects.create(
            run=run, holder_id=row["account__holder_id"], currency=currency, amount_minor=owed, transaction=txn
        )
    return run


def _transition(run: PayoutRun, to: PayoutRun.Status) -> None:
    if to not in PayoutRun.ALLOWED[PayoutRun.Status(run.status)]:
        raise PayoutRunTransitionInvalid(
            f"Payout run {run.period} is {run.get_status_display().lower()}; it cannot become {to.label.lower()}.",
            extra={"period": run.period, "status": run.status, "to": str(to)},
        )


def _run_values(run: PayoutRun) -> dict[str, object]:
    return values_of(run, ["status", "approved_by", "paid_by", "payment_reference"])


@transaction.atomic
def payout_run_approve(*, run_id: int, by_id: int) -> PayoutRun:
    """Approve a draft run: the second pair of eyes. Idempotent for the same approver.

    Refused for the run's creator (four eyes; the database refuses it too). Approval
    moves no money: the run then waits for ``payout_run_pay``. Locks the run row.
    """
    run = PayoutRun.objects.select_for_update().get(pk=run_id)
    if run.status == PayoutRun.Status.APPROVED and run.approved_by_id == by_id:
        return run
    _transition(run, PayoutRun.Status.APPROVED)
    if run.created_by_id is not None and run.created_by_id == by_id:
        raise PayoutRunInvalid(
            f"You created payout run {run.period}; another person with the approver role must approve it.",
            code="payout_run_needs_second_person",
            extra={"period": run.period},
        )
    old = _run_values(run)
    run.status = PayoutRun.Status.APPROVED
    run.approved_at = timezone.now()
    run.approved_by_id = by_id
    run.save(update_fields=["status", "approved_at", "approved_by", "updated_at"])
    audit_record(actor_id=by_id, action="payout_run.approve", target=run, old=old, new=_run_values(run))
    return run


@transaction.atomic
def payout_run_pay(*, run_id: int, by_id: int, payment_reference: str) -> PayoutRun:
    """Record that an approved run was paid (``payment_reference``: the bank batch or transfer id).

    Moves each payout from payable to paid and marks it paid. Idempotent: a paid run is
    returned unchanged when the reference is the same, refused when it differs. Locks the
    run row, so two people paying at once post the payments once.
    """
    reference = payment_reference.strip()
    if not reference:
        raise PayoutRunInvalid(
            "Enter the payment reference (the bank batch or transfer id) before marking the run paid.",
            code="payment_reference_required",
        )
    run = PayoutRun.objects.select_for_update().get(pk=run_id)
    if run.status == PayoutRun.Status.PAID and run.payment_reference == reference:
        return run
    _transition(run, PayoutRun.Status.PAID)
    old = _run_values(run)
    now = timezone.now()
    for payout in run.payouts.select_for_update().order_by("pk"):
        if payout.paid_transaction_id is not None:
            continue
        payable = ledger.account_for(kind=Account.Kind.PAYABLE, currency=payout.currency)
        paid = ledger.account_for(kind=Account.Kind.PAID, currency=payout.currency)
        txn = ledger.post(
            kind=Transaction.Kind.PAYOUT_PAID,
            idempotency_key=f"payout-paid:{payout.pk}",
            entries=[
                ledger.EntrySpec(payable.pk, payout.amount_minor, payout.currency, run.period),
                ledger.EntrySpec(paid.pk, -payout.amount_minor, payout.currency, run.period),
            ],
            memo=f"Paid payout {payout.pk} ({reference})"[:300],
        )
        payout.paid_transaction = txn
        payout.paid_at = now
        payout.save(update_fields=["paid_transaction", "paid_at", "updated_at"])
    run.status = PayoutRun.Status.PAID
    run.paid_at = now
    run.paid_by_id = by_id
    run.payment_reference = reference
    run.save(update_fields=["status", "paid_at", "paid_by", "payment_reference", "updated_at"])
    audit_record(actor_id=by_id, action="payout_run.pay", target=run, old=old, new=_run_values(run))
    return run


def payout_lines(*, payout: Payout) -> list[PayoutLine]:
    """The earnings a payout covers: the holder's credits since its previous payout, per statement/release/period."""
    previous = (
        Payout.objects.filter(holder_id=payout.holder_id, currency=payout.currency, run__period__lt=payout.run.period)
        .order_by("-run__period")
        .values_list("transaction_id", "run__period")
        .first()
    )
    entries = Entry.objects.filter(
        account__holder_id=payout.holder_id,
        account__kind=Account.Kind.HOLDER,
        currency=payout.currency,
        period__lte=payout.run.period,
        amount_minor__lt=0,
        transaction_id__lt=payout.transaction_id,
    )
    if previous is not None:
        previous_transaction_id, previous_period = previous
        # Earnings dated after the previous run, or dated before it but posted after it (late statements).
        entries = entries.filter(Q(period__gt=previous_period) | Q(transaction_id__gt=previous_transaction_id))
    rows = (
        entries.values("transaction__statement__reference", "release__isrc", "period")
        .annotate(total=Sum("amount_minor"))
        .order_by("period", "release__isrc", "transaction__statement__reference")
    )
    return [
        PayoutLine(
            statement=row["transaction__statement__reference"] or "",
            isrc=row["release__isrc"] or "",
            period=row["period"],
            amount_minor=-int(row["total"]),
        )
        for row in rows
    ]
