"""Reversals take back the carries a posting moved: a reversed statement leaves every carry as if never imported.

Runs on SQLite and (DATABASE_URL) PostgreSQL, like the rest of tests/royalties.
"""

import itertools
import random

import pytest
from django.db import transaction
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from royalties import ledger
from royalties.errors import LedgerError
from royalties.imports import statement_import, statement_reverse
from royalties.models import Account, Carry, CarryMove, Entry, Transaction
from royalties.selectors import holder_balance
from tests.factories import ReleaseFactory, RightsHolderFactory
from tests.royalties.conftest import line
from tests.royalties.test_carry import lines_strategy, make_sheet, micro_text, ppb_splits, write

_counter = itertools.count()

CarryState = dict[tuple[str, str, int | None], tuple[int, int]]


def carries() -> CarryState:
    """Every non-zero carry, keyed by (kind, currency, holder) so runs with other account ids compare."""
    return {
        (c.account.kind, c.account.currency, c.account.holder_id): (c.posted_minor, c.remainder)
        for c in Carry.objects.select_related("account")
        if (c.posted_minor, c.remainder) != (0, 0)
    }


def balances() -> dict[tuple[str, str, int | None], int]:
    """Every account's ledger balance except the carry account, keyed like ``carries``."""
    totals: dict[tuple[str, str, int | None], int] = {}
    for entry in Entry.objects.select_related("account").exclude(account__kind=Account.Kind.CARRY):
        key = (entry.account.kind, entry.account.currency, entry.account.holder_id)
        totals[key] = totals.get(key, 0) + entry.amount_minor
    return {key: total for key, total in totals.items() if total != 0}


def holders_of(world):
    return (world.label, world.publisher, world.trainer)


def test_reversing_the_latest_statement_mirrors_it_and_restores_every_carry(world, tmp_path):
    statement_import(path=write(tmp_path, [line(revenue="0.035", period="2026-10")]))
    before_carries, before_balances = carries(), balances()
    november = statement_import(path=write(tmp_path, [line(revenue="0.045", period="2026-11")])).statement
    assert carries() != before_carries

    reversals = statement_reverse(statement_id=november.pk)

    assert [r.kind for r in reversals] == [Transaction.Kind.REVERSAL] * 2
    for reversal in reversals:  # nothing came after November: each reversal is the exact mirror image
        original = reversal.reverses
        assert original is not None
        mirrored = sorted((e.account_id, -e.amount_minor, e.period, e.release_id) for e in original.entries.all())
        assert sorted((e.account_id, e.amount_minor, e.period, e.release_id) for e in reversal.entries.all()) == (
            mirrored
        )
    assert carries() == before_carries
    assert balances() == before_balances
    assert ledger.check().is_balanced


def test_reversing_an_earlier_statement_leaves_carries_as_if_it_was_never_imported(world, tmp_path):
    """October 0.035 then November 0.045, October reversed: the same as November alone (1 cent each of 1.5)."""

    def run(*, with_october: bool) -> tuple[CarryState, dict[tuple[str, str, int | None], int], list[int]]:
        sid = transaction.savepoint()
        october = statement_import(path=write(tmp_path, [line(revenue="0.035", period="2026-10")])).statement
        if not with_october:
            ledger_state = (carries(), balances())
            assert ledger_state != ({}, {})
            transaction.savepoint_rollback(sid)
            sid = transaction.savepoint()
        statement_import(path=write(tmp_path, [line(revenue="0.045", period="2026-11")]))
        if with_october:
            statement_reverse(statement_id=october.pk)
        result = (carries(), balances(), [holder_balance(holder_id=h.pk, currency="USD") for h in holders_of(world)])
        check = ledger.check()
        assert check.is_balanced, check
        transaction.savepoint_rollback(sid)
        return result

    november_only = run(with_october=False)
    assert november_only[2] == [1, 1, 1]  # exact 1.5075, 1.5075 and 1.485 cents
    assert run(with_october=True) == november_only


def test_a_sub_cent_statement_that_posted_nothing_is_reversed_by_its_carries(world, tmp_path):
    tiny = statement_import(path=write(tmp_path, [line(revenue="0.006", period="2026-10")])).statement
    # 0.6 cent of revenue, 0.201 cent per holder: no whole cent anywhere, so no transaction, only carries.
    assert Transaction.objects.filter(statement=tiny).count() == 0
    assert CarryMove.objects.filter(statement=tiny).count() == 4  # revenue and three holders
    statement_import(path=write(tmp_path, [line(revenue="0.006", period="2026-10", store="Apple")]))
    assert Carry.objects.get(account__kind=Account.Kind.REVENUE).posted_minor == 1  # 1.2 cents together

    (reversal,) = statement_reverse(statement_id=tiny.pk)

    # Only the second 0.006 is left: 0.6 cent carried on revenue, no whole cent posted on any account.
    revenue = Carry.objects.get(account__kind=Account.Kind.REVENUE)
    assert (revenue.posted_minor, revenue.remainder) == (0, 6 * 10**12)
    assert sorted((e.account.kind, e.amount_minor) for e in reversal.entries.select_related("account")) == [
        (Account.Kind.CARRY, 1),
        (Account.Kind.REVENUE, -1),
    ]
    assert balances() == {}
    assert ledger.check().is_balanced


def test_a_statement_is_reversed_once(world, tmp_path):
    statement = statement_import(path=write(tmp_path, [line(revenue="12.34")])).statement
    first = statement_reverse(statement_id=statement.pk)
    state = (Transaction.objects.count(), Entry.objects.count(), carries(), CarryMove.objects.count())
    assert statement_reverse(statement_id=statement.pk) == first
    assert (Transaction.objects.count(), Entry.objects.count(), carries(), CarryMove.objects.count()) == state


def test_a_transaction_cannot_be_reversed_twice_under_another_key(world, tmp_path):
    statement = statement_import(path=write(tmp_path, [line(revenue="12.34")])).statement
    allocation = Transaction.objects.get(statement=statement, kind=Transaction.Kind.ALLOCATION)
    reversal = ledger.reverse(transaction_id=allocation.pk, idempotency_key="undo-1")
    state = (Transaction.objects.count(), Entry.objects.count(), carries(), CarryMove.objects.count())
    assert ledger.reverse(transaction_id=allocation.pk, idempotency_key="undo-1") == reversal
    with pytest.raises(LedgerError, match="already reversed"):
        ledger.reverse(transaction_id=allocation.pk, idempotency_key="undo-2")
    assert (Transaction.objects.count(), Entry.objects.count(), carries(), CarryMove.objects.count()) == state


def test_reversing_a_reversal_restores_the_original_carries(world, tmp_path):
    statement_import(path=write(tmp_path, [line(revenue="0.035")]))
    allocation = Transaction.objects.get(kind=Transaction.Kind.ALLOCATION)
    state = (carries(), balances())
    reversal = ledger.reverse(transaction_id=allocation.pk, idempotency_key="undo")
    ledger.reverse(transaction_id=reversal.pk, idempotency_key="redo")
    assert (carries(), balances()) == state
    assert ledger.check().is_balanced


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    splits=st.lists(ppb_splits, min_size=2, max_size=2),
    lines=lines_strategy,
    seed=st.integers(0, 2**32),
    cuts=st.lists(st.integers(0, 16), min_size=1, max_size=3),
    which=st.integers(0, 3),
)
def test_any_reversed_statement_leaves_every_carry_and_balance_as_if_never_imported(
    db, tmp_path, splits, lines, seed, cuts, which
):
    """Random sheets and lines cut into statements: importing all and reversing one equals importing the others."""
    with transaction.atomic():
        n = next(_counter)
        holders = [RightsHolderFactory.create(name=f"R{n}-{i}") for i in range(4)]
        releases = [ReleaseFactory.create(isrc=f"QZS8F27{n:03d}{i:02d}") for i in range(2)]
        for release, split in zip(releases, splits, strict=True):
            make_sheet(release, list(zip(holders, split, strict=False)))
        rows = [
            line(
                isrc=releases[i].isrc if i < 2 else "QZS8F2799999",
                period=period,
                store=store,
                territory=territory,
                currency=currency,
                revenue=micro_text(micro),
            )
            for i, period, store, territory, currency, micro in lines
        ]
        rng = random.Random(seed)
        rng.shuffle(rows)
        positions = sorted({min(c, len(rows)) for c in cuts})
        pieces = [p for p in (rows[a:b] for a, b in zip([0, *positions], [*positions, len(rows)], strict=True)) if p]
        # Two pieces with the same rows are one statement by content (the second import is the first
        # one again), so "importing the others" would not be the same thing: such draws are skipped.
        assume(len({tuple(sorted(map(repr, piece))) for piece in pieces}) == len(pieces))
        reversed_piece = which % len(pieces)

        def run(*, reverse: bool) -> tuple[CarryState, dict[tuple[str, str, int | None], int]]:
            sid = transaction.savepoint()
            for index, piece in enumerate(pieces):
                if index == reversed_piece and not reverse:
                    continue
                statement = statement_import(path=write(tmp_path, piece), accept_overlap=True).statement
                if index == reversed_piece:
                    target = statement
            if reverse:
                statement_reverse(statement_id=target.pk)
            result = (carries(), balances())
            check = ledger.check()
            assert check.is_balanced, check
            transaction.savepoint_rollback(sid)
            return result

        assert run(reverse=True) == run(reverse=False)
        transaction.set_rollback(True)


def test_the_worked_example_of_the_docs(db, tmp_path):
    """docs/royalties.md: A 50%, B 30%, C 20%; October 0.035, November 0.045, October reversed."""
    a, b, c = (RightsHolderFactory.create(name=name) for name in "ABC")
    release = ReleaseFactory.create(isrc="QZS8F2600042")
    make_sheet(release, [(a, 500_000_000), (b, 300_000_000), (c, 200_000_000)])
    october = statement_import(
        path=write(tmp_path, [line(isrc=release.isrc, revenue="0.035", period="2026-10")])
    ).statement
    statement_import(path=write(tmp_path, [line(isrc=release.isrc, revenue="0.045", period="2026-11")]))
    assert [holder_balance(holder_id=h.pk, currency="USD") for h in (a, b, c)] == [4, 2, 1]

    statement_reverse(statement_id=october.pk)

    assert [holder_balance(holder_id=h.pk, currency="USD") for h in (a, b, c)] == [2, 1, 0]
    cent = 10**13
    assert [
        (carry.posted_minor, carry.remainder) for carry in (Carry.objects.get(account__holder=h) for h in (a, b, c))
    ] == [
        (2, cent // 4),
        (1, 35 * cent // 100),
        (0, 90 * cent // 100),
    ]
    revenue = Carry.objects.get(account__kind=Account.Kind.REVENUE)
    assert (revenue.posted_minor, revenue.remainder) == (4, cent // 2)
    assert ledger.check().is_balanced
