"""An article's picture, from what a page's or feed item's metadata says (og:image,
twitter:image, media:content, media:thumbnail, an image enclosure).

Only https pictures are kept: an http one would be fetched in the clear by every reader's mail
client (and flagged as mixed content), and any other scheme is no picture at all. The size is
kept when the metadata gives it, so that the email can reserve the right box.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from lxml import html as lxml_html
from lxml.etree import ParserError

_MAX_SIDE = 20000
# Page metadata, best first: Open Graph (its secure_url too), then Twitter's card.
_PAGE_KEYS = (
    "og:image:secure_url",
    "og:image",
    "og:image:url",
    "twitter:image",
    "twitter:image:src",
)


@dataclass(frozen=True)
class Picture:
    url: str
    width: int | None = None
    height: int | None = None


def https_only(url: str | None, base: str | None = None) -> str | None:
    """The absolute https URL, or None for anything else (http, data:, javascript:…)."""
    if not url or not url.strip():
        return None
    absolute = urljoin(base, url.strip()) if base else url.strip()
    parts = urlsplit(absolute)
    if parts.scheme.lower() != "https" or not parts.hostname:
        return None
    if any(ord(char) < 0x20 or char == "\x7f" for char in absolute) or len(absolute) > 2048:
        return None
    return absolute


def _side(value: object) -> int | None:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if 0 < number <= _MAX_SIDE else None


def _sized(url: str, width: object, height: object) -> Picture:
    """Both sides or neither: one side alone gives no aspect ratio."""
    w, h = _side(width), _side(height)
    return Picture(url, w, h) if w and h else Picture(url)


def page_picture(html: str | bytes, base: str | None = None) -> Picture | None:
    """The picture a page's `<meta>` tags name, if it is https."""
    try:
        document = lxml_html.document_fromstring(html)
    except (ParserError, ValueError):
        return None
    meta: dict[str, str] = {}
    for element in document.iter("meta"):
        key = (element.get("property") or element.get("name") or "").strip().lower()
        content = element.get("content")
        if key and content and key not in meta:
            meta[key] = content
    for key in _PAGE_KEYS:
        url = https_only(meta.get(key), base)
        if url:
            if key.startswith("og:"):
                return _sized(url, meta.get("og:image:width"), meta.get("og:image:height"))
            return Picture(url)
    return None


def feed_picture(entry: Mapping[str, Any]) -> Picture | None:
    """The picture a feed item names: media:content of an image type, media:thumbnail, or an
    image enclosure, as feedparser parses them; the first https one wins."""
    for candidate in _feed_candidates(entry):
        url = https_only(candidate.get("url") or candidate.get("href"))
        if url:
            return _sized(url, candidate.get("width"), candidate.get("height"))
    return None


def _feed_candidates(entry: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    for content in entry.get("media_content") or []:
        kind = str(content.get("type") or "")
        medium = str(content.get("medium") or "")
        if kind.startswith("image/") or medium == "image" or (not kind and not medium):
            yield content
    yield from entry.get("media_thumbnail") or []
    for link in entry.get("links") or []:
        if link.get("rel") == "enclosure" and str(link.get("type") or "").startswith("image/"):
            yield link
