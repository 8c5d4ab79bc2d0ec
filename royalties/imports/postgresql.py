"""PostgreSQL loader: COPY the normalised file into staging, then validate and group it set-based.

The file streams through ``COPY … FROM STDIN`` (after ``grammar.normalised_chunks``
has dropped the BOM, turned CRLF/CR into LF and refused non-UTF-8 bytes with their
line) into an unlogged staging table numbered by line. One ``GROUP BY`` over the raw
keys then checks the numbers of every line with cheap string tests equivalent to the
grammar's patterns and sums exactly (``numeric``). The key columns are checked with the
grammar's regular expressions once per distinct value (a statement has few stores,
territories, periods and currencies, and one value per ISRC); only if a key carries
surrounding spaces are the groups merged again by their stripped keys. If anything
failed, a diagnostic query (only then) finds the first bad line with the grammar's
regular expressions, so the refusal is the one the SQLite loader gives.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg2
from django.db import DataError, NotSupportedError, connection

from royalties.errors import StatementInvalid
from royalties.imports import grammar

_STRIPPED = {column: f"btrim({column}, ' ')" for column in grammar.COLUMNS}
_UNITS_REGEX = grammar.REGEX["units"].replace("^", "^ *").replace("$", " *$")
_REVENUE_REGEX = grammar.REGEX["net_revenue"].replace("^", "^ *").replace("$", " *$")
# Per line, over ``u`` = CAST(units AS bigint) and ``v`` = CAST(net_revenue AS numeric) (a value that does not
# cast makes the statement fail and the diagnostic query apply the grammar). A value written the way PostgreSQL
# prints it (``v::text``) only needs its range checked; anything else (spaces, leading zeros, "+", an exponent,
# NaN, …) is matched against the grammar's pattern. Equal to the pattern (``test_grammar`` compares them), and
# about a regular expression per 1,000 lines instead of two per line.
NUMBERS_OK = (
    "COALESCE("
    "(CASE WHEN units = u::text THEN u >= 0 AND u < 1000000000000000000 "
    f"ELSE units ~ '{_UNITS_REGEX}' END) "
    "AND (CASE WHEN net_revenue = v::text THEN scale(v) <= 6 AND abs(v) < 1000000000000 "
    f"ELSE net_revenue ~ '{_REVENUE_REGEX}' END), false)"
)


class _Stream:
    """A file-like object over the normalised chunks, for ``copy_expert``."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks

    def read(self, size: int = -1) -> bytes:
        return next(self.chunks, b"")


def load(*, path: Path, header: grammar.Header, staging: str, groups: str, lap: Callable[[str], None]) -> int:
    """Fill ``groups`` (key, units, micro, n, first_line, last_line); returns the number of lines."""
    delimiter_sql = "E'\\t'" if header.delimiter == "\t" else "','"
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE UNLOGGED TABLE {staging} "
            "(line_no bigint GENERATED ALWAYS AS IDENTITY (START WITH 2 CACHE 100000), "
            + ", ".join(f"{c} text" for c in grammar.COLUMNS)
            + ")"
        )
        cursor.execute("SAVEPOINT royalties_copy")
        try:
            cursor.copy_expert(
                f"COPY {staging} ({', '.join(header.names)}) FROM STDIN "
                f"WITH (FORMAT csv, HEADER true, DELIMITER {delimiter_sql})",
                _Stream(grammar.normalised_chunks(path)),
                grammar.READ_BUFFER,
            )
        except psycopg2.DataError as exc:
            cursor.execute("ROLLBACK TO SAVEPOINT royalties_copy")
            context = getattr(exc.diag, "context", "") or ""
            match = re.search(r"line (\d+)", context)
            line = int(match.group(1)) if match else 0
            raise StatementInvalid(
                f"Line {line}: {(exc.diag.message_primary or str(exc)).strip()}. Each line needs exactly the "
                f"{len(header.names)} fields of the header; nothing was imported.",
                extra={"line": line, "phase": "structure"},
            ) from None
        except StatementInvalid:
            cursor.execute("ROLLBACK TO SAVEPOINT royalties_copy")
            raise
        cursor.execute("RELEASE SAVEPOINT royalties_copy")
        lap("copy")
        cursor.execute("SET LOCAL work_mem = '256MB'")
        cursor.execute("SET LOCAL jit = off")  # compiling these one-shot plans costs more than it saves
        cursor.execute("SAVEPOINT royalties_cast")
        try:
            # One pass over the lines: group by the raw keys, sum exactly, and note whether every line's numbers
            # are well formed. A value that does not even cast (letters, 10²⁰ plays, NaN) fails the statement
            # here; either way the diagnostic query then names the first line off the grammar.
            cursor.execute(
                f"""
                CREATE UNLOGGED TABLE {groups} AS
                SELECT isrc, period, store, territory, currency, SUM(u) AS units,
                       SUM(CAST(v * 1000000 AS bigint)) AS micro, COUNT(*) AS n,
                       MIN(line_no) AS first_line, MAX(line_no) AS last_line, bool_and(ok) AS ok
                FROM (SELECT line_no, isrc, period, store, territory, currency, u, v, {NUMBERS_OK} AS ok
                      FROM (SELECT line_no, isrc, period, store, territory, currency, units, net_revenue,
                                   CAST(units AS bigint) AS u, CAST(net_revenue AS numeric) AS v
                            FROM {staging}) cast_lines) checked
                GROUP BY isrc, period, store, territory, currency
                """  # noqa: S608 - generated table names
            )
        except (DataError, NotSupportedError):  # out of range, not a number; NaN or Infinity as a bigint
            cursor.execute("ROLLBACK TO SAVEPOINT royalties_cast")
            raise _first_bad_line(cursor, staging) from None
        cursor.execute("RELEASE SAVEPOINT royalties_cast")
        lap("aggregate")
        # The keys are checked once per distinct value of each column (a statement has a few stores, territories,
        # periods and currencies, and one value per ISRC), with the grammar's patterns.
        per_column = " CROSS JOIN ".join(
            f"(SELECT bool_and(COALESCE(btrim({c}, ' ') ~ %s, false)) AS {c}_ok, "  # noqa: S608 - generated names
            f"COALESCE(bool_or({c} <> btrim({c}, ' ')), false) AS {c}_spaced "
            f"FROM (SELECT DISTINCT {c} FROM {groups}) d) {c}_check"
            for c in grammar.KEY_COLUMNS
        )
        cursor.execute(
            f"SELECT NOT EXISTS (SELECT 1 FROM {groups} WHERE NOT ok), "  # noqa: S608
            + ", ".join(f"{c}_ok, {c}_spaced" for c in grammar.KEY_COLUMNS)
            + f" FROM {per_column}",
            [grammar.REGEX[c] for c in grammar.KEY_COLUMNS],
        )
        numbers_ok, *key_checks = cursor.fetchone()
        if not numbers_ok or not all(key_checks[0::2]):
            raise _first_bad_line(cursor, staging)
        if any(key_checks[1::2]):
            _regroup_stripped(cursor, groups)
        cursor.execute(
            f"SELECT MIN(first_line) FROM {groups} WHERE abs(micro) > %s OR units > %s",  # noqa: S608
            [grammar.MAX_GROUP, grammar.MAX_GROUP],
        )
        (too_large,) = cursor.fetchone()
        if too_large is not None:
            raise group_too_large(too_large)
        cursor.execute(f"SELECT COALESCE(SUM(n), 0) FROM {groups}")  # noqa: S608
        (line_count,) = cursor.fetchone()
        cursor.execute(f"DROP TABLE {staging}")
    return int(line_count)


def _regroup_stripped(cursor: Any, groups: str) -> None:
    """Merge the groups whose keys differ only by surrounding spaces (rare: most files have none)."""
    stripped = ", ".join(f"{_STRIPPED[c]} AS {c}" for c in grammar.KEY_COLUMNS)
    cursor.execute(
        f"CREATE UNLOGGED TABLE {groups}_stripped AS SELECT {stripped}, SUM(units) AS units, SUM(micro) AS micro, "  # noqa: S608
        f"SUM(n) AS n, MIN(first_line) AS first_line, MAX(last_line) AS last_line, true AS ok "
        f"FROM {groups} GROUP BY 1, 2, 3, 4, 5"
    )
    cursor.execute(f"DROP TABLE {groups}")
    cursor.execute(f"ALTER TABLE {groups}_stripped RENAME TO {groups}")


def group_too_large(line: int) -> StatementInvalid:
    return StatementInvalid(
        f"Line {line}: the lines with this line's period, store, territory, ISRC and currency add up to "
        f"2⁶³ micro-units or plays or more; split them over several statements. Nothing was imported.",
        extra={"line": line, "phase": "values"},
    )


def _first_bad_line(cursor: Any, staging: str) -> StatementInvalid:
    """The first line off the grammar, found with the grammar's regular expressions (only on failure)."""
    checks = " AND ".join(f"{_STRIPPED[c]} ~ %s" for c in grammar.COLUMNS)
    cursor.execute(
        f"SELECT line_no, {', '.join(grammar.COLUMNS)} FROM {staging} "  # noqa: S608
        f"WHERE NOT COALESCE({checks}, false) ORDER BY line_no LIMIT 1",
        [grammar.REGEX[c] for c in grammar.COLUMNS],
    )
    row = cursor.fetchone()
    if row is None:
        return StatementInvalid("A value in the file could not be read; nothing was imported.", extra={"line": None})
    line, *values = row
    fields = dict(zip(grammar.COLUMNS, values, strict=True))
    column = grammar.first_bad_column(fields)
    if column is None:
        return StatementInvalid(f"Line {line}: a value could not be read; nothing was imported.", extra={"line": line})
    return grammar.bad_value(line, column, fields[column])


def group_hash_sql(groups: str) -> str:
    """(count, sum of first halves, sum of second halves) of the groups' md5 (see ``grammar.group_digest``)."""
    text = "concat_ws(chr(31), isrc, period, store, territory, currency, units::text, micro::text, n::text)"
    return (
        f"SELECT COUNT(*), COALESCE(SUM(('x' || substr(h, 1, 16))::bit(64)::bigint), 0), "  # noqa: S608
        f"COALESCE(SUM(('x' || substr(h, 17, 16))::bit(64)::bigint), 0) FROM (SELECT md5({text}) AS h FROM {groups}) t"
    )
