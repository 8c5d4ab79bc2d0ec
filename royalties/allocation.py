"""Allocation: money awaiting allocation goes down each release's split sheet.

For a statement and currency, the groups of each (release, period) are summed
and that amount is split by the sheet's parts per billion with the largest
remainder method (ties to the lowest holder id), set-based in SQL. One ledger
transaction per (statement, currency): a debit of ``unallocated`` per (release,
period) and a credit per (release, period, holder); the escrow holder's part goes
to the escrow account. Each entry carries the release and period, and each
group links the statement lines, so a payout traces back to the lines.

Suspense: groups whose ISRC was unknown (or whose release had no split sheet)
are re-applied once the release and its sheet exist, one small transaction per
group (debit suspense, credit the holders), computed in Python with
``money.split_by_ppb``.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from catalog.services import escrow_holder
from distribution.models import Release
from royalties import ledger
from royalties.models import Account, LineGroup, SplitSheet, SplitSheetLine, Transaction
from royalties.money import split_by_ppb


def allocate_statement(*, statement_id: int, currency: str) -> Transaction | None:
    """Allocate the statement's allocated-state groups of one currency (idempotent per key)."""
    release_ids = LineGroup.objects.filter(
        statement_id=statement_id, currency=currency, state=LineGroup.State.ALLOCATED
    ).values("release_id")
    holder_ids = set(
        SplitSheetLine.objects.filter(sheet__release_id__in=release_ids).values_list("holder_id", flat=True).distinct()
    )
    if not holder_ids:
        return None
    ledger.holder_accounts(currency=currency, holder_ids=holder_ids, escrow_holder_id=escrow_holder().pk)
    unallocated = ledger.account_for(kind=Account.Kind.UNALLOCATED, currency=currency)
    groups = LineGroup._meta.db_table
    sheets = SplitSheet._meta.db_table
    lines = SplitSheetLine._meta.db_table
    accounts = Account._meta.db_table
    select_sql = f"""
        WITH amounts AS (
            SELECT g.release_id, g.period, CAST(SUM(g.amount_minor) AS bigint) AS amount
            FROM {groups} g
            WHERE g.statement_id = %s AND g.currency = %s AND g.state = 'allocated' AND g.reapplied_at IS NULL
            GROUP BY g.release_id, g.period
        ),
        parts AS (
            SELECT a.release_id, a.period, a.amount, l.holder_id,
                   (ABS(a.amount) * l.ppb) / 1000000000 AS base,
                   (ABS(a.amount) * l.ppb) %% 1000000000 AS remainder
            FROM amounts a
            JOIN {sheets} s ON s.release_id = a.release_id
            JOIN {lines} l ON l.sheet_id = s.id
            WHERE a.amount <> 0
        ),
        ranked AS (
            SELECT p.release_id, p.period, p.amount, p.holder_id, p.base,
                   ABS(p.amount) - SUM(p.base) OVER (PARTITION BY p.release_id, p.period) AS missing,
                   ROW_NUMBER() OVER (PARTITION BY p.release_id, p.period ORDER BY p.remainder DESC, p.holder_id) AS rn
            FROM parts p
        )
        SELECT acc.id AS account_id,
               (CASE WHEN r.amount < 0 THEN 1 ELSE -1 END) * (r.base + CASE WHEN r.rn <= r.missing THEN 1 ELSE 0 END)
                   AS amount_minor,
               %s AS currency, r.period AS period, r.release_id AS release_id, CAST(NULL AS bigint) AS line_group_id
        FROM ranked r
        JOIN {accounts} acc ON acc.holder_id = r.holder_id AND acc.currency = %s AND acc.kind IN ('holder', 'escrow')
        UNION ALL
        SELECT %s, a.amount, %s, a.period, a.release_id, CAST(NULL AS bigint) FROM amounts a
    """  # noqa: S608 - table names from model meta
    return ledger.post_sql(
        kind=Transaction.Kind.ALLOCATION,
        idempotency_key=f"allocation:{statement_id}:{currency}",
        request={"statement": statement_id, "currency": currency},
        memo=f"Allocation of statement {statement_id} ({currency})",
        statement_id=statement_id,
        select_sql=select_sql,
        params=[statement_id, currency, currency, currency, unallocated.pk, currency],
    )


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
    release = Release.objects.filter(isrc=group.isrc).first()
    sheet = SplitSheet.objects.filter(release=release).first() if release is not None else None
    if release is None or sheet is None:
        reason = "unknown_isrc" if release is None else "no_split_sheet"
        if group.suspense_reason != reason:
            group.suspense_reason = reason
            group.save(update_fields=["suspense_reason"])
        return False
    shares = dict(sheet.lines.values_list("holder_id", "ppb"))
    parts = split_by_ppb(group.amount_minor, shares)
    accounts = ledger.holder_accounts(currency=group.currency, holder_ids=shares, escrow_holder_id=escrow_holder().pk)
    suspense = ledger.account_for(kind=Account.Kind.SUSPENSE, currency=group.currency)
    entries = [
        ledger.EntrySpec(suspense.pk, group.amount_minor, group.currency, group.period, release.pk, group.pk),
        *(
            ledger.EntrySpec(accounts[holder_id], -part, group.currency, group.period, release.pk, group.pk)
            for holder_id, part in sorted(parts.items())
            if part != 0
        ),
    ]
    if group.amount_minor != 0:
        ledger.post(
            kind=Transaction.Kind.REAPPLY,
            idempotency_key=f"reapply:{group.pk}",
            entries=entries,
            memo=f"Suspense re-applied: {group.isrc} {group.period} {group.store} {group.territory}",
            statement_id=group.statement_id,
        )
    group.release = release
    group.state = LineGroup.State.ALLOCATED
    group.suspense_reason = ""
    group.reapplied_at = timezone.now()
    group.save(update_fields=["release", "state", "suspense_reason", "reapplied_at"])
    return True
