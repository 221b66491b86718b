"""Click tracking's pure parts: the signed redirect tokens, what a click shows on arrival, the
burst and sweep rules at report time, and distinct readers per article, section and subject
line; and the tracked render (links through the redirect, previews and archive without)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest

from digest.articles import Article
from digest.click_tokens import ClickTarget, ClickTokens, InvalidClickToken
from digest.clicks import (
    Click,
    Reason,
    arrival_reason,
    classify,
    figures,
    is_scanner_agent,
    reader_key,
)
from digest.edition import Edition, Item, Section
from digest.errors import DigestError
from digest.render import placeholders, render_edition, render_web_copy
from digest.subscribers.tokens import UnsubscribeTokens
from digest.summarize import Summary
from tests.conftest import make_newsletter

SECRET = "click-test-secret-0123456789"
T0 = datetime(2026, 11, 24, 7, 0, tzinfo=UTC)
BROWSER = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15"


def test_a_token_names_its_delivery_and_edition_and_nothing_else_passes() -> None:
    tokens = ClickTokens(SECRET)
    token = tokens.make(1234, 56)
    assert tokens.read(token) == ClickTarget(1234, 56)
    assert len(token) < 40  # a short link
    version, delivery, edition, tag = token.split(".")
    for forged in (
        f"{version}.1235.{edition}.{tag}",
        f"{version}.{delivery}.57.{tag}",
        f"{version}.{delivery}.{edition}.{tag[:-1]}",
        f"{version}.{delivery}.{edition}.{tag[:-1]}{'B' if tag[-1] != 'B' else 'C'}",
        f"{version}.{delivery}.{edition}.{tag}.",
        f"{version}.+1234.{edition}.{tag}",
        f"{version}.{'1' * 19}.{edition}.{tag}",
        "",
        "." * 3,
        token + "x" * 200,
        ClickTokens("another-secret-0123456789").make(1234, 56),
    ):
        with pytest.raises(InvalidClickToken):
            tokens.read(forged)


def test_click_and_unsubscribe_tokens_are_keyed_apart() -> None:
    """The same secret and numbers never give the same signature to both kinds of token."""
    click = ClickTokens(SECRET).make(5, 7)
    unsubscribe = UnsubscribeTokens(SECRET).make(5, 7, "")
    assert click.split(".")[3] != unsubscribe.split(".")[3]
    with pytest.raises(InvalidClickToken):
        ClickTokens(SECRET).read(unsubscribe)


def test_a_short_secret_is_refused_with_the_setting_named() -> None:
    with pytest.raises(DigestError, match="secret_key"):
        ClickTokens("short")


@pytest.mark.parametrize(
    ("agent", "scanner"),
    [
        (BROWSER, False),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Mobile/15E148", False),
        ("Mozilla/5.0 (Linux; Android 13; CUBOT KingKong 9) Chrome/124.0 Mobile", False),
        (None, True),
        ("", True),
        ("   ", True),
        ("Mozilla/5.0 (compatible; BingPreview/1.0b)", True),
        ("Barracuda Sentinel (EE)", True),
        ("Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/120.0.0.0 Safari/537.36", True),
        ("python-requests/2.32.3", True),
        ("facebookexternalhit/1.1", True),
        ("WhatsApp/2.23.20.0", True),
    ],
)
def test_scanner_agents(agent: str | None, scanner: bool) -> None:
    assert is_scanner_agent(agent) is scanner


def test_what_a_click_shows_on_arrival() -> None:
    delay = timedelta(seconds=60)
    later = T0 + timedelta(minutes=3)
    assert arrival_reason("GET", BROWSER, later, T0, delay) is None
    assert arrival_reason("HEAD", BROWSER, later, T0, delay) == Reason.HEAD
    assert arrival_reason("GET", "Mimecast", later, T0, delay) == Reason.SCANNER_AGENT
    assert arrival_reason("GET", BROWSER, T0 + timedelta(seconds=59), T0, delay) == Reason.EARLY
    assert arrival_reason("GET", BROWSER, T0 + timedelta(seconds=60), T0, delay) is None
    # Not recorded as sent yet: the message is being handed over right now.
    assert arrival_reason("GET", BROWSER, later, None, delay) == Reason.EARLY


def _click(key: str, article: int, seconds: float, reason: str = "") -> Click:
    return Click(article, T0 + timedelta(seconds=seconds), reason, key)


def test_several_links_of_one_message_within_two_seconds_are_a_burst() -> None:
    clicks = [
        _click("scanner", 1, 300.0),
        _click("scanner", 2, 300.4),
        _click("scanner", 3, 301.1),
        _click("person", 1, 300.0),
        _click("person", 2, 340.0),
        _click("person", 3, 420.0),
    ]
    reasons = classify(clicks, links=10)
    assert reasons == [Reason.BURST] * 3 + [None] * 3


def test_a_burst_whose_first_click_came_alone_is_still_a_burst() -> None:
    """On arrival the first click looked like a person's; once the rest came, it is not."""
    first = [_click("m", 1, 120.0)]
    assert classify(first, links=10) == [None]
    everything = [*first, _click("m", 2, 121.5), _click("m", 3, 121.9), _click("m", 4, 122.0)]
    assert classify(everything, links=10) == [Reason.BURST] * 4
    # Clicks before and after the burst, minutes apart, stay a person's.
    around = [_click("m", 5, 10.0 * 60), *everything, _click("m", 6, 30.0 * 60)]
    assert classify(around, links=10) == [None, *[Reason.BURST] * 4, None]


def test_two_links_at_once_are_a_burst_only_when_the_edition_has_two() -> None:
    pair = [_click("m", 1, 100.0), _click("m", 2, 100.5)]
    assert classify(pair, links=9) == [None, None]
    assert classify(pair, links=2) == [Reason.BURST, Reason.BURST]
    assert classify([_click("m", 1, 100.0), _click("m", 1, 100.1)], links=1) == [None, None]


def test_nearly_every_link_within_ten_minutes_is_a_sweep() -> None:
    paced = [_click("m", article, 100.0 + 60 * article) for article in range(1, 9)]
    assert classify(paced, links=10) == [Reason.BURST] * 8  # 8 of 10 links in 8 minutes
    assert classify(paced[:7], links=10) == [None] * 7  # 7 of 10: a keen reader
    slow = [_click("m", article, 100.0 + 180 * article) for article in range(1, 9)]
    assert classify(slow, links=10) == [None] * 8  # over 21 minutes: read one by one


def test_arrival_reasons_stay_and_join_bursts() -> None:
    clicks = [
        _click("m", 1, 10.0, Reason.EARLY.value),
        _click("m", 2, 10.5),
        _click("m", 3, 11.0),
        Click(4, T0, Reason.HEAD.value, None),
    ]
    assert classify(clicks, links=10) == [Reason.EARLY, Reason.BURST, Reason.BURST, Reason.HEAD]


def test_reader_keys_need_the_salt() -> None:
    salt = "ab" * 32
    assert reader_key(salt, 17) == reader_key(salt, 17)
    assert reader_key(salt, 17) != reader_key(salt, 18)
    assert reader_key(salt, 17) != reader_key("cd" * 32, 17)
    assert re.fullmatch(r"[0-9a-f]{32}", reader_key(salt, 17))


def _article(article_id: int, source: str = "Example News") -> Article:
    return Article(
        id=article_id,
        title=f"Story {article_id}",
        url=f"https://news.example.org/{article_id}?ref=a&b=1",
        source=source,
        text="Some text. " * 20,
    )


def _edition() -> Edition:
    def item(article_id: int, also: list[Article] | None = None) -> Item:
        return Item(
            article=_article(article_id),
            summary=Summary(text="A summary.", method="extractive"),
            also=also or [],
        )

    return Edition(
        id=3,
        newsletter="brief",
        number=1,
        date=date(2026, 11, 24),
        subject="Story 1",
        sections=[
            Section(title="Ports", items=[item(1, [_article(9, "Other Outlet")]), item(2)]),
            Section(title="Grain", items=[item(3), item(4)]),
        ],
    )


def test_figures_count_distinct_people_per_article_section_and_subject_line() -> None:
    clicks = [
        _click("a", 1, 100),
        _click("a", 1, 200),  # again: not counted twice
        _click("a", 2, 400),
        _click("b", 9, 100),
        _click("b", 3, 500),
        Click(3, T0 + timedelta(seconds=600), "", "c", 1),
        _click("d", 1, 100, Reason.SCANNER_AGENT.value),
    ]
    found = figures(_edition(), clicks)
    assert found.readers == 3 and found.counted == 5 and found.repeats == 1
    assert found.left_out["scanner_agent"] == 1 and found.left_out["burst"] == 0
    ports, grain = found.sections
    assert (ports.title, ports.readers) == ("Ports", 2)  # a and b; a's two links count once
    assert (grain.title, grain.readers) == ("Grain", 2)
    lead = ports.stories[0]
    assert (lead.article.readers, lead.also[0].readers) == (1, 1)
    assert lead.also[0].label == "Other Outlet"
    assert [s.article.readers for s in grain.stories] == [2, 0]
    assert found.by_subject == {0: 2, 1: 1}
    assert found.total == len(clicks)
    lines = "\n".join(found.lines())
    assert "3 readers clicked" in lines and "1 known scanner" in lines
    assert "readers per subject line: line 0: 2, line 1: 1" in lines


def test_the_sent_copy_links_through_the_redirect_and_the_others_do_not() -> None:
    newsletter = make_newsletter(lists=["readers"], track_clicks=True)
    edition = _edition()
    sent = render_edition(edition, newsletter, tracked=True)
    for part in (sent.html, sent.text):
        for article_id in (1, 2, 3, 4, 9):
            assert f"{placeholders.CLICK_BASE}/{article_id}" in part
        assert "https://news.example.org/" not in part
    assert not [f for f in sent.findings if f.code in ("bad-link", "empty-link")]
    # The links that are not articles' stay as they are.
    assert "%%unsubscribe_url%%" in sent.html and "/archive/brief/1" in sent.html
    preview = render_edition(edition, newsletter)
    archive = render_web_copy(edition, newsletter)
    for shown, link in (
        (preview.html, 'href="https://news.example.org/9?ref=a&amp;b=1"'),
        (archive, 'href="https://news.example.org/9?ref=a&amp;b=1"'),
        (preview.text, ": https://news.example.org/9?ref=a&b=1\n"),
    ):
        assert placeholders.CLICK_BASE not in shown and "/c/" not in shown
        assert link in shown
