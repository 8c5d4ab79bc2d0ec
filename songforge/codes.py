"""Shared value formats: the one home of the ISRC and period patterns."""

from __future__ import annotations

import re

ISRC_REGEX: str = r"^[A-Z]{2}[A-Z0-9]{3}[0-9]{7}$"
ISRC_RE = re.compile(ISRC_REGEX)

PERIOD_REGEX: str = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
PERIOD_RE = re.compile(PERIOD_REGEX)


def normalize_isrc(raw: str) -> str | None:
    """The ISRC in canonical form (no spaces or hyphens, upper case), or None unless it is one."""
    candidate = raw.replace(" ", "").replace("-", "").upper()
    return candidate if ISRC_RE.match(candidate) else None
