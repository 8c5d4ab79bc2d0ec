"""Integer money and exact splitting.

Storage and arithmetic use integers only:

* ``minor`` units (cents for USD, yen for JPY) in the ledger;
* ``micro`` units (10⁻⁶ of the major unit) for statement amounts, so any amount a
  distributor reports with up to six decimals is held exactly;
* shares as integer parts per billion (``PPB``: 1,000,000,000 = 100%) or as
  ``fractions.Fraction`` while they are being computed.

Every function refuses floats (``FloatNotAllowed``): a float cannot hold 0.1 exactly,
and one lost cent per line is a lot of cents over ten million lines.

Splitting uses the largest-remainder method: each part gets the floor of its exact
share, then the units still missing go one by one to the parts with the largest
remainders, ties broken by the lowest key (the caller passes ids). The parts always
add up to the whole, and the result never depends on dictionary order.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any, TypeVar

from songforge.errors import DomainError

PPB = 1_000_000_000
BPS = 10_000
MICRO = 1_000_000

# ISO 4217 minor-unit exponents that differ from 2. Unknown-but-well-formed codes use 2.
_EXPONENTS: dict[str, int] = {
    "BIF": 0,
    "CLP": 0,
    "DJF": 0,
    "GNF": 0,
    "ISK": 0,
    "JPY": 0,
    "KMF": 0,
    "KRW": 0,
    "PYG": 0,
    "RWF": 0,
    "UGX": 0,
    "UYI": 0,
    "VND": 0,
    "VUV": 0,
    "XAF": 0,
    "XOF": 0,
    "XPF": 0,
    "BHD": 3,
    "IQD": 3,
    "JOD": 3,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "TND": 3,
    "CLF": 4,
    "UYW": 4,
}

K = TypeVar("K", bound=Hashable)


class MoneyError(DomainError):
    code = "money_error"


class FloatNotAllowed(MoneyError):
    """Raised when a float reaches money code: use int, Decimal strings or Fraction."""

    code = "float_not_allowed"


def refuse_float(*values: Any) -> None:
    for value in values:
        if isinstance(value, float):
            raise FloatNotAllowed(
                f"Money code got the float {value!r}; pass an int, a decimal string or a Fraction instead.",
                extra={"value": repr(value)},
            )


def currency_exponent(currency: str) -> int:
    """Number of decimals of the minor unit (2 for USD, 0 for JPY, 3 for KWD)."""
    if len(currency) != 3 or not currency.isascii() or not currency.isupper() or not currency.isalpha():
        raise MoneyError(f"{currency!r} is not an ISO 4217 currency code (three capital letters, e.g. USD).")
    return _EXPONENTS.get(currency, 2)


def micro_per_minor(currency: str) -> int:
    """How many micro-units make one minor unit (10,000 for USD)."""
    return int(10 ** (6 - currency_exponent(currency)))


def parse_micro(text: str) -> int:
    """Parse a decimal string ("12.345678", "-0.5") into exact integer micro-units.

    More than six decimals, exponents, NaN and infinities are refused: they would
    need rounding, and rounding belongs to allocation, not to parsing.
    """
    if isinstance(text, float):
        refuse_float(text)
    stripped = text.strip()
    if not stripped or "e" in stripped.lower() or "_" in stripped:
        raise MoneyError(f"{text!r} is not a decimal amount like 12.34.")
    try:
        value = Decimal(stripped)
    except InvalidOperation:
        raise MoneyError(f"{text!r} is not a decimal amount like 12.34.") from None
    if not value.is_finite():
        raise MoneyError(f"{text!r} is not a finite amount.")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -6:
        raise MoneyError(f"{text!r} has more than six decimals; SongForge keeps amounts to the micro-unit.")
    return int(value.scaleb(6))


def micro_to_minor_floor(amount_micro: int, currency: str) -> tuple[int, int]:
    """Split micro-units into (whole minor units rounded down, leftover micro-units ≥ 0)."""
    refuse_float(amount_micro)
    factor = micro_per_minor(currency)
    whole, rest = divmod(amount_micro, factor)
    return whole, rest


def format_minor(amount_minor: int, currency: str) -> str:
    """Render at the edge only: 12345 USD → "123.45 USD"."""
    refuse_float(amount_minor)
    exponent = currency_exponent(currency)
    sign = "-" if amount_minor < 0 else ""
    whole, fraction = divmod(abs(amount_minor), 10**exponent)
    if exponent == 0:
        return f"{sign}{whole:,} {currency}"
    return f"{sign}{whole:,}.{fraction:0{exponent}d} {currency}"


def largest_remainder(
    total: int, weights: Mapping[K, int | Fraction], *, order: Sequence[K] | None = None
) -> dict[K, int]:
    """Split the integer ``total`` in proportion to ``weights`` so the parts sum to ``total``.

    Weights are non-negative ints or Fractions (not necessarily normalised). Ties in
    the remainder go to the key that comes first in ``order`` (default: sorted keys,
    i.e. the lowest id). A negative total is split as its magnitude, then negated,
    so refunds mirror earnings exactly.
    """
    refuse_float(total, *weights.values())
    if not weights:
        raise MoneyError("Cannot split an amount between nobody; give at least one share.")
    weight_sum = sum((Fraction(w) for w in weights.values()), Fraction(0))
    if any(Fraction(w) < 0 for w in weights.values()):
        raise MoneyError("Shares must not be negative.")
    if weight_sum == 0:
        raise MoneyError("Shares sum to zero; give at least one positive share.")
    sign = -1 if total < 0 else 1
    magnitude = abs(total)
    keys = list(order) if order is not None else sorted(weights)  # type: ignore[type-var]
    rank = {key: index for index, key in enumerate(keys)}
    parts: dict[K, int] = {}
    remainders: list[tuple[Fraction, int, K]] = []
    for key, weight in weights.items():
        exact = magnitude * Fraction(weight) / weight_sum
        floor = exact.numerator // exact.denominator
        parts[key] = floor
        remainders.append((exact - floor, rank[key], key))
    missing = magnitude - sum(parts.values())
    remainders.sort(key=lambda item: (-item[0], item[1]))
    for _, _, key in remainders[:missing]:
        parts[key] += 1
    return {key: sign * value for key, value in parts.items()}


def split_by_ppb(total: int, shares_ppb: Mapping[K, int]) -> dict[K, int]:
    """Split ``total`` minor (or micro) units by shares in parts per billion summing to 10⁹."""
    refuse_float(total, *shares_ppb.values())
    if sum(shares_ppb.values()) != PPB:
        raise MoneyError(f"Shares sum to {sum(shares_ppb.values())} ppb, not {PPB}; fix the split sheet first.")
    return largest_remainder(total, shares_ppb)


def fractions_to_ppb(shares: Mapping[K, Fraction]) -> dict[K, int]:
    """Round exact shares summing to 1 into ppb summing to exactly 10⁹ (largest remainder)."""
    refuse_float(*shares.values())
    if sum(shares.values(), Fraction(0)) != 1:
        raise MoneyError("Exact shares must sum to exactly 1 before rounding to parts per billion.")
    return largest_remainder(PPB, shares)
