"""Accounting stories and properties: money is never created or lost, to the minor unit."""

import itertools
from fractions import Fraction

from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog.models import RecordingShare
from royalties import ledger
from royalties.allocation import suspense_reapply
from royalties.imports import rows_to_csv, statement_import
from royalties.models import Entry, LineGroup, Payout, Statement, Transaction
from royalties.payouts import payout_run_approve, payout_run_create, payout_run_pay
from royalties.selectors import balances_by_kind
from royalties.splits import split_sheet_create
from tests.factories import (
    RecordingFactory,
    RecordingShareFactory,
    ReleaseFactory,
    RightsHolderFactory,
    UserFactory,
)
from tests.royalties.conftest import line

_counter = itertools.count()


def conservation(currency: str) -> dict[str, int]:
    balances = balances_by_kind()

    def owed(kind: str) -> int:
        return -balances.get((kind, currency), 0)

    return {
        "revenue": balances.get(("revenue", currency), 0),
        "paid_and_payable": owed("paid") + owed("payable"),
        "carried": owed("holder"),
        "suspense": owed("suspense"),
        "escrow": owed("escrow"),
        "unallocated": owed("unallocated"),
        "carry": owed("carry"),
    }


def test_story_from_statement_to_paid_holders_ends_with_a_zero_trial_balance(world, statement_file, settings):
    settings.PAYOUT_MINIMUM_MINOR = 1000
    statement_import(
        path=statement_file(
            [
                line(revenue="12.345678"),
                line(revenue="7.654322", store="Apple"),
                line(isrc="QZS8F2688888", revenue="5.00"),
            ],
            name="q4.csv",
        )
    )
    run = payout_run_create(period="2026-10")
    payout_run_approve(run_id=run.pk, by_id=UserFactory.create().pk)
    state = conservation("USD")
    assert state == {
        "revenue": 2500,
        "paid_and_payable": 0,  # 670/670/660 are all under 10.00
        "carried": 2000,
        "suspense": 500,
        "escrow": 0,
        "unallocated": 0,
        "carry": 0,
    }
    assert ledger.check().totals == {"USD": 0}


rights_strategy = st.lists(
    st.lists(
        st.tuples(st.integers(0, 3), st.sampled_from(["master", "publishing"]), st.integers(1, 10_000)),
        max_size=3,
        unique_by=lambda t: (t[0], t[1]),
    ),
    min_size=3,
    max_size=3,
)
line_strategy = st.tuples(
    st.integers(0, 2),  # release index (2 = unknown ISRC)
    st.sampled_from(["2026-10", "2026-11"]),
    st.sampled_from(["Spotify", "Apple"]),
    st.sampled_from(["USD", "EUR", "JPY"]),
    st.integers(-50_000_000, 500_000_000),  # micro-units
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rights=rights_strategy,
    influence=st.lists(st.integers(0, 5), min_size=3, max_size=3),
    tokens=st.lists(st.integers(0, 1000), min_size=2, max_size=2),
    lines=st.lists(line_strategy, min_size=1, max_size=12),
    minimum=st.integers(0, 5000),
)
def test_payouts_carried_suspense_and_escrow_always_equal_revenue(
    db, tmp_path, settings, rights, influence, tokens, lines, minimum
):
    settings.PAYOUT_MINIMUM_MINOR = minimum
    with transaction.atomic():
        n = next(_counter)
        holders = [RightsHolderFactory.create(name=f"H{n}-{i}") for i in range(4)]
        recordings = [RecordingFactory.create() for _ in range(3)]
        for recording, shares in zip(recordings, rights, strict=True):
            for holder_index, side, bps in shares:
                RecordingShareFactory.create(
                    recording=recording, holder=holders[holder_index], side=side, share_bps=bps
                )
        releases = [ReleaseFactory.create(isrc=f"QZS8F27{n:03d}{i:02d}") for i in range(2)]
        for release in releases:
            split_sheet_create(
                release_id=release.pk,
                sources=[(r.pk, Fraction(w)) for r, w in zip(recordings, influence, strict=True)],
                training=[(recordings[0].pk, tokens[0]), (None, tokens[1])],
            )
        rows = [
            line(
                isrc=releases[i].isrc if i < 2 else "QZS8F2699999",
                period=period,
                store=store,
                currency=currency,
                revenue=f"{'-' if micro < 0 else ''}{abs(micro) // 1_000_000}.{abs(micro) % 1_000_000:06d}",
            )
            for i, period, store, currency, micro in lines
        ]
        path = tmp_path / f"s{n}.csv"
        path.write_text(rows_to_csv(rows))
        statement = statement_import(path=path).statement
        before = (Transaction.objects.count(), Entry.objects.count(), LineGroup.objects.count())
        assert not statement_import(path=path).is_created
        assert (Transaction.objects.count(), Entry.objects.count(), LineGroup.objects.count()) == before

        approver = UserFactory.create()
        for period in ("2026-10", "2026-11"):
            run = payout_run_create(period=period)
            payout_run_approve(run_id=run.pk, by_id=approver.pk)
            payout_run_pay(run_id=run.pk, by_id=approver.pk, payment_reference=f"BATCH-{n}-{period}")
            assert all(p.amount_minor >= max(minimum, 1) for p in Payout.objects.filter(run=run))

        for currency, totals in statement.totals.items():
            state = conservation(currency)
            assert state["revenue"] == totals["minor"]
            assert state["unallocated"] == 0
            assert (
                state["paid_and_payable"] + state["carried"] + state["suspense"] + state["escrow"] + state["carry"]
                == state["revenue"]
            ), state
            expected_micro = sum(m for i, p, s, c, m in lines if c == currency)
            assert totals["micro"] == expected_micro
        assert ledger.check().is_balanced
        transaction.set_rollback(True)
    assert Statement.objects.count() == 0


def test_reapplied_suspense_keeps_conservation(world, statement_file):
    statement_import(path=statement_file([line(isrc="QZS8F2677777", revenue="9.99")]))
    release = ReleaseFactory.create(isrc="QZS8F2677777")
    recording = RecordingFactory.create()
    RecordingShareFactory.create(
        recording=recording, holder=world.label, side=RecordingShare.Side.MASTER, share_bps=10_000
    )
    split_sheet_create(release_id=release.pk, sources=[(recording.pk, Fraction(1))], training=[(recording.pk, 1)])
    suspense_reapply()
    state = conservation("USD")
    assert state["suspense"] == 0
    # 999 cents split 499.5 / 499.5: each holder is posted 499 and carries half a cent; the carry account holds 1
    assert (state["carried"], state["escrow"], state["carry"]) == (499, 499, 1)
    assert state["carried"] + state["escrow"] + state["carry"] == state["revenue"] == 999
    assert ledger.check().is_balanced
