from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from royalties.money import (
    PPB,
    FloatNotAllowed,
    MoneyError,
    format_minor,
    fractions_to_ppb,
    largest_remainder,
    micro_per_minor,
    micro_to_minor_floor,
    parse_micro,
    split_by_ppb,
)


def test_it_parses_decimal_strings_to_exact_micro_units():
    assert parse_micro("12.345678") == 12_345_678
    assert parse_micro("-0.5") == -500_000
    assert parse_micro("0.1") == 100_000
    assert parse_micro(" 3 ") == 3_000_000


@pytest.mark.parametrize("text", ["", "abc", "1e3", "NaN", "1.0000001", "1_000"])
def test_it_refuses_amounts_it_cannot_hold_exactly(text):
    with pytest.raises(MoneyError):
        parse_micro(text)


def test_it_refuses_floats_everywhere():
    with pytest.raises(FloatNotAllowed):
        largest_remainder(10.0, {1: 1})  # type: ignore[arg-type]
    with pytest.raises(FloatNotAllowed):
        largest_remainder(10, {1: 0.5})  # type: ignore[dict-item]
    with pytest.raises(FloatNotAllowed):
        parse_micro(0.1)  # type: ignore[arg-type]
    with pytest.raises(FloatNotAllowed):
        format_minor(1.5, "USD")  # type: ignore[arg-type]


def test_it_knows_minor_units_of_currencies():
    assert micro_per_minor("USD") == 10_000
    assert micro_per_minor("JPY") == 1_000_000
    assert micro_per_minor("KWD") == 1_000
    assert micro_to_minor_floor(-1, "USD") == (-1, 9_999)
    with pytest.raises(MoneyError):
        micro_per_minor("usd")


def test_it_formats_only_at_the_edge():
    assert format_minor(123456, "USD") == "1,234.56 USD"
    assert format_minor(-5, "USD") == "-0.05 USD"
    assert format_minor(500, "JPY") == "500 JPY"


def test_ties_go_to_the_lowest_id():
    assert largest_remainder(1, {3: 1, 2: 1, 1: 1}) == {1: 1, 2: 0, 3: 0}
    assert largest_remainder(2, {3: 1, 2: 1, 1: 1}) == {1: 1, 2: 1, 3: 0}


def test_a_refund_mirrors_an_earning():
    assert largest_remainder(-100, {1: 1, 2: 2}) == {1: -33, 2: -67}
    assert largest_remainder(100, {1: 1, 2: 2}) == {1: 33, 2: 67}


def test_split_by_ppb_requires_a_complete_sheet():
    with pytest.raises(MoneyError):
        split_by_ppb(100, {1: PPB - 1})


@given(
    total=st.integers(min_value=-(10**12), max_value=10**12),
    weights=st.dictionaries(st.integers(1, 10_000), st.integers(0, 10**9), min_size=1, max_size=40).filter(
        lambda w: sum(w.values()) > 0
    ),
)
def test_parts_always_sum_to_the_whole(total, weights):
    parts = largest_remainder(total, weights)
    assert sum(parts.values()) == total
    weight_sum = sum(weights.values())
    for key, part in parts.items():
        exact = Fraction(total * weights[key], weight_sum)
        assert abs(part - exact) < 1


@given(st.lists(st.integers(1, 10**6), min_size=1, max_size=30))
def test_exact_shares_round_to_exactly_one_billion_ppb(numerators):
    total = sum(numerators)
    shares = {i: Fraction(n, total) for i, n in enumerate(numerators)}
    ppb = fractions_to_ppb(shares)
    assert sum(ppb.values()) == PPB
    assert all(abs(ppb[i] - shares[i] * PPB) < 1 for i in shares)


def test_decimal_weights_are_exact():
    assert largest_remainder(10, {1: Fraction(Decimal("0.1")), 2: Fraction(Decimal("0.2"))}) == {1: 3, 2: 7}
