"""Statement import: a distributor's CSV/TSV file into line groups and ledger postings.

The file format is ``royalties.imports.grammar`` (written down once, enforced the same
way on both databases). The file is never held in memory. Pipeline, one database
transaction, all or nothing:

1. ``sha256`` of the bytes: a known file returns its first import.
2. Load and group per (isrc, period, store, territory, currency), summing exactly:
   ``postgresql.load`` (COPY + set-based checks) or ``sqlite.load`` (a streaming
   Python pass). A malformed file is refused with its first bad line.
3. The content hash of the normalised groups (``grammar.ContentHash``): a re-saved
   copy of a known statement (other line endings, BOM, spacing, line order, file
   name) returns the first import.
4. Releases: the distinct ISRCs of the statement go through
   ``distribution.selectors.release_ids_by_isrc`` and the (isrc, release id) pairs
   are written to a temporary table, which the one ``INSERT … SELECT`` of the groups
   joins. That keeps the insert of 500,000 groups set-based (a selector call per
   group would cost minutes) without naming the distribution app's tables here.
5. Overlap: if more than ``settings.STATEMENT_OVERLAP_HOLD_PERCENT`` % (default 10) of
   the groups repeat the key of a group of an earlier statement, the import is refused with ``StatementHeld``
   showing the overlap (nothing written) unless staff pass ``accept_overlap=True``
   (the statement is then recorded as a correction, with the overlap).
6. Posting per currency (``_post_import``): revenue per period under the carry rule
   (``royalties.carry``), credited to ``unallocated``; then
   ``allocation.allocate_statement`` moves it to holders and suspense.

Idempotency: ``sha256``, ``content_hash`` and ``reference`` are unique. Another
file under a known reference raises ``StatementConflict``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Max

from royalties import allocation, carry, ledger
from royalties.errors import StatementConflict, StatementHeld
from royalties.imports import grammar, postgresql, sqlite
from royalties.models import Account, CarryMove, LineGroup, SplitSheet, Statement, Transaction
from royalties.money import PPB, micro_per_minor

logger = logging.getLogger(__name__)

COLUMNS = grammar.COLUMNS
COPY_BUFFER = grammar.READ_BUFFER


@dataclass(frozen=True)
class ImportResult:
    statement: Statement
    is_created: bool


class _Duplicate(Exception):
    """Raised inside the import transaction (so it rolls back) when the content is already imported."""

    def __init__(self, statement: Statement) -> None:
        self.statement = statement


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(COPY_BUFFER):
            digest.update(chunk)
    return digest.hexdigest()


def statement_import(
    *, path: Path, reference: str | None = None, by_id: int | None = None, accept_overlap: bool = False
) -> ImportResult:
    """Import a statement file; idempotent per file, per normalised content and per reference.

    ``accept_overlap``: staff decided the statement corrects earlier ones (see ``StatementHeld``).
    Precondition: ``path`` is a readable local file (API uploads are spooled to disk).
    """
    reference = reference or path.name
    sha256 = file_sha256(path)
    existing = _already_imported(sha256, reference)
    if existing is not None:
        return ImportResult(existing, False)
    try:
        return _import(path, reference, sha256, by_id, accept_overlap)
    except _Duplicate as duplicate:
        return ImportResult(duplicate.statement, False)
    except IntegrityError:
        # A concurrent import of the same file or reference committed first.
        existing = _already_imported(sha256, reference)
        if existing is None:
            raise
        return ImportResult(existing, False)


def _already_imported(sha256: str, reference: str) -> Statement | None:
    existing = Statement.objects.filter(sha256=sha256).first()
    if existing is not None:
        return existing
    clash = Statement.objects.filter(reference=reference).first()
    if clash is not None:
        raise StatementConflict(
            f"A different file was already imported as statement {reference!r}; "
            "a statement is never replaced. Import corrections under a new reference.",
            extra={"reference": reference, "statement_id": clash.pk, "sha256": sha256},
        )
    return None


def _import(path: Path, reference: str, sha256: str, by_id: int | None, accept_overlap: bool) -> ImportResult:
    header = grammar.read_header(path)
    clock = _Clock(reference)
    suffix = uuid.uuid4().hex[:12]
    staging, groups, releases = f"royalties_stg_{suffix}", f"royalties_agg_{suffix}", f"royalties_rel_{suffix}"
    with transaction.atomic():
        statement = Statement.objects.create(reference=reference, sha256=sha256, line_count=0, imported_by_id=by_id)
        # On failure the rollback removes the work tables (created in this transaction).
        if connection.vendor == "postgresql":
            line_count = postgresql.load(path=path, header=header, staging=staging, groups=groups, lap=clock.lap)
            with connection.cursor() as cursor:
                cursor.execute(postgresql.group_hash_sql(groups))
                count, first, second = cursor.fetchone()
            content_hash = grammar.content_hash(int(count), int(first), int(second))
        else:
            line_count, content_hash = sqlite.load(path=path, header=header, groups=groups, lap=clock.lap)
        duplicate = Statement.objects.filter(content_hash=content_hash).first()
        if duplicate is not None:
            raise _Duplicate(duplicate)
        _release_table(groups, releases)
        group_count = _insert_groups(statement.pk, groups, releases)
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE {groups}")
            cursor.execute(f"DROP TABLE {releases}")
        clock.lap("groups")
        overlap = statement_overlap(statement_id=statement.pk, group_count=group_count)
        is_held = overlap is not None and _is_above_hold_threshold(overlap)
        if overlap is not None and is_held and not accept_overlap:
            raise _held(reference, overlap)
        clock.lap("overlap")
        totals: dict[str, dict[str, int]] = {}
        for (currency,), micro in sorted(group_sums(statement_id=statement.pk, fields=("currency",)).items()):
            carry.lock_currency(currency=currency)
            minor = _post_import(statement, currency)
            clock.lap(f"post {currency}")
            allocation.allocate_statement(statement_id=statement.pk, currency=currency)
            clock.lap(f"allocate {currency}")
            totals[currency] = {
                "micro": micro,
                "minor": minor,
                "leftover_micro": micro - minor * micro_per_minor(currency),
            }
        statement.content_hash = content_hash
        statement.line_count = line_count
        statement.group_count = group_count
        statement.totals = totals
        statement.is_correction = is_held
        statement.overlap = overlap or {}
        statement.save(
            update_fields=[
                "content_hash",
                "line_count",
                "group_count",
                "totals",
                "is_correction",
                "overlap",
                "updated_at",
            ]
        )
    clock.lap("commit")
    return ImportResult(statement, True)


class _Clock:
    """Logs how long each import phase took (INFO), for operators and the benchmark."""

    def __init__(self, reference: str) -> None:
        self.reference = reference
        self.last = time.perf_counter()

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        logger.info("statement %s: %s took %.2f s", self.reference, phase, now - self.last)
        self.last = now


def _release_table(groups: str, table: str) -> None:
    """(isrc, release id) of the statement's ISRCs, read through the distribution selector."""
    # A true import-time cycle: distribution.selectors → generation.services → royalties.services → here.
    from distribution.selectors import release_ids_by_isrc

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT DISTINCT isrc FROM {groups}")  # noqa: S608
        isrcs = [row[0] for row in cursor.fetchall()]
        cursor.execute(f"CREATE TEMP TABLE {table} (isrc varchar(12) PRIMARY KEY, release_id bigint NOT NULL)")
    allocation.insert_values(table, ("isrc", "release_id"), sorted(release_ids_by_isrc(isrcs=isrcs).items()))


def _factors_sql() -> str:
    """A derived table (code, factor): micro-units per minor unit for currencies other than 10,000."""
    from royalties.money import _EXPONENTS

    return " UNION ALL ".join(
        f"SELECT '{code}' AS code, {10 ** (6 - exponent)} AS factor" for code, exponent in sorted(_EXPONENTS.items())
    )


def _insert_groups(statement_id: int, groups: str, releases: str) -> int:
    """Insert the statement's groups; returns how many.

    ``amount_minor`` is the group's own amount truncated to minor units (for tracing a
    line group; the ledger's amounts follow the carry rule). Known ISRC with a split
    sheet → allocated, otherwise suspense. Rows go in (release, period) order, which
    keeps that index's inserts sequential.
    """
    truncated = "div(g.micro, g.factor)" if connection.vendor == "postgresql" else "g.micro / g.factor"
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {LineGroup._meta.db_table}
                (statement_id, isrc, period, store, territory, currency, units, amount_micro, amount_minor,
                 line_count, first_line, last_line, release_id, state, suspense_reason)
            SELECT %s, g.isrc, g.period, g.store, g.territory, g.currency, g.units, g.micro, {truncated},
                   g.n, g.first_line, g.last_line, r.release_id,
                   CASE WHEN s.id IS NULL THEN 'suspense' ELSE 'allocated' END,
                   CASE WHEN r.release_id IS NULL THEN 'unknown_isrc' WHEN s.id IS NULL THEN 'no_split_sheet'
                        ELSE '' END
            FROM (SELECT x.*, COALESCE(f.factor, 10000) AS factor FROM {groups} x
                  LEFT JOIN ({_factors_sql()}) f ON f.code = x.currency) g
            LEFT JOIN {releases} r ON r.isrc = g.isrc
            LEFT JOIN {SplitSheet._meta.db_table} s ON s.release_id = r.release_id
            ORDER BY r.release_id, g.period
            """,  # noqa: S608
            [statement_id],
        )
        return int(cursor.rowcount)


def group_sums(*, statement_id: int, fields: Sequence[str], **filters: Any) -> dict[tuple[Any, ...], int]:
    """Exact sums of the statement's group micro-units by ``fields`` (numeric on PostgreSQL, Python ints on SQLite)."""
    return allocation.exact_sums(LineGroup.objects.filter(statement_id=statement_id, **filters), fields)


def _post_import(statement: Statement, currency: str) -> int:
    """Debit revenue and credit ``unallocated`` per period under the carry rule; returns the minor units posted.

    Precondition: the caller holds ``carry.lock_currency(currency)``.
    """
    revenue = ledger.account_for(kind=Account.Kind.REVENUE, currency=currency)
    unallocated = ledger.account_for(kind=Account.Kind.UNALLOCATED, currency=currency)
    by_period = group_sums(statement_id=statement.pk, fields=("period",), currency=currency)
    key = f"import:{statement.sha256}:{currency}"
    amounts = carry.post_amounts(
        currency=currency,
        shares=[carry.Share(revenue.pk, (period,), micro * PPB) for (period,), micro in by_period.items()],
        posting_key=key,
        statement_id=statement.pk,
    )
    entries = []
    for share, minor in amounts:
        if minor != 0:
            (period,) = share.key
            entries += [
                ledger.EntrySpec(revenue.pk, minor, currency, str(period)),
                ledger.EntrySpec(unallocated.pk, -minor, currency, str(period)),
            ]
    if entries:
        ledger.post(
            kind=Transaction.Kind.IMPORT,
            idempotency_key=key,
            entries=entries,
            memo=f"Statement {statement.reference} ({currency})",
            statement_id=statement.pk,
        )
    return sum(minor for _, minor in amounts)


def statement_overlap(*, statement_id: int, group_count: int) -> dict[str, Any] | None:
    """How many of the statement's groups repeat a key of an earlier statement, and which statements.

    Returns None when none do; otherwise ``groups``, ``overlapping``, ``percent`` (rounded
    to 0.1, as a number), up to 20 earlier ``statements`` with their overlapping groups
    and up to 5 ``examples`` of repeated keys.
    """
    table = LineGroup._meta.db_table
    columns = "isrc, period, store, territory, currency"
    key = f"({columns})"
    # Row-value IN lists are built once (hashed on PostgreSQL, an ephemeral index on SQLite), so the check
    # stays linear in the number of groups.
    earlier_keys = f"SELECT {columns} FROM {table} WHERE statement_id <> %s"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COUNT(*) FROM {table} WHERE statement_id = %s AND {key} IN ({earlier_keys})",  # noqa: S608
            [statement_id, statement_id],
        )
        (overlapping,) = cursor.fetchone()
        if not overlapping:
            return None
        cursor.execute(
            f"SELECT e.statement_id, st.reference, COUNT(*) FROM {table} e "  # noqa: S608
            f"JOIN {Statement._meta.db_table} st ON st.id = e.statement_id "
            f"WHERE e.statement_id <> %s AND {key} IN (SELECT {columns} FROM {table} WHERE statement_id = %s) "
            "GROUP BY e.statement_id, st.reference ORDER BY COUNT(*) DESC, e.statement_id LIMIT 20",
            [statement_id, statement_id],
        )
        statements = [{"id": sid, "reference": ref, "groups": int(n)} for sid, ref, n in cursor.fetchall()]
        cursor.execute(
            f"SELECT period, store, territory, isrc, currency, first_line FROM {table} "  # noqa: S608
            f"WHERE statement_id = %s AND {key} IN ({earlier_keys}) ORDER BY first_line LIMIT 5",
            [statement_id, statement_id],
        )
        examples = [
            dict(zip(("period", "store", "territory", "isrc", "currency", "line"), row, strict=True))
            for row in cursor.fetchall()
        ]
    return {
        "groups": group_count,
        "overlapping": int(overlapping),
        "percent": round(100 * int(overlapping) / max(group_count, 1), 1),
        "statements": statements,
        "examples": examples,
    }


def _is_above_hold_threshold(overlap: dict[str, Any]) -> bool:
    """More than ``STATEMENT_OVERLAP_HOLD_PERCENT`` % of the groups overlap (exactly, not the rounded percent)."""
    return 100 * int(overlap["overlapping"]) > settings.STATEMENT_OVERLAP_HOLD_PERCENT * int(overlap["groups"])


def _held(reference: str, overlap: dict[str, Any]) -> StatementHeld:
    earlier = ", ".join(repr(s["reference"]) for s in overlap["statements"][:3])
    return StatementHeld(
        f"{overlap['overlapping']} of the {overlap['groups']} (period, store, territory, ISRC, currency) keys "
        f"of {reference!r} ({overlap['percent']}%) were already paid by earlier statements ({earlier}). "
        "Nothing was imported. If this statement corrects them, import it as a correction; otherwise reject it.",
        extra={"reference": reference, **overlap},
    )


@transaction.atomic
def statement_reverse(*, statement_id: int) -> list[Transaction]:
    """Take back everything a statement posted; returns the reversal transactions (oldest first).

    Its transactions (import, allocation, suspense re-applied) are reversed newest first with
    ``ledger.reverse`` (mirror entries, carries taken back exactly); postings that moved carries
    by less than a minor unit and wrote no transaction get their carries taken back with
    ``ledger.reverse_moves``. Afterwards every account's carry and balance is what it would be had
    the statement never been imported. Idempotent: a second call posts nothing and returns the same
    reversals. The statement and its line groups stay (the file stays known, so the same file is
    not imported again); a corrected statement is imported under a new reference.
    """
    statement = Statement.objects.select_for_update().get(pk=statement_id)
    reversals: list[Transaction] = []
    originals = Transaction.objects.filter(statement_id=statement.pk).exclude(kind=Transaction.Kind.REVERSAL)
    for original in originals.order_by("-id"):
        reversals.append(
            ledger.reverse(
                transaction_id=original.pk,
                idempotency_key=f"reversal:{original.idempotency_key}",
                memo=f"Statement {statement.reference} reversed",
            )
        )
    posted = set(originals.values_list("idempotency_key", flat=True))
    unposted = (
        CarryMove.objects.filter(statement_id=statement.pk)
        .exclude(posting_key__in=posted)
        .exclude(posting_key__startswith="reversal:")
        .values_list("posting_key", flat=True)
        .distinct()
        .order_by("posting_key")
    )
    last_period = LineGroup.objects.filter(statement_id=statement.pk).aggregate(last=Max("period"))["last"] or ""
    for posting_key in list(unposted):
        reversal = ledger.reverse_moves(
            posting_key=posting_key,
            idempotency_key=f"reversal:{posting_key}",
            statement_id=statement.pk,
            period=last_period,
        )
        if reversal is not None:
            reversals.append(reversal)
    return sorted(reversals, key=lambda txn: txn.pk)


def statement_import_upload(
    *, file: IO[bytes], name: str, reference: str | None = None, by_id: int | None, accept_overlap: bool = False
) -> ImportResult:
    """Import an uploaded file object, streamed from disk.

    Django already spools large uploads to a temporary file: that file is used as is;
    small in-memory uploads are written to one first.
    """
    reference = reference or Path(name).name
    temporary_path = getattr(file, "temporary_file_path", None)
    if callable(temporary_path):
        return statement_import(
            path=Path(temporary_path()), reference=reference, by_id=by_id, accept_overlap=accept_overlap
        )
    with tempfile.NamedTemporaryFile(suffix=Path(name).suffix or ".csv") as spool:
        while chunk := file.read(COPY_BUFFER):
            spool.write(chunk)
        spool.flush()
        return statement_import(path=Path(spool.name), reference=reference, by_id=by_id, accept_overlap=accept_overlap)


def rows_to_csv(rows: list[dict[str, Any]]) -> str:
    """Small helper for tests and demos: statement lines as CSV text."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
