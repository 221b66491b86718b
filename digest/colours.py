"""Colours kept readable: WCAG's contrast ratio, and a newsletter's accent moved just far
enough towards black or white to read on a background (the public pages' links on white, the
email's masthead and links on white and on its dark-mode card).

Any accent is allowed in the config, a pale yellow or a navy too; the text drawn in it still
has to pass WCAG AA (4.5:1), in light mode and in dark.
"""

from __future__ import annotations

RGB = tuple[int, int, int]
WHITE: RGB = (255, 255, 255)
BLACK: RGB = (0, 0, 0)
AA = 4.5


def rgb(colour: str) -> RGB:
    """A validated hex colour ("#0057b7", "#05b") as its three channels."""
    digits = colour.lstrip("#")
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def to_hex(channels: RGB) -> str:
    return "#{:02x}{:02x}{:02x}".format(*channels)


def luminance(channels: RGB) -> float:
    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(first: RGB, second: RGB) -> float:
    """WCAG's contrast ratio, 1 to 21."""
    light, dark = sorted((luminance(first), luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def readable_on(colour: RGB, background: RGB, ratio: float = AA) -> RGB:
    """`colour` as it is when it reads on `background`, else darkened (on a light background)
    or lightened (on a dark one) in small steps until it does: the hue stays recognisable."""
    towards_white = luminance(background) < 0.18
    current = colour
    while contrast(current, background) < ratio:
        if towards_white:
            current = (
                current[0] + max(1, (255 - current[0]) // 10),
                current[1] + max(1, (255 - current[1]) // 10),
                current[2] + max(1, (255 - current[2]) // 10),
            )
            current = (min(current[0], 255), min(current[1], 255), min(current[2], 255))
        else:
            current = (int(current[0] * 0.9), int(current[1] * 0.9), int(current[2] * 0.9))
    return current


def readable_hex(colour: str, background: str) -> str:
    """readable_on for hex colours, as the email templates use it (a filter)."""
    return to_hex(readable_on(rgb(colour), rgb(background)))
