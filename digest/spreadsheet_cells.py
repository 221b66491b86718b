"""CSV cells that a spreadsheet opens as text, never as a formula.

Spreadsheets run a cell that starts with "=", "+", "-", "@", a tab or a carriage return as a
formula, and names, addresses and providers' replies are third-party text: such a cell is
written with an apostrophe in front (what spreadsheets themselves do to keep a cell as text).
digest's own CSV import takes the apostrophe off again, so an export imports as it was.
"""

from __future__ import annotations

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def as_text(value: str) -> str:
    return f"'{value}" if value.startswith(_FORMULA_STARTS) else value


def from_text(value: str) -> str:
    """A cell as `as_text` wrote it, back as it was."""
    return value[1:] if value.startswith("'") and value[1:].startswith(_FORMULA_STARTS) else value
