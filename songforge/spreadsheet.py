"""Cells for CSV/XLS exports that a spreadsheet will not run as formulas (OWASP "CSV injection").

A text cell beginning with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is prefixed with
a single quote, so a release titled ``=HYPERLINK(...)`` reaches a holder's statement as text.
Numbers (ints, and strings that are plain numbers such as ``-12.50``) pass unchanged: they cannot
be formulas, and amounts must stay numeric. Every export writes its rows through :func:`safe_row`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"^[+-]?\d+(?:[.,]\d+)?$")


def safe_cell(value: Any) -> Any:
    if not isinstance(value, str) or not value.startswith(FORMULA_PREFIXES) or PLAIN_NUMBER.match(value):
        return value
    return "'" + value


def safe_row(row: Iterable[Any]) -> list[Any]:
    return [safe_cell(value) for value in row]
