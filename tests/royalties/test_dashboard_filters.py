"""Each dashboard filter, checked against ledger sums; panels that cannot apply a filter say so."""

from __future__ import annotations

from fractions import Fraction

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth.models import Permission
from django.db.models import Sum
from django.test import Client

from catalog.models import RecordingShare
from royalties.dashboard import (
    DashboardFilters,
    dashboard,
    ignored_filters,
    liabilities,
    match_reviews_waiting,
)
from royalties.escrow import escrow_claim_approve, escrow_claim_create
from royalties.imports import statement_import
from royalties.models import Entry, LineGroup
from royalties.payouts import payout_run_create
from royalties.selectors import balances_by_kind
from royalties.splits import split_sheet_create
from tests.factories import RecordingFactory, RecordingShareFactory, ReleaseFactory, RightsHolderFactory
from tests.royalties.conftest import line

pytestmark = pytest.mark.django_db
ALLOCATED = ("allocation", "reapply", "reversal")


@pytest.fixture
def desk(world, statement_file, settings, django_user_model):
    """Two releases (B's source has no publisher: escrow), two periods, stores, territories and currencies."""
    settings.PAYOUT_MINIMUM_MINOR = 100
    label_b = RightsHolderFactory.create(name="Label B")
    source_b = RecordingFactory.create()
    RecordingShareFactory.create(recording=source_b, holder=label_b, side=RecordingShare.Side.MASTER, share_bps=10_000)
    release_b = ReleaseFactory.create(isrc="QZS8F2600002")
    split_sheet_create(release_id=release_b.pk, sources=[(source_b.pk, Fraction(1))], training=[])
    a, b, unknown = "QZS8F2600001", "QZS8F2600002", "QZS8F2699999"
    statement_import(
        path=statement_file(
            [
                line(isrc=a, revenue="20.00"),
                line(isrc=a, revenue="5.55", store="Deezer", territory="US", units=7),
                line(isrc=b, revenue="8.00", territory="US", units=40),
                line(isrc=unknown, revenue="1.01"),
                line(isrc=a, revenue="3.00", currency="EUR", territory="FR", units=9),
            ],
            name="oct.csv",
        )
    )
    statement_import(
        path=statement_file(
            [
                line(isrc=a, revenue="10.00", period="2026-11"),
                line(isrc=b, revenue="4.00", period="2026-11", store="Deezer", territory="FR", units=20),
                line(isrc=unknown, revenue="2.02", period="2026-11", store="Deezer", territory="FR", units=3),
            ],
            name="nov.csv",
        )
    )
    payout_run_create(period="2026-10")
    staff = [django_user_model.objects.create(username=name, is_staff=True) for name in ("alice", "bob")]
    return world, release_b, source_b, staff


def ledger_sum(**lookups: object) -> int:
    """What the entries matching ``lookups`` hold, as a positive amount (credits are negative)."""
    return -int(Entry.objects.filter(**lookups).aggregate(total=Sum("amount_minor"))["total"] or 0)


def allocated_sum(**lookups: object) -> int:
    return ledger_sum(account__kind__in=["holder", "escrow"], transaction__kind__in=ALLOCATED, **lookups)


def pools_total(data, currency="USD") -> int:
    return sum(r.amount_minor for r in [*data.by_source_song, *data.by_training_holder] if r.currency == currency)


def escrow_total(data, currency="USD") -> int:
    return sum(r.amount_minor for r in data.escrow if r.currency == currency)


def test_without_filters_every_panel_equals_the_ledger(desk):
    data = dashboard(filters=DashboardFilters())
    by_kind = balances_by_kind()
    assert {t.currency: t.revenue for t in data.totals} == {"EUR": 300, "USD": 5058}
    assert [t.revenue for t in data.totals] == [by_kind[("revenue", c)] for c in ("EUR", "USD")]
    assert pools_total(data) == allocated_sum(currency="USD")
    assert escrow_total(data) == ledger_sum(account__kind="escrow", currency="USD") > 0
    assert sum(s.amount_minor for s in data.suspense) == ledger_sum(account__kind="suspense") == 303
    assert sum(p.amount_minor for p in data.payouts) == ledger_sum(account__kind="payable")


def test_the_period_filter_applies_to_statements_allocations_escrow_suspense_and_payouts(desk):
    world, _, source_b, (alice, bob) = desk
    november = DashboardFilters(period_from="2026-11", period_to="2026-11")
    data = dashboard(filters=november)
    assert [(r.key, r.units, r.revenue_minor) for r in data.by_period] == [("2026-11", 123, 1602)]
    assert data.by_period[0].revenue_minor == sum(
        LineGroup.objects.filter(period="2026-11").values_list("amount_minor", flat=True)
    )
    assert pools_total(data) == allocated_sum(period="2026-11", currency="USD") == 1400
    # B's 4.00: publishing of its source (33.5%) and the training pool without tokens (33%) are escrowed
    assert escrow_total(data) == ledger_sum(account__kind="escrow", period="2026-11") == 134 + 132
    assert [(s.reason, s.amount_minor) for s in data.suspense] == [
        ("unknown_isrc", ledger_sum(account__kind="suspense", period="2026-11"))
    ]
    assert data.payouts == []  # the only run is October's
    october = dashboard(filters=DashboardFilters(period_to="2026-10"))
    assert sum(p.amount_minor for p in october.payouts) == ledger_sum(account__kind="payable", period="2026-10")
    # a claim moves escrow with each entry's period: the filtered escrow still equals the ledger's
    claim = escrow_claim_create(
        recording_id=source_b.pk,
        side="publishing",
        holder_id=world.publisher.pk,
        evidence="ISWC T-123.456.789-0 registration",
        by_user_id=alice.pk,
    )
    escrow_claim_approve(claim_id=claim.pk, by_user_id=bob.pk)
    after = dashboard(filters=november)
    assert escrow_total(after) == ledger_sum(account__kind="escrow", period="2026-11") == 132
    assert ignored_filters(filters=november, panel="ledger") == ("period",)
    assert ignored_filters(filters=november, panel="escrow") == ()


def test_the_store_and_territory_filters_apply_to_statements_and_suspense_only(desk):
    everything = dashboard(filters=DashboardFilters())
    deezer = DashboardFilters(store="Deezer")
    data = dashboard(filters=deezer)
    assert {r.key for r in data.by_store} == {"Deezer"}
    assert sum(r.revenue_minor for r in data.by_store) == sum(
        LineGroup.objects.filter(store="Deezer").values_list("amount_minor", flat=True)
    )
    assert sum(s.amount_minor for s in data.suspense) == ledger_sum(
        account__kind="suspense", line_group__store="Deezer"
    )
    assert sum(s.amount_minor for s in data.suspense) == 202
    # allocations, escrow and balances have no store: unfiltered, and the panels say so
    assert (data.totals, data.escrow, data.owed) == (everything.totals, everything.escrow, everything.owed)
    assert pools_total(data) == pools_total(everything)
    for panel in ("ledger", "pools", "owed", "payouts", "escrow"):
        assert ignored_filters(filters=deezer, panel=panel) == ("store",)
    assert ignored_filters(filters=deezer, panel="suspense") == ()

    france = DashboardFilters(territory="FR")
    data = dashboard(filters=france)
    assert [(r.key, r.currency) for r in data.by_territory] == [("FR", "EUR"), ("FR", "USD")]
    assert sum(s.amount_minor for s in data.suspense) == ledger_sum(
        account__kind="suspense", line_group__territory="FR"
    )
    assert ignored_filters(filters=france, panel="escrow") == ("territory",)


def test_the_release_filter_applies_to_statements_allocations_and_escrow(desk):
    _, release_b, _, _ = desk
    only_b = DashboardFilters(release_id=release_b.pk)
    data = dashboard(filters=only_b)
    assert [(r.key, r.units, r.revenue_minor) for r in data.by_release] == [("QZS8F2600002", 60, 1200)]
    assert pools_total(data) == allocated_sum(release_id=release_b.pk) == 800 + 400
    assert escrow_total(data) == ledger_sum(account__kind="escrow", release_id=release_b.pk)
    assert {r.recording_id for r in data.escrow} == {desk[2].pk, None}
    # suspense lines have no release: the panel keeps them and says why
    assert sum(s.amount_minor for s in data.suspense) == ledger_sum(account__kind="suspense") == 303
    assert ignored_filters(filters=only_b, panel="suspense") == ("release",)


def test_the_currency_filter_applies_to_every_money_figure(desk):
    euro = DashboardFilters(currency="EUR")
    data = dashboard(filters=euro)
    by_kind = balances_by_kind()
    [eur] = data.totals
    assert (eur.currency, eur.revenue) == ("EUR", by_kind[("revenue", "EUR")]) == ("EUR", 300)
    assert eur.owed_to_holders == ledger_sum(account__kind="holder", currency="EUR")
    assert eur.payable == ledger_sum(account__kind="payable", currency="EUR")
    assert eur.accounted == eur.revenue
    assert {r.currency for r in data.by_period} == {"EUR"}
    assert {r.currency for r in [*data.by_source_song, *data.by_training_holder]} == {"EUR"}
    assert pools_total(data, "EUR") == allocated_sum(currency="EUR")
    # the trainer's 33% of 3.00 EUR is below the 1.00 minimum: carried forward, still owed
    assert [(o.holder, o.owed_minor, o.is_below_minimum) for o in liabilities(currency="EUR")] == [
        ("Trainer", 99, True)
    ]
    assert [o.currency for o in data.owed] == ["EUR"]
    assert sum(p.amount_minor for p in data.payouts) == ledger_sum(account__kind="payable", currency="EUR")
    assert data.suspense == []
    assert data.escrow == []
    assert all(ignored_filters(filters=euro, panel=panel) == () for panel in ("ledger", "owed", "escrow"))
    assert ignored_filters(filters=euro, panel="operations") == ("currency",)


def test_the_page_says_which_filters_a_panel_cannot_apply(desk, django_user_model):
    clerk = django_user_model.objects.create_user(username="clerk", password="x", is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_entry", content_type__app_label="royalties"))
    client = Client()
    client.force_login(clerk)
    html = client.get("/admin/royalties/dashboard/", {"store": "Deezer", "period_from": "2026-11"}).content.decode()
    assert 'data-panel="ledger">Not filtered by period, store: balances span every period' in html
    assert 'data-panel="escrow">Not filtered by store: escrow is credited and claimed per release' in html
    assert 'data-panel="suspense"' not in html
    plain = client.get("/admin/royalties/dashboard/").content.decode()
    assert "desk-note" not in plain.split("</style>")[1]


def test_manual_matches_waiting_for_review_are_counted_on_the_desk(db, django_user_model):
    from tests.uploads.conftest import encode, song, uploaded
    from uploads import services
    from uploads.models import Upload

    assert match_reviews_waiting() == [{"waiting": 0, "oldest_since": None}]
    artist = django_user_model.objects.create_user(username="artist", email="artist@example.com", password="x")
    EmailAddress.objects.create(user=artist, email=artist.email, verified=True, primary=True)
    upload_set = services.upload_set_create(owner_id=artist.pk, title="First album")
    upload = services.upload_add(
        upload_set_id=upload_set.pk, owner_id=artist.pk, file=uploaded("one.mp3", encode(song(1, 2.0), "mp3"))
    )
    Upload.objects.filter(pk=upload.pk).update(status="unmatched")  # identification found nothing
    claim = services.upload_match_claim(
        upload_id=upload.pk, recording_id=RecordingFactory.create().pk, owner_id=artist.pk
    )
    [row] = dashboard(filters=DashboardFilters()).operations["match_reviews"]
    assert row == {"waiting": 1, "oldest_since": claim.created_at.strftime("%Y-%m-%d %H:%M")}
