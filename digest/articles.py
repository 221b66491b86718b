"""The Article: one piece of journalism as digest sees it, whatever it was loaded from."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import BaseModel, Field, field_validator

from digest.text_fields import one_line, text_block

_TRACKING_PARAMS = re.compile(r"^(utm_\w+|fbclid|gclid|mc_cid|mc_eid|ref|ocid)$", re.I)
_WORD = re.compile(r"\w+", re.UNICODE)
_URL_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def without_controls(value: str) -> str:
    """Text with its line breaks as `\\n` and no other control characters (invisible, and
    invalid in XML and MJML)."""
    return text_block(value)


# The fields of an article as a record: what `.json` intake reads and `digest add --json`
# prints (with its id and word count).
RECORD_FIELDS = (
    "title",
    "url",
    "source",
    "author",
    "published",
    "tags",
    "keywords",
    "text",
    "image_url",
    "image_width",
    "image_height",
)


class Article(BaseModel):
    """A stored or about-to-be-stored article; `id` is None until the store assigns one."""

    id: int | None = None
    title: str = Field(min_length=1, max_length=500)
    url: str | None = Field(default=None, max_length=2048)
    source: str | None = Field(default=None, max_length=200)
    author: str | None = Field(default=None, max_length=300)
    published: datetime | None = None
    # The editor's: they shape sections. Keywords are what a page's metadata or a feed's
    # categories say about it; they are kept, shown, and shape nothing unless a newsletter says.
    tags: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)
    text: str = Field(min_length=1)
    feed: str | None = None  # the feed it was collected from; None when added by hand
    # The picture the page's or feed item's metadata names (og:image, media:content…), and its
    # size in pixels when the metadata gives it; the email shows it as a thumbnail.
    image_url: str | None = Field(default=None, max_length=2048)
    image_width: int | None = Field(default=None, ge=1, le=20000)
    image_height: int | None = Field(default=None, ge=1, le=20000)

    # Fields that reach one-line places (subjects, headers, listings) are folded to one line
    # here, whatever they were read from: files, feeds, URLs, the web app.
    @field_validator("title", "source", "author", mode="before")
    @classmethod
    def _one_line(cls, value: object) -> object:
        return one_line(value) if isinstance(value, str) else value

    @field_validator("text", mode="before")
    @classmethod
    def _printable(cls, value: object) -> object:
        return text_block(value) if isinstance(value, str) else value

    @field_validator("title", "text")
    @classmethod
    def _stripped(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be empty")
        return value

    # An http image is accepted (the lint names it, the email leaves it out); nothing else is.
    @field_validator("url", "image_url")
    @classmethod
    def _web_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if _URL_CONTROLS.search(value):
            raise ValueError("must not contain control characters or line breaks")
        if urlsplit(value).scheme not in ("http", "https"):
            raise ValueError("must be an http(s) URL")
        return value

    @field_validator("source", "author")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value else None

    @field_validator("tags", "keywords")
    @classmethod
    def _clean_tags(cls, value: list[str]) -> list[str]:
        seen: list[str] = []
        for tag in value:
            tag = one_line(str(tag)).lower()
            if tag and tag not in seen:
                seen.append(tag)
        return seen

    @field_validator("published")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        # Naive times from files are taken as UTC, so that sorting and storage agree.
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    @property
    def content_hash(self) -> str:
        return content_hash(self.text)

    @property
    def url_key(self) -> str | None:
        return canonical_url(self.url) if self.url else None

    @property
    def word_count(self) -> int:
        return len(_WORD.findall(self.text))


# "(CNN)", "New Delhi, India (CNN) --", "(The Hollywood Reporter)": a wire's dateline, not news.
_DATELINE = re.compile(
    r"^(?:[A-Z][\w .,'-]{0,50}\s)?\((?:CNN|AP|Reuters|AFP|[A-Z][\w .&']{1,40})\)\s*(?:--|—|-)?\s*"
)


# "TAYLORVILLE — ", "ST CATHERINE, Jamaica — ", "KVELLER via JTA — ": a place (or wire) in
# capitals and a dash before the first sentence.
_CAPITALS_DATELINE = re.compile(
    r"^[A-Z][A-Z.'-]+(?: [A-Z][A-Z.'-]+){0,3}(?:,? (?:[A-Z][\w.'-]*|via)(?: [A-Z][\w.'-]*){0,3})?"
    r"\s+[—–]\s+(?=[A-Z\"“])"
)


# "By Jane Doe: …", "BY JANE DOE⏎", "By Jane Doe, Reuters⏎⏎": a byline the text opens with,
# ended by a colon, a line break or a dash. Capitalised words only, so "By the end of May,"
# and "By Tuesday the council…" stay.
_OPENING_BYLINE = re.compile(
    r"^\s*(?:By|BY)\s+[A-Z][\w.'’-]*(?:\s+[A-Z][\w.'’-]*){0,3}"
    r"(?:,\s*[A-Z][\w.&'’-]*(?:\s+[A-Z][\w.&'’-]*){0,3})?(?:\s*:|[ \t]*\n|\s+[-–—]\s)\s*"
)


def without_byline_or_dateline(text: str) -> str:
    """The text without the byline and wire dateline it may open with: neither is news, and
    a summary or a section heading should not start with "By Jane Doe:" or "(CNN)"."""
    text = _OPENING_BYLINE.sub("", text, count=1)
    text = _DATELINE.sub("", text, count=1)
    return _CAPITALS_DATELINE.sub("", text, count=1)


# "Headline – Bloomberg", "Headline | Reuters": an outlet credited after the headline.
_ATTRIBUTION = re.compile(r"\s+[–—|-]\s+((?:[A-Z][\w.&']*)(?:\s+[A-Z][\w.&']*){0,3})$")


def headline_attribution(title: str) -> str | None:
    """The outlet credited at the end of a headline, if any."""
    match = _ATTRIBUTION.search(title)
    return match[1] if match else None


def strip_attribution(title: str) -> str:
    """The headline without a trailing outlet credit (" – Bloomberg")."""
    return _ATTRIBUTION.sub("", title).strip()


def normalised_text(text: str) -> str:
    """Text reduced to its words, so that re-pasted or re-wrapped copies compare equal."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_WORD.findall(text))


def content_hash(text: str) -> str:
    return hashlib.sha256(normalised_text(text).encode()).hexdigest()


def site_of(url: str | None) -> str | None:
    """The site an address is on, as people name it: its host without "www."."""
    host = urlsplit(url).hostname if url else None
    return host.removeprefix("www.") if host else None


def canonical_url(url: str) -> str:
    """The URL without fragment, tracking parameters, default port or trailing slash."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    if parts.port and not (
        (parts.scheme == "http" and parts.port == 80)
        or (parts.scheme == "https" and parts.port == 443)
    ):
        host = f"{host}:{parts.port}"
    query = urlencode(
        sorted(
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if not _TRACKING_PARAMS.match(k)
        )
    )
    path = parts.path.rstrip("/") or "/"
    # http and https copies of one page are one article.
    return urlunsplit(("https", host, path, query, ""))
