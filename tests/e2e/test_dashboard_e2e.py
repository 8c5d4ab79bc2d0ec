"""End-to-end in Chromium: a staff member opens the royalties desk; its figures match the ledger."""

from __future__ import annotations

from fractions import Fraction

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from catalog.models import RecordingShare
from royalties.dashboard import ledger_totals
from royalties.imports import rows_to_csv, statement_import
from royalties.money import format_for_people
from royalties.splits import split_sheet_create
from tests.factories import RecordingFactory, RecordingShareFactory, ReleaseFactory, RightsHolderFactory

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_staff_see_the_desk_with_charts_tables_and_ledger_figures(browser_page, shoot, tmp_path, settings):
    settings.DATA_DIR = tmp_path
    label = RightsHolderFactory.create(name="Northwind Music")
    source = RecordingFactory.create()
    RecordingShareFactory.create(recording=source, holder=label, side=RecordingShare.Side.MASTER, share_bps=10_000)
    release = ReleaseFactory.create(isrc="QZS8F2600001")
    split_sheet_create(release_id=release.pk, sources=[(source.pk, Fraction(1))], training=[])
    rows = [
        {
            "period": "2026-10",
            "store": store,
            "territory": territory,
            "isrc": "QZS8F2600001",
            "units": units,
            "net_revenue": revenue,
            "currency": "USD",
        }
        for store, territory, units, revenue in (("Spotify", "US", 1200, "412.33"), ("Deezer", "FR", 300, "8.10"))
    ]
    path = tmp_path / "statement.csv"
    path.write_text(rows_to_csv(rows))
    statement_import(path=path)
    get_user_model().objects.create_superuser(username="desk", email="desk@example.com", password="pw-desk-123")

    page = browser_page
    page.goto("/admin/login/?next=/admin/royalties/dashboard/")
    page.locator("#id_username").fill("desk")
    page.locator("#id_password").fill("pw-desk-123")
    page.locator("input[type=submit]").click()
    page.wait_for_url("**/admin/royalties/dashboard/")
    [usd] = ledger_totals()
    totals = page.locator("table.desk-totals[data-currency=USD]")
    expect(totals).to_contain_text(format_for_people(usd.revenue, "USD"))
    expect(totals).to_contain_text(format_for_people(usd.owed_to_holders, "USD"))
    expect(totals).to_contain_text(format_for_people(usd.escrow, "USD"))
    assert usd.revenue == 42043
    expect(page.locator("figure.bar-chart").first).to_be_visible()
    expect(page.get_by_role("heading", name="By store")).to_be_visible()
    page.locator("input[name=store]").fill("Deezer")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#by_store-title + figure + table tbody tr")).to_have_count(1)
    shoot(page, "royalties-desk")
