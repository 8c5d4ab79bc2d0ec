"""Reads behind the staff dashboard: plays and revenue, liabilities, suspense and escrow.

Statement figures (plays, net revenue) come from the imported ``LineGroup`` rows; money figures
come from the ledger, so ``ledger_totals`` equals the account balances ``ledger_check`` sums, to
the minor unit. The filters (period range, store, territory, release, currency) apply to every
figure whose rows carry that dimension, and ``PANEL_FILTERS`` says which apply to which panel and
why the others cannot:

* ledger entries carry a currency and, for allocations, escrow and claims, a release and a period
  of use; they carry no store or territory (allocation posts per release and period, the carry rule
  works on the sum of a release's lines), except suspense entries, which keep their line group;
* balances (revenue, owed, payable, paid) span every release and period: payouts are per holder and
  run, revenue is posted per period without a release;
* payouts carry the run's period; operations (uploads, generations, deliveries) are not royalties.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction

from django.conf import settings
from django.db.models import Count, Min, Q, QuerySet, Sum

from royalties.escrow import EscrowAging, escrow_aging
from royalties.models import Account, Entry, LineGroup, Payout, SplitSheetLine
from royalties.money import largest_remainder
from uploads.selectors import match_claims_pending, uploads_per_day


@dataclass(frozen=True)
class DashboardFilters:
    period_from: str = ""
    period_to: str = ""
    store: str = ""
    territory: str = ""
    release_id: int | None = None
    currency: str = ""

    def active(self) -> tuple[str, ...]:
        """Names of the filters in use, in ``FILTERS`` order."""
        used = {
            "period": bool(self.period_from or self.period_to),
            "store": bool(self.store),
            "territory": bool(self.territory),
            "release": self.release_id is not None,
            "currency": bool(self.currency),
        }
        return tuple(name for name in FILTERS if used[name])


FILTERS = ("period", "store", "territory", "release", "currency")
_ALL = frozenset(FILTERS)
_NONE: frozenset[str] = frozenset()

# panel → (filters it applies, why the others cannot apply)
PANEL_FILTERS: dict[str, tuple[frozenset[str], str]] = {
    "series": (_ALL, ""),
    "ledger": (
        frozenset({"currency"}),
        "balances span every period and release: revenue is posted per period without a release, payouts per "
        "holder and run, and no ledger entry carries a store or territory",
    ),
    "pools": (
        frozenset({"period", "release", "currency"}),
        "allocation posts per release and period of use (the carry rule works on the sum of a release's lines), "
        "not per store or territory",
    ),
    "owed": (
        frozenset({"currency"}),
        "a holder's balance spans every period and release (payouts are per holder, not per release)",
    ),
    "payouts": (
        frozenset({"period", "currency"}),
        "payouts are per holder and run (period = the run's period), not per store, territory or release",
    ),
    "suspense": (
        frozenset({"period", "store", "territory", "currency"}),
        "suspense lines have no release yet (that is why they wait)",
    ),
    "escrow": (
        frozenset({"period", "release", "currency"}),
        "escrow is credited and claimed per release and period of use, not per store or territory",
    ),
    "operations": (_NONE, "uploads, generations and deliveries are not royalties figures"),
}


def ignored_filters(*, filters: DashboardFilters, panel: str) -> tuple[str, ...]:
    """The filters in use that this panel cannot apply (the page says so next to the panel)."""
    applies, _ = PANEL_FILTERS[panel]
    return tuple(name for name in filters.active() if name not in applies)


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


def ledger_totals(*, currency: str = "") -> list[LedgerTotals]:
    """Account balances per kind and currency, signs turned so that every figure is what it means."""
    entries = Entry.objects.filter(currency=currency) if currency else Entry.objects.all()
    rows = entries.values("account__kind", "currency").annotate(total=Sum("amount_minor"))
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


def liabilities(*, currency: str = "") -> list[Liability]:
    """What is owed to each holder (credit balance of its holder account), largest first."""
    entries = Entry.objects.filter(account__kind=Account.Kind.HOLDER)
    rows = (
        (entries.filter(currency=currency) if currency else entries)
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


def payouts_by_status(*, filters: DashboardFilters | None = None) -> list[PayoutStatusRow]:
    """Payouts awaiting approval and paid, per currency (filters: the run's period, the currency)."""
    filters = filters or DashboardFilters()
    payouts = Payout.objects.all()
    if filters.period_from:
        payouts = payouts.filter(run__period__gte=filters.period_from)
    if filters.period_to:
        payouts = payouts.filter(run__period__lte=filters.period_to)
    if filters.currency:
        payouts = payouts.filter(currency=filters.currency)
    rows = (
        payouts.annotate(is_paid=Q(paid_at__isnull=False))
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


def suspense_by_reason(*, filters: DashboardFilters | None = None) -> list[SuspenseRow]:
    """Statement lines waiting in suspense, by reason and currency, oldest first.

    The amounts are the suspense account's entries of those lines (each keeps its line group), so
    they add up to the ledger; every filter but the release applies (suspense lines have none).
    """
    filters = filters or DashboardFilters()
    groups = _groups(replace(filters, release_id=None)).filter(state=LineGroup.State.SUSPENSE)
    rows = (
        Entry.objects.filter(account__kind=Account.Kind.SUSPENSE, line_group__in=groups.values("pk"))
        .values("line_group__suspense_reason", "currency")
        .annotate(groups=Count("line_group", distinct=True), amount=Sum("amount_minor"), oldest=Min("period"))
        .order_by("oldest", "line_group__suspense_reason", "currency")
    )
    return [
        SuspenseRow(
            str(r["line_group__suspense_reason"]), r["currency"], r["groups"], -int(r["amount"]), str(r["oldest"])
        )
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


def match_reviews_waiting() -> list[dict[str, object]]:
    """Artists' manual matches waiting for a staff review: how many, and since when (one row)."""
    queue = match_claims_pending()
    oldest = queue.first()
    return [
        {
            "waiting": queue.count(),
            "oldest_since": oldest.created_at.strftime("%Y-%m-%d %H:%M") if oldest is not None else None,
        }
    ]


def operations() -> dict[str, list[dict[str, object]]]:
    """Uploads per day and outcome, manual matches to review, generations per day, stage durations, deliveries."""
    from distribution.selectors import releases_by_status
    from generation.selectors import generation_stage_durations, generations_per_day

    return {
        "uploads": uploads_per_day(),
        "match_reviews": match_reviews_waiting(),
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
        totals=ledger_totals(currency=filters.currency),
        owed=liabilities(currency=filters.currency),
        payouts=payouts_by_status(filters=filters),
        suspense=suspense_by_reason(filters=filters),
        escrow=escrow_aging(
            period_from=filters.period_from,
            period_to=filters.period_to,
            release_id=filters.release_id,
            currency=filters.currency,
        ),
        operations=operations(),
        by_source_song=revenue_by_source_song(filters=filters),
        by_training_holder=revenue_by_training_holder(filters=filters),
    )
