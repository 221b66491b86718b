"""Text pasted from a web page: find the headline, byline and source, drop the page chrome.

A copy of a news page carries more than the article: section labels above the headline, a byline
glued to a relative time ("M.Kim24 min ago"), share buttons and comment counters below. These rules
are about the shapes such chrome takes on news sites in general, not about any one site.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from dateutil import parser as date_parser

from digest.articles import headline_attribution

_TERMINAL = (".", "!", "?", '"', "'", "”", "’", ":", ")", "…")
_TIME_UNITS = (
    r"s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?|w|wks?|weeks?|mos?|months?|y|yrs?"
    r"|years?"
)
_RELATIVE_TIME = re.compile(
    rf"(?:\b|(?<=[a-z]))(\d+\s*(?:{_TIME_UNITS})\s+ago|just now|yesterday)\s*$", re.I
)
_BYLINE = re.compile(r"^(?:by|written by|words by|reporting by)\s+(.{2,80})$", re.I)
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_DATE_LINE = re.compile(
    rf"^(?:(?:updated|published|posted|last updated|modified)\s*:?\s*)?"
    rf"(?:(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*,?\s+)?"
    rf"(?:\d{{1,2}}\s+{_MONTH}\s+\d{{4}}|{_MONTH}\s+\d{{1,2}},?\s+\d{{4}}|\d{{4}}-\d{{2}}-\d{{2}}"
    rf"|\d{{1,2}}[./]\d{{1,2}}[./]\d{{2,4}})"
    rf"(?:[,\s]+(?:at\s+)?\d{{1,2}}[:.]\d{{2}}(?:\s*[ap]\.?m\.?)?(?:\s+[A-Z]{{2,4}})?)?\s*$",
    re.I,
)
_READING_TIME = re.compile(r"^\d+\s*(?:min|minute)s?\s+read$", re.I)
_SOURCE_LINE = re.compile(r"^(?:source|sources|via|credit|courtesy of)\s*:\s*(.+)$", re.I)
_BREADCRUMB = re.compile(r"\s[›»>/|]\s")
_CHROME = re.compile(
    r"^(?:\d+|\d+\s+(?:comments?|shares?|likes?|replies|views)|comments?|no comments"
    r"|leave a (?:comment|reply)|show comments|share(?: this(?: article| story)?)?(?: on \w+)?"
    r"|tweet|email|print|copy link|save(?: article)?|advertisement|advert|ad|sponsored(?: content)?"
    r"|skip to (?:main )?content|menu|search|log ?in|sign ?in|subscribe(?: now)?.{0,60}"
    r"|sign up.{0,80}|follow us.{0,60}|read (?:more|also|next)\b.{0,200}|see also\b.{0,200}"
    r"|related(?: articles| stories| news)?:?.{0,200}|more from .{1,60}|most read|trending"
    r"|(?:©|copyright)\s.{0,120}|all rights reserved.{0,60}|back to top|top stories"
    r"|photo:.{0,200}|image:.{0,200}|getty images|reuters/.{0,60}|ap photo.{0,60})$",
    re.I,
)
_MAX_META_LINES = 5


@dataclass
class PastedArticle:
    """What the heuristics recovered from a pasted page."""

    title: str
    text: str
    author: str | None = None
    source: str | None = None
    published: datetime | None = None
    dropped: list[str] = field(default_factory=list)


def parse_pasted(raw: str, now: datetime | None = None) -> PastedArticle:
    """Split a pasted page into headline, metadata and article text; relative times count back
    from `now` (the time of the paste).

    Raises ValueError when no line looks like a headline.
    """
    lines = _unwrap(raw)
    dropped: list[str] = []
    start = _headline_index(lines)
    if start is None:
        raise ValueError("no headline found: the text has no line of four or more words")
    dropped.extend(lines[:start])
    title = lines[start]
    body = lines[start + 1 :]

    author, published, body, meta = _take_meta(body)
    dropped.extend(meta)
    body, chrome = _drop_chrome(body)
    dropped.extend(chrome)
    if not body:
        raise ValueError("no article text found below the headline")
    return PastedArticle(
        title=title,
        text="\n\n".join(body),
        author=author,
        source=_find_source(title, body),
        published=published,
        dropped=dropped,
    )


def _unwrap(raw: str) -> list[str]:
    """One entry per paragraph: hard-wrapped lines inside a block are joined back together."""
    paragraphs: list[str] = []
    for block in re.split(r"\n\s*\n", raw.replace("\r\n", "\n").replace("\r", "\n")):
        current = ""
        for line in (" ".join(part.split()) for part in block.split("\n")):
            if not line:
                continue
            if current and _continues(current, line):
                current = f"{current} {line}"
            else:
                if current:
                    paragraphs.append(current)
                current = line
        if current:
            paragraphs.append(current)
    return paragraphs


def _continues(previous: str, line: str) -> bool:
    # A wrapped line breaks mid-sentence: the next one starts in lower case, or the previous one
    # is long and ends without punctuation.
    if previous.endswith(_TERMINAL) or _is_meta(line) or _is_meta(previous):
        return False
    return line[0].islower() or (len(previous) >= 60 and not previous.endswith(_TERMINAL))


def _words(line: str) -> int:
    return len(line.split())


def _is_meta(line: str) -> bool:
    return bool(
        _RELATIVE_TIME.search(line)
        or _BYLINE.match(line)
        or _DATE_LINE.match(line)
        or _READING_TIME.match(line)
    )


def _headline_index(lines: list[str]) -> int | None:
    for index, line in enumerate(lines):
        if _CHROME.match(line) or _BREADCRUMB.search(line) or _is_meta(line):
            continue
        if _words(line) >= 4 and len(line) <= 300:
            return index
    return None


def _take_meta(body: list[str]) -> tuple[str | None, datetime | None, list[str], list[str]]:
    """Read byline and date lines just under the headline; return them and the rest."""
    author: str | None = None
    published: datetime | None = None
    meta: list[str] = []
    index = 0
    while index < min(len(body), _MAX_META_LINES):
        line = body[index]
        relative = _RELATIVE_TIME.search(line)
        byline = _BYLINE.match(line)
        if relative and _words(line[: relative.start()]) <= 5:
            author = author or _clean_author(line[: relative.start()])
        elif byline and _words(line) <= 10:
            author = author or _clean_author(byline.group(1))
        elif _DATE_LINE.match(line):
            published = published or _parse_date(line)
        elif not (_READING_TIME.match(line) or (_CHROME.match(line) and _words(line) <= 4)):
            break
        meta.append(line)
        index += 1
    return author, published, body[index:], meta


def _clean_author(text: str) -> str | None:
    text = re.sub(r"[\s,|·•-]+$", "", text.strip())
    text = re.sub(r"\s*(?:[|·•]|,\s*(?:updated|published)).*$", "", text, flags=re.I)
    return text or None


def _parse_date(line: str) -> datetime | None:
    cleaned = re.sub(
        r"^(?:updated|published|posted|last updated|modified)\s*:?\s*", "", line, flags=re.I
    )
    cleaned = re.sub(r"\bat\b", " ", cleaned)
    try:
        return date_parser.parse(
            cleaned, fuzzy=True, dayfirst=bool(re.match(r"^\d{1,2}[./]", cleaned))
        )
    except (ValueError, OverflowError):
        return None


def _drop_chrome(body: list[str]) -> tuple[list[str], list[str]]:
    """Remove share/comment/ad lines anywhere, and short non-sentences at the end."""
    kept: list[str] = []
    dropped: list[str] = []
    for line in body:
        (dropped if _CHROME.match(line) else kept).append(line)
    while kept and _words(kept[-1]) <= 3 and not kept[-1].endswith(_TERMINAL[:3]):
        dropped.append(kept.pop())
    return kept, dropped


def _find_source(title: str, body: list[str]) -> str | None:
    """The outlet credited: a "Source:" line first, else an attribution after the headline."""
    for line in body:
        match = _SOURCE_LINE.match(line)
        if match:
            credited = re.split(r"\s*(?:,|;|\bciting\b|\bquoting\b|\bvia\b|\s[–—-]\s)", match[1])[0]
            credited = credited.strip(" .")
            if credited:
                return credited
    return headline_attribution(title)
