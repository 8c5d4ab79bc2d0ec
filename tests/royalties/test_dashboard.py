"""The staff dashboard: every money figure equals the ledger's balances; CSV cells cannot run formulas."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from royalties import ledger
from royalties.dashboard import DashboardFilters, dashboard, ledger_totals, liabilities, plays_and_revenue
from royalties.imports import statement_import
from royalties.payouts import payout_run_create
from royalties.selectors import balances_by_kind, holder_balance
from songforge.csv import escape_cell
from tests.royalties.conftest import line

pytestmark = pytest.mark.django_db


@pytest.fixture
def money(world, statement_file, settings):
    settings.PAYOUT_MINIMUM_MINOR = 500
    statement_import(
        path=statement_file(
            [
                line(revenue="20.00"),
                line(revenue="5.55", store="=HYPERLINK(1)", territory="US", units=7),
                line(isrc="QZS8F2699999", revenue="1.01"),  # unknown ISRC: suspense
            ],
            name="oct.csv",
        )
    )
    payout_run_create(period="2026-10")
    return world


def test_the_totals_equal_the_ledger_balances_to_the_minor_unit(money):
    by_kind = balances_by_kind()
    [usd] = ledger_totals()
    assert usd.currency == "USD"
    assert usd.revenue == by_kind[("revenue", "USD")] == 2656
    assert usd.suspense == -by_kind[("suspense", "USD")] == 101
    assert usd.owed_to_holders == -by_kind[("holder", "USD")]
    assert usd.payable == -by_kind[("payable", "USD")]
    assert usd.accounted == usd.revenue
    assert ledger.check().totals == {"USD": 0}
    owed = {o.holder: o.owed_minor for o in liabilities()}
    assert sum(owed.values()) == usd.owed_to_holders
    assert owed.get("Label", 0) == holder_balance(holder_id=money.label.pk, currency="USD")


def test_statement_figures_follow_the_filters(money):
    assert [(r.key, r.units, r.revenue_minor) for r in plays_and_revenue(filters=DashboardFilters(), by="store")] == [
        ("=HYPERLINK(1)", 7, 555),
        ("Spotify", 200, 2101),
    ]
    us = DashboardFilters(territory="US")
    assert [(r.key, r.revenue_minor) for r in plays_and_revenue(filters=us, by="territory")] == [("US", 555)]
    assert dashboard(filters=DashboardFilters(period_from="2026-11")).by_period == []


def test_escape_cell():
    assert escape_cell("=SUM(A1)") == "'=SUM(A1)"
    assert escape_cell("-2") == "'-2"
    assert escape_cell("Spotify") == "Spotify"
    assert escape_cell(-250) == -250


def test_the_page_renders_for_staff_with_the_permission_and_exports_escaped_csv(money, django_user_model):
    clerk = django_user_model.objects.create_user(username="clerk", password="x", is_staff=True)
    client = Client()
    client.force_login(clerk)
    assert client.get("/admin/royalties/dashboard/").status_code == 403
    clerk.user_permissions.add(Permission.objects.get(codename="view_entry", content_type__app_label="royalties"))
    page = client.get("/admin/royalties/dashboard/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "$26.56 (2656 USD minor units)" in html
    assert "<svg" in html
    export = client.get("/admin/royalties/dashboard/", {"export": "by_store"})
    assert export["Content-Type"] == "text/csv"
    assert export.content.decode().splitlines()[1] == "'=HYPERLINK(1),USD,7,555"
    outsider = django_user_model.objects.create_user(username="fan", password="x")
    client.force_login(outsider)
    assert client.get("/admin/royalties/dashboard/").status_code == 302  # to the admin login


def test_operations_come_from_the_other_apps_selectors(money):
    from distribution.models import Release

    ops = dashboard(filters=DashboardFilters()).operations
    assert sorted(ops) == ["deliveries", "generations", "match_reviews", "stages", "uploads"]
    assert sum(int(str(row["count"])) for row in ops["deliveries"]) == Release.objects.count() == 1
    assert sum(int(str(row["count"])) for row in ops["generations"]) == 1  # the release's song


def test_revenue_per_source_song_and_training_holder_adds_up_to_what_was_allocated(money):
    from royalties.dashboard import revenue_by_source_song, revenue_by_training_holder

    [usd] = ledger_totals()
    source = revenue_by_source_song(filters=DashboardFilters())
    training = revenue_by_training_holder(filters=DashboardFilters())
    assert [r.key for r in training] == ["Trainer"]
    assert len(source) == 1
    allocated = usd.owed_to_holders + usd.escrow + usd.payable + usd.paid
    assert source[0].amount_minor + training[0].amount_minor == allocated == 2553  # 2 minor units in the carry
    assert training[0].amount_minor == holder_balance(holder_id=money.trainer.pk, currency="USD") + sum(
        p.amount_minor for p in money.trainer.payouts.all()
    )
