"""Shared value formats: the one home of the ISRC and royalty-period patterns.

Models use the ``*_REGEX`` strings in their check constraints (the database needs the raw
pattern); code uses the compiled ``*_RE`` objects and :func:`normalize_isrc`.
"""

from __future__ import annotations

import re

ISRC_REGEX: str = r"^[A-Z]{2}[A-Z0-9]{3}[0-9]{7}$"
"""An ISRC without separators: country (2 letters), registrant (3), year (2 digits), designation (5)."""
ISRC_RE = re.compile(ISRC_REGEX)

PERIOD_REGEX: str = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
"""A royalty period: a calendar month written YYYY-MM."""
PERIOD_RE = re.compile(PERIOD_REGEX)


def normalize_isrc(raw: str) -> str | None:
    """``raw`` as a bare upper-case ISRC ("gb-aye-06-01498" → "GBAYE0601498"), or None if it is not one."""
    value = raw.strip().upper().replace("-", "").replace(" ", "")
    return value if ISRC_RE.match(value) else None
