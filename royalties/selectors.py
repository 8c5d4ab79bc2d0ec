"""Reads of the royalties app: balances, earnings, statements and dashboard analytics.

Dashboard selectors (``earnings_by_period``, ``earnings_by_release``,
``earnings_by_store``, ``earnings_by_territory``) aggregate the imported statement
groups: ``units`` are plays, ``revenue_minor`` is the distributor's net revenue in
minor units, per currency. Holder-facing selectors read the ledger.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce

from royalties.models import Account, Entry, LineGroup, Payout, PayoutRun, SplitSheet, Transaction
from royalties.payouts import payout_lines
from royalties.splits import split_sheet_as_json


@dataclass(frozen=True)
class EarningsRow:
    """One bucket of a dashboard series: plays and revenue in one currency."""

    key: str
    currency: str
    units: int
    revenue_minor: int
    release_id: int | None = None


def _groups(
    *,
    release_ids: Iterable[int] | None,
    period_from: str | None,
    period_to: str | None,
    currency: str | None,
    stores: Sequence[str] | None = None,
    territories: Sequence[str] | None = None,
) -> QuerySet[LineGroup]:
    queryset = LineGroup.objects.all()
    if release_ids is not None:
        queryset = queryset.filter(release_id__in=list(release_ids))
    if period_from:
        queryset = queryset.filter(period__gte=period_from)
    if period_to:
        queryset = queryset.filter(period__lte=period_to)
    if currency:
        queryset = queryset.filter(currency=currency)
    if stores:
        queryset = queryset.filter(store__in=list(stores))
    if territories:
        queryset = queryset.filter(territory__in=list(territories))
    return queryset


def _series(queryset: QuerySet[LineGroup], field: str) -> list[EarningsRow]:
    rows = (
        queryset.values(field, "currency")
        .annotate(units=Sum("units"), revenue=Sum("amount_minor"))
        .order_by(field, "currency")
    )
    return [
        EarningsRow(
            key=str(row[field]), currency=row["currency"], units=int(row["units"]), revenue_minor=int(row["revenue"])
        )
        for row in rows
    ]


def earnings_by_period(
    *,
    release_ids: Iterable[int] | None = None,
    period_from: str | None = None,
    period_to: str | None = None,
    currency: str | None = None,
) -> list[EarningsRow]:
    """Plays and revenue per period (YYYY-MM) and currency, oldest first."""
    return _series(
        _groups(release_ids=release_ids, period_from=period_from, period_to=period_to, currency=currency), "period"
    )


def earnings_by_store(
    *,
    release_ids: Iterable[int] | None = None,
    period_from: str | None = None,
    period_to: str | None = None,
    currency: str | None = None,
) -> list[EarningsRow]:
    """Plays and revenue per store and currency."""
    return _series(
        _groups(release_ids=release_ids, period_from=period_from, period_to=period_to, currency=currency), "store"
    )


def earnings_by_territory(
    *,
    release_ids: Iterable[int] | None = None,
    period_from: str | None = None,
    period_to: str | None = None,
    currency: str | None = None,
) -> list[EarningsRow]:
    """Plays and revenue per territory and currency."""
    return _series(
        _groups(release_ids=release_ids, period_from=period_from, period_to=period_to, currency=currency), "territory"
    )


def earnings_by_release(
    *,
    release_ids: Iterable[int] | None = None,
    period_from: str | None = None,
    period_to: str | None = None,
    currency: str | None = None,
) -> list[EarningsRow]:
    """Plays and revenue per release (key = ISRC) and currency; suspense lines excluded."""
    queryset = _groups(release_ids=release_ids, period_from=period_from, period_to=period_to, currency=currency).filter(
        release__isnull=False
    )
    rows = (
        queryset.values("release_id", "release__isrc", "currency")
        .annotate(units=Sum("units"), revenue=Sum("amount_minor"))
        .order_by("release__isrc", "currency")
    )
    return [
        EarningsRow(
            key=row["release__isrc"],
            currency=row["currency"],
            units=int(row["units"]),
            revenue_minor=int(row["revenue"]),
            release_id=row["release_id"],
        )
        for row in rows
    ]


# --- ledger reads --------------------------------------------------------------------------------


def trial_balance() -> dict[str, int]:
    """Sum of all entries per currency: zero for a sound ledger."""
    return {
        row["currency"]: int(row["total"])
        for row in Entry.objects.values("currency").annotate(total=Sum("amount_minor")).order_by("currency")
    }


def balances_by_kind() -> dict[tuple[str, str], int]:
    """(account kind, currency) → balance (debit positive)."""
    return {
        (row["account__kind"], row["currency"]): int(row["total"])
        for row in Entry.objects.values("account__kind", "currency").annotate(total=Sum("amount_minor"))
    }


def holder_earnings(*, holder_id: int | None, period: str | None = None) -> QuerySet[Entry, dict[str, Any]]:
    """Per release and period: what a holder earned (None = every holder; staff)."""
    queryset = Entry.objects.filter(
        account__kind=Account.Kind.HOLDER,
        transaction__kind__in=[Transaction.Kind.ALLOCATION, Transaction.Kind.REAPPLY, Transaction.Kind.REVERSAL],
    )
    if holder_id is not None:
        queryset = queryset.filter(account__holder_id=holder_id)
    if period:
        queryset = queryset.filter(period=period)
    return (
        queryset.values(
            "account__holder_id",
            "account__holder__name",
            "release_id",
            "release__isrc",
            "release__title",
            "period",
            "currency",
        )
        .annotate(total=Sum("amount_minor"))
        .order_by("-period", "account__holder_id", "release__isrc", "currency")
    )


EARNING_KINDS = [Transaction.Kind.ALLOCATION, Transaction.Kind.REAPPLY, Transaction.Kind.REVERSAL]


def holder_statements(*, holder_id: int | None, period: str | None = None) -> QuerySet[Entry, dict[str, Any]]:
    """Per holder, period and currency, the holder account as the ledger has it.

    ``earned``: credits from allocations and re-applied suspense; ``refunded``: debits
    from them (refund lines); ``paid_out``: payouts; ``carried``: what SongForge owes
    the holder at the end of the period (every entry dated up to it). So
    ``carried`` of a period = ``carried`` of the one before + earned − refunded − paid_out.
    """
    queryset = Entry.objects.filter(account__kind=Account.Kind.HOLDER)
    if holder_id is not None:
        queryset = queryset.filter(account__holder_id=holder_id)
    if period:
        queryset = queryset.filter(period=period)
    owed_until = (
        Entry.objects.filter(account_id=OuterRef("account_id"), period__lte=OuterRef("period"))
        .order_by()
        .values("account_id")
        .annotate(total=Sum("amount_minor"))
        .values("total")
    )
    is_earning = Q(transaction__kind__in=EARNING_KINDS)
    return (
        queryset.values("account_id", "account__holder_id", "account__holder__name", "period", "currency")
        .annotate(
            earned=Coalesce(-Sum("amount_minor", filter=is_earning & Q(amount_minor__lt=0)), 0),
            refunded=Coalesce(Sum("amount_minor", filter=is_earning & Q(amount_minor__gt=0)), 0),
            paid_out=Coalesce(Sum("amount_minor", filter=Q(transaction__kind=Transaction.Kind.PAYOUT)), 0),
            carried=Coalesce(-Subquery(owed_until), 0),
            entries=Count("id"),
        )
        .order_by("-period", "account__holder_id", "currency")
    )


def holder_balance(*, holder_id: int, currency: str, up_to_period: str | None = None) -> int:
    """What SongForge owes the holder (positive), optionally counting entries up to a period."""
    queryset = Entry.objects.filter(account__holder_id=holder_id, account__kind=Account.Kind.HOLDER, currency=currency)
    if up_to_period:
        queryset = queryset.filter(period__lte=up_to_period)
    return -int(queryset.aggregate(total=Sum("amount_minor"))["total"] or 0)


def payouts_for(*, holder_id: int | None, period: str | None = None) -> QuerySet[Payout]:
    queryset = Payout.objects.select_related("run", "holder")
    if holder_id is not None:
        queryset = queryset.filter(holder_id=holder_id)
    if period:
        queryset = queryset.filter(run__period=period)
    return queryset.order_by("-run__period", "holder_id", "currency")


def payout_run_summary(*, run_id: int) -> dict[str, Any]:
    run = PayoutRun.objects.get(pk=run_id)
    payouts = list(run.payouts.select_related("holder", "run").order_by("holder__name", "currency"))
    return {
        "period": run.period,
        "status": run.status,
        "minimum_minor": run.minimum_minor,
        "payouts": [
            {
                "holder_id": payout.holder_id,
                "holder": payout.holder.name,
                "currency": payout.currency,
                "amount_minor": payout.amount_minor,
                "is_paid": payout.paid_transaction_id is not None,
                "lines": [line.__dict__ for line in payout_lines(payout=payout)],
            }
            for payout in payouts
        ],
    }


def split_sheet_json(*, release_id: int) -> dict[str, Any] | None:
    """The stored split sheet of a release as plain data (see ``splits.split_sheet_as_json``), or None."""
    sheet = SplitSheet.objects.select_related("release").filter(release_id=release_id).first()
    return split_sheet_as_json(sheet) if sheet is not None else None


def split_sheet_for_release(release: str) -> SplitSheet | None:
    """The sheet of a release given by id or ISRC."""
    queryset = SplitSheet.objects.select_related("release")
    if release.isdigit():
        return queryset.filter(release_id=int(release)).first()
    return queryset.filter(release__isrc=release.replace("-", "").upper()).first()
