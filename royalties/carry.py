"""The carry rule: exact shares, whole minor units in the ledger, nothing moved between holders.

Every amount is first computed exactly, in *exact units* of 10⁻¹⁵ of the major unit
(micro-units × parts per billion): a statement group of ``m`` micro-units gives the
holder of ``p`` ppb exactly ``m × p`` exact units, revenue ``m × 10⁹``. One minor unit
is ``units_per_minor(currency)`` exact units (10¹³ for USD, 10¹⁵ for JPY).

Each ledger account subject to the rule (revenue, suspense, every holder and escrow
account) keeps a ``Carry`` row: the exact cumulative amount it has received,
``E = posted_minor × D + remainder``. The ledger always holds::

    posted_minor = trunc(E / D)          (rounded toward zero)

so when a new amount ``x`` arrives, the account is posted
``trunc((E + x) / D) − trunc(E / D)`` minor units and the carry becomes ``E + x``.
Consequences, proved by ``tests/royalties/test_carry.py``:

* every holder's posted total is its exact total rounded toward zero: within one
  minor unit, never more than earned and never debited more than refunded;
* the posted total depends only on the sum of the amounts, so neither the order of
  lines in a file, nor the order of statements, nor how lines are grouped changes
  anyone's money; a refund that mirrors earlier revenue takes back exactly what it
  paid (``trunc(−x) = −trunc(x)``);
* nothing disappears: each posting also has one leg on the ``carry`` account that
  balances it, so the ledger still sums to zero, and the ``carry`` account's balance
  is the whole minor units of everyone's remainders (revenue's remainder minus
  holders' and suspense's remainders), never more than one minor unit per account.

Within one posting an account may get several entries (one per release and period,
for traceability): the amounts are sorted by a stable key and posted with a running
carry, so each entry is ``trunc(running E after) − trunc(running E before)`` and
the entries add up to the account's change exactly.

Callers hold the currency's lock (``lock_currency``) while they read and write
carries, so concurrent imports and re-applications of one currency serialise.

**Reversal.** Every posting records, per account, the exact amount it moved
(``CarryMove``, keyed by the posting's idempotency key, even when it moved less than a
minor unit and wrote no ledger transaction). ``reverse_moves`` applies the negated
amounts under the same rule, so after a reversal every account's exact total is the sum
of the postings that remain: each carry (posted minor units and remainder) is exactly
what it would be had the reversed posting never happened, whatever came after it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import NamedTuple

from django.utils import timezone

from royalties.models import Account, Carry, CarryMove
from royalties.money import PPB, micro_per_minor


def units_per_minor(currency: str) -> int:
    """Exact units (10⁻¹⁵ of the major unit) per minor unit: 10¹³ for USD."""
    return PPB * micro_per_minor(currency)


def trunc_div(amount: int, divisor: int) -> int:
    """Integer division rounded toward zero (Python's ``//`` rounds toward −∞)."""
    quotient = abs(amount) // divisor
    return quotient if amount >= 0 else -quotient


def exact_of(carry: Carry | None, currency: str) -> int:
    if carry is None:
        return 0
    return carry.posted_minor * units_per_minor(currency) + carry.remainder


def lock_currency(*, currency: str) -> None:
    """Serialise carry updates of one currency: lock the revenue account's carry row.

    Precondition: inside ``transaction.atomic``.
    """
    account, _ = Account.objects.get_or_create(kind=Account.Kind.REVENUE, currency=currency, holder=None)
    Carry.objects.get_or_create(account=account)
    Carry.objects.select_for_update().get(account=account)


class Share(NamedTuple):
    """An exact amount arriving on an account; ``key`` orders the account's entries (and carries their labels).

    A named tuple rather than a dataclass: an allocation builds one per holder, release and period (400,000 for
    a large statement), and a tuple is built several times faster.
    """

    account_id: int
    key: tuple[Hashable, ...]
    exact: int


def _share_key(share: Share) -> tuple[Hashable, ...]:
    return share.key


def entry_sign(kind: str) -> int:
    """Ledger sign of an amount in the account's natural sign: revenue is a debit, the others credits."""
    return 1 if kind == Account.Kind.REVENUE else -1


def split_exact(exact: int, currency: str) -> tuple[int, int]:
    """(whole minor units truncated toward zero, remainder of the same sign)."""
    divisor = units_per_minor(currency)
    minor = trunc_div(exact, divisor)
    return minor, exact - minor * divisor


def post_amounts(
    *, currency: str, shares: Iterable[Share], posting_key: str, statement_id: int | None = None
) -> list[tuple[Share, int]]:
    """Apply the carry rule to ``shares``; returns (share, minor units to post) and saves the carries.

    Each account's exact total of ``shares`` is recorded as a ``CarryMove`` of
    ``posting_key`` (the idempotency key of the posting the caller makes), for reversal.
    Precondition: the caller holds ``lock_currency(currency)`` and posts the returned
    amounts in the same database transaction; ``posting_key`` has not moved these
    accounts before. Amounts are in the account's natural sign (positive = the account
    receives); zero amounts are returned too.
    """
    divisor = units_per_minor(currency)
    by_account: dict[int, list[Share]] = defaultdict(list)
    for share in shares:
        by_account[share.account_id].append(share)
    carries = {c.account_id: c for c in Carry.objects.filter(account_id__in=list(by_account))}
    result: list[tuple[Share, int]] = []
    changed: list[Carry] = []
    created: list[Carry] = []
    moves: list[CarryMove] = []
    now = timezone.now()
    for account_id in sorted(by_account):
        carry = carries.get(account_id)
        running = exact_of(carry, currency)
        account_shares = by_account[account_id]
        account_shares.sort(key=_share_key)
        moved = 0
        posted_before = trunc_div(running, divisor)
        for share in account_shares:
            running += share.exact
            moved += share.exact
            # trunc_div inlined (this loop runs once per holder, release and period of a statement)
            posted_after = running // divisor if running >= 0 else -(-running // divisor)
            result.append((share, posted_after - posted_before))
            posted_before = posted_after
        if moved != 0:
            moved_minor, moved_remainder = split_exact(moved, currency)
            moves.append(
                CarryMove(
                    posting_key=posting_key,
                    account_id=account_id,
                    statement_id=statement_id,
                    moved_minor=moved_minor,
                    moved_remainder=moved_remainder,
                )
            )
        posted = posted_before
        if carry is None:
            created.append(Carry(account_id=account_id, posted_minor=posted, remainder=running - posted * divisor))
        else:
            carry.posted_minor, carry.remainder, carry.updated_at = posted, running - posted * divisor, now
            changed.append(carry)
    Carry.objects.bulk_create(created)
    Carry.objects.bulk_update(changed, ["posted_minor", "remainder", "updated_at"])
    CarryMove.objects.bulk_create(moves)
    return result


@dataclass(frozen=True)
class Reversed:
    """One account's part of a reversal: the minor units to post, in the ledger's sign (debit positive)."""

    account_id: int
    currency: str
    kind: str
    entry_minor: int


def move_currencies(*, posting_key: str) -> list[str]:
    """The currencies whose carries ``posting_key`` moved (lock them, sorted, before ``reverse_moves``)."""
    return sorted(set(CarryMove.objects.filter(posting_key=posting_key).values_list("account__currency", flat=True)))


def reverse_moves(*, posting_key: str, reversal_key: str, statement_id: int | None) -> list[Reversed]:
    """Take back exactly what ``posting_key`` moved on every account's carry, under the carry rule.

    The negated amounts are recorded as the moves of ``reversal_key`` (so a reversal can be
    reversed). Returns, per account, what the ledger must post so it holds ``trunc(E / D)``
    again: the mirror image of the original posting when nothing came after it, otherwise
    up to a minor unit more or less (the remainders of later postings).
    Precondition: the caller holds ``lock_currency`` of every ``move_currencies(posting_key)``
    and posts the result in the same database transaction; ``reversal_key`` is new.
    """
    moves = list(CarryMove.objects.filter(posting_key=posting_key).select_related("account").order_by("account_id"))
    result: list[Reversed] = []
    for currency in sorted({move.account.currency for move in moves}):
        divisor = units_per_minor(currency)
        kinds = {move.account_id: move.account.kind for move in moves if move.account.currency == currency}
        shares = [
            Share(move.account_id, (0,), -(move.moved_minor * divisor + move.moved_remainder))
            for move in moves
            if move.account.currency == currency
        ]
        for share, minor in post_amounts(
            currency=currency, shares=shares, posting_key=reversal_key, statement_id=statement_id
        ):
            sign = entry_sign(kinds[share.account_id])
            result.append(Reversed(share.account_id, currency, kinds[share.account_id], sign * minor))
    return result
