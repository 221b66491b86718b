"""Feeds against a real HTTP server: RSS 2.0 and Atom, 304s, broken, slow and huge feeds, full
text for excerpts, and nothing collected twice."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from digest.app import App, categories_as_tags
from digest.articles import Article
from digest.config import Settings
from digest.feeds import fetch_feeds, html_to_text
from digest.fetch import UrlFetcher
from digest.store import Store
from digest.url_guard import UrlGuard
from tests.conftest import make_newsletter
from tests.servers.feeds import FeedSite, Item, running_feed_site

LONG = " ".join(f"Sentence {n} about the grain corridor and the ports of Odesa." for n in range(30))


@pytest.fixture
def site() -> Iterator[FeedSite]:
    with running_feed_site() as served:
        served.rss = [
            Item(
                "r1",
                "Full item in the feed",
                f"<p>{LONG}</p>",
                datetime(2026, 11, 2, 8, tzinfo=UTC),
                tags=["Economy"],
            ),
            Item(
                "r2",
                "Excerpt only",
                "<p>A short teaser.</p>",
                datetime(2026, 11, 3, 8, tzinfo=UTC),
                page="The whole story of the excerpt item.\n\n" + LONG.replace("grain", "rail"),
            ),
        ]
        served.atom = [
            Item(
                "a1",
                "Atom entry",
                f"<p>{LONG.replace('grain', 'drone')}</p>",
                datetime(2026, 11, 4, 8, tzinfo=UTC),
            ),
            # The same story as r1, under another feed and GUID: a duplicate by text.
            Item(
                "a2",
                "Full item in the feed (copy)",
                f"<p>{LONG}</p>",
                datetime(2026, 11, 4, 9, tzinfo=UTC),
            ),
        ]
        yield served


@pytest.fixture
def fetcher() -> Iterator[UrlFetcher]:
    instance = UrlFetcher(timeout=1.0, max_bytes=1_000_000, guard=UrlGuard(["127.0.0.1"]))
    yield instance
    instance.close()


def test_rss_and_atom_collected_once(store: Store, site: FeedSite, fetcher: UrlFetcher) -> None:
    urls = [f"{site.base}/rss.xml", f"{site.base}/atom.xml"]
    first = fetch_feeds(urls, store, fetcher)
    assert [(r.new, r.duplicates, r.error) for r in first] == [(2, 0, None), (1, 1, None)]
    articles = {a.title: a for a in store.list_articles()}
    assert set(articles) == {"Full item in the feed", "Excerpt only", "Atom entry"}
    excerpt = articles["Excerpt only"]
    assert excerpt.text.startswith("The whole story of the excerpt item.")  # fetched page
    assert "Home News" not in excerpt.text and "Copyright" not in excerpt.text
    # A feed's categories are keywords: only a newsletter that says so makes them tags.
    assert articles["Full item in the feed"].keywords == ["economy"]
    assert articles["Full item in the feed"].tags == []
    assert articles["Full item in the feed"].source == "Example Wire"
    assert articles["Atom entry"].author == "Atom Writer"
    assert articles["Atom entry"].published == datetime(2026, 11, 4, 8, tzinfo=UTC)
    assert all(a.feed in urls for a in articles.values())

    # Unchanged feeds answer 304 to the stored ETag: nothing is read or added.
    second = fetch_feeds(urls, store, fetcher)
    assert all(r.not_modified for r in second)
    assert site.requests[-2:] == [("/rss.xml", 304), ("/atom.xml", 304)]

    # A new item appears: only it is collected; old GUIDs are not fetched again.
    site.rss.append(
        Item(
            "r3",
            "Third",
            f"<p>{LONG.replace('grain', 'energy')}</p>",
            datetime(2026, 11, 5, tzinfo=UTC),
        )
    )
    pages_before = sum(1 for path, _ in site.requests if path.startswith("/articles/"))
    third = fetch_feeds(urls, store, fetcher)
    assert (third[0].new, third[0].already_seen) == (1, 2)
    assert sum(1 for path, _ in site.requests if path.startswith("/articles/")) == pages_before
    assert len(store.list_articles()) == 4


def test_failing_feeds_are_reported_and_others_go_on(
    store: Store, site: FeedSite, fetcher: UrlFetcher
) -> None:
    urls = [
        f"{site.base}/broken.xml",
        f"{site.base}/slow.xml",
        f"{site.base}/huge.xml",
        f"{site.base}/missing.xml",
        f"{site.base}/rss.xml",
    ]
    site.slow_seconds = 3
    reports = fetch_feeds(urls, store, fetcher)
    errors = [r.error for r in reports]
    assert errors[0] is not None and "not a valid RSS or Atom feed" in errors[0]
    assert errors[1] == "timed out after 1 s"
    assert errors[2] is not None and "larger than the 1,000,000 byte limit" in errors[2]
    assert errors[3] == "HTTP 404 Not Found"
    assert errors[4] is None and reports[4].new == 2
    assert store.feeds.state(f"{site.base}/broken.xml").failures == 1
    # A failed feed is tried again next time (and counted again if it still fails).
    fetch_feeds(urls[:1], store, fetcher)
    assert store.feeds.state(f"{site.base}/broken.xml").failures == 2


def test_html_to_text_keeps_paragraphs() -> None:
    assert (
        html_to_text("<p>One <b>bold</b> line.</p><ul><li>Two</li></ul>") == "One bold line.\n\nTwo"
    )
    assert html_to_text("Just text &amp; more") == "Just text & more"
    assert html_to_text("") == ""


def test_the_tick_budget_skips_the_feeds_left(
    store: Store, site: FeedSite, fetcher: UrlFetcher
) -> None:
    """A feed trickling a byte at a time is cut off when the call's budget is spent, and the
    feeds after it are skipped, not failed: the next call takes them."""
    site.trickle_seconds = 0.05
    urls = [f"{site.base}/trickle.xml", f"{site.base}/rss.xml", f"{site.base}/atom.xml"]
    started = time.monotonic()
    reports = fetch_feeds(urls, store, fetcher, deadline=0.8)
    assert time.monotonic() - started < 1.5
    assert [r.line() for r in reports] == [
        f"feed {url}: skipped: tick budget spent (fetch_tick_budget)" for url in urls
    ]
    assert [r.error for r in reports] == [None, None, None]
    assert store.feeds.state(urls[0]).failures == 0
    assert store.list_articles() == []
    assert [r.new for r in fetch_feeds(urls[1:], store, fetcher, deadline=30)] == [2, 1]


def test_items_left_when_the_budget_is_spent_wait_for_the_next_call(
    store: Store, site: FeedSite, fetcher: UrlFetcher
) -> None:
    url = f"{site.base}/rss.xml"
    site.page_seconds = 3  # the excerpt item's page: longer than the budget
    [report] = fetch_feeds([url], store, fetcher, deadline=0.8)
    assert (report.new, report.error) == (1, None)
    assert report.line() == (
        f"feed {url}: 1 new, 0 seen before, 0 duplicates of stored articles; "
        "the other items skipped: tick budget spent (fetch_tick_budget)"
    )
    assert [a.title for a in store.list_articles()] == ["Full item in the feed"]
    # Neither the excerpt item nor the feed's validators were recorded: the next call reads
    # the feed again (no 304) and completes the item from its page.
    site.page_seconds = 0
    [again] = fetch_feeds([url], store, fetcher, deadline=30)
    assert (again.new, again.already_seen, again.not_modified) == (1, 1, False)
    excerpt = next(a for a in store.list_articles() if a.title == "Excerpt only")
    assert excerpt.text.startswith("The whole story of the excerpt item.")


def story(*phrases: str) -> str:
    """A feed item's full text (long enough not to be taken for an excerpt)."""
    return "".join(f"<p>{phrase} {n}.</p>" for n in range(20) for phrase in phrases)


CATEGORISED = [
    Item(
        "grain",
        "Grain ships leave Odesa",
        story("Grain ships left the ports of Odesa through the corridor", "Wheat cargo sailed"),
        datetime(2026, 11, 20, 8, tzinfo=UTC),
        tags=["Economy"],
    ),
    Item(
        "rail",
        "Rail freight to Poland grows",
        story("Freight trains carried more steel to Polish border stations", "Rail cars queued"),
        datetime(2026, 11, 20, 9, tzinfo=UTC),
        tags=["Economy"],
    ),
    Item(
        "drones",
        "Drones downed over Kyiv",
        story("Air defence shot down drones over Kyiv at night", "Shahed debris fell"),
        datetime(2026, 11, 21, 8, tzinfo=UTC),
        tags=["Defence"],
    ),
    Item(
        "patriot",
        "Allies pledge Patriot batteries",
        story("Allies pledged Patriot missile batteries and interceptors", "Launchers ship soon"),
        datetime(2026, 11, 21, 9, tzinfo=UTC),
        tags=["Defence"],
    ),
]

HAND_ADDED = """<!doctype html><html><head><title>Bakeries in Lviv open at dawn</title>
<meta name="keywords" content="Economy, Defence"></head><body><article>
<h1>Bakeries in Lviv open at dawn</h1>
<p>Bakeries in the old town of Lviv open their doors at dawn, their owners said.</p>
<p>Queues for bread and pastries form before six on weekdays, and longer on market days.</p>
</article></body></html>"""


@pytest.mark.parametrize("as_tags", [False, True])
def test_feed_categories_shape_sections_only_where_the_newsletter_says(
    as_tags: bool, sqlite_url: str, site: FeedSite, tmp_path: Path
) -> None:
    site.rss = CATEGORISED
    newsletter = make_newsletter(
        feeds=[f"{site.base}/rss.xml"], feed_categories_as_tags=as_tags, max_sections=4
    )
    settings = Settings(
        database_url=sqlite_url,
        newsletters={"brief": newsletter},
        fetch_allowed_networks=["127.0.0.1"],
    )
    page = tmp_path / "bakeries.html"
    page.write_text(HAND_ADDED, encoding="utf-8")
    app = App(settings)
    try:
        [report] = app.fetch_feeds()
        assert report.new == 4
        assert app.add([str(page)]).errors == []
        stored = {a.title: a for a in app.store.list_articles()}
        assert stored["Grain ships leave Odesa"].keywords == ["economy"]
        assert all(a.tags == [] for a in stored.values())  # the store keeps them keywords

        edition = app.build(newsletter, date(2026, 11, 24))
    finally:
        app.close()
    sections = {s.title: {i.article.title for i in s.items} for s in edition.sections}
    assert sum(len(titles) for titles in sections.values()) == 5
    if as_tags:
        assert sections["Economy"] == {"Grain ships leave Odesa", "Rail freight to Poland grows"}
        assert sections["Defence"] == {"Drones downed over Kyiv", "Allies pledge Patriot batteries"}
    else:
        assert not {"Economy", "Defence"} & set(sections)


def test_categories_become_tags_only_for_the_newsletters_own_feeds() -> None:
    def article(feed: str | None) -> Article:
        return Article(title="A title", text="Text.", tags=["pick"], keywords=["eu"], feed=feed)

    ours, other, by_hand = categories_as_tags(
        [article("https://a.example/feed"), article("https://b.example/feed"), article(None)],
        ["https://a.example/feed"],
    )
    assert ours.tags == ["pick", "eu"]
    assert other.tags == by_hand.tags == ["pick"]
    assert ours.keywords == ["eu"]
