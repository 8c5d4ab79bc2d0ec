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
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass

from django.utils import timezone

from royalties.models import Account, Carry
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


@dataclass(frozen=True)
class Share:
    """An exact amount arriving on an account; ``key`` orders the account's entries (and carries their labels)."""

    account_id: int
    key: tuple[Hashable, ...]
    exact: int


def post_amounts(*, currency: str, shares: Iterable[Share]) -> list[tuple[Share, int]]:
    """Apply the carry rule to ``shares``; returns (share, minor units to post) and saves the carries.

    Precondition: the caller holds ``lock_currency(currency)`` and posts the returned
    amounts in the same database transaction. Amounts are in the account's natural
    sign (positive = the account receives); zero amounts are returned too.
    """
    divisor = units_per_minor(currency)
    by_account: dict[int, list[Share]] = defaultdict(list)
    for share in shares:
        by_account[share.account_id].append(share)
    carries = {c.account_id: c for c in Carry.objects.filter(account_id__in=list(by_account))}
    result: list[tuple[Share, int]] = []
    changed: list[Carry] = []
    created: list[Carry] = []
    now = timezone.now()
    for account_id in sorted(by_account):
        carry = carries.get(account_id)
        running = exact_of(carry, currency)
        for share in sorted(by_account[account_id], key=lambda s: s.key):
            after = running + share.exact
            result.append((share, trunc_div(after, divisor) - trunc_div(running, divisor)))
            running = after
        posted = trunc_div(running, divisor)
        if carry is None:
            created.append(Carry(account_id=account_id, posted_minor=posted, remainder=running - posted * divisor))
        else:
            carry.posted_minor, carry.remainder, carry.updated_at = posted, running - posted * divisor, now
            changed.append(carry)
    Carry.objects.bulk_create(created)
    Carry.objects.bulk_update(changed, ["posted_minor", "remainder", "updated_at"])
    return result
