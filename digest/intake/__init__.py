"""Article intake: turn files, folders and URLs into validated Articles.

Each source is read on its own: a bad one is reported with its name (and line or field) while
the others are still loaded.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from digest.articles import RECORD_FIELDS as _RECORD_FIELDS
from digest.articles import Article
from digest.errors import SourceError, first_problem
from digest.intake.html import extract_page
from digest.intake.markdown import parse_markdown
from digest.intake.pasted import parse_pasted
from digest.intake.records import json_records, jsonl_records

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".json", ".jsonl", ".ndjson")
# Fields of `digest add --json` output that the store or the text decides, ignored when read back.
_DERIVED_FIELDS = ("id", "word_count")

UrlFetcher = Callable[[str], Article]


@dataclass
class Intake:
    """What a set of sources gave: the articles read, and one error per failed source or record."""

    articles: list[Article] = field(default_factory=list)
    errors: list[SourceError] = field(default_factory=list)


def load_sources(sources: Iterable[str], fetch_url: UrlFetcher | None = None) -> Intake:
    intake = Intake()
    for source in sources:
        if source.startswith(("http://", "https://")):
            if fetch_url is None:
                intake.errors.append(SourceError(source, "fetching URLs is not enabled"))
                continue
            try:
                intake.articles.append(fetch_url(source))
            except SourceError as error:
                intake.errors.append(error)
            continue
        path = Path(source)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in SUPPORTED_SUFFIXES)
            if not files:
                intake.errors.append(SourceError(source, "folder has no article files"))
            for file in files:
                _load_file(file, intake)
        else:
            _load_file(path, intake)
    return intake


def _load_file(path: Path, intake: Intake) -> None:
    name = str(path)
    if not _supported(name, intake):
        return
    try:
        raw = decoded(path.read_bytes(), name)
    except FileNotFoundError:
        intake.errors.append(SourceError(name, "file not found"))
        return
    except SourceError as error:
        intake.errors.append(error)
        return
    except OSError as error:
        intake.errors.append(SourceError(name, error.strerror or str(error)))
        return
    # A paste saved to a file: its relative times ("24 min ago") count back from when the
    # file was written.
    _read_text(name, raw, intake, written=datetime.fromtimestamp(path.stat().st_mtime, UTC))


def load_upload(name: str, data: bytes) -> Intake:
    """The articles of one uploaded file (the web page's upload): read by its name's suffix
    exactly as `digest add` reads a file of that name, without writing it to disk."""
    intake = Intake()
    if not _supported(name, intake):
        return intake
    try:
        raw = decoded(data, name)
    except SourceError as error:
        intake.errors.append(error)
        return intake
    _read_text(name, raw, intake, written=datetime.now(UTC))
    return intake


def decoded(data: bytes, name: str) -> str:
    """The text of a file, upload or piped page (UTF-8, a byte-order mark allowed); raises
    SourceError naming it and the first bad byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise SourceError(name, f"not UTF-8 text (byte {error.start})") from None


def _supported(name: str, intake: Intake) -> bool:
    if Path(name).suffix.lower() in SUPPORTED_SUFFIXES:
        return True
    supported = ", ".join(SUPPORTED_SUFFIXES)
    intake.errors.append(SourceError(name, f"unsupported file type (supported: {supported})"))
    return False


def _read_text(name: str, raw: str, intake: Intake, written: datetime) -> None:
    """One file's text, read by the reader its suffix names; errors name the file (and the
    record of a JSON file)."""
    suffix = Path(name).suffix.lower()
    try:
        if suffix == ".txt":
            intake.articles.append(article_from_pasted(raw, name, now=written))
        elif suffix in (".md", ".markdown"):
            intake.articles.append(article_from_markdown(raw, name))
        elif suffix in (".html", ".htm"):
            intake.articles.append(article_from_html(raw, name))
        else:
            records = jsonl_records(raw) if suffix in (".jsonl", ".ndjson") else json_records(raw)
            for where, record in records:
                try:
                    if isinstance(record, ValueError):
                        raise SourceError(f"{name}:{where}", str(record))
                    intake.articles.append(article_from_record(record, f"{name}:{where}"))
                except SourceError as error:
                    intake.errors.append(error)
    except SourceError as error:
        intake.errors.append(error)
    except ValueError as error:
        intake.errors.append(SourceError(name, str(error)))


PasteKind = Literal["html", "text"]
_HTML_START = re.compile(r"^\s*(?:<!doctype html|<html\b|<head\b|<body\b|<meta\b|<article\b)", re.I)
_HTML_TAGS = re.compile(r"<(?:p|div|h[1-6]|article|span|a|br|li|section)\b[^>]*>", re.I)


def looks_like_html(raw: str) -> bool:
    """Whether pasted or piped content is HTML markup rather than a page's text."""
    if _HTML_START.match(raw):
        return True
    return len(_HTML_TAGS.findall(raw[:20_000])) >= 3


def article_from_content(
    raw: str,
    origin: str,
    kind: PasteKind | None = None,
    url: str | None = None,
    now: datetime | None = None,
) -> Article:
    """An article from content that came without a file name (standard input, a paste in the
    web page): HTML goes to the HTML reader, text to the pasted-page reader. `kind` is what
    the caller knows (a clipboard's `text/html`), else it is detected."""
    if kind is None:
        kind = "html" if looks_like_html(raw) else "text"
    try:
        if kind == "html":
            return article_from_html(raw, origin, url)
        return article_from_pasted(raw, origin, url, now=now)
    except SourceError:
        raise
    except ValueError as error:
        raise SourceError(origin, str(error)) from None


def article_from_pasted(
    raw: str, origin: str, url: str | None = None, now: datetime | None = None
) -> Article:
    """`now` is when the page was copied: relative times ("24 min ago") count back from it."""
    page = parse_pasted(raw, now=now)
    return build_article(
        origin,
        title=page.title,
        text=page.text,
        author=page.author,
        source=page.source,
        published=page.published,
        url=url,
    )


def article_from_markdown(raw: str, origin: str) -> Article:
    metadata, text, heading = parse_markdown(raw)
    unknown = sorted(set(metadata) - set(_RECORD_FIELDS))
    if unknown:
        raise SourceError(origin, f"front matter field {unknown[0]!r}: unknown field")
    metadata.setdefault("title", heading)
    metadata["text"] = text
    return build_article(origin, **metadata)


def article_from_html(raw: str | bytes, origin: str, url: str | None = None) -> Article:
    page = extract_page(raw, url)
    picture = page.picture
    return build_article(
        origin,
        title=page.title,
        text=page.text,
        author=page.author,
        source=page.source,
        published=page.published,
        url=page.url,
        keywords=page.keywords,
        image_url=picture.url if picture else None,
        image_width=picture.width if picture else None,
        image_height=picture.height if picture else None,
    )


def article_from_record(record: Any, origin: str) -> Article:
    if not isinstance(record, dict):
        raise SourceError(origin, "expected an object with title and text")
    fields = {key: value for key, value in record.items() if key not in _DERIVED_FIELDS}
    unknown = sorted(set(fields) - set(_RECORD_FIELDS))
    if unknown:
        raise SourceError(origin, f"field {unknown[0]!r}: unknown field")
    return build_article(origin, **fields)


def build_article(origin: str, **fields: Any) -> Article:
    """Validate fields into an Article, naming the field that is wrong."""
    published = fields.get("published")
    if isinstance(published, date) and not isinstance(published, datetime):
        fields["published"] = datetime(published.year, published.month, published.day, tzinfo=UTC)
    for name in ("tags", "keywords"):
        listed = fields.get(name)
        if isinstance(listed, str):
            fields[name] = listed.split(",")
    try:
        return Article.model_validate(fields)
    except ValidationError as error:
        where, message = first_problem(error)
        raise SourceError(origin, f"field {where!r}: {message}") from None
