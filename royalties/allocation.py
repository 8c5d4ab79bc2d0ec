"""Allocation: money awaiting allocation goes down each release's split sheet, exactly.

For a statement and currency, the groups of each (release, period) are summed in
micro-units and each split-sheet holder gets ``micro × ppb`` exact units, turned into
minor units by the carry rule (``royalties.carry``): per holder account, entries in
(release, period) order, each the change of the running exact total truncated
toward zero. Suspense groups (unknown ISRC, or no split sheet) are credited to the
suspense account the same way, one entry per group. One ledger transaction per
(statement, currency): a debit of ``unallocated`` per period (what the import
credited), the credits, and one leg on the ``carry`` account that balances them.
Each entry carries the release and period (suspense: the group), so a payout traces
back to the statement lines.

PostgreSQL computes the holders' amounts set-based (``numeric``, window sums); SQLite
in Python integers. Both follow the same rule and order, so they post the same
entries (the tests run on both).

Suspense groups are re-applied once their release and sheet exist, one small
transaction per group (debit suspense, credit the holders, the carry leg), in Python.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import OperationalError, connection, transaction
from django.db.models import Sum
from django.utils import timezone

from catalog.services import escrow_holder
from royalties import carry, ledger
from royalties.models import Account, Carry, CarryMove, Entry, LineGroup, SplitSheet, SplitSheetLine, Transaction
from royalties.money import PPB

VALUES_ROWS = 500
_WORK_COLUMNS = ("account_id", "amount_minor", "period", "release_id", "line_group_id")


def insert_values(table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Insert rows into a work table: multi-row VALUES lists on PostgreSQL (few round trips), one prepared
    statement run per row on SQLite (``executemany`` loops in C, without rewriting a long query per chunk)."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            row_sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"  # noqa: S608
            cursor.executemany(row_sql, rows)
            return
        for start in range(0, len(rows), VALUES_ROWS):
            chunk = rows[start : start + VALUES_ROWS]
            placeholders = ", ".join("(" + ", ".join(["%s"] * len(columns)) + ")" for _ in chunk)
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES {placeholders}",  # noqa: S608
                [value for row in chunk for value in row],
            )


def exact_sums(queryset: Any, fields: Sequence[str]) -> dict[tuple[Any, ...], int]:
    """Exact sums of the rows' ``amount_micro`` by ``fields`` (``numeric`` on PostgreSQL, never rounded on SQLite).

    SQLite's ``SUM`` of integers is exact or raises "integer overflow" (it never rounds); only then are the rows
    summed in Python.
    """
    summed = queryset.values(*fields).annotate(micro=Sum("amount_micro")).order_by(*fields)
    if connection.vendor == "postgresql":
        return {tuple(row[f] for f in fields): int(row["micro"]) for row in summed}
    try:
        with transaction.atomic():
            return {tuple(row[f] for f in fields): int(row["micro"]) for row in summed}
    except OperationalError:
        pass
    sums: dict[tuple[Any, ...], int] = defaultdict(int)
    for *key, micro in queryset.values_list(*fields, "amount_micro").iterator(chunk_size=20_000):
        sums[tuple(key)] += micro
    return dict(sums)


def allocate_statement(*, statement_id: int, currency: str) -> Transaction | None:
    """Allocate the statement's groups of one currency; a second call returns the first posting.

    Precondition: inside the import's transaction, after its import posting.
    """
    key = f"allocation:{statement_id}:{currency}"
    existing = Transaction.objects.filter(idempotency_key=key).first()
    if existing is not None:
        return existing
    carry.lock_currency(currency=currency)
    unallocated = ledger.account_for(kind=Account.Kind.UNALLOCATED, currency=currency)
    suspense = ledger.account_for(kind=Account.Kind.SUSPENSE, currency=currency)
    carry_account = ledger.account_for(kind=Account.Kind.CARRY, currency=currency)
    groups = LineGroup.objects.filter(statement_id=statement_id, currency=currency, reapplied_at__isnull=True)
    work = f"royalties_alloc_{uuid.uuid4().hex[:12]}"
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE {work} (account_id bigint, amount_minor bigint, period varchar(7), "
            "release_id bigint, line_group_id bigint)"
        )
    holders: _HolderEntries | None = None
    if connection.vendor == "postgresql":
        holders = _holder_entries_sql(statement_id=statement_id, currency=currency, posting_key=key)
    else:
        _holder_entries_python(groups=groups, currency=currency, work=work, posting_key=key, statement_id=statement_id)
    suspense_shares = [
        carry.Share(suspense.pk, (period, isrc, store, territory, pk), micro * PPB)
        for pk, period, isrc, store, territory, micro in groups.filter(state=LineGroup.State.SUSPENSE).values_list(
            "pk", "period", "isrc", "store", "territory", "amount_micro"
        )
    ]
    rows: list[tuple[Any, ...]] = [
        (suspense.pk, -minor, share.key[0], None, share.key[4])
        for share, minor in carry.post_amounts(
            currency=currency, shares=suspense_shares, posting_key=key, statement_id=statement_id
        )
        if minor != 0
    ]
    rows += [
        (unallocated.pk, -int(row["total"]), row["period"], None, None)
        for row in Entry.objects.filter(
            transaction__statement_id=statement_id, transaction__kind=Transaction.Kind.IMPORT, account=unallocated
        )
        .values("period")
        .annotate(total=Sum("amount_minor"))
        .order_by("period")
    ]
    insert_values(work, _WORK_COLUMNS, rows)
    # The carry leg balances everything else: the rows of the work table and (PostgreSQL) the holders' entries,
    # whose sum is known from the per-account totals without evaluating them.
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {work} ({', '.join(_WORK_COLUMNS)}) "  # noqa: S608
            f"SELECT %s, -(COALESCE(SUM(amount_minor), 0) + %s), '', NULL, NULL FROM {work} "
            "HAVING COALESCE(SUM(amount_minor), 0) + %s <> 0",
            [carry_account.pk, holders.entry_sum if holders else 0, holders.entry_sum if holders else 0],
        )
    select_sql = f"SELECT account_id, amount_minor, %s AS currency, period, release_id, line_group_id FROM {work}"  # noqa: S608
    params: list[Any] = [currency]
    if holders is not None:
        select_sql += f" UNION ALL {holders.select_sql}"
        params.append(currency)
    posting = ledger.post_sql(
        kind=Transaction.Kind.ALLOCATION,
        idempotency_key=key,
        request={"statement": statement_id, "currency": currency},
        memo=f"Allocation of statement {statement_id} ({currency})",
        statement_id=statement_id,
        select_sql=select_sql,
        params=params,
    )
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {work}")
        for table in holders.tables if holders else ():
            cursor.execute(f"DROP TABLE {table}")
    return posting


def _holder_entries_python(*, groups: Any, currency: str, work: str, posting_key: str, statement_id: int) -> None:
    by_release_period = exact_sums(groups.filter(state=LineGroup.State.ALLOCATED), ("release_id", "period"))
    lines: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for release_id, holder_id, ppb in SplitSheetLine.objects.filter(
        sheet__release_id__in=groups.filter(state=LineGroup.State.ALLOCATED).values("release_id"), ppb__gt=0
    ).values_list("sheet__release_id", "holder_id", "ppb"):
        lines[release_id].append((holder_id, ppb))
    accounts = ledger.holder_accounts(
        currency=currency,
        holder_ids={h for holder_lines in lines.values() for h, _ in holder_lines},
        escrow_holder_id=escrow_holder().pk,
    )
    shares = [
        carry.Share(accounts[holder_id], (release_id, period), micro * ppb)
        for (release_id, period), micro in by_release_period.items()
        if micro != 0
        for holder_id, ppb in lines[release_id]
    ]
    insert_values(
        work,
        _WORK_COLUMNS,
        [
            (share.account_id, -minor, share.key[1], share.key[0], None)
            for share, minor in carry.post_amounts(
                currency=currency, shares=shares, posting_key=posting_key, statement_id=statement_id
            )
            if minor != 0
        ],
    )


@dataclass(frozen=True)
class _HolderEntries:
    """The holders' entries of an allocation as a SELECT (for ``ledger.post_sql``), their sum, the work tables."""

    select_sql: str
    entry_sum: int
    tables: tuple[str, ...]


def _holder_entries_sql(*, statement_id: int, currency: str, posting_key: str) -> _HolderEntries:
    """The carry rule of ``carry.post_amounts`` for every holder at once, in ``numeric`` (PostgreSQL).

    Exact shares (micro-units × ppb) per (account, release, period) go to a work table; per
    account, the carry before and the total arriving give the new carry, the ``CarryMove`` and
    the account's change (``trunc(after) − trunc(before)``), so the carry leg is known before the
    entries are produced. The entries themselves (the change of the running total, in (release,
    period) order) are a window query that ``ledger.post_sql`` inserts directly.
    """
    suffix = uuid.uuid4().hex[:12]
    amounts, shares, totals = (f"royalties_{name}_{suffix}" for name in ("amounts", "shares", "totals"))
    divisor = carry.units_per_minor(currency)
    carries = Carry._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            CREATE TEMP TABLE {amounts} AS
            SELECT g.release_id, g.period, SUM(g.amount_micro) AS micro
            FROM {LineGroup._meta.db_table} g
            WHERE g.statement_id = %s AND g.currency = %s AND g.state = 'allocated' AND g.reapplied_at IS NULL
            GROUP BY g.release_id, g.period
            HAVING SUM(g.amount_micro) <> 0
            """,  # noqa: S608 - table names from model meta
            [statement_id, currency],
        )
        # Statistics for the planner: the groups and the holder accounts were written in this transaction, and
        # without them it nests loops over 400,000 shares.
        cursor.execute(f"ANALYZE {amounts}")
        cursor.execute(
            f"SELECT DISTINCT l.holder_id FROM {amounts} a "  # noqa: S608
            f"JOIN {SplitSheet._meta.db_table} s ON s.release_id = a.release_id "
            f"JOIN {SplitSheetLine._meta.db_table} l ON l.sheet_id = s.id WHERE l.ppb <> 0"
        )
        holder_ids = [row[0] for row in cursor.fetchall()]
    ledger.holder_accounts(currency=currency, holder_ids=holder_ids, escrow_holder_id=escrow_holder().pk)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Account._meta.db_table}")
        cursor.execute(
            f"""
            CREATE TEMP TABLE {shares} AS
            SELECT acc.id AS account_id, a.release_id, a.period, a.micro * l.ppb AS exact
            FROM {amounts} a
            JOIN {SplitSheet._meta.db_table} s ON s.release_id = a.release_id
            JOIN {SplitSheetLine._meta.db_table} l ON l.sheet_id = s.id
            JOIN {Account._meta.db_table} acc
              ON acc.holder_id = l.holder_id AND acc.currency = %s AND acc.kind IN ('holder', 'escrow')
            WHERE l.ppb <> 0
            """,  # noqa: S608 - table names from model meta
            [currency],
        )
        cursor.execute(
            f"""
            CREATE TEMP TABLE {totals} AS
            SELECT s.account_id, COALESCE(MAX(c.posted_minor * CAST({divisor} AS numeric) + c.remainder), 0) AS before,
                   SUM(s.exact) AS moved
            FROM {shares} s LEFT JOIN {carries} c ON c.account_id = s.account_id
            GROUP BY s.account_id
            """  # noqa: S608
        )
        cursor.execute(f"ANALYZE {totals}")
        cursor.execute(
            f"""
            INSERT INTO {carries} (account_id, posted_minor, remainder, updated_at)
            SELECT account_id, div(before + moved, {divisor}),
                   before + moved - div(before + moved, {divisor}) * {divisor}, now()
            FROM {totals}
            ON CONFLICT (account_id) DO UPDATE SET posted_minor = EXCLUDED.posted_minor,
                remainder = EXCLUDED.remainder, updated_at = EXCLUDED.updated_at
            """  # noqa: S608
        )
        cursor.execute(
            f"""
            INSERT INTO {CarryMove._meta.db_table}
                (posting_key, account_id, statement_id, moved_minor, moved_remainder, created_at)
            SELECT %s, account_id, %s, div(moved, {divisor}), moved - div(moved, {divisor}) * {divisor}, now()
            FROM {totals} WHERE moved <> 0
            """,  # noqa: S608
            [posting_key, statement_id],
        )
        # Holders are credited: the ledger amount is minus the change of the account's truncated total.
        cursor.execute(
            f"SELECT COALESCE(SUM(div(before, {divisor}) - div(before + moved, {divisor})), 0) FROM {totals}"  # noqa: S608
        )
        (entry_sum,) = cursor.fetchone()
    # Each row's two truncations are computed once: ``OFFSET 0`` keeps the planner from pulling the subquery up
    # and repeating the numeric divisions in every clause that names them (six per row instead of two).
    select_sql = f"""
        SELECT account_id, before_minor - after_minor AS amount_minor, %s AS currency,
               period, release_id, NULL::bigint AS line_group_id
        FROM (SELECT account_id, release_id, period,
                     div(after - exact, {divisor}) AS before_minor, div(after, {divisor}) AS after_minor
              FROM (SELECT s.account_id, s.release_id, s.period, s.exact,
                           t.before + SUM(s.exact) OVER (
                               PARTITION BY s.account_id ORDER BY s.release_id, s.period ROWS UNBOUNDED PRECEDING
                           ) AS after
                    FROM {shares} s JOIN {totals} t ON t.account_id = s.account_id) running
              OFFSET 0) r
        WHERE before_minor <> after_minor
    """  # noqa: S608
    return _HolderEntries(select_sql=select_sql, entry_sum=int(entry_sum), tables=(shares, totals, amounts))


@dataclass(frozen=True)
class ReapplyResult:
    reapplied: int
    still_in_suspense: int


def suspense_reapply(*, group_ids: list[int] | None = None) -> ReapplyResult:
    """Re-apply suspense groups whose ISRC now names a release with a split sheet.

    Each group is its own atomic posting (key ``reapply:<group id>``), so a rerun
    skips what was done and a failure leaves the other groups applied.
    """
    queryset = LineGroup.objects.filter(state=LineGroup.State.SUSPENSE)
    if group_ids is not None:
        queryset = queryset.filter(pk__in=group_ids)
    reapplied = 0
    for group_id in queryset.order_by("pk").values_list("pk", flat=True):
        if _reapply_group(group_id=group_id):
            reapplied += 1
    return ReapplyResult(reapplied, LineGroup.objects.filter(state=LineGroup.State.SUSPENSE).count())


@transaction.atomic
def _reapply_group(*, group_id: int) -> bool:
    """Precondition: none; locks the group row, so concurrent re-applies post once."""
    group = LineGroup.objects.select_for_update().get(pk=group_id)
    if group.state != LineGroup.State.SUSPENSE:
        return False
    # A true import-time cycle: distribution.selectors → generation.services → royalties.services → here.
    from distribution.selectors import release_ids_by_isrc

    release_id = release_ids_by_isrc(isrcs=[group.isrc]).get(group.isrc)
    sheet = SplitSheet.objects.filter(release_id=release_id).first() if release_id is not None else None
    if release_id is None or sheet is None:
        reason = "unknown_isrc" if release_id is None else "no_split_sheet"
        if group.suspense_reason != reason:
            group.suspense_reason = reason
            group.save(update_fields=["suspense_reason"])
        return False
    currency = group.currency
    carry.lock_currency(currency=currency)
    shares_ppb = dict(sheet.lines.filter(ppb__gt=0).values_list("holder_id", "ppb"))
    accounts = ledger.holder_accounts(currency=currency, holder_ids=shares_ppb, escrow_holder_id=escrow_holder().pk)
    suspense = ledger.account_for(kind=Account.Kind.SUSPENSE, currency=currency)
    carry_account = ledger.account_for(kind=Account.Kind.CARRY, currency=currency)
    shares = [carry.Share(suspense.pk, (0,), -group.amount_micro * PPB)]
    shares += [carry.Share(accounts[h], (h,), group.amount_micro * ppb) for h, ppb in sorted(shares_ppb.items())]
    entries = [
        ledger.EntrySpec(share.account_id, -minor, currency, group.period, release_id, group.pk)
        for share, minor in carry.post_amounts(
            currency=currency, shares=shares, posting_key=f"reapply:{group.pk}", statement_id=group.statement_id
        )
        if minor != 0
    ]
    leg = -sum(e.amount_minor for e in entries)
    if leg != 0:
        entries.append(ledger.EntrySpec(carry_account.pk, leg, currency, "", None, group.pk))
    if entries:
        ledger.post(
            kind=Transaction.Kind.REAPPLY,
            idempotency_key=f"reapply:{group.pk}",
            entries=entries,
            memo=f"Suspense re-applied: {group.isrc} {group.period} {group.store} {group.territory}",
            statement_id=group.statement_id,
        )
    group.release_id = release_id
    group.state = LineGroup.State.ALLOCATED
    group.suspense_reason = ""
    group.reapplied_at = timezone.now()
    group.save(update_fields=["release", "state", "suspense_reason", "reapplied_at"])
    return True
