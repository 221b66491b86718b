"""The public pages' colours from a newsletter's accent colour, kept readable.

Any accent is allowed in the config, a pale yellow too; the pages still need text on the
accent and links on white to pass WCAG AA (4.5:1), so the ink on the accent is black or white,
whichever contrasts more, and links use the accent darkened until it reads on white
(digest.colours).
"""

from __future__ import annotations

from dataclasses import dataclass

from digest.colours import BLACK, WHITE, contrast, readable_on, rgb, to_hex

DEFAULT_ACCENT = "#1f6feb"


@dataclass(frozen=True)
class Look:
    """CSS colours: `accent` (bands, buttons), `on_accent` (text on them), `link` (on white)."""

    accent: str
    on_accent: str
    link: str


def look_for(accent: str | None) -> Look:
    """The palette of an accent colour (a validated hex colour), or of the default one."""
    colour = rgb(accent or DEFAULT_ACCENT)
    on_accent = WHITE if contrast(colour, WHITE) >= contrast(colour, BLACK) else BLACK
    link = readable_on(colour, WHITE)
    return Look(accent=to_hex(colour), on_accent=to_hex(on_accent), link=to_hex(link))
