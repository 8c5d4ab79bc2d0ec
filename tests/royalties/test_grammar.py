"""One grammar, one answer: every hostile file gets the same refusal (line, column) on SQLite and PostgreSQL.

CI runs this file with DATABASE_URL on PostgreSQL, laptops on SQLite; the expected
answers below are the same for both, so a backend that parses differently fails. Every
case also runs the SQLite loader's parser (``sqlite.parse``, no database) and compares
its answer with the database's, so the PostgreSQL run checks both loaders.
"""

import pytest
from django.db import connection
from hypothesis import assume, given
from hypothesis import strategies as st

from royalties import ledger
from royalties.errors import StatementInvalid
from royalties.imports import grammar, sqlite, statement_import
from royalties.models import Entry, LineGroup, Statement, Transaction

HEADER = b"period,store,territory,isrc,units,net_revenue,currency\n"
GOOD = b"2026-10,Spotify,DE,QZS8F2600001,1,1.00,USD\n"


def row(revenue: str = "1.00", units: str = "1", currency: str = "USD", store: str = "Spotify") -> bytes:
    return f"2026-10,{store},DE,QZS8F2600001,{units},{revenue},{currency}\n".encode()


def nothing_written() -> bool:
    return (
        Statement.objects.count(),
        LineGroup.objects.count(),
        Transaction.objects.count(),
        Entry.objects.count(),
    ) == (
        0,
        0,
        0,
        0,
    )


HOSTILE = [
    # (id, body after the header, line, column or phase)
    ("exponent", GOOD + row("1.5E+3"), 3, "net_revenue"),
    ("exponent-lower", GOOD + row("1e3"), 3, "net_revenue"),
    ("nan", row("NaN"), 2, "net_revenue"),
    ("infinity", GOOD + GOOD + row("Infinity"), 4, "net_revenue"),
    ("minus-infinity", row("-Infinity"), 2, "net_revenue"),
    ("float-repr", row("1.23457E+11"), 2, "net_revenue"),
    ("seven-decimals", row("0.0000001"), 2, "net_revenue"),
    ("thirteen-digits", row("1000000000000"), 2, "net_revenue"),
    ("plus-sign", row("+5"), 2, "net_revenue"),
    ("minus-only", row("-"), 2, "net_revenue"),
    ("dot-only", row("."), 2, "net_revenue"),
    ("two-dots", row("1.2.3"), 2, "net_revenue"),
    ("minus-inside", row("5-"), 2, "net_revenue"),
    ("empty-revenue", row(""), 2, "net_revenue"),
    ("comma-decimal", b'2026-10,Spotify,DE,QZS8F2600001,1,"1,5",USD\n', 2, "net_revenue"),
    ("hex", row("0x10"), 2, "net_revenue"),
    ("units-decimal", row(units="1.0"), 2, "units"),
    ("units-negative", row(units="-1"), 2, "units"),
    ("units-exponent", row(units="1e3"), 2, "units"),
    ("units-nineteen-digits", row(units="1" * 19), 2, "units"),
    ("units-empty", row(units=""), 2, "units"),
    ("currency-lower", row(currency="usd"), 2, "currency"),
    ("store-control-char", row(store="Spo\x01tify"), 2, "store"),
    ("store-too-long", row(store="S" * 101), 2, "store"),
    ("period-first", b"2026-13,Spotify,DE,QZS8F2600001,x,1.00,USD\n", 2, "period"),
    ("not-utf8", GOOD + GOOD + b"2026-10,Sp\xfftify,DE,QZS8F2600001,1,1.00,USD\n", 4, "encoding"),
    ("latin1", GOOD + b"2026-10,Caf\xe9,DE,QZS8F2600001,1,1.00,USD\n", 3, "encoding"),
    ("nul-byte", GOOD + b"2026-10,Spo\x00tify,DE,QZS8F2600001,1,1.00,USD\n", 3, "encoding"),
    ("short-line", GOOD + b"2026-10,Spotify\n", 3, "structure"),
    ("long-line", GOOD + b"2026-10,Spotify,DE,QZS8F2600001,1,1.00,USD,extra\n", 3, "structure"),
    ("blank-line", GOOD + b"\n" + GOOD, 3, "structure"),
    ("structure-before-values", row("NaN") + b"2026-10,Spotify\n", 3, "structure"),
    ("encoding-before-structure", b"2026-10,Spotify\n" + GOOD + b"\xff\n", 4, "encoding"),
    # after good lines (their values are then known to the SQLite parser's caches), a bad value is still found
    ("period-after-good", GOOD * 3 + b"2026-13,Spotify,DE,QZS8F2600001,1,1.00,USD\n", 5, "period"),
    ("store-after-good", GOOD * 3 + row(store="S" * 101), 5, "store"),
    ("territory-after-good", GOOD + b"2026-10,Spotify,de,QZS8F2600001,1,1.00,USD\n", 3, "territory"),
    ("isrc-after-good", GOOD + b"2026-10,Spotify,DE,QZS8-F26-00001,1,1.00,USD\n", 3, "isrc"),
    ("units-after-good", GOOD * 2 + row(units="1.0"), 4, "units"),
    ("revenue-after-good", GOOD * 2 + row("1.0000000"), 4, "net_revenue"),
    ("currency-after-good", GOOD + row(currency="US"), 3, "currency"),
    ("spaced-known-then-bad", GOOD + b"2026-10, Spotify ,DE,QZS8F2600001,1,1.00,USD\n" + row(units="+1"), 4, "units"),
    # lines of one group (the first is line 2) summing past 2^63 micro-units: refused, never an overflow
    ("group-overflow", GOOD + row("999999999999.999999") * 10, 2, "values"),
]


@pytest.mark.parametrize(("body", "line", "where"), [case[1:] for case in HOSTILE], ids=[c[0] for c in HOSTILE])
def test_hostile_files_are_refused_with_their_line_and_nothing_is_written(world, tmp_path, body, line, where):
    path = tmp_path / "hostile.csv"
    path.write_bytes(HEADER + body)
    with pytest.raises(StatementInvalid) as error:
        statement_import(path=path)
    assert error.value.extra["line"] == line, error.value.message
    assert error.value.extra.get("column", error.value.extra.get("phase")) == where, error.value.message
    assert error.value.message.startswith(f"Line {line}")
    assert nothing_written()
    # The other loader's grammar, without a database: the same refusal, so a run on either database checks both.
    with pytest.raises(StatementInvalid) as python_error:
        sqlite.parse(path=path, header=grammar.read_header(path))
    python_extra = python_error.value.extra
    assert (python_extra["line"], python_extra.get("column", python_extra.get("phase"))) == (line, where)


ACCEPTED = [
    ("bom-crlf", b"\xef\xbb\xbf" + HEADER.replace(b"\n", b"\r\n") + GOOD.replace(b"\n", b"\r\n"), 100),
    ("cr-only", HEADER.replace(b"\n", b"\r") + GOOD.replace(b"\n", b"\r"), 100),
    ("spaces-around-values", HEADER + b"2026-10, Spotify ,DE,QZS8F2600001, 1 , 1.00 ,USD \n", 100),
    ("quoted", HEADER + b'"2026-10","Spotify","DE","QZS8F2600001","1","1.00","USD"\n', 100),
    ("leading-dot", HEADER + row(".5"), 50),
    ("trailing-dot", HEADER + row("-1."), -100),
    ("six-decimals-and-twelve-digits", HEADER + row("999999999999.999999"), 99_999_999_999_999),
    ("no-final-newline", HEADER + GOOD.rstrip(b"\n"), 100),
]


@pytest.mark.parametrize(("content", "minor"), [c[1:] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED])
def test_well_formed_variants_are_accepted_alike(world, tmp_path, content, minor):
    path = tmp_path / "fine.csv"
    path.write_bytes(content)
    statement = statement_import(path=path).statement
    assert statement.line_count == 1
    assert statement.totals["USD"]["minor"] == minor
    line_count, sums = sqlite.parse(path=path, header=grammar.read_header(path))
    assert (line_count, next(iter(sums.values()))[1]) == (1, statement.totals["USD"]["micro"])
    group = LineGroup.objects.get()
    assert (group.store, group.currency, group.units) == ("Spotify", "USD", 1)
    assert ledger.check().is_balanced


NUMBERS = [
    "0",
    "1",
    "-1",
    "1.",
    ".5",
    "-.5",
    "-1.",
    "000000000001",
    "0000000000001",
    "1.000000",
    "1.0000000",
    "999999999999.999999",
    "1e3",
    "1E3",
    "NaN",
    "nan",
    "Infinity",
    "inf",
    "-",
    ".",
    "-.",
    "",
    "+1",
    "--1",
    "1-",
    "1.2.3",
    "0x1",
    "1_000",
    "١٢",  # Arabic-Indic digits: Python's int() reads them, the grammar does not
    " 5 ",
    "007",
    "-0",
    "0.000000",
    "1000000000000",
    "999999999999999999",
    "1000000000000000000",
]


@pytest.mark.parametrize("value", NUMBERS)
def test_the_postgresql_fast_checks_equal_the_grammar(db, value):
    """PostgreSQL checks numbers per line without a pattern where it can; it must accept exactly what the grammar
    does. A value that does not even cast fails the statement, and then the grammar's patterns find the line."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://…")
    from django.db import DataError, transaction

    from royalties.imports.postgresql import NUMBERS_OK

    for units, revenue, column in ((value, "1", "units"), ("1", value, "net_revenue")):
        expected = bool(grammar.PATTERNS[column].fullmatch(value.strip(" ")))
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT {NUMBERS_OK} FROM (SELECT units, net_revenue, CAST(units AS bigint) AS u, "  # noqa: S608
                    "CAST(net_revenue AS numeric) AS v FROM (SELECT %s AS units, %s AS net_revenue) t) c",
                    [units, revenue],
                )
                (fast,) = cursor.fetchone()
        except DataError:
            assert not expected, f"{column} {value!r} is in the grammar but PostgreSQL cannot cast it"
        else:
            assert fast == expected, (column, value)


@pytest.mark.parametrize("value", NUMBERS)
def test_accepted_amounts_parse_to_exact_micro_units(value):
    if grammar.PATTERNS["net_revenue"].fullmatch(value):
        from decimal import Decimal

        from royalties.money import parse_micro

        assert parse_micro(value) == int(Decimal(value if value.strip("-") != "." else "0").scaleb(6))


@given(value=st.from_regex(grammar.REGEX["net_revenue"], fullmatch=True))
def test_the_sqlite_parser_reads_every_accepted_amount_as_parse_micro_does(value):
    """The SQLite loader parses amounts with integer arithmetic (no Decimal); it must agree with ``parse_micro``."""
    from royalties.money import parse_micro

    assume(value.strip("-") not in (".", ""))
    assert sqlite._micro(value) == parse_micro(value)


@pytest.mark.parametrize(
    ("body", "line"),
    [(GOOD + b"2026-10,Sp\xfftify,DE,QZS8F2600001,1,1.00,USD\n", 3), (row("NaN"), 2), (row("1.5E+3"), 2)],
    ids=["not-utf8", "nan", "exponent"],
)
def test_the_api_answers_hostile_files_with_a_400_naming_the_line(world, body, line):
    from django.contrib.auth.models import Permission
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.factories import UserFactory
    from tests.royalties.test_api import client_for

    user = UserFactory.create(username="staff", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="import_statement"))
    staff = client_for(user)
    response = staff.post(
        "/api/royalties/imports/", {"file": SimpleUploadedFile("bad.csv", HEADER + body)}, format="multipart"
    )
    assert response.status_code == 400
    assert (response.json()["code"], response.json()["extra"]["line"]) == ("statement_invalid", line)
    assert nothing_written()
