"""The artist's earnings page: plays and earnings over time per song, by store and territory.

Interface only: the figures come from ``royalties.selectors``' dashboard reads
(imported statement lines of the artist's releases); this module arranges them
per currency for the charts and tables. Money stays in integer minor units.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from distribution.selectors import releases_for_owner
from royalties.selectors import earnings_by_period, earnings_by_store, earnings_by_territory
from songforge.errors import DomainError
from songforge.pages import owner_id


@dataclass
class CurrencyDashboard:
    """Everything the page shows for one currency (amounts are never mixed across currencies)."""

    currency: str
    periods: list[str] = field(default_factory=list)
    plays_series: list[tuple[str, list[int]]] = field(default_factory=list)
    earnings_series: list[tuple[str, list[int]]] = field(default_factory=list)
    stores: list[Any] = field(default_factory=list)
    territories: list[Any] = field(default_factory=list)
    store_items: list[tuple[str, float]] = field(default_factory=list)
    territory_items: list[tuple[str, float]] = field(default_factory=list)
    total_units: int = 0
    total_minor: int = 0

    @property
    def money_format(self) -> str:
        return f"money:{self.currency}"


def _shares(rows: list[Any], total: int) -> list[tuple[str, float]]:
    return [(row.key, row.revenue_minor / total if total else 0.0) for row in rows[:10]]


def _dashboards(
    per_release: dict[str, list[Any]], stores: list[Any], territories: list[Any]
) -> list[CurrencyDashboard]:
    currencies = sorted({row.currency for rows in per_release.values() for row in rows} | {r.currency for r in stores})
    boards = []
    for currency in currencies:
        periods = sorted({row.key for rows in per_release.values() for row in rows if row.currency == currency})
        plays, money = [], []
        for title, rows in per_release.items():
            by_period = {row.key: row for row in rows if row.currency == currency}
            if not by_period:
                continue
            plays.append((title, [by_period[p].units if p in by_period else 0 for p in periods]))
            money.append((title, [by_period[p].revenue_minor if p in by_period else 0 for p in periods]))
        currency_stores = sorted(
            (r for r in stores if r.currency == currency), key=lambda r: (-r.revenue_minor, -r.units, r.key)
        )
        currency_territories = sorted(
            (r for r in territories if r.currency == currency), key=lambda r: (-r.revenue_minor, -r.units, r.key)
        )
        total_minor = sum(r.revenue_minor for r in currency_stores)
        boards.append(
            CurrencyDashboard(
                currency=currency,
                periods=periods,
                plays_series=plays,
                earnings_series=money,
                stores=currency_stores,
                territories=currency_territories,
                store_items=_shares(currency_stores, total_minor),
                territory_items=_shares(currency_territories, total_minor),
                total_units=sum(r.units for r in currency_stores),
                total_minor=total_minor,
            )
        )
    return boards


@login_required
@require_GET
def earnings(request: HttpRequest) -> HttpResponse:
    error = ""
    releases: list[Any] = []
    boards: list[CurrencyDashboard] = []
    try:
        releases = list(releases_for_owner(owner_id=owner_id(request)))
        if releases:
            ids = [release.pk for release in releases]
            per_release = {f"{r.title} ({r.isrc})": list(earnings_by_period(release_ids=[r.pk])) for r in releases}
            stores = list(earnings_by_store(release_ids=ids))
            territories = list(earnings_by_territory(release_ids=ids))
            boards = _dashboards(per_release, stores, territories)
    except DomainError as exc:
        error = exc.message
    return render(request, "royalties/earnings.html", {"releases": releases, "dashboards": boards, "error": error})
