"""Reads behind the staff dashboard: plays and revenue, liabilities, suspense and escrow.

Statement figures (plays, net revenue) come from the imported ``LineGroup`` rows and accept the
dashboard's filters (period range, store, territory, release, currency). Money figures come from
the ledger, so ``ledger_totals`` equals the account balances ``ledger_check`` sums, to the minor unit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from django.conf import settings
from django.db.models import Count, Min, Q, QuerySet, Sum

from royalties.escrow import EscrowAging, escrow_aging
from royalties.models import Account, Entry, LineGroup, Payout, SplitSheetLine
from royalties.money import largest_remainder


@dataclass(frozen=True)
class DashboardFilters:
    period_from: str = ""
    period_to: str = ""
    store: str = ""
    territory: str = ""
    release_id: int | None = None
    currency: str = ""


@dataclass(frozen=True)
class SeriesRow:
    key: str
    currency: str
    units: int
    revenue_minor: int


def _groups(filters: DashboardFilters) -> QuerySet[LineGroup]:
    groups = LineGroup.objects.all()
    if filters.period_from:
        groups = groups.filter(period__gte=filters.period_from)
    if filters.period_to:
        groups = groups.filter(period__lte=filters.period_to)
    if filters.store:
        groups = groups.filter(store=filters.store)
    if filters.territory:
        groups = groups.filter(territory=filters.territory)
    if filters.release_id is not None:
        groups = groups.filter(release_id=filters.release_id)
    if filters.currency:
        groups = groups.filter(currency=filters.currency)
    return groups


SERIES_FIELDS = {"period": "period", "store": "store", "territory": "territory", "release": "isrc"}


def plays_and_revenue(*, filters: DashboardFilters, by: str) -> list[SeriesRow]:
    """Plays and net revenue per period, store, territory or release (ISRC), per currency."""
    column = SERIES_FIELDS[by]
    rows = (
        _groups(filters)
        .values(column, "currency")
        .annotate(units=Sum("units"), revenue=Sum("amount_minor"))
        .order_by(column, "currency")
    )
    return [SeriesRow(str(r[column]), r["currency"], int(r["units"]), int(r["revenue"])) for r in rows]


def top_releases(*, filters: DashboardFilters, limit: int = 10) -> list[SeriesRow]:
    """Releases by net revenue, largest first (suspense lines excluded)."""
    rows = (
        _groups(filters)
        .filter(release__isnull=False)
        .values("release__isrc", "release__title", "currency")
        .annotate(units=Sum("units"), revenue=Sum("amount_minor"))
        .order_by("-revenue", "release__isrc")[:limit]
    )
    return [
        SeriesRow(f"{r['release__isrc']} {r['release__title']}", r["currency"], int(r["units"]), int(r["revenue"]))
        for r in rows
    ]


@dataclass
class LedgerTotals:
    """Balances per currency, as positive amounts: revenue received and where it stands now."""

    currency: str
    revenue: int = 0
    unallocated: int = 0
    suspense: int = 0
    owed_to_holders: int = 0
    escrow: int = 0
    payable: int = 0
    paid: int = 0
    carry: int = 0  # whole minor units of the sub-minor remainders (see royalties/carry.py)

    @property
    def accounted(self) -> int:
        """unallocated + suspense + owed + escrow + payable + paid + carry: equals revenue in a sound ledger."""
        return (
            self.unallocated
            + self.suspense
            + self.owed_to_holders
            + self.escrow
            + self.payable
            + self.paid
            + self.carry
        )


def ledger_totals() -> list[LedgerTotals]:
    """Account balances per kind and currency, signs turned so that every figure is what it means."""
    rows = Entry.objects.values("account__kind", "currency").annotate(total=Sum("amount_minor"))
    totals: dict[str, LedgerTotals] = {}
    attribute = {
        Account.Kind.REVENUE: "revenue",
        Account.Kind.UNALLOCATED: "unallocated",
        Account.Kind.SUSPENSE: "suspense",
        Account.Kind.HOLDER: "owed_to_holders",
        Account.Kind.ESCROW: "escrow",
        Account.Kind.PAYABLE: "payable",
        Account.Kind.PAID: "paid",
        Account.Kind.CARRY: "carry",
    }
    for row in rows:
        slot = totals.setdefault(row["currency"], LedgerTotals(row["currency"]))
        total = int(row["total"] or 0)
        name = attribute[Account.Kind(row["account__kind"])]
        setattr(slot, name, total if name == "revenue" else -total)
    return [totals[c] for c in sorted(totals)]


@dataclass(frozen=True)
class Liability:
    holder_id: int
    holder: str
    currency: str
    owed_minor: int
    is_below_minimum: bool  # carried forward at the next payout run


def liabilities() -> list[Liability]:
    """What is owed to each holder (credit balance of its holder account), largest first."""
    rows = (
        Entry.objects.filter(account__kind=Account.Kind.HOLDER)
        .values("account__holder_id", "account__holder__name", "currency")
        .annotate(total=Sum("amount_minor"))
        .order_by("total", "account__holder_id")
    )
    minimum = int(settings.PAYOUT_MINIMUM_MINOR)
    return [
        Liability(
            r["account__holder_id"], r["account__holder__name"], r["currency"], -int(r["total"]), -r["total"] < minimum
        )
        for r in rows
        if r["total"]
    ]


@dataclass(frozen=True)
class PayoutStatusRow:
    status: str
    currency: str
    count: int
    amount_minor: int


def payouts_by_status() -> list[PayoutStatusRow]:
    """Payouts awaiting approval and paid, per currency."""
    rows = (
        Payout.objects.annotate(is_paid=Q(paid_at__isnull=False))
        .values("is_paid", "currency")
        .annotate(count=Count("id"), amount=Sum("amount_minor"))
        .order_by("is_paid", "currency")
    )
    return [
        PayoutStatusRow("paid" if r["is_paid"] else "awaiting approval", r["currency"], r["count"], int(r["amount"]))
        for r in rows
    ]


@dataclass(frozen=True)
class SuspenseRow:
    reason: str
    currency: str
    groups: int
    amount_minor: int
    oldest_period: str


def suspense_by_reason() -> list[SuspenseRow]:
    """Statement lines waiting in suspense, by reason and currency, oldest first."""
    rows = (
        LineGroup.objects.filter(state=LineGroup.State.SUSPENSE)
        .values("suspense_reason", "currency")
        .annotate(groups=Count("id"), amount=Sum("amount_minor"), oldest=Min("period"))
        .order_by("oldest", "suspense_reason")
    )
    return [
        SuspenseRow(str(r["suspense_reason"]), r["currency"], r["groups"], int(r["amount"]), str(r["oldest"]))
        for r in rows
    ]


@dataclass(frozen=True)
class PoolRevenueRow:
    key: str  # recording id (source songs) or holder name (training holders)
    currency: str
    amount_minor: int


def _allocated_by_path(filters: DashboardFilters) -> dict[tuple[str, int | None, int, str], int]:
    """(pool, recording id, holder id, currency) → allocated minor units, from holder/escrow credits.

    Each (release, holder, currency) credit is split across the holder's sheet paths by their exact
    shares (largest remainder), so the parts add up to what the ledger credited.
    """
    credits = Entry.objects.filter(
        account__kind__in=[Account.Kind.HOLDER, Account.Kind.ESCROW],
        transaction__kind__in=["allocation", "reapply", "reversal"],
        release__isnull=False,
    )
    if filters.period_from:
        credits = credits.filter(period__gte=filters.period_from)
    if filters.period_to:
        credits = credits.filter(period__lte=filters.period_to)
    if filters.release_id is not None:
        credits = credits.filter(release_id=filters.release_id)
    if filters.currency:
        credits = credits.filter(currency=filters.currency)
    rows = credits.values("release_id", "account__holder_id", "currency").annotate(total=Sum("amount_minor"))
    wanted = {(r["release_id"], r["account__holder_id"]) for r in rows}
    provenance = {
        (release_id, holder_id): paths
        for release_id, holder_id, paths in SplitSheetLine.objects.filter(
            sheet__release_id__in={release for release, _ in wanted}
        ).values_list("sheet__release_id", "holder_id", "provenance")
        if (release_id, holder_id) in wanted
    }
    result: dict[tuple[str, int | None, int, str], int] = {}
    for row in rows:
        amount = -int(row["total"] or 0)
        paths = provenance.get((row["release_id"], row["account__holder_id"])) or []
        weights = {index: Fraction(str(p["share"])) for index, p in enumerate(paths) if Fraction(str(p["share"])) > 0}
        if not amount or not weights:
            continue
        for index, part in largest_remainder(amount, weights).items():
            path = paths[index]
            key = (str(path["pool"]), path.get("recording_id"), int(row["account__holder_id"]), row["currency"])
            result[key] = result.get(key, 0) + part
    return result


def revenue_by_source_song(*, filters: DashboardFilters) -> list[PoolRevenueRow]:
    """What the 67% source pool paid per source recording (holders and escrow), largest first."""
    totals: dict[tuple[str, str], int] = {}
    for (pool, recording_id, _, currency), amount in _allocated_by_path(filters).items():
        if pool == "source":
            key = (str(recording_id) if recording_id is not None else "(none)", currency)
            totals[key] = totals.get(key, 0) + amount
    return sorted((PoolRevenueRow(k, c, a) for (k, c), a in totals.items()), key=lambda r: (-r.amount_minor, r.key))


def revenue_by_training_holder(*, filters: DashboardFilters) -> list[PoolRevenueRow]:
    """What the 33% training pool paid per holder (escrow included), largest first."""
    from catalog.selectors import holder_labels

    totals: dict[tuple[int, str], int] = {}
    for (pool, _, holder_id, currency), amount in _allocated_by_path(filters).items():
        if pool == "training":
            totals[(holder_id, currency)] = totals.get((holder_id, currency), 0) + amount
    names = holder_labels([holder_id for holder_id, _ in totals])
    rows = [PoolRevenueRow(names[h].name if h in names else f"Holder {h}", c, a) for (h, c), a in totals.items()]
    return sorted(rows, key=lambda r: (-r.amount_minor, r.key))


@dataclass(frozen=True)
class Dashboard:
    filters: DashboardFilters
    by_period: list[SeriesRow]
    by_store: list[SeriesRow]
    by_territory: list[SeriesRow]
    by_release: list[SeriesRow]
    top: list[SeriesRow]
    totals: list[LedgerTotals]
    owed: list[Liability]
    payouts: list[PayoutStatusRow]
    suspense: list[SuspenseRow]
    escrow: list[EscrowAging] = field(default_factory=list)
    operations: dict[str, list[dict[str, object]]] = field(default_factory=dict)
    by_source_song: list[PoolRevenueRow] = field(default_factory=list)
    by_training_holder: list[PoolRevenueRow] = field(default_factory=list)


def operations() -> dict[str, list[dict[str, object]]]:
    """Uploads per day and outcome, generations per day, stage durations, deliveries (other apps' selectors)."""
    from distribution.selectors import releases_by_status
    from generation.selectors import generation_stage_durations, generations_per_day
    from uploads.selectors import uploads_per_day

    return {
        "uploads": uploads_per_day(),
        "generations": generations_per_day(),
        "stages": generation_stage_durations(),
        "deliveries": releases_by_status(),
    }


def dashboard(*, filters: DashboardFilters) -> Dashboard:
    """Every figure of the staff dashboard."""
    return Dashboard(
        filters=filters,
        by_period=plays_and_revenue(filters=filters, by="period"),
        by_store=plays_and_revenue(filters=filters, by="store"),
        by_territory=plays_and_revenue(filters=filters, by="territory"),
        by_release=plays_and_revenue(filters=filters, by="release"),
        top=top_releases(filters=filters),
        totals=ledger_totals(),
        owed=liabilities(),
        payouts=payouts_by_status(),
        suspense=suspense_by_reason(),
        escrow=escrow_aging(),
        operations=operations(),
        by_source_song=revenue_by_source_song(filters=filters),
        by_training_holder=revenue_by_training_holder(filters=filters),
    )
