"""Bylines and dates as news pages print them, read from the lines around a headline.

Common forms: "By Name", "by: Name", "BY NAME", glued "ByJ.R. Stone", "Author: Name",
"Name, Reuters", a name on its own line beside a date, a name glued to a date or a relative time
("Shana Nys DambrotNovember 6, 2023", "M.Kim24 min ago"), "Posted: Nov 8, 2023 / 04:43 PM CST",
"Updated 3 hours ago". Relative times count back from the time of the paste.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from dateutil import parser as date_parser
from dateutil import tz

from digest.intake.page_lines import FUNCTION_WORDS

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_WEEKDAY = r"(?:\b(?:mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)[a-z]*\.?,?\s+)?"
_CLOCK = r"\d{1,2}[:.]\d{2}(?::\d{2})?(?:\s*[ap]\.?m\.?)?"
_ZONE = r"(?:\s+(?:[A-Z]{2,5}|[+-]\d{2}:?\d{2}))?"
_TIME_AFTER = rf"(?:(?:,|\s|\s*\|\s*|\s*/\s*|\s+at\s+|\s*-\s*)+{_CLOCK}{_ZONE})?"
_TIME_BEFORE = rf"(?:{_CLOCK}(?:\s+[A-Z]{{2,5}})?\s+{_WEEKDAY})?"
_DATE = re.compile(
    rf"{_TIME_BEFORE}{_WEEKDAY}(?:"
    rf"{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH},?\s+\d{{4}}"
    rf"|\d{{4}}-\d{{2}}-\d{{2}}(?:[T ]\d{{2}}:\d{{2}}(?::\d{{2}})?)?"
    rf"|\d{{1,2}}[./]\d{{1,2}}[./]\d{{4}}"
    rf"){_TIME_AFTER}",
    re.I,
)
_UNITS = {
    "s": "seconds",
    "sec": "seconds",
    "second": "seconds",
    "m": "minutes",
    "min": "minutes",
    "minute": "minutes",
    "h": "hours",
    "hr": "hours",
    "hour": "hours",
    "d": "days",
    "day": "days",
    "w": "weeks",
    "wk": "weeks",
    "week": "weeks",
}
_RELATIVE = re.compile(
    r"(?:\b|(?<=[a-z.]))(?P<count>\d+|an?|one)\s*(?P<unit>s|secs?|seconds?|m|mins?|minutes?|h|hrs?"
    r"|hours?|d|days?|w|wks?|weeks?)\.?\s+ago\b|\bjust now\b|\byesterday\b",
    re.I,
)
# US and European zone abbreviations that pages print after a time.
_ZONES = {
    name: tz.tzoffset(name, hours * 3600)
    for name, hours in {
        "EST": -5,
        "EDT": -4,
        "CST": -6,
        "CDT": -5,
        "MST": -7,
        "MDT": -6,
        "PST": -8,
        "PDT": -7,
        "AKST": -9,
        "AKDT": -8,
        "HST": -10,
        "AST": -4,
        "GMT": 0,
        "UTC": 0,
        "BST": 1,
        "CET": 1,
        "CEST": 2,
        "EET": 2,
        "EEST": 3,
    }.items()
}
_BY = re.compile(
    r"^(?:[|/·•\s-]*)(?:(?:written|words|reporting|posted|story|report)\s+by|by(?=[A-Z])|by\b"
    r"|author\b)\s*:?\s*",
    re.I,
)
_BY_GLUED = re.compile(r"^(?:[|/·•\s-]*)By(?=[A-Z])")
_NAME_WORD = re.compile(r"^(?:[A-Z][\w'’.-]*|[A-Z]\.(?:[A-Z]\.)*|de|da|van|von|der|bin|al|le|la)$")
# Words of labels and menus that can look like a name on a line of their own.
_NOT_A_NAME = re.compile(
    r"\b(?:news|latest|home|menu|sections?|video|breaking|top|stories|more|live|world|local"
    r"|business|sports?|opinion|politics|weather|entertainment|share|follow|contact|search)\b",
    re.I,
)
_DATE_WORDS = re.compile(
    r"^(?:updated|published|posted|last updated|modified|first published|created)\b"
    r"(?:\s+on)?\s*:?\s*",
    re.I,
)


def find_date(line: str, now: datetime | None = None) -> datetime | None:
    """The date (and time) a line gives, absolute or relative to `now`."""
    match = _DATE.search(line)
    if match:
        return _parse_date(match.group(0))
    relative = _RELATIVE.search(line)
    if relative and now is not None:
        return now - _relative_delta(relative)
    return None


def date_span(line: str) -> tuple[int, int] | None:
    """Where a date or relative time sits in a line, to cut it away from a name."""
    match = _DATE.search(line) or _RELATIVE.search(line)
    return (match.start(), match.end()) if match else None


def _parse_date(text: str) -> datetime | None:
    cleaned = re.sub(r"\s+at\s+|\s+[|/]\s+", " ", text)
    cleaned = re.sub(r"(\d)(?:st|nd|rd|th)\b", r"\1", cleaned)
    cleaned = re.sub(r"(?<=\d)\s*-\s*(?=\d{1,2}[:.]\d{2})", " ", cleaned)
    day_first = bool(re.match(r"^\d{1,2}[./]\d{1,2}[./]\d{4}", cleaned))
    try:
        parsed = date_parser.parse(cleaned, dayfirst=day_first, tzinfos=_ZONES, fuzzy=True)
    except (ValueError, OverflowError):
        return None
    return parsed


def _relative_delta(match: re.Match[str]) -> timedelta:
    text = match.group(0).lower()
    if "just now" in text:
        return timedelta(0)
    if "yesterday" in text:
        return timedelta(days=1)
    count = match["count"].lower()
    amount = 1 if count in ("a", "an", "one") else int(count)
    unit = re.sub(r"s$", "", match["unit"].lower()) or "s"
    key = _UNITS.get(unit, _UNITS.get(unit[:3], "minutes"))
    return timedelta(**{key: amount})


def find_byline(lines: Sequence[str], now: datetime | None = None) -> tuple[str | None, int | None]:
    """The author named in these lines, and the index of the line that names them."""
    for index, line in enumerate(lines):
        author = explicit_byline(line)
        if author is None and line.strip().lower() in ("by", "by:") and index + 1 < len(lines):
            author = _name(lines[index + 1])
        if author:
            return author, index
    for index, line in enumerate(lines):
        author = _name_beside_date(line) or _name_with_outlet(line)
        if author:
            return author, index
    for index, line in enumerate(lines):
        near = lines[max(0, index - 1) : index + 3]
        if _NOT_A_NAME.search(line):
            continue
        if _name(line) and any(find_date(other, now or datetime.now(UTC)) for other in near):
            return _name(line), index
    return None, None


def explicit_byline(line: str) -> str | None:
    """The name in a line that says "By …" or "Written by …" outright, else None."""
    match = _BY_GLUED.match(line) or _BY.match(line)
    if not match:
        return None
    rest = line[match.end() :]
    span = date_span(rest)
    if span:
        rest = rest[: span[0]]
    ends = r"\s+(?:published|(?:last )?updated|posted|on)\b|\s[|·•/]\s|\s[-–—]\s"
    rest = re.split(ends, rest, maxsplit=1, flags=re.I)[0]
    rest = rest.strip(" ,.-–|")
    return _name(rest, allow_outlet=True) or _leading_names(rest)


def _leading_names(text: str) -> str | None:
    """ "Jessica Holly, Gail Levy, 7 News WSVN": the people, without the outlet after them."""
    names: list[str] = []
    for part in re.split(r",\s*|\s+and\s+", text):
        name = _name(part)
        if name is None:
            break
        names.append(name)
    return ", ".join(names) or None


def _name_beside_date(line: str) -> str | None:
    span = date_span(line)
    if not span:
        return None
    before = _DATE_WORDS.sub("", line[: span[0]])
    parts = [part for part in re.split(r"\s*[|/·•]\s*|\s+[-–—]\s+", before) if part.strip()]
    if parts and _name(parts[-1].strip(" ,.-")):
        return _name(parts[-1].strip(" ,.-"))
    after = line[span[1] :].strip(" ,.-|/·•")
    return _name(after) if after else None


def _name_with_outlet(line: str) -> str | None:
    # "Jane Doe, Reuters": a name, then the outlet it files for.
    parts = [part.strip() for part in line.split(",")]
    if len(parts) == 2 and _name(parts[0]) and _name(parts[1], allow_outlet=True):
        return _name(parts[0])
    return None


def _name(text: str, allow_outlet: bool = False) -> str | None:
    """The text, if it reads as one or more person's names (or an outlet's, when allowed)."""
    text = " ".join(text.split()).strip(" ,;:")
    if not text or len(text) > 80 or re.search(r"\d", text):
        return None
    words = [word for word in re.split(r"\s+|,\s*", text) if word]
    people = [word for word in words if word.lower() not in ("and", "&")]
    if not people or len(people) > (12 if allow_outlet else 5):
        return None
    if any(word.lower() in FUNCTION_WORDS for word in people):
        return None
    if not all(_NAME_WORD.match(word) for word in people):
        return None
    if len(people) == 1 and not allow_outlet and "." not in people[0]:
        return None
    if text.isupper():
        text = text.title()
    return text
