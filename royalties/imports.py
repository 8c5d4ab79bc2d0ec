"""Statement import: a distributor's CSV/TSV file into line groups and ledger postings.

Columns (any order, header required; comma or tab, sniffed from the header):
``period`` (YYYY-MM), ``store``, ``territory`` (2-letter code or "WW"), ``isrc``,
``units`` (non-negative integer), ``net_revenue`` (decimal string, at most six
decimals, may be negative for refunds), ``currency`` (ISO 4217).

The file is never held in memory:

* PostgreSQL: the raw file streams through ``COPY`` into an unlogged staging
  table (a sequence numbers the lines), then one ``GROUP BY`` casts, validates
  and aggregates it into groups of (isrc, period, store, territory, currency).
* SQLite (laptops, tests): a streaming Python pass validates each line and
  inserts it in chunks into a staging table; the same SQL then aggregates.

Everything else is set-based SQL shared by both: groups become ``LineGroup``
rows (unknown ISRCs, or releases without a split sheet, go to suspense), each
currency's statement total is posted to the ledger in one transaction with one
entry per group, and allocation follows (see ``royalties.allocation``). A
malformed line refuses the whole file with its line number; nothing is applied.

Idempotency: the file's sha256 and its ``reference`` (the statement's identity,
by default the file name) are unique. The same file again returns the first
import; another file under a known reference raises ``StatementConflict``.

Amounts: lines are summed exactly in micro-units; a group's minor amount is its
floor in minor units plus, per currency, one more minor unit for the groups with
the largest remainders until the groups add up to the floor of the statement
total. The statement keeps the leftover (< 1 minor unit per currency) in
``Statement.totals``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from django.db import DataError, IntegrityError, connection, transaction

from royalties import allocation, ledger
from royalties.errors import StatementConflict, StatementInvalid
from royalties.models import Account, LineGroup, Statement, Transaction
from royalties.money import MoneyError, micro_per_minor, parse_micro

logger = logging.getLogger(__name__)

COLUMNS = ("period", "store", "territory", "isrc", "units", "net_revenue", "currency")
PERIOD_RE = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
ISRC_RE = r"^[A-Z]{2}[A-Z0-9]{3}[0-9]{7}$"
CURRENCY_RE = r"^[A-Z]{3}$"
TERRITORY_RE = r"^[A-Z]{2,8}$"
STORE_RE = r"^[^\s].{0,99}$"
UNITS_RE = r"^\s*[0-9]{1,18}\s*$"
REVENUE_RE = r"^\s*-?[0-9]{1,12}(\.[0-9]{0,6})?\s*$"
CHUNK_LINES = 20_000
COPY_BUFFER = 1 << 20

_PATTERNS = {
    "period": re.compile(PERIOD_RE),
    "isrc": re.compile(ISRC_RE),
    "currency": re.compile(CURRENCY_RE),
    "territory": re.compile(TERRITORY_RE),
    "store": re.compile(STORE_RE),
}
_HINTS = {
    "period": "a month like 2026-10",
    "isrc": "an ISRC like USRC17607839 (12 characters, no dashes)",
    "currency": "an ISO 4217 code like USD",
    "territory": "an ISO country code like DE (or WW)",
    "store": "a store name",
    "units": "a whole number of plays, 0 or more",
    "net_revenue": "a decimal amount with at most six decimals, like 0.004512",
}


@dataclass(frozen=True)
class ImportResult:
    statement: Statement
    is_created: bool


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(COPY_BUFFER):
            digest.update(chunk)
    return digest.hexdigest()


def _read_header(path: Path) -> tuple[list[str], str]:
    with path.open("rb") as handle:
        first = handle.readline().decode("utf-8-sig", errors="replace").rstrip("\r\n")
    delimiter = "\t" if "\t" in first else ","
    names = [name.strip().lower() for name in next(csv.reader([first], delimiter=delimiter))] if first else []
    missing = [c for c in COLUMNS if c not in names]
    unknown = [n for n in names if n not in COLUMNS]
    if missing or unknown or len(set(names)) != len(names):
        raise StatementInvalid(
            f"Line 1 (header) must name the columns {', '.join(COLUMNS)}; "
            f"missing: {', '.join(missing) or 'none'}, unexpected: {', '.join(unknown) or 'none'}.",
            extra={"line": 1, "missing": missing, "unexpected": unknown},
        )
    return names, delimiter


def _bad_line(line: int, column: str, value: Any) -> StatementInvalid:
    return StatementInvalid(
        f"Line {line}: {column} {value!r} is not {_HINTS[column]}. Fix the line and import the file again; "
        "nothing was imported.",
        extra={"line": line, "column": column, "value": value},
    )


def statement_import(*, path: Path, reference: str | None = None, by_id: int | None = None) -> ImportResult:
    """Import a statement file; idempotent per file content and per reference.

    Precondition: ``path`` is a readable local file (API uploads are spooled to disk).
    """
    reference = reference or path.name
    sha256 = file_sha256(path)
    existing = _already_imported(sha256, reference)
    if existing is not None:
        return ImportResult(existing, False)
    try:
        return _import(path, reference, sha256, by_id)
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


def _import(path: Path, reference: str, sha256: str, by_id: int | None) -> ImportResult:
    names, delimiter = _read_header(path)
    clock = _Clock(reference)
    with transaction.atomic():
        statement = Statement.objects.create(reference=reference, sha256=sha256, line_count=0, imported_by_id=by_id)
        suffix = uuid.uuid4().hex[:12]
        staging, groups = f"royalties_stg_{suffix}", f"royalties_agg_{suffix}"
        # On failure the rollback removes the staging tables (created in this transaction).
        if connection.vendor == "postgresql":
            line_count = _load_postgres(path, names, delimiter, staging, groups, clock)
        else:
            line_count = _load_sqlite(path, names, delimiter, staging, groups)
            clock.lap("load")
        group_count = _insert_groups(statement.pk, groups)
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE {staging}")
            cursor.execute(f"DROP TABLE {groups}")
        clock.lap("groups")
        totals = _statement_totals(statement.pk)
        statement.line_count = line_count
        statement.group_count = group_count
        statement.totals = totals
        statement.save(update_fields=["line_count", "group_count", "totals", "updated_at"])
        clock.lap("totals")
        for currency in sorted(totals):
            _post_import(statement, currency)
            clock.lap(f"post {currency}")
            allocation.allocate_statement(statement_id=statement.pk, currency=currency)
            clock.lap(f"allocate {currency}")
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


# --- PostgreSQL: COPY + set-based validation --------------------------------------------------


def _load_postgres(path: Path, names: list[str], delimiter: str, staging: str, groups: str, clock: _Clock) -> int:
    import psycopg2

    columns = ", ".join(names)
    delimiter_sql = "E'\\t'" if delimiter == "\t" else "','"
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE UNLOGGED TABLE {staging} (line_no bigint GENERATED ALWAYS AS IDENTITY (START WITH 2), "
            + ", ".join(f"{c} text" for c in COLUMNS)
            + ")"
        )
        cursor.execute("SAVEPOINT royalties_copy")
        try:
            with path.open("rb") as handle:
                cursor.copy_expert(
                    f"COPY {staging} ({columns}) FROM STDIN WITH (FORMAT csv, HEADER true, DELIMITER {delimiter_sql})",
                    handle,
                    COPY_BUFFER,
                )
        except psycopg2.DataError as exc:
            cursor.execute("ROLLBACK TO SAVEPOINT royalties_copy")
            context = getattr(exc.diag, "context", "") or ""
            match = re.search(r"line (\d+)", context)
            line = int(match.group(1)) if match else None
            message = (exc.diag.message_primary or str(exc)).strip()
            raise StatementInvalid(
                f"Line {line}: {message}. Each line needs exactly the {len(COLUMNS)} header columns; "
                "nothing was imported.",
                extra={"line": line},
            ) from None
        cursor.execute("RELEASE SAVEPOINT royalties_copy")
        clock.lap("copy")
        cursor.execute("SET LOCAL work_mem = '256MB'")
        cursor.execute("SAVEPOINT royalties_cast")
        try:
            cursor.execute(
                f"""
                CREATE UNLOGGED TABLE {groups} AS
                SELECT isrc, period, store, territory, currency,
                       CAST(SUM(units) AS bigint) AS units,
                       CAST(SUM(CAST(revenue * 1000000 AS bigint)) AS bigint) AS micro,
                       COUNT(*) AS n, MIN(line_no) AS first_line, MAX(line_no) AS last_line,
                       MIN(CASE WHEN units IS NULL OR units < 0 OR revenue IS NULL OR scale(revenue) > 6
                                THEN line_no END) AS bad_line
                FROM (SELECT line_no, isrc, period, store, territory, currency,
                             units::bigint AS units, net_revenue::numeric AS revenue
                      FROM {staging}) s
                GROUP BY isrc, period, store, territory, currency
                """  # noqa: S608 - generated table names
            )
        except DataError:
            cursor.execute("ROLLBACK TO SAVEPOINT royalties_cast")
            raise _first_bad_number(cursor, staging) from None
        cursor.execute("RELEASE SAVEPOINT royalties_cast")
        clock.lap("aggregate")
        cursor.execute(f"SELECT MIN(bad_line) FROM {groups}")  # noqa: S608
        (bad_line,) = cursor.fetchone()
        if bad_line is not None:
            raise _first_bad_number(cursor, staging, line=bad_line)
        cursor.execute(
            f"""
            SELECT first_line, isrc, period, store, territory, currency FROM {groups}
            WHERE NOT (COALESCE(period ~ %s, false) AND COALESCE(isrc ~ %s, false) AND COALESCE(currency ~ %s, false)
                       AND COALESCE(territory ~ %s, false) AND COALESCE(store ~ %s, false))
            ORDER BY first_line LIMIT 1
            """,  # noqa: S608
            [PERIOD_RE, ISRC_RE, CURRENCY_RE, TERRITORY_RE, STORE_RE],
        )
        row = cursor.fetchone()
        if row is not None:
            line, *values = row
            for column, value in zip(("isrc", "period", "store", "territory", "currency"), values, strict=True):
                if value is None or not _PATTERNS[column].match(value):
                    raise _bad_line(line, column, value)
        cursor.execute(f"SELECT COALESCE(MAX(line_no), 1) - 1 FROM {staging}")  # noqa: S608
        (line_count,) = cursor.fetchone()
    return int(line_count)


def _first_bad_number(cursor: Any, staging: str, *, line: int | None = None) -> StatementInvalid:
    """Find the first line whose units or net_revenue is malformed (only runs on failure)."""
    cursor.execute(
        f"""
        SELECT line_no, units, net_revenue FROM {staging}
        WHERE units IS NULL OR units !~ %s OR net_revenue IS NULL OR net_revenue !~ %s
        ORDER BY line_no LIMIT 1
        """,  # noqa: S608
        [UNITS_RE, REVENUE_RE],
    )
    row = cursor.fetchone()
    if row is None and line is not None:
        cursor.execute(f"SELECT line_no, units, net_revenue FROM {staging} WHERE line_no = %s", [line])  # noqa: S608
        row = cursor.fetchone()
    if row is None:
        return StatementInvalid("A number in the file could not be read; nothing was imported.", extra={"line": line})
    line_no, units, revenue = row
    if units is None or not re.match(UNITS_RE, units):
        return _bad_line(line_no, "units", units)
    return _bad_line(line_no, "net_revenue", revenue)


# --- SQLite: streaming Python validation, chunked inserts -------------------------------------


def _rows(path: Path, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    with path.open("r", encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        next(reader, None)
        for row in reader:
            yield reader.line_num, row


def _load_sqlite(path: Path, names: list[str], delimiter: str, staging: str, groups: str) -> int:
    index = {name: names.index(name) for name in COLUMNS}
    line_count = 0
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE {staging} (line_no integer, isrc text, period text, store text, territory text, "
            "currency text, units integer, micro integer)"
        )
        insert = f"INSERT INTO {staging} VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"  # noqa: S608
        chunk: list[tuple[Any, ...]] = []
        for line, row in _rows(path, delimiter):
            if len(row) != len(names):
                raise StatementInvalid(
                    f"Line {line}: expected {len(names)} columns, found {len(row)}; nothing was imported.",
                    extra={"line": line},
                )
            values = {name: row[position] for name, position in index.items()}
            for column, pattern in _PATTERNS.items():
                if not pattern.match(values[column]):
                    raise _bad_line(line, column, values[column])
            if not re.match(UNITS_RE, values["units"]):
                raise _bad_line(line, "units", values["units"])
            try:
                micro = parse_micro(values["net_revenue"])
            except MoneyError:
                raise _bad_line(line, "net_revenue", values["net_revenue"]) from None
            chunk.append(
                (
                    line,
                    values["isrc"],
                    values["period"],
                    values["store"],
                    values["territory"],
                    values["currency"],
                    int(values["units"]),
                    micro,
                )
            )
            line_count += 1
            if len(chunk) >= CHUNK_LINES:
                cursor.executemany(insert, chunk)
                chunk.clear()
        if chunk:
            cursor.executemany(insert, chunk)
        cursor.execute(
            f"""
            CREATE TEMP TABLE {groups} AS
            SELECT isrc, period, store, territory, currency, SUM(units) AS units, SUM(micro) AS micro,
                   COUNT(*) AS n, MIN(line_no) AS first_line, MAX(line_no) AS last_line
            FROM {staging} GROUP BY isrc, period, store, territory, currency
            """  # noqa: S608
        )
    return line_count


# --- shared, set-based --------------------------------------------------------------------------


def _factors_sql() -> str:
    """A derived table (code, factor): micro-units per minor unit for currencies other than 10,000."""
    from royalties.money import _EXPONENTS

    return " UNION ALL ".join(
        f"SELECT '{code}' AS code, {10 ** (6 - exponent)} AS factor" for code, exponent in sorted(_EXPONENTS.items())
    )


def _insert_groups(statement_id: int, groups: str) -> int:
    """Insert the statement's groups with exact minor amounts; returns how many.

    Each group gets the floor of its micro amount in minor units; then, per
    currency, the groups with the largest sub-minor remainders (ties: first line)
    get one more minor unit until the groups sum to the floor of the statement total.
    Rows go in (release, period) order, which keeps that index's inserts sequential.
    """
    floor = "((x.micro - (((x.micro %% x.factor) + x.factor) %% x.factor)) / x.factor)"  # %% = SQL modulo
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {LineGroup._meta.db_table}
                (statement_id, isrc, period, store, territory, currency, units, amount_micro, amount_minor,
                 line_count, first_line, last_line, release_id, state, suspense_reason)
            SELECT %s, f.isrc, f.period, f.store, f.territory, f.currency, f.units, f.micro,
                   f.floor_minor + CASE WHEN ROW_NUMBER() OVER (
                       PARTITION BY f.currency ORDER BY f.micro - f.floor_minor * f.factor DESC, f.first_line
                   ) <= (f.total_micro - ((f.total_micro %% f.factor) + f.factor) %% f.factor) / f.factor
                        - f.floor_sum THEN 1 ELSE 0 END,
                   f.n, f.first_line, f.last_line, r.id,
                   CASE WHEN s.id IS NULL THEN 'suspense' ELSE 'allocated' END,
                   CASE WHEN r.id IS NULL THEN 'unknown_isrc' WHEN s.id IS NULL THEN 'no_split_sheet' ELSE '' END
            FROM (
                SELECT x.*,
                       CAST(SUM(x.micro) OVER (PARTITION BY x.currency) AS bigint) AS total_micro,
                       CAST(SUM(x.floor_minor) OVER (PARTITION BY x.currency) AS bigint) AS floor_sum
                FROM (
                    SELECT x.*, {floor} AS floor_minor
                    FROM (
                        SELECT g.*, COALESCE(fx.factor, 10000) AS factor
                        FROM {groups} g LEFT JOIN ({_factors_sql()}) fx ON fx.code = g.currency
                    ) x
                ) x
            ) f
            LEFT JOIN distribution_release r ON r.isrc = f.isrc
            LEFT JOIN royalties_splitsheet s ON s.release_id = r.id
            ORDER BY r.id, f.period
            """,  # noqa: S608
            [statement_id],
        )
        return int(cursor.rowcount)


def _statement_totals(statement_id: int) -> dict[str, dict[str, int]]:
    totals: dict[str, dict[str, int]] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT currency, CAST(SUM(amount_micro) AS bigint), CAST(SUM(amount_minor) AS bigint) "  # noqa: S608
            f"FROM {LineGroup._meta.db_table} WHERE statement_id = %s GROUP BY currency ORDER BY currency",
            [statement_id],
        )
        for currency, total_micro, total_minor in cursor.fetchall():
            leftover = int(total_micro) - int(total_minor) * micro_per_minor(currency)
            assert 0 <= leftover < micro_per_minor(currency), "group rounding must keep under one minor unit"
            totals[currency] = {"micro": int(total_micro), "minor": int(total_minor), "leftover_micro": leftover}
    return totals


def _post_import(statement: Statement, currency: str) -> None:
    """One transaction per currency: debit revenue per period; credit ``unallocated``
    per (release, period) and ``suspense`` per suspense group (re-applied group by group).

    Each entry names its release and period; the ``LineGroup`` rows of the same
    statement, release and period are the statement lines behind it.
    """
    revenue = ledger.account_for(kind=Account.Kind.REVENUE, currency=currency)
    unallocated = ledger.account_for(kind=Account.Kind.UNALLOCATED, currency=currency)
    suspense = ledger.account_for(kind=Account.Kind.SUSPENSE, currency=currency)
    table = LineGroup._meta.db_table
    ledger.post_sql(
        kind=Transaction.Kind.IMPORT,
        idempotency_key=f"import:{statement.sha256}:{currency}",
        request={"sha256": statement.sha256, "currency": currency},
        memo=f"Statement {statement.reference} ({currency})",
        statement_id=statement.pk,
        select_sql=f"""
            SELECT %s AS account_id, CAST(SUM(g.amount_minor) AS bigint) AS amount_minor, %s AS currency,
                   g.period AS period, CAST(NULL AS bigint) AS release_id, CAST(NULL AS bigint) AS line_group_id
            FROM {table} g WHERE g.statement_id = %s AND g.currency = %s GROUP BY g.period
            UNION ALL
            SELECT %s, -CAST(SUM(g.amount_minor) AS bigint), %s, g.period, g.release_id, CAST(NULL AS bigint)
            FROM {table} g WHERE g.statement_id = %s AND g.currency = %s AND g.state = 'allocated'
            GROUP BY g.release_id, g.period
            UNION ALL
            SELECT %s, -g.amount_minor, %s, g.period, g.release_id, g.id
            FROM {table} g WHERE g.statement_id = %s AND g.currency = %s AND g.state = 'suspense'
        """,  # noqa: S608
        params=[
            *(revenue.pk, currency, statement.pk, currency),
            *(unallocated.pk, currency, statement.pk, currency),
            *(suspense.pk, currency, statement.pk, currency),
        ],
    )


def statement_import_upload(
    *, file: IO[bytes], name: str, reference: str | None = None, by_id: int | None
) -> ImportResult:
    """Import an uploaded file object, streamed from disk.

    Django already spools large uploads to a temporary file: that file is used as is;
    small in-memory uploads are written to one first.
    """
    import tempfile

    temporary_path = getattr(file, "temporary_file_path", None)
    if callable(temporary_path):
        return statement_import(path=Path(temporary_path()), reference=reference or Path(name).name, by_id=by_id)
    with tempfile.NamedTemporaryFile(suffix=Path(name).suffix or ".csv") as spool:
        while chunk := file.read(COPY_BUFFER):
            spool.write(chunk)
        spool.flush()
        return statement_import(path=Path(spool.name), reference=reference or Path(name).name, by_id=by_id)


def rows_to_csv(rows: list[dict[str, Any]]) -> str:
    """Small helper for tests and demos: statement lines as CSV text."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
