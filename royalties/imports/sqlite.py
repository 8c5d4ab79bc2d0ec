"""SQLite loader (laptops, tests): one streaming Python pass validates each line and sums groups exactly.

Lines come from ``grammar.normalised_chunks`` (the same bytes PostgreSQL's COPY
receives), are split by ``csv`` and checked against ``grammar.PATTERNS`` (each distinct
key and play-count value once, every amount by its pattern); groups are summed in
Python integers (no 64-bit overflow), then written to a temporary table for the
shared SQL. The file is never held in memory; the groups are (one entry
per key).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from pathlib import Path

from django.db import connection

from royalties.errors import StatementInvalid
from royalties.imports import grammar
from royalties.imports.postgresql import group_too_large

CHUNK_ROWS = 20_000
KNOWN_VALUES = 100_000  # per column: bounds the memory of the valid-value caches

Key = tuple[str, str, str, str, str]


def _lines(path: Path) -> Iterator[str]:
    rest = ""
    for chunk in grammar.normalised_chunks(path):
        text = rest + chunk.decode("utf-8")
        lines = text.split("\n")
        rest = lines.pop()
        for line in lines:
            yield line + "\n"
    if rest:
        yield rest


def _micro(revenue: str) -> int:
    """Micro-units of an amount that matched the grammar's ``net_revenue`` pattern (no Decimal: exact integers)."""
    negative = revenue.startswith("-")
    whole, _, fraction = (revenue[1:] if negative else revenue).partition(".")
    micro = int(whole or "0") * 1_000_000 + int(fraction.ljust(6, "0"))
    return -micro if negative else micro


def parse(*, path: Path, header: grammar.Header) -> tuple[int, dict[Key, list[int]]]:
    """Check every line against the grammar and sum the groups exactly, without a database.

    Returns (number of lines, {key: [units, micro, lines, first line, last line]}); raises
    ``StatementInvalid`` with the refusal both loaders give (the grammar tests compare it with
    the database's on every run, so CI on PostgreSQL checks this parser too).
    """
    index = [header.names.index(column) for column in grammar.COLUMNS]
    width = len(header.names)
    sums: dict[Key, list[int]] = {}
    structure_error: StatementInvalid | None = None
    value_error: StatementInvalid | None = None
    line_count = 0
    # Raw values already found valid, per column (a statement repeats a few periods, stores, territories,
    # currencies and play counts, and each ISRC on many lines): a line whose values are all known and whose amount
    # matches its pattern skips the full check. Only values that passed the full check enter, so a line is refused
    # exactly when ``grammar.first_bad_column`` refuses it.
    known: tuple[set[str], ...] = tuple(set() for _ in grammar.COLUMNS)
    (period_ok, store_ok, territory_ok, isrc_ok, units_ok, _, currency_ok) = known
    revenue_ok = grammar.PATTERNS["net_revenue"].fullmatch
    i_period, i_store, i_territory, i_isrc, i_units, i_revenue, i_currency = index
    reader = csv.reader(_lines(path), delimiter=header.delimiter, strict=True)
    lines = iter(reader)
    next(lines, None)  # the header
    while True:
        try:
            row = next(lines)
        except StopIteration:
            break
        except csv.Error:
            structure_error = structure_error or grammar.bad_structure(reader.line_num, width, None)
            for _ in _lines(path):  # encoding errors (an earlier phase) anywhere still win
                pass
            break
        line = reader.line_num
        if structure_error is not None:
            continue
        if len(row) != width:
            structure_error = grammar.bad_structure(line, width, len(row))
            continue
        if value_error is not None:
            continue
        period, store, territory, isrc = row[i_period], row[i_store], row[i_territory], row[i_isrc]
        units_text, revenue, currency = row[i_units], row[i_revenue].strip(" "), row[i_currency]
        if not (
            period in period_ok
            and isrc in isrc_ok
            and store in store_ok
            and territory in territory_ok
            and units_text in units_ok
            and currency in currency_ok
            and revenue_ok(revenue)
        ):
            values = dict(zip(grammar.COLUMNS, (row[i] for i in index), strict=True))
            column = grammar.first_bad_column(dict(values))
            if column is not None:
                value_error = grammar.bad_value(line, column, values[column])
                continue
            for seen, i in zip(known, index, strict=True):
                if i != i_revenue and len(seen) < KNOWN_VALUES:
                    seen.add(row[i])
        key = (isrc.strip(" "), period.strip(" "), store.strip(" "), territory.strip(" "), currency.strip(" "))
        units = int(units_text)
        micro = _micro(revenue)  # matched the grammar, so it parses
        group = sums.get(key)
        if group is None:
            sums[key] = [units, micro, 1, line, line]
        else:
            group[0] += units
            group[1] += micro
            group[2] += 1
            group[4] = line
        line_count += 1
    if structure_error is not None:
        raise structure_error
    if value_error is not None:
        raise value_error
    too_large = [g[3] for g in sums.values() if abs(g[1]) > grammar.MAX_GROUP or g[0] > grammar.MAX_GROUP]
    if too_large:
        raise group_too_large(min(too_large))
    return line_count, sums


def load(*, path: Path, header: grammar.Header, groups: str, lap: Callable[[str], None]) -> tuple[int, str]:
    """Fill ``groups`` like the PostgreSQL loader; returns (number of lines, content hash)."""
    line_count, sums = parse(path=path, header=header)
    lap("parse")
    content = grammar.ContentHash()
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE {groups} (isrc text, period text, store text, territory text, currency text, "
            "units integer, micro integer, n integer, first_line integer, last_line integer)"
        )
        insert = f"INSERT INTO {groups} VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"  # noqa: S608
        chunk: list[tuple[str | int, ...]] = []
        for key, (units, micro, n, first, last) in sums.items():
            content.add(key, units, micro, n)
            chunk.append((*key, units, micro, n, first, last))
            if len(chunk) >= CHUNK_ROWS:
                cursor.executemany(insert, chunk)
                chunk.clear()
        if chunk:
            cursor.executemany(insert, chunk)
    return line_count, content.hexdigest()
