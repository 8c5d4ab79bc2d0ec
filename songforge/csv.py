"""CSV cells that spreadsheets will not run: formula-looking text is prefixed with a quote."""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value: object) -> object:
    """Numbers pass unchanged; text starting with = + - @ tab or CR gets a leading ' (OWASP CSV injection)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
