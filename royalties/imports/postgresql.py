"""PostgreSQL loader: COPY the normalised file into staging, then validate and group it set-based.

The file streams through ``COPY … FROM STDIN`` (after ``grammar.normalised_chunks``
has dropped the BOM, turned CRLF/CR into LF and refused non-UTF-8 bytes with their
line) into an unlogged staging table numbered by line. One ``GROUP BY`` then checks
the numbers of every line with cheap string tests equivalent to the grammar's
patterns, converts only lines that passed, and sums exactly (``numeric``); the key
columns are checked with the grammar's regular expressions once per group. If
anything failed, a diagnostic query (only then) finds the first bad line with the
grammar's regular expressions, so the refusal is the one the SQLite loader gives.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg2
from django.db import DataError, connection

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
            f"CREATE UNLOGGED TABLE {staging} (line_no bigint GENERATED ALWAYS AS IDENTITY (START WITH 2), "
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
        stripped = ", ".join(f"{_STRIPPED[c]} AS {c}" for c in grammar.KEY_COLUMNS)
        cursor.execute("SAVEPOINT royalties_cast")
        try:
            # Lines are grouped by their raw keys first, then the (far fewer) groups by their stripped keys.
            cursor.execute(
                f"""
                CREATE UNLOGGED TABLE {groups} AS
                SELECT {stripped}, SUM(units) AS units, SUM(micro) AS micro, SUM(n) AS n,
                       MIN(first_line) AS first_line, MAX(last_line) AS last_line, MIN(bad_line) AS bad_line
                FROM (SELECT isrc, period, store, territory, currency,
                             SUM(CASE WHEN ok THEN u END) AS units,
                             SUM(CASE WHEN ok THEN CAST(v * 1000000 AS bigint) END) AS micro,
                             COUNT(*) AS n, MIN(line_no) AS first_line, MAX(line_no) AS last_line,
                             MIN(CASE WHEN NOT ok THEN line_no END) AS bad_line
                      FROM (SELECT line_no, isrc, period, store, territory, currency, u, v, {NUMBERS_OK} AS ok
                            FROM (SELECT line_no, isrc, period, store, territory, currency, units, net_revenue,
                                         CAST(units AS bigint) AS u, CAST(net_revenue AS numeric) AS v
                                  FROM {staging}) cast_lines) checked
                      GROUP BY isrc, period, store, territory, currency) raw
                GROUP BY 1, 2, 3, 4, 5
                """  # noqa: S608 - generated table names
            )
        except DataError:
            cursor.execute("ROLLBACK TO SAVEPOINT royalties_cast")
            raise _first_bad_line(cursor, staging) from None
        cursor.execute("RELEASE SAVEPOINT royalties_cast")
        lap("aggregate")
        checks = " AND ".join(f"{c} ~ %s" for c in grammar.KEY_COLUMNS)
        cursor.execute(
            f"SELECT (SELECT MIN(bad_line) FROM {groups}), "  # noqa: S608
            f"(SELECT MIN(first_line) FROM {groups} WHERE NOT COALESCE({checks}, false))",
            [grammar.REGEX[c] for c in grammar.KEY_COLUMNS],
        )
        bad_number, bad_key = cursor.fetchone()
        if bad_number is not None or bad_key is not None:
            raise _first_bad_line(cursor, staging)
        cursor.execute(
            f"SELECT MIN(first_line) FROM {groups} WHERE abs(micro) > %s OR units > %s",  # noqa: S608
            [grammar.MAX_GROUP, grammar.MAX_GROUP],
        )
        (too_large,) = cursor.fetchone()
        if too_large is not None:
            raise group_too_large(too_large)
        cursor.execute(f"SELECT COALESCE(MAX(line_no), 1) - 1 FROM {staging}")  # noqa: S608
        (line_count,) = cursor.fetchone()
        cursor.execute(f"DROP TABLE {staging}")
    return int(line_count)


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
