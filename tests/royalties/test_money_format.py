"""Amounts for people: one helper, currency exponents, the stored integer alongside."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from royalties.imports import statement_import
from royalties.money import FloatNotAllowed, format_for_people
from tests.royalties.conftest import line


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (14955, "USD", "$149.55 (14955 USD minor units)"),
        (-5, "EUR", "-€0.05 (-5 EUR minor units)"),
        (123456789, "GBP", "£1,234,567.89 (123456789 GBP minor units)"),
        (1500, "JPY", "¥1,500 (1500 JPY minor units)"),
        (1234500, "KWD", "1,234.500 KWD (1234500 KWD minor units)"),
        (0, "CHF", "0.00 CHF (0 CHF minor units)"),
    ],
)
def test_it_formats_for_people(amount, currency, text):
    assert format_for_people(amount, currency) == text


def test_it_refuses_floats():
    with pytest.raises(FloatNotAllowed):
        format_for_people(1.5, "USD")  # type: ignore[arg-type]


def test_payouts_text_output_is_for_people_and_json_keeps_minor_units(world, statement_file, settings, capsys):
    settings.PAYOUT_MINIMUM_MINOR = 500
    statement_import(path=statement_file([line(revenue="20.00")], name="oct.csv"))
    call_command("royalties_payouts", "--period", "2026-10")
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Payout run 2026-10 (draft), minimum $5.00 (500 USD minor units)"
    assert "  Label: $6.70 (670 USD minor units)" in out
    call_command("royalties_payouts", "--period", "2026-10", "--json")
    assert '"amount_minor": 670' in capsys.readouterr().out
