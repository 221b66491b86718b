"""Personalised editions: readers following three different topic sets at two frequencies get
exactly the sections they chose, in the editions of their frequency, each article once, also
after changing their choice on `digest serve`'s preference page; every copy is rendered once
per variant, never once per reader. Through the CLI, sent through the outbox and read back from
the .eml files, on SQLite and PostgreSQL."""

from __future__ import annotations

import email
import json
import re
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from digest.app import App
from digest.articles import Article
from digest.cli import app as cli
from digest.config import Settings, load_settings
from digest.edition import Edition
from digest.send.campaign import NOTHING_IN_TOPICS
from digest.variants import Variant, edition_for, subject_of, topics_key
from tests.conftest import make_newsletter
from tests.test_run import Newsroom, config
from tests.test_run import newsroom as newsroom  # the fixture
from tests.web_support import plain_text_of, serving

SECRET = "test-secret-0123456789"

# Two articles a day in each of three desks; each headline names its desk and day.
_TEXT = {
    "sport": (
        "The home side won the final match of the season in front of a full stadium, and the "
        "coach said the players had earned the trophy with a late goal. Supporters filled the "
        "streets after the whistle, and the league confirmed the date of the parade."
    ),
    "business": (
        "The company reported higher quarterly profits as sales of its new products grew, and "
        "its shares rose on the stock exchange. Analysts said the results beat forecasts, and "
        "the board proposed a larger dividend for investors this year."
    ),
    "politics": (
        "Members of parliament voted on the budget after a long debate, and the government won "
        "by a narrow margin. The opposition said the plan cut local services, and ministers "
        "promised to publish the figures behind it next week."
    ),
}


def _articles(day: int) -> list[dict[str, object]]:
    return [
        {
            "title": f"{desk.capitalize()} story {number} of day {day}",
            "url": f"https://news.example.org/{desk}/{day}/{number}",
            "source": "Example News",
            "published": f"2026-11-{day:02d}T06:00:00Z",
            "tags": [desk],
            "text": f"{_TEXT[desk]} Report {number} of day {day} adds its own detail {desk}{day}.",
        }
        for desk in ("sport", "business", "politics")
        for number in (1, 2)
    ]


def _app(database_url: str, tmp_path: Path) -> App:
    newsletter = make_newsletter(
        lists=["readers"],
        max_sections=4,
        topics={
            "sport": {"label": "Sport", "tags": ["sport"]},
            "business": {"label": "Business", "sections": ["Business"]},
            "politics": {"label": "Politics", "query": ["parliament"]},
        },
        frequencies={
            "daily": {"label": "Every morning", "schedule": "0 7 * * *"},
            "weekly": {"label": "On Mondays", "schedule": "0 8 * * MON"},
        },
    )
    settings = Settings.model_validate(
        {
            "database_url": database_url,
            "newsletters": {"brief": newsletter},
            "secret_key": SECRET,
            "outbox_dir": tmp_path / "outbox",
            "first_send_check": False,  # example.org has no DNS (tests/test_doctor.py)
        }
    )
    return App(settings)


READERS = {
    # address: (topics, frequency); the crowd shows renders are per variant, not per reader.
    "all-daily@example.org": (set(), ""),
    "sport-daily@example.org": ({"sport"}, "daily"),
    "desk-daily@example.org": ({"business", "politics"}, "daily"),
    "switcher@example.org": ({"business"}, "daily"),
    "widener@example.org": ({"sport"}, "daily"),
    "sport-weekly@example.org": ({"sport"}, "weekly"),
    "all-weekly@example.org": (set(), "weekly"),
    **{f"crowd{n}@example.org": ({"sport"}, "daily") for n in range(40)},
}


def _subscribe(app: App) -> None:
    """The readers and their choices, imported as `digest subscribers import` does."""
    rows = ["email,topics,frequency"] + [
        f"{address},{';'.join(sorted(topics))},{frequency}"
        for address, (topics, frequency) in READERS.items()
    ]
    app.store.subscribers.ensure_list("readers")
    imported, rejects = app.import_subscribers("readers", "people.csv", "\n".join(rows).encode())
    assert imported.new == len(READERS), imported
    assert not rejects, rejects


def _add(app: App, tmp_path: Path, day: int) -> None:
    path = tmp_path / f"day{day}.jsonl"
    path.write_text("\n".join(json.dumps(a) for a in _articles(day)), encoding="utf-8")
    assert not app.add([str(path)]).errors


def _received(tmp_path: Path, edition: Edition) -> dict[str, list[str]]:
    """Each reader's headlines in the edition's .eml files, from the plain-text part."""
    folder = tmp_path / "outbox" / "brief" / f"edition-{edition.id}"
    found: dict[str, list[str]] = {}
    headlines = {str(a["title"]) for day in (23, 24) for a in _articles(day)}
    for path in sorted(folder.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(message, EmailMessage)
        body = message.get_body(("plain",))
        assert body is not None
        text = body.get_content()
        found[str(message["To"])] = sorted(h for h in headlines if h in text)
    return found


def _send(app: App, edition: Edition) -> None:
    report = app.send(app.approve(edition))
    assert report.finished, report.summary()
    return None


def _held(edition: Edition) -> list[Article]:
    return [article for item in edition.items for article in item.articles]


def _desks(headlines: list[str]) -> set[str]:
    return {headline.split()[0].lower() for headline in headlines}


CONFIG = """
[newsletters.brief]
title = "The Test Brief"
theme = "news of the day"
from_name = "Test Brief"
from_address = "brief@example.org"
postal_address = "1 Test Street, Testville"
base_url = "https://brief.example.org"
lists = ["readers"]
max_sections = 4
[newsletters.brief.topics]
sport = { label = "Sport", tags = ["sport"] }
business = { label = "Business", sections = ["Business"] }
politics = { label = "Politics", query = ["parliament"] }
[newsletters.brief.frequencies]
daily = { label = "Every morning", schedule = "0 7 * * *" }
weekly = { label = "On Mondays", schedule = "0 8 * * MON" }
"""


def _cli(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, f"digest {' '.join(args)}: {result.output}"
    return result.output


def _preference_link(tmp_path: Path, address: str) -> str:
    """The reader's preference page, from the link in the latest email they were sent."""
    for eml in sorted((tmp_path / "outbox").rglob("0*.eml"), reverse=True):
        if f"<{address}>" in eml.read_text() or f"To: {address}" in eml.read_text():
            found = re.search(r"https://brief\.example\.org(/p/\S+)", plain_text_of(eml))
            assert found is not None
            return found.group(1)
    raise AssertionError(f"no email to {address}")


def test_readers_get_the_topics_and_frequency_they_chose_each_article_once(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the CLI (import, add, build, approve, send) and `digest serve`'s preference
    page, as an editor and readers use them."""
    (tmp_path / "digest.toml").write_text(CONFIG, encoding="utf-8")
    for name, value in {
        "DIGEST_CONFIG": str(tmp_path / "digest.toml"),
        "DIGEST_DATABASE_URL": database_url,
        "DIGEST_SECRET_KEY": SECRET,
        "DIGEST_OUTBOX_DIR": str(tmp_path / "outbox"),
    }.items():
        monkeypatch.setenv(name, value)
    people = tmp_path / "people.csv"
    people.write_text(
        "email,topics,frequency\n"
        + "".join(
            f"{address},{';'.join(sorted(topics))},{frequency}\n"
            for address, (topics, frequency) in READERS.items()
        ),
        encoding="utf-8",
    )
    _cli("subscribers", "import", str(people), "--list", "readers")

    def send_day(day: int, frequency: str, articles: int = 6) -> Edition:
        if articles:
            path = tmp_path / f"day{day}.jsonl"
            path.write_text("\n".join(json.dumps(a) for a in _articles(day)), encoding="utf-8")
            _cli("add", str(path))
        _cli("build", "--date", f"2026-11-{day:02d}", "--frequency", frequency)
        _cli("approve", "latest")
        out = _cli("send", "latest", "--yes", "--now")
        assert "complete" in out, out
        app = App(load_settings())
        edition = app.edition("latest")
        app.close()
        return edition

    monday = send_day(23, "daily")
    assert monday.frequency == "daily"
    assert {s.title for s in monday.sections} == {"Sport", "Business", "Politics"}
    app = App(load_settings())
    copies = {line.copy: line for line in app.delivery_report(monday).copies}
    app.close()
    # One copy per topic set, whatever its readers: 42 follow sport alone.
    assert copies["Sport"].readers == 42
    assert set(copies) == {"Every topic", "Sport", "Business, Politics", "Business"}
    got = _received(tmp_path, monday)
    assert set(got) == {a for a, (_, f) in READERS.items() if f in ("", "daily")}
    assert _desks(got["all-daily@example.org"]) == {"sport", "business", "politics"}
    assert _desks(got["sport-daily@example.org"]) == {"sport"}
    assert _desks(got["desk-daily@example.org"]) == {"business", "politics"}
    assert _desks(got["switcher@example.org"]) == {"business"}
    assert all(len(got[a]) == 2 for a in got if a.startswith("crowd"))

    # Two readers change their choice on the page their email links to.
    settings = load_settings()
    with serving(settings) as base, httpx.Client(base_url=base, timeout=60) as client:
        for address, form in (
            ("switcher@example.org", {"topic": ["business"], "frequency": "weekly"}),
            (
                "widener@example.org",
                {"topic": ["sport", "business", "politics"], "frequency": "weekly"},
            ),
        ):
            answer = client.post(_preference_link(tmp_path, address), data=form)
            assert answer.status_code == 200, answer.text
            assert "Saved." in answer.text

    # Tuesday's daily goes to the daily readers only.
    tuesday = send_day(24, "daily")
    assert {a.title for a in _held(tuesday)} == {str(a["title"]) for a in _articles(24)}
    got_tuesday = _received(tmp_path, tuesday)
    assert "switcher@example.org" not in got_tuesday
    assert "all-weekly@example.org" not in got_tuesday

    # The weekly edition takes the week's articles, the daily editions' too.
    weekly = send_day(30, "weekly", articles=0)
    assert len(_held(weekly)) == 12
    got_weekly = _received(tmp_path, weekly)
    assert set(got_weekly) == {
        "sport-weekly@example.org",
        "all-weekly@example.org",
        "switcher@example.org",
        "widener@example.org",
    }
    assert len(got_weekly["all-weekly@example.org"]) == 12
    assert _desks(got_weekly["sport-weekly@example.org"]) == {"sport"}
    assert len(got_weekly["sport-weekly@example.org"]) == 4
    # Monday's business stories reached the switcher already: only Tuesday's now.
    assert got_weekly["switcher@example.org"] == sorted(
        str(a["title"])
        for a in _articles(24)
        if "business" in a["tags"]  # type: ignore[operator]
    )
    # Monday's copy held only the sport stories for the widener: the rest of Monday's
    # stories reach them now, the sport ones not again.
    assert len(got_weekly["widener@example.org"]) == 10
    assert not set(got_weekly["widener@example.org"]) & set(got["widener@example.org"])

    # Over the week, no reader got any article twice.
    per_reader: Counter[tuple[str, str]] = Counter()
    for edition_got in (got, got_tuesday, got_weekly):
        for reader, headlines in edition_got.items():
            per_reader.update((reader, h) for h in headlines)
    assert max(per_reader.values()) == 1


def test_renders_are_counted_per_copy_not_per_reader(sqlite_url: str, tmp_path: Path) -> None:
    app = _app(sqlite_url, tmp_path)
    _subscribe(app)
    _add(app, tmp_path, 23)
    edition = app.build(app.settings.newsletter("brief"), date(2026, 11, 23), frequency="daily")
    report = app.send(app.approve(edition))
    assert report.finished, report.summary()
    # Copies: everything (rendered before the send), sport (42 readers), business+politics,
    # business: three more renders for 46 readers.
    assert report.renders == 3
    assert report.variants[topics_key({"sport"})] == 42
    assert "3 more copies of the edition rendered by this run" in report.summary()


def test_a_reader_whose_topics_have_nothing_gets_nothing_or_the_top_stories(
    sqlite_url: str, tmp_path: Path
) -> None:
    app = _app(sqlite_url, tmp_path)
    newsletter = app.settings.newsletter("brief")
    _subscribe(app)
    path = tmp_path / "sport.jsonl"
    sport = [a for a in _articles(23) if a["tags"] == ["sport"]]
    path.write_text("\n".join(json.dumps(a) for a in sport), encoding="utf-8")
    app.add([str(path)])
    edition = app.build(newsletter, date(2026, 11, 23), frequency="daily")
    report = app.send(app.approve(edition))
    assert report.finished
    got = _received(tmp_path, edition)
    assert "desk-daily@example.org" not in got
    outcomes = {o.email: o for o in app.delivery_outcomes(edition)}
    assert outcomes["desk-daily@example.org"].status == "skipped"
    assert outcomes["desk-daily@example.org"].error == NOTHING_IN_TOPICS

    top = newsletter.model_copy(update={"no_topic_match": "top_stories"})
    shown = edition_for(edition, top, topics_key({"business"}))
    assert shown is not None
    assert [s.title for s in shown.sections] == ["Top stories"]
    assert shown.items[0].article.id == edition.top_story.article.id


def test_variant_keys_read_back_and_forget_topics_no_longer_offered(
    sqlite_url: str, tmp_path: Path
) -> None:
    app = _app(sqlite_url, tmp_path)
    newsletter = app.settings.newsletter("brief")
    _subscribe(app)
    _add(app, tmp_path, 23)
    edition = app.build(newsletter, date(2026, 11, 23), frequency="daily")
    variant = Variant.parse("business,sport|-4,2")
    assert variant == Variant(frozenset({"business", "sport"}), frozenset({2, 4}))
    assert variant.key == "business,sport|-2,4"
    # A topic the newsletter dropped is forgotten; nothing left means everything.
    assert edition_for(edition, newsletter, "gardening") == edition
    shown = edition_for(edition, newsletter, "gardening,sport")
    assert shown is not None and {s.title for s in shown.sections} == {"Sport"}
    # The copy's subject is written again for what it holds.
    assert "Sport" in shown.subject or "Sport story" in shown.subject
    # An A/B test's lines are about the whole edition: a copy without its lead keeps its own.
    tested = edition.model_copy(update={"subject_tests": ["Line one", "Line two"]})
    lead_desk = tested.top_story.article.tags[0]
    with_lead = edition_for(tested, newsletter, lead_desk)
    without = edition_for(tested, newsletter, next(t for t in newsletter.topics if t != lead_desk))
    assert with_lead is not None and without is not None
    assert subject_of(tested, with_lead, 2) == "Line two"
    assert subject_of(tested, tested, 1) == "Line one"
    assert subject_of(tested, without, 2) == without.subject != "Line two"


def test_the_send_report_counts_readers_per_copy(sqlite_url: str, tmp_path: Path) -> None:
    app = _app(sqlite_url, tmp_path)
    newsletter = app.settings.newsletter("brief")
    _subscribe(app)
    _add(app, tmp_path, 23)
    edition = app.build(newsletter, date(2026, 11, 23), frequency="daily")
    app.send(app.approve(edition))
    report = app.delivery_report(app.store.get_edition(edition.id or 0))
    copies = {line.copy: line for line in report.copies}
    assert copies["Sport"].readers == 42 and copies["Sport"].sent == 42
    assert copies["Every topic"].readers == 1
    assert copies["Business, Politics"].sent == 1
    assert "copy: Sport" in "\n".join(report.lines())


def test_digest_run_builds_and_sends_each_frequency_on_its_own_schedule(
    database_url: str, newsroom: Callable[..., Newsroom]
) -> None:
    frequencies = (
        '{ daily = { label = "Every morning", schedule = "0 7 * * *" }, '
        'weekly = { label = "Mondays", schedule = "0 9 * * MON", lookback = "P7D" } }'
    )
    room = newsroom(
        database_url,
        config("0 7 * * *", "UTC", "automatic", frequencies=frequencies, min_articles="1"),
    )
    monday = datetime(2026, 11, 23, tzinfo=UTC)
    people = room.path / "people.csv"
    people.write_text(
        "email,topics,frequency\nr0@example.org,,\nr1@example.org,,weekly\n"
        "r2@example.org,,weekly\n",
        encoding="utf-8",
    )
    room.cli(monday, "subscribers", "import", str(people), "--list", "readers")
    room.add_articles(monday - timedelta(days=1), count=2)
    daily = [a for a in room.ok(monday + timedelta(hours=7)) if a["action"] == "send"]
    assert [(a["newsletter"], a["status"]) for a in daily] == [("brief@daily", "done")]
    weekly = [a for a in room.ok(monday + timedelta(hours=9)) if a["action"] == "send"]
    assert [(a["newsletter"], a["status"]) for a in weekly] == [("brief@weekly", "done")]
    room.add_articles(monday + timedelta(hours=12), count=1)
    room.ok(monday + timedelta(days=1, hours=7))
    delivered = room.delivered()
    app = room.app()
    editions = {e.id: e for e in app.store.list_editions("brief")}
    by_frequency = {
        editions[number].frequency: (len(editions[number].items), sorted(delivered[number]))
        for number in delivered
    }
    app.close()
    # Monday's daily and Tuesday's daily went to r0; the weekly (Monday's two) to r1 and r2.
    assert sorted(f for f in (e.frequency for e in editions.values())) == [
        "daily",
        "daily",
        "weekly",
    ]
    assert by_frequency["weekly"] == (2, ["r1@example.org", "r2@example.org"])
    daily_readers = {
        r
        for number in delivered
        if editions[number].frequency == "daily"
        for r in delivered[number]
    }
    assert daily_readers == {"r0@example.org"}
    out = room.cli(monday + timedelta(days=1, hours=8), "schedule")
    assert "brief (daily)" in out and "brief (weekly)" in out


def test_every_copy_carries_the_click_redirect_when_the_newsletter_tracks_clicks(
    sqlite_url: str, tmp_path: Path
) -> None:
    app = _app(sqlite_url, tmp_path)
    newsletter = app.settings.newsletter("brief").model_copy(update={"track_clicks": True})
    app.settings.newsletters["brief"] = newsletter
    _subscribe(app)
    _add(app, tmp_path, 23)
    edition = app.build(newsletter, date(2026, 11, 23), frequency="daily")
    assert app.send(app.approve(edition)).finished
    folder = tmp_path / "outbox" / "brief" / f"edition-{edition.id}"
    copies = {
        plain_text_of(path).count("https://brief.example.org/c/") > 0
        for path in folder.glob("0*.eml")
    }
    assert copies == {True}
    sport = next(
        p
        for p in folder.glob("0*.eml")
        if "<sport-daily@example.org>" in p.read_text()
        or "sport-daily@example.org" in p.read_text()
    )
    assert "https://news.example.org/sport" not in plain_text_of(sport)


def test_a_weekly_edition_summarises_none_of_the_daily_stories_again(
    sqlite_url: str, tmp_path: Path
) -> None:
    """Each article is summarised once: the weekly edition takes the daily edition's summary,
    with the editor's correction, and asks the summariser only for the new stories."""
    from digest.summarize.reused import ReusedSummaries

    app = _app(sqlite_url, tmp_path)
    newsletter = app.settings.newsletter("brief")
    _add(app, tmp_path, 23)
    daily = app.build(newsletter, date(2026, 11, 23), frequency="daily")
    first = daily.items[0]
    edited = first.summary.model_copy(
        update={"text": "The editor's own summary.", "method": "edited"}
    )
    changed = daily.model_copy(
        update={
            "sections": [
                section.model_copy(
                    update={
                        "items": [
                            i.model_copy(update={"summary": edited}) if i is first else i
                            for i in section.items
                        ]
                    }
                )
                for section in daily.sections
            ]
        }
    )
    app.revise(daily, changed)
    _add(app, tmp_path, 24)

    asked: list[str] = []
    inner = app.summarizer_for(newsletter)

    class Counting:
        method = inner.method

        def summarize(self, article: Article, *, theme: str, max_words: int) -> object:
            asked.append(article.title)
            return inner.summarize(article, theme=theme, max_words=max_words)

    known = app.store.stored_summaries("brief", [a.id for a in _held(daily) if a.id])
    reused = ReusedSummaries(Counting(), known)  # type: ignore[arg-type]
    for article in app.store.unused_articles("brief", 20, frequencies=("weekly",)):
        reused.summarize(article, theme=newsletter.theme, max_words=60)
    assert sorted(asked) == sorted(str(a["title"]) for a in _articles(24))

    weekly = app.build(newsletter, date(2026, 11, 30), frequency="weekly")
    summaries = {item.article.id: item.summary for item in weekly.items}
    assert summaries[first.article.id].text == "The editor's own summary."
    for item in daily.items:
        if item is not first:
            assert summaries[item.article.id].text == item.summary.text
