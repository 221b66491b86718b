"""Click tracking end to end (SQLite and PostgreSQL): an edition sent through the outbox with
`track_clicks`, its links read out of the .eml files, and clicked with httpx against
`digest serve` (uvicorn on 127.0.0.1) under a controlled clock; then the figures, the stored
rows, the report page, the edition's page and `digest report --json`."""

from __future__ import annotations

import email
import email.policy
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
import time_machine
from sqlalchemy import select
from typer.testing import CliRunner

from digest.app import App
from digest.cli import app as cli
from digest.clicks import reader_key
from digest.edition import Edition
from digest.store.tables import ClickRow, ClickSaltRow, DeliveryRow
from tests.conftest import make_newsletter
from tests.duplicate_stories import FERRY_A, FERRY_B
from tests.web_support import draft_edition, serving, settings_for

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0"
LATER = timedelta(minutes=5)  # well past click_scanner_delay: a person reading


@dataclass
class Sent:
    app: App
    edition: Edition
    messages: list[Path]
    sent_at: datetime

    def links(self, index: int) -> dict[int, str]:
        """Reader `index`'s tracked article links (article id → link) from the HTML part."""
        found: dict[int, str] = {}
        for href in re.findall(r'href="([^"]+)"', part_of(self.messages[index], "html")):
            match = re.fullmatch(r"https://brief\.example\.org(/c/[^/]+/(\d+))", href)
            if match:
                found[int(match.group(2))] = match.group(1)
        return found

    def urls(self) -> dict[int, str]:
        """The stored URL of every article that has one (article id → URL)."""
        return {a.id or 0: a.url for item in self.edition.items for a in item.articles if a.url}

    def also(self) -> int:
        """The article id of the edition's other report of a story."""
        return next(report.id or 0 for item in self.edition.items for report in item.also)

    def figures(self) -> dict[str, Any]:
        found = self.app.click_figures(self.app.store.get_edition(self.edition.id or 0))
        assert found is not None
        return found.as_json()

    def rows(self) -> list[ClickRow]:
        with self.app.store.session() as session:
            return list(session.scalars(select(ClickRow).order_by(ClickRow.id)))


def part_of(eml: Path, kind: str) -> str:
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    body = message.get_body((kind,))
    assert body is not None
    return str(body.get_content())


def send_tracked(
    database_url: str, tmp_path: Path, per_reader: bool = False, readers: int = 4
) -> Sent:
    newsletter = make_newsletter(lists=["readers"], track_clicks=True, per_reader_stats=per_reader)
    app = App(settings_for(database_url, tmp_path, newsletters={"brief": newsletter}))
    # Two reports of one event: one story, "Also reported by" the other, linked too.
    app.store.add_articles(
        [FERRY_A.model_copy(update={"id": None}), FERRY_B.model_copy(update={"id": None})]
    )
    edition = draft_edition(app, readers)
    app.approve(edition)
    app.send(app.store.get_edition(edition.id or 0))
    sent = app.store.get_edition(edition.id or 0)
    outcomes = app.store.deliveries.outcomes(edition.id or 0)
    moment = max(o.sent_at for o in outcomes if o.sent_at)
    messages = sorted((tmp_path / "outbox" / "brief" / f"edition-{edition.id}").glob("*.eml"))
    assert len(messages) == readers
    return Sent(app, sent, messages, moment)


@pytest.fixture
def sent(database_url: str, tmp_path: Path) -> Iterator[Sent]:
    done = send_tracked(database_url, tmp_path)
    yield done
    done.app.close()


def click(
    client: httpx.Client, link: str, agent: str | None = BROWSER, method: str = "GET"
) -> httpx.Response:
    headers = {"User-Agent": agent} if agent is not None else {}
    request = client.build_request(method, link, headers=headers)
    if agent is None:
        del request.headers["User-Agent"]
    return client.send(request)


def test_a_readers_click_goes_to_the_article_and_is_counted_once(sent: Sent) -> None:
    links = sent.links(0)
    first, second = [article for article in links if article != sent.also()][:2]
    with serving(sent.app.settings) as base, httpx.Client(base_url=base, timeout=60) as client:
        with time_machine.travel(sent.sent_at + LATER, tick=False):
            answer = click(client, links[first])
            again = click(client, links[first])
        with time_machine.travel(sent.sent_at + LATER + timedelta(minutes=3), tick=False):
            other = click(client, links[second])
        with time_machine.travel(sent.sent_at + LATER + timedelta(minutes=9), tick=False):
            also = click(client, links[sent.also()])
    assert answer.status_code == 302 and again.status_code == 302
    assert answer.headers["location"] == sent.urls()[first]
    assert other.headers["location"] == sent.urls()[second]
    assert "set-cookie" not in answer.headers and "set-cookie" not in other.headers
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert also.headers["location"] == sent.urls()[sent.also()]
    figures = sent.figures()
    assert figures["readers"] == 1 and figures["counted"] == 3 and figures["repeats"] == 1
    by_article = _by_article(figures)
    assert by_article[first] == 1 and by_article[second] == 1 and by_article[sent.also()] == 1
    assert sum(by_article.values()) == 3
    sections = figures["sections"]
    assert all(s["readers"] <= 1 for s in sections)
    assert set(figures["left_out"].values()) == {0}


def test_head_early_scanner_agents_and_bursts_are_left_out(sent: Sent) -> None:
    """Each reader's message shows one kind of scanner; reader 3 is a person, counted."""
    head, early, agents, burst = (sent.links(n) for n in range(4))
    ids = list(head)
    with serving(sent.app.settings) as base, httpx.Client(base_url=base, timeout=60) as client:
        with time_machine.travel(sent.sent_at + timedelta(seconds=5), tick=False):
            assert click(client, early[ids[0]]).status_code == 302
        with time_machine.travel(sent.sent_at + LATER, tick=False):
            answer = click(client, head[ids[0]], method="HEAD")
            assert answer.status_code == 302
            assert answer.headers["location"] == sent.urls()[ids[0]]
            assert click(client, agents[ids[0]], agent=None).status_code == 302
            preview = "Mozilla/5.0 (compatible; BingPreview/1.0b)"
            assert click(client, agents[ids[1]], agent=preview).status_code == 302
            assert click(client, agents[ids[2]], agent="Slackbot-LinkExpanding 1.0").is_redirect
            # A burst whose first click came alone: it looked like a person's on arrival.
            assert click(client, burst[ids[0]]).status_code == 302
        with time_machine.travel(sent.sent_at + LATER + timedelta(seconds=1), tick=False):
            for article in ids[1:4]:
                assert click(client, burst[article]).status_code == 302
        with time_machine.travel(sent.sent_at + LATER + timedelta(minutes=2), tick=False):
            # The early reader reads later, as a person: counted.
            assert click(client, early[ids[4]]).status_code == 302
    figures = sent.figures()
    assert figures["left_out"] == {
        "head": 1,
        "early": 1,
        "scanner_agent": 3,
        "burst": 4,
        "closed": 0,
    }
    assert figures["readers"] == 1 and figures["counted"] == 1
    assert _by_article(figures)[ids[4]] == 1
    assert sum(_by_article(figures).values()) == 1


def test_forged_altered_and_malformed_tokens_get_the_not_found_page(sent: Sent) -> None:
    links = sent.links(0)
    article, link = next(iter(links.items()))
    token = link.split("/")[2]
    version, delivery, edition, tag = token.split(".")
    other_tag = ("A" if tag[0] != "A" else "B") + tag[1:]
    unsubscribe = re.search(r"/u/([^\"<\s]+)", part_of(sent.messages[0], "html"))
    assert unsubscribe is not None
    bad = [
        f"{version}.{int(delivery) + 1}.{edition}.{tag}",  # another reader's delivery
        f"{version}.{delivery}.{int(edition) + 1}.{tag}",  # another edition
        f"{version}.{delivery}.{edition}.{other_tag}",  # the signature changed
        f"2.{delivery}.{edition}.{tag}",
        f"{version}.{delivery}.{edition}",
        "x" * 5000,
        "1.1.1." + "A" * 22,
        unsubscribe.group(1),  # an unsubscribe token is not a click token
        "%00",
    ]
    with serving(sent.app.settings) as base, httpx.Client(base_url=base, timeout=60) as client:
        for forged in bad:
            answer = client.get(f"/c/{forged}/{article}", headers={"User-Agent": BROWSER})
            assert answer.status_code == 404, forged
            assert "text/html" in answer.headers["content-type"]
            assert "location" not in answer.headers and "set-cookie" not in answer.headers
        # An article of another edition, or none, is not in this delivery's edition.
        outside = max(sent.urls()) + 1
        for wrong in (str(outside), "0", "abc", "9" * 40, "-1", "1e3"):
            assert client.get(f"/c/{token}/{wrong}").status_code == 404, wrong
    assert sent.rows() == []


def test_the_redirect_goes_to_the_stored_url_and_nowhere_else(sent: Sent) -> None:
    links = sent.links(1)
    article, link = next(iter(links.items()))
    target = sent.urls()[article]
    evil = "https://evil.example/"
    with serving(sent.app.settings) as base, httpx.Client(base_url=base, timeout=60) as client:
        tricks = [
            f"{link}?url={evil}",
            f"{link}?next=//evil.example&redirect={evil}",
            f"{link}/{evil}",
            f"{link}//evil.example",
            f"{link}%2F..%2F..%2Fevil.example",
            f"{link}%3Fnext={evil}",
            f"{link}/../../evil.example",
            f"{link.rsplit('/', 1)[0]}/%3{str(article)[-1]}" if article < 10 else link,
            f"{link.rsplit('/', 1)[0]}//{evil}",
            f"{link.rsplit('/', 1)[0]}/https:%2F%2Fevil.example",
        ]
        for trick in tricks:
            answer = client.get(trick, headers={"User-Agent": BROWSER})
            if answer.status_code in (302, 303):
                assert answer.headers["location"] == target, trick
            else:
                assert answer.status_code == 404, trick
        # A Host or a forwarded host of someone else's changes nothing.
        forwarded = client.get(link, headers={"X-Forwarded-Host": "evil.example", "Referer": evil})
        assert forwarded.headers["location"] == target
        assert client.get(link, headers={"Host": "evil.example"}).status_code == 400


def test_without_per_reader_stats_nothing_names_a_reader(sent: Sent) -> None:
    links = sent.links(2)
    article = next(iter(links))
    with (
        serving(sent.app.settings) as base,
        httpx.Client(base_url=base, timeout=60) as client,
        time_machine.travel(sent.sent_at + LATER, tick=False),
    ):
        click(client, links[article])
    delivery = int(links[article].split("/")[2].split(".")[1])
    with sent.app.store.session() as session:
        salt = session.scalars(select(ClickSaltRow.salt)).one()
    rows = sent.rows()
    assert len(rows) == 1
    assert rows[0].delivery_id is None
    # The key is the delivery's only under the edition's salt (which is forgotten later).
    assert salt and rows[0].reader_key == reader_key(salt, delivery)
    assert rows[0].reader_key != reader_key("0" * 64, delivery)
    assert rows[0].article_id == article and rows[0].reason == ""
    assert rows[0].subject_index == 0
    # The row holds nothing else: no address, no user agent, no client address.
    assert set(ClickRow.__table__.columns.keys()) == {
        "id",
        "edition_id",
        "article_id",
        "clicked_at",
        "reason",
        "reader_key",
        "subject_index",
        "delivery_id",
    }


def test_with_per_reader_stats_the_delivery_is_kept(database_url: str, tmp_path: Path) -> None:
    sent = send_tracked(database_url, tmp_path, per_reader=True, readers=2)
    links = sent.links(1)
    article = next(iter(links))
    delivery = int(links[article].split("/")[2].split(".")[1])
    with (
        serving(sent.app.settings) as base,
        httpx.Client(base_url=base, timeout=60) as client,
        time_machine.travel(sent.sent_at + LATER, tick=False),
    ):
        click(client, links[article])
    rows = sent.rows()
    assert [row.delivery_id for row in rows] == [delivery]
    with sent.app.store.session() as session:
        assert session.get_one(DeliveryRow, delivery).subscriber_id is not None
    # Erased, the reader is no longer named by the click: the delivery keeps no subscriber.
    sent.app.erase_subscriber("r1@example.org")
    with sent.app.store.session() as session:
        assert session.get_one(DeliveryRow, delivery).subscriber_id is None
    assert [row.delivery_id for row in sent.rows()] == [delivery]
    sent.app.close()


def test_keys_are_forgotten_after_their_lifetime_and_counting_closes(sent: Sent) -> None:
    links = sent.links(3)
    first, second = list(links)[:2]
    app = sent.app
    with serving(app.settings) as base, httpx.Client(base_url=base, timeout=60) as client:
        with time_machine.travel(sent.sent_at + LATER, tick=False):
            click(client, links[first])
        assert app.forget_click_keys(sent.sent_at + timedelta(days=29)) == 0
        assert app.forget_click_keys(sent.sent_at + timedelta(days=31)) == 1
        with time_machine.travel(sent.sent_at + timedelta(days=32), tick=False):
            late = click(client, links[second])
    assert late.headers["location"] == sent.urls()[second]  # the link still works
    with app.store.session() as session:
        salt = session.scalars(select(ClickSaltRow)).one()
    assert salt.salt is None and salt.forgotten_at is not None
    rows = sent.rows()
    assert [(r.reason, r.reader_key is None) for r in rows] == [("", False), ("closed", True)]
    figures = sent.figures()
    assert figures["readers"] == 1 and figures["left_out"]["closed"] == 1


def test_a_click_the_store_cannot_record_still_reaches_the_article(
    sent: Sent, caplog: pytest.LogCaptureFixture
) -> None:
    from sqlalchemy import text

    link = next(iter(sent.links(0).values()))
    token, article = link.split("/")[2], int(link.split("/")[3])
    assert sent.app.follow_click(token, article, agent=BROWSER)  # the edition's links known
    with sent.app.store.engine.begin() as connection:
        connection.execute(text("DROP TABLE clicks"))
    with caplog.at_level("WARNING", logger="digest.clicks"):
        url = sent.app.follow_click(token, article, agent=BROWSER, now=sent.sent_at + LATER)
    assert url == sent.urls()[article]
    assert "was not recorded" in caplog.text and "Traceback" not in caplog.text


def test_digest_run_forgets_the_salts_whose_lifetime_is_over(sent: Sent) -> None:
    from digest.runner import run_due

    link = next(iter(sent.links(0).values()))
    token, article = link.split("/")[2], int(link.split("/")[3])
    assert sent.app.follow_click(token, article, agent=BROWSER, now=sent.sent_at + LATER)
    assert run_due(sent.app, now=sent.sent_at + timedelta(days=20)) == []
    actions = run_due(sent.app, now=sent.sent_at + timedelta(days=31))
    assert [(a.action, a.status) for a in actions] == [("clicks", "done")]
    assert "1 edition" in actions[0].detail
    assert run_due(sent.app, now=sent.sent_at + timedelta(days=32)) == []


def test_links_in_the_eml_files_work_end_to_end(sent: Sent) -> None:
    """Both parts of a sent message link to the redirect, the footer links do not, and a link
    read from either part leads to its article."""
    html, text = part_of(sent.messages[0], "html"), part_of(sent.messages[0], "plain")
    urls = sent.urls()
    for url in urls.values():
        assert f'href="{url}"' not in html and f": {url}\n" not in text
    text_links = re.findall(r"https://brief\.example\.org(/c/\S+)", text)
    assert text_links and set(text_links) == set(sent.links(0).values())
    assert len(set(sent.links(0))) == len(urls)  # every article and every other report
    assert "https://brief.example.org/u/" in html and "/archive/brief/" in html
    assert all(sent.links(0)[a] != sent.links(1)[a] for a in urls)  # one token per reader
    with (
        serving(sent.app.settings) as base,
        httpx.Client(base_url=base, timeout=60) as client,
        time_machine.travel(sent.sent_at + LATER, tick=False),
    ):
        for path in text_links:
            article = int(path.rsplit("/", 1)[1])
            answer = client.get(path, headers={"User-Agent": BROWSER})
            assert answer.headers["location"] == urls[article]
    assert len(sent.rows()) == len(text_links)


def test_previews_archive_and_test_copies_show_or_redirect_without_counting(
    sent: Sent, tmp_path: Path
) -> None:
    app = sent.app
    urls = sent.urls()
    with serving(app.settings) as base, httpx.Client(base_url=base, timeout=60) as client:
        preview = client.get(f"/editions/{sent.edition.id}/preview").text
        page = client.get(f"/editions/{sent.edition.id}").text
        archive = client.get(f"/archive/brief/{sent.edition.number}").text
        for shown in (preview, archive):
            assert "/c/" not in shown and all(url in shown for url in urls.values())
        assert "/c/" not in page.split('id="text"')[1].split("</pre>")[0]
        app.test_send(sent.edition, "editor@example.org")
        copy = next((tmp_path / "outbox").rglob("test-*.eml"))
        links = re.findall(r"https://brief\.example\.org(/c/[^\"]+)", part_of(copy, "html"))
        assert links
        with time_machine.travel(sent.sent_at + LATER, tick=False):
            answer = client.get(links[0], headers={"User-Agent": BROWSER})
    assert answer.headers["location"] == urls[int(links[0].rsplit("/", 1)[1])]
    assert sent.rows() == []  # a test copy's clicks are never counted


def test_the_report_page_the_edition_page_and_the_cli_show_the_figures(
    sent: Sent, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    links = sent.links(0)
    first = next(iter(links))
    # Reader 1 got the second subject line of a test: figures per subject line.
    with sent.app.store.session() as session:
        delivery = int(sent.links(1)[first].split("/")[2].split(".")[1])
        session.get_one(DeliveryRow, delivery).subject_index = 1
    with serving(sent.app.settings) as base, httpx.Client(base_url=base, timeout=60) as client:
        with time_machine.travel(sent.sent_at + LATER, tick=False):
            click(client, links[first])
            click(client, sent.links(1)[first])
            click(client, sent.links(2)[first], method="HEAD")
        report = client.get(f"/editions/{sent.edition.id}/report").text
        page = client.get(f"/editions/{sent.edition.id}").text
    for shown in (report, page):
        assert 'id="clicks"' in shown
        assert f'<td data-article="{first}">2</td>' in shown
        assert '<li data-reason="head"><strong>1</strong>' in shown
        assert "test line 1: 1" in shown
    assert sent.app.subject_line_clicks(sent.edition) == {0: 1, 1: 1}
    config = tmp_path / "digest.toml"
    config.write_text(
        "[newsletters.brief]\n"
        'title = "The Test Brief"\ntheme = "War"\nfrom_name = "Brief"\n'
        'from_address = "brief@example.org"\npostal_address = "1 Test Street"\n'
        'base_url = "https://brief.example.org"\nlists = ["readers"]\ntrack_clicks = true\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("DIGEST_DATABASE_URL", sent.app.settings.database_url)
    result = CliRunner().invoke(cli, ["--config", str(config), "report", "latest", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)["clicks"]
    assert data["readers"] == 2 and data["left_out"]["head"] == 1
    assert data["by_subject"] == {"0": 1, "1": 1}
    assert data["sections"][0]["articles"][0]["readers"] >= 0
    assert _by_article(data)[first] == 2
    text = CliRunner().invoke(cli, ["--config", str(config), "report", str(sent.edition.id)])
    assert "clicks: 2 readers clicked" in text.output and "1 HEAD requests" in text.output


def test_the_access_log_keeps_no_click_token(sent: Sent) -> None:
    """uvicorn logs each request's path at info: a click's would name its delivery."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    link = next(iter(sent.links(0).values()))
    token = link.split("/")[2]
    collect = Collect()
    with (
        serving(sent.app.settings, log_level="info") as base,
        httpx.Client(base_url=base, timeout=60) as client,
    ):
        logging.getLogger("uvicorn.access").addHandler(collect)
        try:
            client.get(link, headers={"User-Agent": BROWSER})
            client.get(f"{link}?x=1", headers={"User-Agent": BROWSER})
            client.get("/archive/brief")
        finally:
            logging.getLogger("uvicorn.access").removeHandler(collect)
    assert len(lines) == 3 and "/archive/brief" in lines[2]
    assert all(token not in line for line in lines)
    assert '"GET /c/… HTTP/1.1" 302' in lines[0]


def test_an_edition_without_click_tracking_has_plain_links_and_no_figures(
    sqlite_url: str, tmp_path: Path
) -> None:
    app = App(settings_for(sqlite_url, tmp_path))
    edition = draft_edition(app, 1)
    app.approve(edition)
    app.send(app.store.get_edition(edition.id or 0))
    message = next((tmp_path / "outbox").rglob("*.eml"))
    assert "/c/" not in part_of(message, "html") and "/c/" not in part_of(message, "plain")
    assert app.click_figures(app.store.get_edition(edition.id or 0)) is None
    app.close()


def _by_article(figures: dict[str, Any]) -> dict[int, int]:
    found: dict[int, int] = {}
    for section in figures["sections"]:
        for story in section["articles"]:
            found[story["article"]] = story["readers"]
            for report in story["also"]:
                found[report["article"]] = report["readers"]
    return found


def test_migration_0015_makes_the_tables_as_modelled_and_goes_back(database_url: str) -> None:
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import inspect

    from digest.store.db import _alembic_config, make_engine, migrate
    from digest.store.tables import Base

    engine = make_engine(database_url)
    migrate(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    ours = [d for d in differences if "click" in repr(d)]
    assert ours == []
    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0014")
        tables = set(inspect(connection).get_table_names())
    assert "clicks" not in tables and "click_salts" not in tables and "deliveries" in tables
    engine.dispose()
