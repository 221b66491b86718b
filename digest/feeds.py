"""RSS and Atom feeds → Articles: conditional GET, time and size limits, full text where the
feed gives only an excerpt, and never the same item twice (by GUID, URL or text).

A feed that fails is recorded and tried again on the next run; the other feeds go on. A whole
call has a time budget (a tick's): feeds and items left when it is spent wait for the next call.
"""

from __future__ import annotations

import calendar
import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import feedparser
from lxml import html as lxml_html
from lxml.etree import ParserError

from digest.articles import Article
from digest.errors import SourceError
from digest.fetch import BudgetSpent, UrlFetcher
from digest.intake import build_article
from digest.intake.images import feed_picture
from digest.store import Store

log = logging.getLogger("digest.feeds")

# An entry with fewer words than this is an excerpt: the article page is fetched for its text.
EXCERPT_WORDS = 150
BUDGET_SPENT = "tick budget spent (fetch_tick_budget)"
_BLOCKS = ("p", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre")


@dataclass
class FeedReport:
    url: str
    new: int = 0
    already_seen: int = 0
    duplicates: int = 0
    not_modified: bool = False
    error: str | None = None
    # Not fetched, or not to the end, for lack of time; not a failure: the next call goes on.
    skipped: str | None = None

    def line(self) -> str:
        if self.error:
            return f"feed {self.url}: failed: {self.error}"
        if self.not_modified:
            return f"feed {self.url}: not modified"
        counts = (
            f"{self.new} new, {self.already_seen} seen before, "
            f"{self.duplicates} duplicates of stored articles"
        )
        if self.skipped and not (self.new or self.already_seen or self.duplicates):
            return f"feed {self.url}: skipped: {self.skipped}"
        if self.skipped:
            return f"feed {self.url}: {counts}; the other items skipped: {self.skipped}"
        return f"feed {self.url}: {counts}"


def fetch_feeds(
    urls: list[str], store: Store, fetcher: UrlFetcher, deadline: float | None = None
) -> list[FeedReport]:
    """Each feed once, in order, within `deadline` seconds for the whole call (None: no
    limit beyond the fetcher's own per download); the feeds left then are reported skipped."""
    until = None if deadline is None else time.monotonic() + deadline
    reports = []
    for url in dict.fromkeys(urls):
        if until is not None and time.monotonic() >= until:
            report = FeedReport(url, skipped=BUDGET_SPENT)
        else:
            report = fetch_feed(url, store, fetcher, until)
        (log.warning if report.error or report.skipped else log.info)(report.line())
        reports.append(report)
    return reports


def fetch_feed(
    url: str, store: Store, fetcher: UrlFetcher, until: float | None = None
) -> FeedReport:
    """One feed's new items; `until` (time.monotonic()) ends the work early, leaving the feed's
    validators unsaved so that the next call reads it again and takes the items left."""
    report = FeedReport(url)
    state = store.feeds.state(url)
    headers = {
        "Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, "
        "text/xml;q=0.8, */*;q=0.5"
    }
    if state.etag:
        headers["If-None-Match"] = state.etag
    if state.last_modified:
        headers["If-Modified-Since"] = state.last_modified
    try:
        download = fetcher.download(url, headers, until=until)
    except BudgetSpent:
        report.skipped = BUDGET_SPENT
        return report
    except SourceError as error:
        report.error = error.reason
        store.feeds.failed(state.id, error.reason)
        return report
    if download.status == 304:
        report.not_modified = True
        store.feeds.fetched(state.id, state.etag, state.last_modified, None)
        return report
    parsed = feedparser.parse(
        download.body,
        response_headers={
            "content-type": download.headers.get("Content-Type", ""),
            "content-location": download.url,
        },
    )
    if parsed.bozo and not parsed.entries:
        reason = f"not a valid RSS or Atom feed ({parsed.get('bozo_exception', 'no entries')})"
        report.error = reason
        store.feeds.failed(state.id, reason)
        return report
    title = parsed.feed.get("title") or None
    entries = list(parsed.entries)
    guids = {_guid(entry): entry for entry in entries}
    seen = store.feeds.seen(state.id, guids)
    report.already_seen = len(seen)
    for guid, entry in guids.items():
        if guid in seen:
            continue
        if until is not None and time.monotonic() >= until:
            report.skipped = BUDGET_SPENT
            return report
        try:
            article = _article(entry, title, url, fetcher, until)
        except BudgetSpent:
            report.skipped = BUDGET_SPENT
            return report
        except SourceError as error:
            log.warning("feed %s: item %s skipped: %s", url, guid, error.reason)
            store.feeds.remember(state.id, guid, None)
            continue
        [outcome] = store.add_articles([article])
        store.feeds.remember(state.id, guid, outcome.article.id)
        if outcome.added:
            report.new += 1
        else:
            report.duplicates += 1
    # Validators are kept only once every item is stored: a crash mid-feed refetches it all.
    store.feeds.fetched(
        state.id, download.headers.get("ETag"), download.headers.get("Last-Modified"), title
    )
    return report


def _guid(entry: Any) -> str:
    """The entry's id, else its link, else a hash of its title and summary."""
    for key in ("id", "guid", "link"):
        value = entry.get(key)
        if value:
            return str(value)[:2048]
    text = f"{entry.get('title', '')}\n{entry.get('summary', '')}"
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _article(
    entry: Any, feed_title: str | None, feed_url: str, fetcher: UrlFetcher, until: float | None
) -> Article:
    link = entry.get("link")
    origin = f"{feed_url} item {link or entry.get('id', '?')}"
    content = entry.get("content") or []
    body = content[0].get("value", "") if content else entry.get("summary", "")
    text = html_to_text(body)
    title = entry.get("title") or None
    picture = feed_picture(entry)
    image = (picture.url, picture.width, picture.height) if picture else (None, None, None)
    if link and len(text.split()) < EXCERPT_WORDS:
        try:
            page = fetcher(link, until=until)
            text, title = page.text, title or page.title
            if picture is None and page.image_url:
                image = (page.image_url, page.image_width, page.image_height)
        except BudgetSpent:
            raise  # the item waits for the next call, to be completed then
        except SourceError as error:
            if not text:
                raise
            log.info("%s: keeping the feed's excerpt, the page failed: %s", origin, error.reason)
    # Categories are stored as keywords, whichever newsletter reads the feed: one feed can
    # serve several newsletters, and each decides at build time (feed_categories_as_tags).
    categories = [tag.get("term") for tag in entry.get("tags", []) if tag.get("term")]
    article = build_article(
        origin,
        title=title or (text.split(".")[0][:120] if text else None),
        text=text,
        url=link if link and link.startswith(("http://", "https://")) else None,
        source=feed_title,
        author=entry.get("author") or None,
        published=_published(entry),
        keywords=categories,
        image_url=image[0],
        image_width=image[1],
        image_height=image[2],
    )
    return article.model_copy(update={"feed": feed_url})


def _published(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed"):
        value = entry.get(key)
        if value:
            return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    return None


def html_to_text(fragment: str) -> str:
    """Paragraphs of an HTML fragment as plain text, one blank line between them."""
    if not fragment.strip():
        return ""
    try:
        root = lxml_html.fromstring(f"<div>{fragment}</div>")
    except (ParserError, ValueError):
        return " ".join(fragment.split())
    blocks = [_words(element) for element in root.iter(*_BLOCKS)]
    blocks = [block for block in blocks if block]
    return "\n\n".join(blocks) if blocks else _words(root)


def _words(element: Any) -> str:
    return " ".join(str(element.text_content()).split())
