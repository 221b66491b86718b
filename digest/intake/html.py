"""HTML pages: the main text and metadata, without navigation, ads or comments (trafilatura)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from digest.intake.images import Picture, page_picture


@dataclass
class ExtractedPage:
    title: str | None
    text: str
    author: str | None
    source: str | None
    published: datetime | None
    url: str | None
    # What the site's metadata says the page is about (keywords, article:tag, its section):
    # the site's words, not the editor's, so they are never tags.
    keywords: list[str]
    # The https picture its og:image or twitter:image names, if any.
    picture: Picture | None = None


_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"


def extract_page(html: str | bytes, url: str | None = None) -> ExtractedPage:
    """Extract the article from a page; raises ValueError when it has no article text."""
    import trafilatura  # heavy: imported only when an HTML page is read
    from trafilatura.settings import Document, set_date_params

    # trafilatura's own date settings, asked for the time and its offset too (it gives the
    # day alone by default, so "08:15+02:00" would be stored as midnight UTC).
    dates = {**set_date_params(), "outputformat": _DATE_FORMAT}
    document = trafilatura.bare_extraction(
        html,
        url=url,
        with_metadata=True,
        include_comments=False,
        include_tables=False,
        date_extraction_params=dates,
    )
    if not isinstance(document, Document) or not (document.text or "").strip():
        raise ValueError("no article text found in the page")
    title = (document.title or "").strip() or None
    lines = [line.strip() for line in (document.text or "").splitlines() if line.strip()]
    # trafilatura repeats the headline as the first line of the text.
    if title and lines and lines[0] == title:
        lines = lines[1:]
    if not lines:
        raise ValueError("no article text found in the page")
    published = None
    if document.date:
        try:
            published = datetime.fromisoformat(document.date)
        except ValueError:
            published = None
    # `<meta name="keywords">` comes as one comma-separated string.
    listed = [*(document.tags or []), *(document.categories or [])]
    keywords = [word for entry in listed for word in str(entry).split(",")]
    return ExtractedPage(
        title=title,
        text="\n\n".join(lines),
        author=(document.author or None),
        source=_site_name(document.sitename) or _site_name(document.hostname),
        published=published,
        url=document.url or url,
        keywords=keywords,
        picture=page_picture(html, document.url or url),
    )


def _site_name(name: str | None) -> str | None:
    """The page's site name, or its host ("example.org" for www.example.org), as its credit;
    nothing for an address or a loopback name ("127.0.0.1:8123", trafilatura's site name for
    a page it cannot name), which credit no outlet."""
    import ipaddress
    from urllib.parse import urlsplit

    text = " ".join((name or "").split())
    if not text:
        return None
    if " " in text or not any(mark in text for mark in ".:["):
        return text  # "The Kyiv Independent", "Reuters": a name, not a host
    try:
        raw = urlsplit(f"//{text}").hostname or ""
    except ValueError:  # "[oops": not a host, a name
        return text
    host = raw.removeprefix("www.")
    if not host or host == "localhost" or host.endswith(".localhost"):
        return None
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host if text.lower().startswith(raw) else text
    return None
