"""Exact money at any size, and the carry rule: rounding moves nothing between holders, releases or periods.

Each numbered case reproduces a finding of the money-exactness report; the property
tests prove the rule over random statements, split sheets, orderings and statement
sequences. Everything here runs on SQLite and (CI, DATABASE_URL) PostgreSQL.
"""

import itertools
import random
from fractions import Fraction
from pathlib import Path

import pytest
from django.db import transaction
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from royalties import ledger
from royalties.allocation import suspense_reapply
from royalties.carry import trunc_div, units_per_minor
from royalties.imports import rows_to_csv, statement_import
from royalties.models import Account, Carry, Entry, SplitSheet, SplitSheetLine
from royalties.money import PPB, micro_per_minor
from royalties.selectors import balances_by_kind, holder_balance
from tests.factories import ReleaseFactory, RightsHolderFactory
from tests.royalties.conftest import line

_counter = itertools.count()


def make_sheet(release, shares):
    """A split sheet with these (holder, ppb) lines (shares sum to 10⁹)."""
    sheet = SplitSheet.objects.create(
        release=release, source_share_bps=6700, master_share_bps=5000, influence_split="equal", inputs={}
    )
    for holder, ppb in shares:
        SplitSheetLine.objects.create(sheet=sheet, holder=holder, ppb=ppb, pool="source", provenance=[])
    return sheet


def micro_text(micro: int) -> str:
    return f"{'-' if micro < 0 else ''}{abs(micro) // 1_000_000}.{abs(micro) % 1_000_000:06d}"


def write(tmp_path: Path, rows, name=None) -> Path:
    path = tmp_path / (name or f"s{next(_counter)}.csv")
    path.write_text(rows_to_csv(rows))
    return path


def release_total(release, currency="USD") -> int:
    """What the holders of a release were posted (credit balance of holder and escrow entries)."""
    total = Entry.objects.filter(
        release=release, account__kind__in=[Account.Kind.HOLDER, Account.Kind.ESCROW], currency=currency
    ).aggregate(t=Sum("amount_minor"))["t"]
    return -int(total or 0)


def balance(kind: str, currency: str = "USD") -> int:
    return -balances_by_kind().get((kind, currency), 0)


# --- 1. large amounts ---------------------------------------------------------------------------


def test_a_line_of_300_million_idr_is_allocated_exactly(world, tmp_path):
    statement_import(path=write(tmp_path, [line(revenue="300000000", currency="IDR")]))
    assert holder_balance(holder_id=world.label.pk, currency="IDR") == 10_050_000_000  # 33.5% of 3·10¹⁰ minor
    assert holder_balance(holder_id=world.trainer.pk, currency="IDR") == 9_900_000_000
    assert ledger.check().is_balanced


def test_a_billion_dollars_and_30_billion_dong_are_allocated_exactly(world, tmp_path):
    statement_import(path=write(tmp_path, [line(revenue="1000000000.00"), line(revenue="30000000000", currency="VND")]))
    assert holder_balance(holder_id=world.label.pk, currency="USD") == 33_500_000_000
    assert holder_balance(holder_id=world.label.pk, currency="VND") == 10_050_000_000
    assert ledger.check().is_balanced


def test_a_statement_past_2_63_micro_units_stays_exact(world, tmp_path):
    rows = [line(revenue="999999999999.999999", currency="VND", store=f"S{i}") for i in range(30)]
    statement = statement_import(path=write(tmp_path, rows)).statement
    exact_micro = 30 * 999_999_999_999_999_999
    assert exact_micro > 2**63
    assert statement.totals["VND"]["micro"] == exact_micro
    assert statement.totals["VND"]["minor"] == 29_999_999_999_999
    # 33.5% of 29,999,999,999,999.99997 VND, rounded toward zero
    assert holder_balance(holder_id=world.label.pk, currency="VND") == 10_049_999_999_999
    check = ledger.check()
    assert check.is_balanced
    assert check.non_integer == []


def test_a_line_over_the_per_line_maximum_is_refused_with_its_line(world, tmp_path):
    from royalties.errors import StatementInvalid

    path = write(tmp_path, [line(), line(revenue="1000000000000.00", store="Apple")])
    with pytest.raises(StatementInvalid) as error:
        statement_import(path=path)
    assert (error.value.extra["line"], error.value.extra["column"]) == (3, "net_revenue")
    assert Entry.objects.count() == 0


# --- 2. rounding moves nothing ------------------------------------------------------------------


def two_releases(world):
    other = ReleaseFactory.create(isrc="QZS8F2600002")
    make_sheet(other, [(world.label, PPB)])
    return world.release, other


def test_tiny_lines_for_two_releases_pay_each_release_its_exact_share(world, tmp_path):
    release_a, release_b = two_releases(world)
    rows = [line(revenue="0.004", store=f"S{i}") for i in range(500)]
    rows += [line(isrc=release_b.isrc, revenue="0.004", store=f"S{i}") for i in range(500)]
    statement_import(path=write(tmp_path, rows))
    assert (release_total(release_a), release_total(release_b)) == (200, 200)


def test_unknown_isrcs_first_do_not_take_the_releases_money(world, tmp_path):
    rows = [line(isrc="QZS8F2699999", revenue="0.004", store=f"S{i}") for i in range(500)]
    rows += [line(revenue="0.004", store=f"S{i}") for i in range(500)]
    statement_import(path=write(tmp_path, rows))
    assert (balance("suspense"), release_total(world.release)) == (200, 200)


def test_a_long_tail_pays_every_holder_its_exact_share_rounded_toward_zero(world, tmp_path):
    release_a, release_b = two_releases(world)
    rng = random.Random(3)
    rows = [
        line(
            isrc=rng.choice([release_a.isrc, release_b.isrc]),
            revenue=micro_text(rng.randint(1, 3) * 3_967),
            store=f"S{i}",
            territory=rng.choice(["DE", "US", "FR"]),
        )
        for i in range(2_000)
    ]
    statement_import(path=write(tmp_path, rows))
    exact = exact_holder_micro(rows, {release_a.isrc: sheet_of(release_a), release_b.isrc: sheet_of(release_b)})
    for holder_id, micro_ppb in exact.items():
        assert holder_balance(holder_id=holder_id, currency="USD") == trunc_div(micro_ppb, units_per_minor("USD"))


def test_a_hundred_thousand_micro_lines_over_two_periods_post_each_period(world, tmp_path):
    rows = [
        line(revenue="0.000001", store=f"S{i % 50_000}", period=period)
        for period in ("2026-10", "2026-11")
        for i in range(50_000)
    ]
    statement_import(path=write(tmp_path, rows))
    revenue = dict(
        Entry.objects.filter(account__kind=Account.Kind.REVENUE).values_list("period").annotate(t=Sum("amount_minor"))
    )
    assert revenue == {"2026-10": 5, "2026-11": 5}
    assert holder_balance(holder_id=world.label.pk, currency="USD") == 3  # exact 3.35


def test_sub_cent_leftovers_are_carried_into_later_statements(world, tmp_path):
    for month in ("2026-10", "2026-11", "2026-12"):
        statement_import(path=write(tmp_path, [line(revenue="0.009", period=month)]))
    assert balance("revenue", "USD") == -2  # 2.7 cents received: 2 posted, 0.7 carried
    revenue_carry = Carry.objects.get(account__kind=Account.Kind.REVENUE)
    assert (revenue_carry.posted_minor, revenue_carry.remainder) == (2, 7 * units_per_minor("USD") // 10)
    assert ledger.check().is_balanced


def test_a_refund_never_debits_more_than_refunded_and_a_mirror_takes_back_exactly(world, tmp_path):
    statement_import(path=write(tmp_path, [line(revenue="-0.79", period="2026-10")]))
    # exact debits: 26.465, 26.465 and 26.07 cents
    assert [holder_balance(holder_id=h.pk, currency="USD") for h in (world.label, world.publisher, world.trainer)] == [
        -26,
        -26,
        -26,
    ]
    statement_import(path=write(tmp_path, [line(revenue="0.79", period="2026-11")]))
    assert [holder_balance(holder_id=h.pk, currency="USD") for h in (world.label, world.publisher, world.trainer)] == [
        0,
        0,
        0,
    ]
    assert balance("carry") == 0
    assert ledger.check().is_balanced


def test_suspense_reapplied_later_pays_the_exact_share(world, tmp_path):
    rows = [line(isrc="QZS8F2677777", revenue="0.003", store=f"S{i}") for i in range(7)]
    statement_import(path=write(tmp_path, rows))
    assert balance("suspense") == 2  # 2.1 cents
    release = ReleaseFactory.create(isrc="QZS8F2677777")
    make_sheet(release, [(world.label, 600_000_000), (world.trainer, 400_000_000)])
    assert suspense_reapply().reapplied == 7
    assert balance("suspense") == 0
    assert holder_balance(holder_id=world.label.pk, currency="USD") == 1  # exact 1.26
    assert holder_balance(holder_id=world.trainer.pk, currency="USD") == 0  # exact 0.84
    assert balance("carry") == 1
    assert ledger.check().is_balanced


# --- properties ---------------------------------------------------------------------------------


def sheet_of(release):
    return list(release.split_sheet.lines.values_list("holder_id", "ppb"))


def exact_holder_micro(rows, sheets) -> dict[int, int]:
    """Each holder's exact amount in micro-units × ppb, straight from the lines."""
    exact: dict[int, int] = {}
    for row in rows:
        micro = int(Fraction(row["net_revenue"]) * 1_000_000)
        for holder_id, ppb in sheets.get(row["isrc"], []):
            exact[holder_id] = exact.get(holder_id, 0) + micro * ppb
    return exact


ppb_splits = st.lists(st.integers(1, 1000), min_size=1, max_size=4).map(
    lambda weights: (
        [PPB * w // sum(weights) for w in weights[:-1]] + [PPB - sum(PPB * w // sum(weights) for w in weights[:-1])]
    )
)
amounts = st.one_of(
    st.integers(-20_000, 60_000),  # sub-cent to a few cents
    st.integers(-(10**12), 10**13),
    st.just(100_000_000_000_000_003),  # 10¹¹ major units: 16 such lines in one group stay below 2⁶³
)
lines_strategy = st.lists(
    st.tuples(
        st.integers(0, 2),  # release index (2 = unknown ISRC)
        st.sampled_from(["2026-10", "2026-11"]),
        st.sampled_from(["Spotify", "Apple", "Deezer"]),
        st.sampled_from(["DE", "US"]),
        st.sampled_from(["USD", "JPY", "KWD"]),
        amounts,
    ),
    min_size=1,
    max_size=16,
)


def balances_of(holders, currencies) -> dict[tuple[int, str], int]:
    return {(h.pk, c): holder_balance(holder_id=h.pk, currency=c) for h in holders for c in currencies}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    splits=st.lists(ppb_splits, min_size=2, max_size=2),
    lines=lines_strategy,
    seed=st.integers(0, 2**32),
    cuts=st.lists(st.integers(0, 16), max_size=3),
)
def test_each_holder_gets_its_exact_total_rounded_toward_zero_whatever_the_order(
    db, tmp_path, splits, lines, seed, cuts
):
    """Random split sheets and lines, imported (a) in one file, (b) shuffled, (c) cut into several statements
    imported in random order: every holder ends with trunc(exact) in each currency, identical in (a), (b), (c)."""
    with transaction.atomic():
        n = next(_counter)
        holders = [RightsHolderFactory.create(name=f"P{n}-{i}") for i in range(4)]
        releases = [ReleaseFactory.create(isrc=f"QZS8F28{n:03d}{i:02d}") for i in range(2)]
        for release, split in zip(releases, splits, strict=True):
            make_sheet(release, list(zip(holders, split, strict=False)))
        rows = [
            line(
                isrc=releases[i].isrc if i < 2 else "QZS8F2899999",
                period=period,
                store=store,
                territory=territory,
                currency=currency,
                revenue=micro_text(micro),
            )
            for i, period, store, territory, currency, micro in lines
        ]
        currencies = sorted({row["currency"] for row in rows})
        sheets = {release.isrc: sheet_of(release) for release in releases}
        rng = random.Random(seed)

        def run(batches) -> dict[tuple[int, str], int]:
            sid = transaction.savepoint()
            for batch in batches:
                if batch:  # pieces of one statement repeat its keys: staff accept them as corrections
                    statement_import(path=write(tmp_path, batch), accept_overlap=True)
            result = balances_of(holders, currencies)
            check = ledger.check()
            assert check.is_balanced, check
            transaction.savepoint_rollback(sid)
            return result

        one_file = run([rows])
        shuffled = rows[:]
        rng.shuffle(shuffled)
        positions = sorted({min(c, len(rows)) for c in cuts})
        pieces = [shuffled[a:b] for a, b in zip([0, *positions], [*positions, len(rows)], strict=True)]
        rng.shuffle(pieces)
        assert run([shuffled]) == one_file
        assert run(pieces) == one_file
        for currency in currencies:
            exact = exact_holder_micro([r for r in rows if r["currency"] == currency], sheets)
            for holder in holders:
                expected = trunc_div(exact.get(holder.pk, 0), units_per_minor(currency))
                assert one_file[(holder.pk, currency)] == expected
                # within one minor unit of the exact share, never beyond it
                assert abs(Fraction(exact.get(holder.pk, 0), units_per_minor(currency)) - expected) < 1
        transaction.set_rollback(True)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(split=ppb_splits, lines=lines_strategy)
def test_a_refund_statement_that_mirrors_revenue_brings_every_account_back_to_zero(db, tmp_path, split, lines):
    with transaction.atomic():
        n = next(_counter)
        holders = [RightsHolderFactory.create(name=f"M{n}-{i}") for i in range(4)]
        release = ReleaseFactory.create(isrc=f"QZS8F29{n:03d}00")
        make_sheet(release, list(zip(holders, split, strict=False)))
        rows = [
            line(isrc=release.isrc, period=p, store=s, territory=t, currency=c, revenue=micro_text(m))
            for _, p, s, t, c, m in lines
        ]
        mirror = [{**row, "net_revenue": micro_text(-int(Fraction(row["net_revenue"]) * 1_000_000))} for row in rows]
        statement_import(path=write(tmp_path, rows))
        alone = balances_of(holders, {r["currency"] for r in rows})
        alone_by_holder = {(next(h for h in holders if h.pk == pk), c): v for (pk, c), v in alone.items()}
        statement_import(path=write(tmp_path, mirror), accept_overlap=True)
        assert set(balances_of(holders, {r["currency"] for r in rows}).values()) == {0}
        assert all(c.posted_minor == 0 and c.remainder == 0 for c in Carry.objects.all())
        transaction.set_rollback(True)
    with transaction.atomic():  # the refund alone is the exact mirror of the revenue alone
        holders_again = [RightsHolderFactory.create(name=f"N{n}-{i}") for i in range(4)]
        release = ReleaseFactory.create(isrc=f"QZS8F29{n:03d}01")
        make_sheet(release, list(zip(holders_again, split, strict=False)))
        statement_import(path=write(tmp_path, [{**row, "isrc": release.isrc} for row in mirror]))
        refund_alone = balances_of(holders_again, {r["currency"] for r in rows})
        renamed = {(holders_again[holders.index(h)].pk, c): -v for (h, c), v in alone_by_holder.items()}
        assert refund_alone == renamed
        transaction.set_rollback(True)


def test_units_per_minor_follow_the_currency_exponent():
    assert units_per_minor("USD") == PPB * micro_per_minor("USD") == 10**13
    assert units_per_minor("JPY") == 10**15
    assert units_per_minor("KWD") == 10**12
    assert (trunc_div(-7, 2), trunc_div(7, 2), trunc_div(-1, 10), trunc_div(0, 3)) == (-3, 3, 0, 0)
