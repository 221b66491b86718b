"""The public pages' colours from a newsletter's accent colour, kept readable.

Any accent is allowed in the config, a pale yellow too; the pages still need text on the
accent and links on white to pass WCAG AA (4.5:1), so the ink on the accent is black or white,
whichever contrasts more, and links use the accent darkened until it reads on white.
"""

from __future__ import annotations

from dataclasses import dataclass

WHITE = (255, 255, 255)
BLACK = (0, 0, 0)
AA = 4.5
DEFAULT_ACCENT = "#1f6feb"


@dataclass(frozen=True)
class Look:
    """CSS colours: `accent` (bands, buttons), `on_accent` (text on them), `link` (on white)."""

    accent: str
    on_accent: str
    link: str


def _rgb(colour: str) -> tuple[int, int, int]:
    digits = colour.lstrip("#")
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def _luminance(rgb: tuple[int, int, int]) -> float:
    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(first: tuple[int, int, int], second: tuple[int, int, int]) -> float:
    """WCAG's contrast ratio, 1 to 21."""
    light, dark = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def look_for(accent: str | None) -> Look:
    """The palette of an accent colour (a validated hex colour), or of the default one."""
    rgb = _rgb(accent or DEFAULT_ACCENT)
    on_accent = WHITE if contrast(rgb, WHITE) >= contrast(rgb, BLACK) else BLACK
    link = rgb
    while contrast(link, WHITE) < AA:
        link = (int(link[0] * 0.9), int(link[1] * 0.9), int(link[2] * 0.9))
    return Look(accent=_hex(rgb), on_accent=_hex(on_accent), link=_hex(link))
