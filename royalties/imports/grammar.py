"""The statement file grammar: written down once, enforced identically on every database.

A statement is UTF-8 text (a byte-order mark is allowed and dropped), CSV or TSV
(sniffed from the header), with a header line naming the columns below in any order.
Line endings may be LF, CRLF or CR (all read as LF). Every value is stripped of
surrounding spaces, then must match its column's pattern:

==============  ===============================================  ==============================
column          pattern (after stripping spaces)                 meaning
==============  ===============================================  ==============================
period          ``PERIOD_REGEX`` (songforge.codes)               a month, 2026-10
store           ``[^\\x00-\\x1f\\x7f]{1,100}``                       a store name
territory       ``[A-Z]{2,8}``                                   DE, or WW
isrc            ``ISRC_REGEX`` (songforge.codes)                 USRC17607839
units           ``[0-9]{1,18}``                                  plays, 0 or more
net_revenue     ``-?([0-9]{1,12}(\\.[0-9]{0,6})?|\\.[0-9]{1,6})``   decimal, ≤ 12 digits before and
                                                                 ≤ 6 after the point; no
                                                                 exponent, NaN or Infinity
currency        ``[A-Z]{3}``                                     ISO 4217, USD
==============  ===============================================  ==============================

So one line carries at most 999,999,999,999.999999 in any currency (below 2⁶³
micro-units); sums of lines are exact at any size (``numeric`` on PostgreSQL,
Python integers on SQLite). A group (lines with the same key) must stay below 2⁶³
micro-units and 2⁶³ plays, or the file is refused naming the group's first line.

Refusals come in three phases, each reporting its first line (the header is line 1):
1. encoding: bytes that are not UTF-8, or a NUL byte;
2. structure: a line without exactly the header's number of fields;
3. values: the first line with a value off its pattern (columns checked in the order
   of ``COLUMNS``).
A later phase is only reported when the earlier ones found nothing, so both
backends (``royalties.imports.postgresql`` and ``royalties.imports.sqlite``)
name the same line for the same file.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from royalties.errors import StatementInvalid
from songforge.codes import ISRC_REGEX, PERIOD_REGEX

COLUMNS = ("period", "store", "territory", "isrc", "units", "net_revenue", "currency")
KEY_COLUMNS = ("isrc", "period", "store", "territory", "currency")
READ_BUFFER = 1 << 20
MAX_GROUP = 2**63 - 1

REGEX: dict[str, str] = {
    "period": PERIOD_REGEX,
    "store": r"^[^\x00-\x1f\x7f]{1,100}$",
    "territory": r"^[A-Z]{2,8}$",
    "isrc": ISRC_REGEX,
    "units": r"^[0-9]{1,18}$",
    "net_revenue": r"^-?([0-9]{1,12}(\.[0-9]{0,6})?|\.[0-9]{1,6})$",
    "currency": r"^[A-Z]{3}$",
}
PATTERNS = {column: re.compile(regex) for column, regex in REGEX.items()}
HINTS = {
    "period": "a month like 2026-10",
    "isrc": "an ISRC like USRC17607839 (12 characters, no dashes)",
    "currency": "an ISO 4217 code like USD",
    "territory": "an ISO country code like DE (or WW)",
    "store": "a store name (1 to 100 characters, no control characters)",
    "units": "a whole number of plays, 0 or more (at most 18 digits)",
    "net_revenue": (
        "a decimal amount with at most 12 digits before and 6 after the point, like 0.004512 "
        "(no exponent, NaN or Infinity)"
    ),
}


@dataclass(frozen=True)
class Header:
    names: list[str]
    delimiter: str


def bad_value(line: int, column: str, value: Any) -> StatementInvalid:
    shown = "" if value is None else value
    return StatementInvalid(
        f"Line {line}: {column} {shown!r} is not {HINTS[column]}. Fix the line and import the file again; "
        "nothing was imported.",
        extra={"line": line, "column": column, "value": shown},
    )


def bad_structure(line: int, expected: int, found: int | None) -> StatementInvalid:
    detail = f"found {found}" if found is not None else "the fields could not be read"
    return StatementInvalid(
        f"Line {line}: expected {expected} fields, {detail}; nothing was imported.",
        extra={"line": line, "phase": "structure"},
    )


def bad_encoding(line: int) -> StatementInvalid:
    return StatementInvalid(
        f"Line {line} is not UTF-8 text (or holds a NUL byte); save the file as UTF-8 and import it again. "
        "Nothing was imported.",
        extra={"line": line, "phase": "encoding"},
    )


def normalised_chunks(path: Path, *, buffer: int = READ_BUFFER) -> Iterator[bytes]:
    """The file's bytes with the BOM dropped and CRLF/CR turned into LF, checked to be UTF-8 without NUL.

    Raises ``StatementInvalid`` naming the line of the first bad byte (after yielding the lines before it).
    """
    lines_before = 0
    pending = b""
    first = True
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(buffer)
            final = not chunk
            data = pending + chunk
            pending = b""
            if first:
                if len(data) < 3 and not final:
                    pending = data
                    continue
                if data.startswith(b"\xef\xbb\xbf"):
                    data = data[3:]
                first = False
            if not final and data.endswith(b"\r"):
                pending, data = b"\r", data[:-1]
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            try:
                data.decode("utf-8")
                bad_at = data.find(b"\x00")
            except UnicodeDecodeError as error:
                if error.reason == "unexpected end of data" and not final:
                    pending = data[error.start :] + pending
                    data = data[: error.start]
                    bad_at = data.find(b"\x00")
                else:
                    bad_at = error.start
                    nul = data.find(b"\x00", 0, bad_at)
                    bad_at = nul if nul >= 0 else bad_at
            if bad_at >= 0:
                raise bad_encoding(lines_before + data.count(b"\n", 0, bad_at) + 1)
            if data:
                lines_before += data.count(b"\n")
                yield data
            if final:
                return


def read_header(path: Path) -> Header:
    """Parse line 1; refuses a header without exactly the columns of ``COLUMNS``."""
    first = b""
    for chunk in normalised_chunks(path, buffer=64 * 1024):
        first += chunk
        if b"\n" in first:
            break
    text = first.split(b"\n", 1)[0].decode("utf-8")
    delimiter = "\t" if "\t" in text else ","
    names = [name.strip().lower() for name in next(csv.reader([text], delimiter=delimiter))] if text else []
    missing = [c for c in COLUMNS if c not in names]
    unknown = [n for n in names if n not in COLUMNS]
    if missing or unknown or len(set(names)) != len(names):
        raise StatementInvalid(
            f"Line 1 (header) must name the columns {', '.join(COLUMNS)}; "
            f"missing: {', '.join(missing) or 'none'}, unexpected: {', '.join(unknown) or 'none'}.",
            extra={"line": 1, "missing": missing, "unexpected": unknown},
        )
    return Header(names=names, delimiter=delimiter)


def first_bad_column(values: dict[str, str | None]) -> str | None:
    """The first column (in ``COLUMNS`` order) whose stripped value is off its pattern, or None."""
    for column in COLUMNS:
        value = values[column]
        if value is None or not PATTERNS[column].fullmatch(value.strip(" ")):
            return column
    return None


class ContentHash:
    """An order-free hash of the statement's groups: the same money in any line order, line ending,
    quoting, BOM, spacing or column order gives the same hash.

    Each group (key, units, micro-units, line count) is hashed with md5; the hash is the
    sha256 of the group count and the sums of the two 64-bit halves of those md5s
    (sums, not XOR, so repeated groups count). PostgreSQL computes the same sums in SQL
    (``postgresql.group_hash_sql``).
    """

    def __init__(self) -> None:
        self.count = 0
        self.first = 0
        self.second = 0

    def add(self, key: tuple[str, str, str, str, str], units: int, micro: int, lines: int) -> None:
        text = "\x1f".join((*key, str(units), str(micro), str(lines)))
        digest = hashlib.md5(text.encode(), usedforsecurity=False).digest()
        self.count += 1
        self.first += int.from_bytes(digest[:8], "big", signed=True)
        self.second += int.from_bytes(digest[8:], "big", signed=True)

    def hexdigest(self) -> str:
        return content_hash(self.count, self.first, self.second)


def content_hash(count: int, first: int, second: int) -> str:
    return hashlib.sha256(f"{count}:{first % 2**64:016x}:{second % 2**64:016x}".encode()).hexdigest()
