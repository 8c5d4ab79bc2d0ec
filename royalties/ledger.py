"""The double-entry ledger: the only code that writes ``Transaction`` and ``Entry`` rows.

Rules (checked here, and on PostgreSQL again by triggers from migration 0002):

* A transaction has at least two entries; each entry has a non-zero integer
  ``amount_minor`` (debit positive, credit negative) in its account's currency.
* The entries of a transaction sum to zero per currency, so the whole ledger
  sums to zero, and every holder's balance is explained by its entries. On
  PostgreSQL a *deferred constraint trigger* re-checks this at commit.
* Append-only: entries and transactions are never updated or deleted (triggers
  refuse it); a mistake is fixed by ``reverse()``, a new transaction with every
  amount negated.
* Every posting carries a unique ``idempotency_key`` and a hash of its request:
  posting the same key and the same request again returns the first transaction;
  the same key with other content raises ``IdempotencyConflict``.

Two writers: ``post()`` for a handful of entries given in Python, and
``post_sql()`` for set-based postings (a statement import or an allocation has
hundreds of thousands of entries, produced by one ``INSERT … SELECT``).

Accounts (``Account.Kind``): revenue (debited when a statement arrives),
unallocated (credited per statement line group, debited by allocation),
suspense (lines with unknown ISRCs), holder and escrow (what we owe), payable
(payout approved) and paid.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, F, Sum

from royalties import carry
from royalties.errors import IdempotencyConflict, LedgerError
from royalties.models import Account, Carry, CarryMove, Entry, Transaction
from royalties.money import refuse_float


@dataclass(frozen=True)
class EntrySpec:
    account_id: int
    amount_minor: int
    currency: str
    period: str = ""
    release_id: int | None = None
    line_group_id: int | None = None


def account_for(*, kind: str, currency: str, holder_id: int | None = None) -> Account:
    """The account of this kind, currency and holder, created on first use."""
    account, _ = Account.objects.get_or_create(kind=kind, currency=currency, holder_id=holder_id)
    return account


def holder_accounts(*, currency: str, holder_ids: Iterable[int], escrow_holder_id: int) -> dict[int, int]:
    """Account ids for many holders at once (escrow holder → escrow account)."""
    wanted = set(holder_ids)
    existing = {
        holder_id: pk
        for holder_id, pk in Account.objects.filter(
            currency=currency, holder_id__in=wanted, kind__in=[Account.Kind.HOLDER, Account.Kind.ESCROW]
        ).values_list("holder_id", "pk")
        if holder_id is not None
    }
    missing = wanted - existing.keys()
    if missing:
        Account.objects.bulk_create(
            [
                Account(
                    kind=Account.Kind.ESCROW if holder_id == escrow_holder_id else Account.Kind.HOLDER,
                    currency=currency,
                    holder_id=holder_id,
                )
                for holder_id in sorted(missing)
            ],
            ignore_conflicts=True,
        )
        existing.update(
            {
                holder_id: pk
                for holder_id, pk in Account.objects.filter(
                    currency=currency, holder_id__in=missing, kind__in=[Account.Kind.HOLDER, Account.Kind.ESCROW]
                ).values_list("holder_id", "pk")
                if holder_id is not None
            }
        )
    return existing


def request_hash(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _existing(idempotency_key: str, digest: str) -> Transaction | None:
    existing = Transaction.objects.filter(idempotency_key=idempotency_key).first()
    if existing is None:
        return None
    if existing.request_hash != digest:
        raise IdempotencyConflict(
            f"Idempotency key {idempotency_key!r} was already used for a different posting; use a new key.",
            extra={"idempotency_key": idempotency_key, "transaction_id": existing.pk},
        )
    return existing


def _entry_order(row: list[Any]) -> tuple[Any, ...]:
    """Sort key of an entry's fields: the fields' own order, with None (no release, no line group) first."""
    return tuple(
        (value is not None, value) if value is None or isinstance(value, int) else (True, value) for value in row
    )


@transaction.atomic
def post(
    *,
    kind: str,
    idempotency_key: str,
    entries: Sequence[EntrySpec],
    memo: str = "",
    statement_id: int | None = None,
    reverses_id: int | None = None,
) -> Transaction:
    """Post one balanced transaction, or return the one already posted under this key."""
    for entry in entries:
        refuse_float(entry.amount_minor)
        if not isinstance(entry.amount_minor, int) or entry.amount_minor == 0:
            raise LedgerError(f"Entry amounts must be non-zero integers; got {entry.amount_minor!r}.")
    digest = request_hash(
        {
            "kind": kind,
            "statement": statement_id,
            "reverses": reverses_id,
            "entries": sorted(
                ([e.account_id, e.amount_minor, e.currency, e.period, e.release_id, e.line_group_id] for e in entries),
                key=_entry_order,
            ),
        }
    )
    existing = _existing(idempotency_key, digest)
    if existing is not None:
        return existing
    if len(entries) < 2:
        raise LedgerError("A transaction needs at least two entries (a debit and a credit).")
    sums: dict[str, int] = defaultdict(int)
    for entry in entries:
        sums[entry.currency] += entry.amount_minor
    unbalanced = {currency: total for currency, total in sums.items() if total != 0}
    if unbalanced:
        raise LedgerError(
            "Entries must sum to zero per currency; add the missing leg.", extra={"unbalanced": unbalanced}
        )
    currencies = dict(Account.objects.filter(pk__in={e.account_id for e in entries}).values_list("pk", "currency"))
    for entry in entries:
        if currencies.get(entry.account_id) != entry.currency:
            raise LedgerError(
                f"Account {entry.account_id} does not hold {entry.currency}; post to the account of that currency."
            )
    txn = Transaction.objects.create(
        kind=kind,
        idempotency_key=idempotency_key,
        request_hash=digest,
        memo=memo[:300],
        statement_id=statement_id,
        reverses_id=reverses_id,
    )
    Entry.objects.bulk_create(
        [
            Entry(
                transaction=txn,
                account_id=e.account_id,
                amount_minor=e.amount_minor,
                currency=e.currency,
                period=e.period,
                release_id=e.release_id,
                line_group_id=e.line_group_id,
            )
            for e in entries
        ]
    )
    return txn


class _NothingToPost(Exception):
    pass


def post_sql(
    *,
    kind: str,
    idempotency_key: str,
    request: Any,
    select_sql: str,
    params: Sequence[Any],
    memo: str = "",
    statement_id: int | None = None,
) -> Transaction | None:
    """Post one transaction whose entries come from a SELECT, set-based.

    ``select_sql`` must yield the columns (account_id, amount_minor, currency,
    period, release_id, line_group_id); rows with amount 0 are skipped. The posting
    is checked after the insert (≥ 2 legs, zero per currency, account currency) and
    rolled back with ``LedgerError`` if it breaks a rule. Returns None when the
    select yields nothing to post.
    """
    digest = request_hash({"kind": kind, "statement": statement_id, "request": request})
    existing = _existing(idempotency_key, digest)
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            txn = Transaction.objects.create(
                kind=kind,
                idempotency_key=idempotency_key,
                request_hash=digest,
                memo=memo[:300],
                statement_id=statement_id,
            )
            entry_table = Entry._meta.db_table
            with connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {entry_table} "  # noqa: S608 - table name from model meta
                    "(transaction_id, account_id, amount_minor, currency, period, release_id, line_group_id) "
                    "SELECT %s, q.account_id, q.amount_minor, q.currency, q.period, q.release_id, q.line_group_id "
                    f"FROM ({select_sql}) q WHERE q.amount_minor <> 0",
                    [txn.pk, *params],
                )
                if cursor.rowcount == 0:
                    raise _NothingToPost
            _verify(txn.pk)
            return txn
    except _NothingToPost:
        return None


def _verify(transaction_id: int) -> None:
    rows = list(
        Entry.objects.filter(transaction_id=transaction_id)
        .values("currency")
        .annotate(total=Sum("amount_minor"), legs=Count("id"))
    )
    legs = sum(row["legs"] for row in rows)
    if legs < 2:
        raise LedgerError(f"Transaction {transaction_id} would have {legs} entry; at least two are required.")
    unbalanced = {row["currency"]: row["total"] for row in rows if row["total"] != 0}
    if unbalanced:
        raise LedgerError(
            f"Transaction {transaction_id} does not balance; nothing was posted.", extra={"unbalanced": unbalanced}
        )
    matching = Entry.objects.filter(transaction_id=transaction_id, currency=F("account__currency")).count()
    if matching != legs:
        raise LedgerError(f"Transaction {transaction_id} posts to a missing account or one of another currency.")


@transaction.atomic
def reverse(*, transaction_id: int, idempotency_key: str, memo: str = "") -> Transaction:
    """Cancel a transaction: post its mirror image and take back the carries it moved (append-only correction).

    Every entry is mirrored (same account, period, release and line group), so each
    release's and period's figures net to zero. The carries the original posting moved
    (``carry.reverse_moves``) are taken back exactly, so every account's carry is what it
    would be had the original never been posted. If later postings moved the same
    accounts, the carry rule can need up to a minor unit more or less than the mirror on
    an account: that difference is one more entry on the account (the period and release
    of its last mirrored entry), balanced by the currency's ``carry`` account.
    A transaction is reversed once: the same key again returns the reversal, another key
    raises ``LedgerError``.
    """
    original = Transaction.objects.get(pk=transaction_id)
    existing = Transaction.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None and existing.reverses_id == original.pk:
        return existing
    earlier = Transaction.objects.filter(reverses_id=original.pk).first()
    if earlier is not None:
        raise LedgerError(
            f"Transaction #{original.pk} was already reversed by #{earlier.pk} ({earlier.idempotency_key!r}); "
            "a transaction is reversed once.",
            extra={"transaction_id": original.pk, "reversal_id": earlier.pk},
        )
    originals = list(original.entries.order_by("id"))
    entries = [
        EntrySpec(e.account_id, -e.amount_minor, e.currency, e.period, e.release_id, e.line_group_id) for e in originals
    ]
    entries += _carry_corrections(
        posting_key=original.idempotency_key,
        reversal_key=idempotency_key,
        statement_id=original.statement_id,
        mirrored=entries,
        fallback_period=max((e.period for e in originals), default=""),
    )
    return post(
        kind=Transaction.Kind.REVERSAL,
        idempotency_key=idempotency_key,
        entries=entries,
        memo=memo or f"Reversal of #{original.pk}",
        statement_id=original.statement_id,
        reverses_id=original.pk,
    )


@transaction.atomic
def reverse_moves(
    *, posting_key: str, idempotency_key: str, statement_id: int | None, period: str
) -> Transaction | None:
    """Take back the carries of a posting that wrote no transaction (it moved less than a minor unit per account).

    Posts what the carry rule needs (nothing, unless later postings moved the same
    accounts) on the accounts, dated ``period``, with the ``carry`` account's leg.
    Returns None when nothing is posted. Idempotent per ``idempotency_key``.
    """
    existing = Transaction.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None or CarryMove.objects.filter(posting_key=idempotency_key).exists():
        return existing
    entries = _carry_corrections(
        posting_key=posting_key,
        reversal_key=idempotency_key,
        statement_id=statement_id,
        mirrored=[],
        fallback_period=period,
    )
    if not entries:
        return None
    return post(
        kind=Transaction.Kind.REVERSAL,
        idempotency_key=idempotency_key,
        entries=entries,
        memo=f"Reversal of the carries of {posting_key}",
        statement_id=statement_id,
    )


def _carry_corrections(
    *,
    posting_key: str,
    reversal_key: str,
    statement_id: int | None,
    mirrored: Sequence[EntrySpec],
    fallback_period: str,
) -> list[EntrySpec]:
    """Entries that bring the mirrored entries to what ``carry.reverse_moves`` requires, plus the carry legs."""
    for currency in carry.move_currencies(posting_key=posting_key):
        carry.lock_currency(currency=currency)
    mirrored_sum: dict[int, int] = defaultdict(int)
    last: dict[int, tuple[str, int]] = {}  # the account's last mirrored (period, release): where a correction goes
    for entry in mirrored:
        mirrored_sum[entry.account_id] += entry.amount_minor
        last[entry.account_id] = max(last.get(entry.account_id, ("", 0)), (entry.period, entry.release_id or 0))
    corrections: list[EntrySpec] = []
    legs: dict[str, int] = defaultdict(int)
    for part in carry.reverse_moves(posting_key=posting_key, reversal_key=reversal_key, statement_id=statement_id):
        difference = part.entry_minor - mirrored_sum.get(part.account_id, 0)
        if difference != 0:
            period, release_id = last.get(part.account_id, (fallback_period, 0))
            corrections.append(EntrySpec(part.account_id, difference, part.currency, period, release_id or None))
            legs[part.currency] -= difference
    for currency, leg in sorted(legs.items()):
        if leg != 0:
            carry_account = account_for(kind=Account.Kind.CARRY, currency=currency)
            corrections.append(EntrySpec(carry_account.pk, leg, currency, ""))
    return corrections


@dataclass
class LedgerCheck:
    transactions: int = 0
    entries: int = 0
    unbalanced: list[dict[str, Any]] = field(default_factory=list)
    single_leg: list[int] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)
    non_integer: list[int] = field(default_factory=list)
    carry_mismatch: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_balanced(self) -> bool:
        return (
            not self.unbalanced
            and not self.single_leg
            and not self.non_integer
            and not self.carry_mismatch
            and all(v == 0 for v in self.totals.values())
        )


def check() -> LedgerCheck:
    """Verify every transaction balances per currency and the whole ledger sums to zero."""
    result = LedgerCheck()
    result.transactions = Transaction.objects.count()
    result.entries = Entry.objects.count()
    result.unbalanced = [
        {"transaction_id": row["transaction_id"], "currency": row["currency"], "total": row["total"]}
        for row in Entry.objects.values("transaction_id", "currency")
        .annotate(total=Sum("amount_minor"))
        .exclude(total=0)
        .order_by("transaction_id")[:100]
    ]
    result.single_leg = list(
        Transaction.objects.annotate(legs=Count("entries")).filter(legs__lt=2).values_list("pk", flat=True)[:100]
    )
    result.totals = {
        row["currency"]: row["total"]
        for row in Entry.objects.values("currency").annotate(total=Sum("amount_minor")).order_by("currency")
    }
    result.non_integer = _non_integer_entries()
    result.carry_mismatch = _carry_mismatches()
    return result


def _non_integer_entries() -> list[int]:
    """Entries whose amount is not stored as an integer (SQLite accepts any number in any column)."""
    if connection.vendor != "sqlite":
        return []  # bigint columns hold integers only
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM {Entry._meta.db_table} WHERE typeof(amount_minor) <> 'integer' ORDER BY id LIMIT 100"  # noqa: S608
        )
        return [int(row[0]) for row in cursor.fetchall()]


def _carry_mismatches() -> list[dict[str, Any]]:
    """Revenue and suspense accounts whose carry disagrees with the ledger (every entry on them follows the rule)."""
    mismatches = []
    for row in Carry.objects.select_related("account").filter(
        account__kind__in=[Account.Kind.REVENUE, Account.Kind.SUSPENSE]
    ):
        balance = int(Entry.objects.filter(account_id=row.account_id).aggregate(t=Sum("amount_minor"))["t"] or 0)
        natural = balance if row.account.kind == Account.Kind.REVENUE else -balance
        if natural != row.posted_minor:
            mismatches.append({"account_id": row.account_id, "ledger": natural, "carry": row.posted_minor})
    return mismatches
