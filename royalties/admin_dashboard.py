"""The staff dashboard in the admin: figures from ``royalties.dashboard``, SVG charts each with its table.

``GET /admin/royalties/dashboard/`` (staff with ``royalties.view_entry``); filters by period range,
store, territory, release and currency; ``?export=TABLE`` downloads a table as CSV (formula-escaped).
"""

from __future__ import annotations

import csv
import io
from typing import Any

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from royalties.dashboard import PANEL_FILTERS, Dashboard, DashboardFilters, dashboard, ignored_filters
from royalties.money import format_for_people
from songforge.codes import PERIOD_RE
from songforge.csv import escape_cell

PERMISSION = "royalties.view_entry"


def _filters(request: HttpRequest) -> DashboardFilters:
    params = request.GET
    period_from = params.get("period_from", "")
    period_to = params.get("period_to", "")
    release = params.get("release", "")
    currency = params.get("currency", "").upper()
    return DashboardFilters(
        period_from=period_from if PERIOD_RE.match(period_from) else "",
        period_to=period_to if PERIOD_RE.match(period_to) else "",
        store=params.get("store", "")[:100],
        territory=params.get("territory", "")[:8],
        release_id=int(release) if release.isdigit() else None,
        currency=currency if len(currency) == 3 and currency.isalpha() else "",
    )


def _tables(data: Dashboard) -> dict[str, tuple[list[str], list[list[Any]]]]:
    """Every table of the page as (header, rows); amounts in minor units (the CSV export's form)."""
    series = ["key", "currency", "plays", "revenue_minor"]

    def rows(items: Any) -> list[list[Any]]:
        return [[r.key, r.currency, r.units, r.revenue_minor] for r in items]

    operations = {
        key: (list(items[0]) if items else [], [list(item.values()) for item in items])
        for key, items in data.operations.items()
    }
    return {
        **operations,
        "by_period": (series, rows(data.by_period)),
        "by_store": (series, rows(data.by_store)),
        "by_territory": (series, rows(data.by_territory)),
        "by_release": (series, rows(data.by_release)),
        "top_releases": (series, rows(data.top)),
        "by_source_song": (
            ["recording_id", "currency", "amount_minor"],
            [[r.key, r.currency, r.amount_minor] for r in data.by_source_song],
        ),
        "by_training_holder": (
            ["holder", "currency", "amount_minor"],
            [[r.key, r.currency, r.amount_minor] for r in data.by_training_holder],
        ),
        "ledger": (
            ["currency", "revenue", "unallocated", "suspense", "owed_to_holders", "escrow", "payable", "paid", "carry"],
            [
                [
                    t.currency,
                    t.revenue,
                    t.unallocated,
                    t.suspense,
                    t.owed_to_holders,
                    t.escrow,
                    t.payable,
                    t.paid,
                    t.carry,
                ]
                for t in data.totals
            ],
        ),
        "owed": (
            ["holder_id", "holder", "currency", "owed_minor", "below_minimum"],
            [[o.holder_id, o.holder, o.currency, o.owed_minor, o.is_below_minimum] for o in data.owed],
        ),
        "payouts": (
            ["status", "currency", "count", "amount_minor"],
            [[p.status, p.currency, p.count, p.amount_minor] for p in data.payouts],
        ),
        "suspense": (
            ["reason", "currency", "groups", "amount_minor", "oldest_period"],
            [[s.reason, s.currency, s.groups, s.amount_minor, s.oldest_period] for s in data.suspense],
        ),
        "escrow": (
            [
                "recording_id",
                "side",
                "currency",
                "amount_minor",
                "oldest_period",
                "age_days",
                "open_claims",
                "approved_claim_id",
                "reason",
            ],
            [
                [
                    e.recording_id,
                    e.side,
                    e.currency,
                    e.amount_minor,
                    e.oldest_period,
                    e.age_days,
                    e.open_claims,
                    e.approved_claim_id,
                    e.reason,
                ]
                for e in data.escrow
            ],
        ),
    }


def _notes(filters: DashboardFilters) -> dict[str, str]:
    """Per panel, the sentence saying which filters in use it cannot apply and why (empty: all apply)."""
    notes = {}
    for panel, (_, why) in PANEL_FILTERS.items():
        ignored = ignored_filters(filters=filters, panel=panel)
        if ignored:
            notes[panel] = f"Not filtered by {', '.join(ignored)}: {why}."
    return notes


def _chart(items: list[Any]) -> list[tuple[str, float]]:
    """(label, plays) for the bar chart; one bar per key and currency."""
    return [(f"{r.key} ({r.currency})", r.units) for r in items]


@staff_member_required
@permission_required(PERMISSION, raise_exception=True)
def dashboard_view(request: HttpRequest) -> HttpResponse:
    filters = _filters(request)
    data = dashboard(filters=filters)
    tables = _tables(data)
    export = request.GET.get("export", "")
    if export in tables:
        header, rows = tables[export]
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        writer.writerows([escape_cell(cell) for cell in row] for row in rows)
        response = HttpResponse(buffer.getvalue(), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="dashboard-{export}.csv"'
        return response
    money = format_for_people
    context = {
        **admin.site.each_context(request),
        "title": "Royalties desk",
        "filters": filters,
        "notes": _notes(filters),
        "data": data,
        "charts": {
            "by_period": _chart(data.by_period),
            "by_store": _chart(data.by_store),
            "by_territory": _chart(data.by_territory),
            "by_release": _chart(data.by_release),
        },
        "series": [
            ("by_period", "Plays and revenue by period", data.by_period),
            ("by_store", "By store", data.by_store),
            ("by_territory", "By territory", data.by_territory),
            ("by_release", "By release", data.by_release),
            ("top_releases", "Top releases", data.top),
        ],
        "totals": [
            {
                "currency": t.currency,
                "rows": [
                    ("Revenue received", money(t.revenue, t.currency)),
                    ("Awaiting allocation", money(t.unallocated, t.currency)),
                    ("Suspense", money(t.suspense, t.currency)),
                    ("Owed to holders", money(t.owed_to_holders, t.currency)),
                    ("Escrow", money(t.escrow, t.currency)),
                    ("Payouts approved, not paid", money(t.payable, t.currency)),
                    ("Paid", money(t.paid, t.currency)),
                    ("Sub-minor carry", money(t.carry, t.currency)),
                ],
                "is_balanced": t.accounted == t.revenue,
            }
            for t in data.totals
        ],
        "owed": [(o, money(o.owed_minor, o.currency)) for o in data.owed],
        "escrow": [(e, money(e.amount_minor, e.currency)) for e in data.escrow],
        "suspense": [(s, money(s.amount_minor, s.currency)) for s in data.suspense],
        "payouts": [(p, money(p.amount_minor, p.currency)) for p in data.payouts],
        "pools": [
            (
                "by_source_song",
                "Revenue per source song (67% pool)",
                "Recording",
                [(r.key, money(r.amount_minor, r.currency)) for r in data.by_source_song],
            ),
            (
                "by_training_holder",
                "Revenue per training holder (33% pool)",
                "Holder",
                [(r.key, money(r.amount_minor, r.currency)) for r in data.by_training_holder],
            ),
        ],
        "operations": [
            (key, title, *tables[key])
            for key, title in (
                ("uploads", "Uploads per day and identification outcome"),
                ("match_reviews", "Manual matches waiting for review"),
                ("generations", "Generations per day"),
                ("stages", "Pipeline stages: runs, failures, mean seconds"),
                ("deliveries", "Releases by delivery status"),
            )
        ],
    }
    return render(request, "admin/royalties/dashboard.html", context)
