"""Text from outside (files, feeds, CSV rows, web forms) made safe once, where it comes in.

A title, source, author or reader's name ends up in a subject or a `To:` header, a one-line
web page, a CSV export: a line break there ends the header or forges another one. So
one-line fields have every control character and line break folded to a single space. Bidi
overrides and isolates are dropped from everything: unbalanced, they reorder whatever follows
them (a whole subject line), and articles have no need of them (pages use `dir` instead).
Body text keeps its paragraphs: only line breaks are normalised to `\\n`.
"""

from __future__ import annotations

import re

# U+202A–U+202E (embeddings, overrides) and U+2066–U+2069 (isolates).
_BIDI_CONTROLS = re.compile(r"[\u202a-\u202e\u2066-\u2069]")
# C0 and C1 controls and DEL; the Unicode line and paragraph separators.
_ONE_LINE_BREAKERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_LINE_BREAKS = re.compile(r"\r\n?|[\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
# Controls other than tab and line feed (line breaks are already \n by then).
_OTHER_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")


def without_bidi_controls(value: str) -> str:
    """`value` without bidi overrides and isolates."""
    return _BIDI_CONTROLS.sub("", value)


def one_line(value: str) -> str:
    """A single line: controls and line breaks become spaces, runs of spaces one, trimmed."""
    if value.isascii() and value.isprintable():  # the common case, and cheap
        return " ".join(value.split())
    value = without_bidi_controls(value)
    return " ".join(_ONE_LINE_BREAKERS.sub(" ", value).split())


def text_block(value: str) -> str:
    """Paragraphs kept: every line break becomes `\\n`, other controls but tab are dropped."""
    if not value.isascii():
        value = without_bidi_controls(value)
    return _OTHER_CONTROLS.sub("", _LINE_BREAKS.sub("\n", value))
