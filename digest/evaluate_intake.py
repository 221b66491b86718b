"""Scoring the pasted-page reader against annotated pages (../shared/data/pasted).

The rules are the data set's own (its PROVENANCE.md): a title is right when it equals one of
the page's headline variants, with or without a trailing " | Outlet"; body and chrome are
passages found or not in the stored title and text, pooled over all pages.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

_QUOTES = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-", "\xa0": " "})
_OUTLET_SUFFIX = re.compile(r"\s+[|-]\s+(?P<outlet>[^|]{1,40})$")
KINDS = ("careful", "select_all")


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES).lower()
    return " ".join(text.split())


def _without_outlet(title: str) -> str:
    match = _OUTLET_SUFFIX.search(title)
    if match and len(match["outlet"].split()) <= 5:
        return title[: match.start()]
    return title


def title_right(stored: str, variants: Iterable[str]) -> bool:
    mine = normalise(stored)
    for variant in map(normalise, variants):
        if mine == variant or _without_outlet(mine) == variant or mine == _without_outlet(variant):
            return True
    return False


@dataclass(frozen=True)
class Case:
    """One annotated page and its two copies."""

    name: str
    url: str
    titles: list[str]
    body: list[str]
    chrome: list[str]
    texts: dict[str, str]


@dataclass(frozen=True)
class Reading:
    """What a reader made of one copy; `title` and `text` may be empty when it failed."""

    title: str
    text: str
    author: str | None = None
    published: str | None = None


@dataclass
class Score:
    """Counts pooled over pages, for one kind of copy."""

    pages: int = 0
    titles_right: int = 0
    body_found: int = 0
    body_total: int = 0
    chrome_found: int = 0
    chrome_total: int = 0
    authors: int = 0
    dates: int = 0
    failed: int = 0
    wrong_titles: list[tuple[str, str]] = field(default_factory=list)

    @property
    def body_share(self) -> float:
        return self.body_found / self.body_total if self.body_total else 1.0

    @property
    def chrome_share(self) -> float:
        return self.chrome_found / self.chrome_total if self.chrome_total else 0.0


def load_cases(folder: Path) -> list[Case]:
    cases = []
    for line in (folder / "cases.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        texts = {
            kind: (folder / record["files"][kind]).read_text(encoding="utf-8") for kind in KINDS
        }
        cases.append(
            Case(
                name=record["name"],
                url=record["url"],
                titles=record["titles"],
                body=record["with"],
                chrome=record["without"],
                texts=texts,
            )
        )
    return cases


def score(
    cases: Iterable[Case], kind: str, read: Callable[[str], Reading], *, title_scored: bool = True
) -> Score:
    """Read each case's copy of `kind` and pool the counts."""
    total = Score()
    for case in cases:
        raw = case.texts[kind]
        in_copy = normalise(raw)
        try:
            reading = read(raw)
        except ValueError:
            reading = Reading("", "")
            total.failed += 1
        stored = normalise(f"{reading.title}\n{reading.text}")
        total.pages += 1
        if title_scored:
            if title_right(reading.title, case.titles):
                total.titles_right += 1
            else:
                total.wrong_titles.append((case.name, reading.title))
        for snippet in map(normalise, case.body):
            if snippet in in_copy:
                total.body_total += 1
                total.body_found += snippet in stored
        for snippet in map(normalise, case.chrome):
            if snippet in in_copy:
                total.chrome_total += 1
                total.chrome_found += snippet in stored
        total.authors += bool(reading.author)
        total.dates += bool(reading.published)
    return total
