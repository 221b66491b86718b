"""The email as readers' clients and spam filters see it: nothing loaded from a third party
with images off, a masthead that reads without images, article thumbnails from page and feed
metadata, quoted-printable parts in short lines (outbox and SMTP), and SpamAssassin's score."""

from __future__ import annotations

import email
import json
import re
import shutil
import subprocess
from datetime import date
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import feedparser
import pytest
from lxml import html as lxml_html

from digest.app import App
from digest.config import Settings
from digest.editing import apply_yaml, edition_to_yaml
from digest.edition import Edition
from digest.errors import SourceError
from digest.intake import article_from_html
from digest.intake.images import feed_picture, page_picture
from digest.store.subscribers import NewSubscriber
from tests.conftest import IN_CI, ROOT, make_newsletter
from tests.servers.smtp import running_smtp
from tests.web_support import plain_text_of

SECRET = "test-secret-0123456789"
PICTURE = "https://images.example.net/kyiv.jpg"
# What makes a client fetch something on open, besides <img>: stylesheets, scripts, frames,
# media, CSS url() and @import.
_CSS_URL = re.compile(r"url\(\s*['\"]?([^'\")\s]+)|@import\s+['\"]([^'\"]+)", re.I)


def make_app(database_url: str, tmp_path: Path, **newsletter: object) -> App:
    values: dict[str, object] = {
        "database_url": database_url,
        "newsletters": {"brief": make_newsletter(lists=["readers"], **newsletter)},
        "secret_key": SECRET,
        "outbox_dir": tmp_path / "outbox",
        "first_send_check": False,  # example.org has no DNS (tests/test_doctor.py checks it)
    }
    return App(Settings.model_validate(values))


def pictured_edition(app: App, tmp_path: Path) -> Edition:
    """The example articles, two of them with pictures (one https, one http)."""
    records = [
        json.loads(line)
        for line in (ROOT / "examples/articles/sanctions.jsonl").read_text().splitlines()
        if line.strip()
    ]
    records[0].update(image_url=PICTURE, image_width=1200, image_height=630)
    records[1].update(image_url="http://images.example.net/plain.jpg")
    source = tmp_path / "pictured.jsonl"
    source.write_text("\n".join(json.dumps(record) for record in records))
    app.add([str(source)])
    return app.build(app.settings.newsletter("brief"), date(2026, 11, 24))


def by_class(html: str, name: str) -> list[Any]:
    document = lxml_html.document_fromstring(html)
    found = document.xpath(f'//*[contains(concat(" ", @class, " "), " {name} ")]')
    assert isinstance(found, list)
    return list(found)


def external_loads(html: str) -> list[str]:
    """Every URL the HTML makes a client fetch on open with images off (links are clicks)."""
    document = lxml_html.document_fromstring(html)
    found = []
    for element in document.iter():
        if not isinstance(element.tag, str) or element.tag == "img":
            continue
        if element.tag == "link":
            found.append(element.get("href", ""))
        for name in ("src", "background", "poster", "data"):
            if element.get(name):
                found.append(element.get(name, ""))
        for css in (element.get("style") or "", element.text if element.tag == "style" else ""):
            found += [a or b for a, b in _CSS_URL.findall(css or "")]
    return found


def test_nothing_loads_from_a_third_party_with_images_off(sqlite_url: str, tmp_path: Path) -> None:
    app = make_app(sqlite_url, tmp_path)
    email_ = app.render(pictured_edition(app, tmp_path))
    assert external_loads(email_.html) == []
    assert "fonts.googleapis" not in email_.html and "@import" not in email_.html
    # The images are the only requests, and each is https.
    sources = [img.get("src") for img in lxml_html.document_fromstring(email_.html).iter("img")]
    assert sources and all(str(src).startswith("https://") for src in sources)


def test_a_web_font_is_loaded_only_when_the_newsletter_sets_one(
    sqlite_url: str, tmp_path: Path
) -> None:
    font = "https://fonts.example.net/inter.css"
    app = make_app(sqlite_url, tmp_path, web_font_name="Inter", web_font_url=font)
    html = app.render(pictured_edition(app, tmp_path)).html
    assert font in external_loads(html)
    assert "font-family:Inter, -apple-system" in html


def test_a_font_stack_that_would_break_out_of_css_is_refused() -> None:
    with pytest.raises(ValueError, match="font_family"):
        make_newsletter(font_family="Arial; background: url(https://tracker.example/x)")
    with pytest.raises(ValueError, match="web_font_url"):
        make_newsletter(web_font_name="Inter", web_font_url="http://fonts.example.net/inter.css")


def test_text_masthead_without_a_logo_and_a_styled_alt_with_one(
    sqlite_url: str, tmp_path: Path
) -> None:
    app = make_app(sqlite_url, tmp_path, logo_url=None, accent_color="#0057b7")
    edition = pictured_edition(app, tmp_path)
    [masthead] = by_class(app.render(edition).html, "masthead")
    link = masthead.find(".//a")
    assert link is not None and link.text_content().strip() == "The Test Brief"
    assert "color: #0057b7" in link.get("style", "")
    assert masthead.find(".//img") is None

    logo = App(
        app.settings.model_copy(
            update={
                "newsletters": {
                    "brief": make_newsletter(lists=["readers"], logo_width=200, logo_height=48)
                }
            }
        )
    )
    [masthead] = by_class(logo.render(edition).html, "masthead")
    image = masthead.find(".//img")
    assert image is not None
    assert image.get("alt") == "The Test Brief"
    assert (image.get("width"), image.get("height")) == ("200", "48")
    style = image.get("style", "")
    assert "font-size: 22px" in style and "font-weight: 700" in style
    assert "color: #1f6feb" in style  # the accent colour, for the alt text


def test_thumbnails_have_size_and_alt_and_only_https(sqlite_url: str, tmp_path: Path) -> None:
    app = make_app(sqlite_url, tmp_path)
    edition = pictured_edition(app, tmp_path)
    rendered = app.render(edition)
    thumbs = by_class(rendered.html, "thumb")
    assert len(thumbs) == 1
    [thumb] = thumbs
    pictured = next(item.article for item in edition.items if item.article.image_url == PICTURE)
    assert thumb.get("src") == PICTURE and thumb.get("alt") == pictured.title
    assert (thumb.get("width"), thumb.get("height")) == ("120", "63")  # 1200 × 630
    assert "http://images.example.net" not in rendered.html
    codes = [(f.code, f.message) for f in rendered.findings]
    assert any(code == "insecure-image" and "plain.jpg" in msg for code, msg in codes)
    assert rendered.images == 2  # the logo and one thumbnail


def test_thumbnails_switch_off_per_newsletter_and_per_item(
    database_url: str, tmp_path: Path
) -> None:
    app = make_app(database_url, tmp_path)
    edition = pictured_edition(app, tmp_path)
    stored = app.store.get_edition(edition.id or 0)
    assert any(item.article.image_url == PICTURE for item in stored.items)
    assert app.render(stored).html.count('class="thumb"') == 1

    text = edition_to_yaml(stored)
    assert "image: true" in text
    edited = apply_yaml(stored, text.replace("image: true", "image: false", 1), app.store, "y")
    saved = app.store.update_edition(edited)
    again = app.store.get_edition(saved.id or 0)
    assert [item.show_image for item in again.items].count(False) == 1
    assert 'class="thumb"' not in app.render(again).html

    off = make_app(database_url, tmp_path, article_images=False)
    assert 'class="thumb"' not in off.render(stored).html


def test_page_metadata_gives_the_picture_https_only() -> None:
    page = """<html><head><title>Drone wave</title>
    <meta property="og:image" content="/media/drones.jpg">
    <meta property="og:image:width" content="1600"><meta property="og:image:height" content="900">
    </head><body><article><h1>Drone wave</h1>{}</article></body></html>"""
    body = "<p>" + "Ukraine's air force said it shot down most of the drones. " * 20 + "</p>"
    article = article_from_html(page.format(body), "page.html", url="https://news.example.org/a")
    assert article.image_url == "https://news.example.org/media/drones.jpg"
    assert (article.image_width, article.image_height) == (1600, 900)

    plain = page.replace("/media/drones.jpg", "http://cdn.example.org/d.jpg")
    assert page_picture(plain) is None
    twitter = '<meta name="twitter:image" content="https://cdn.example.org/t.png">'
    assert page_picture(twitter + "<p>x</p>") is not None
    assert page_picture('<meta property="og:image" content="javascript:alert(1)">') is None
    with pytest.raises(SourceError, match="image_url"):
        from digest.intake import build_article

        build_article("x.json", title="T", text="words", image_url="data:image/png;base64,AA")


def test_feed_media_gives_the_picture() -> None:
    feed = """<?xml version="1.0"?>
    <rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel><title>F</title>
    <item><title>A</title><link>https://f.example.org/a</link>
      <media:content url="https://f.example.org/a.jpg" medium="image" width="800" height="600"/>
    </item>
    <item><title>B</title><link>https://f.example.org/b</link>
      <media:thumbnail url="http://f.example.org/b.jpg"/>
      <enclosure url="https://f.example.org/b.png" type="image/png" length="10"/>
    </item>
    <item><title>C</title><link>https://f.example.org/c</link>
      <enclosure url="https://f.example.org/c.mp3" type="audio/mpeg" length="10"/>
    </item></channel></rss>"""
    entries = feedparser.parse(feed).entries
    first, second, third = (feed_picture(entry) for entry in entries)
    assert first is not None and (first.url, first.width, first.height) == (
        "https://f.example.org/a.jpg",
        800,
        600,
    )
    assert second is not None and second.url == "https://f.example.org/b.png"
    assert third is None


def _raw_part_lines(message: EmailMessage) -> list[str]:
    lines = []
    for part in message.walk():
        if part.is_multipart():
            continue
        assert part["Content-Transfer-Encoding"] == "quoted-printable"
        payload = part.get_payload()
        assert isinstance(payload, str)
        lines += payload.splitlines()
    return lines


def subscribe(app: App, count: int) -> None:
    list_id = app.store.subscribers.ensure_list("readers")
    app.store.subscribers.upsert(
        list_id,
        [NewSubscriber(email=f"reader{n}@example.org", name=f"Reader {n}") for n in range(count)],
    )


def test_sent_parts_are_quoted_printable_in_short_lines(sqlite_url: str, tmp_path: Path) -> None:
    app = make_app(sqlite_url, tmp_path)
    edition = app.approve(pictured_edition(app, tmp_path))
    subscribe(app, 2)
    assert app.send(edition, via="outbox").sent == 2
    files = sorted((tmp_path / "outbox").rglob("*.eml"))
    assert len(files) == 2
    for file in files:
        raw = file.read_bytes()
        message = email.message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        lines = _raw_part_lines(message)
        assert len(lines) > 50 and max(len(line) for line in lines) <= 76
        # The same on the wire: every body line of the file, after the headers.
        body = raw.split(b"\r\n\r\n", 1)[1]
        assert max(len(line) for line in body.split(b"\r\n")) <= 78


def test_smtp_sends_quoted_printable_in_short_lines(sqlite_url: str, tmp_path: Path) -> None:
    with running_smtp(tmp_path) as server:
        app = App(make_app(sqlite_url, tmp_path).settings.model_copy(update=server.settings()))
        edition = app.approve(pictured_edition(app, tmp_path))
        subscribe(app, 2)
        assert app.send(edition, via="smtp").sent == 2
        assert len(server.state.received) == 2
        for received in server.state.received:
            lines = _raw_part_lines(received.message)
            assert len(lines) > 50 and max(len(line) for line in lines) <= 76
            html = received.message.get_body(("html",))
            assert html is not None and "Reader " in html.get_content()


def _spamassassin() -> str:
    found = shutil.which("spamassassin")
    if found:
        return found
    if IN_CI:
        pytest.fail("spamassassin is missing: scripts/services installs it in CI")
    pytest.skip("spamassassin is not installed (apt-get install spamassassin)")


@pytest.mark.parametrize("choices", [False, True], ids=["plain", "with-choices"])
def test_spamassassin_scores_every_example_message_below_one(
    sqlite_url: str, tmp_path: Path, choices: bool
) -> None:
    """The example edition, sent to the outbox, through SpamAssassin's local tests only; also
    with the footer's link to the reader's choices."""
    command = _spamassassin()
    offered: dict[str, object] = {"war": {"tags": ["war"]}} if choices else {}
    app = make_app(sqlite_url, tmp_path, topics=offered)
    app.add([str(ROOT / "examples/articles")])
    edition = app.approve(app.build(app.settings.newsletter("brief"), date(2026, 11, 24)))
    subscribe(app, 3)
    assert app.send(edition, via="outbox").sent == 3
    files = sorted((tmp_path / "outbox").rglob("*.eml"))
    assert len(files) == 3
    assert ("/p/" in plain_text_of(files[0])) == choices
    home = tmp_path / "sa-home"
    home.mkdir()
    for file in files:
        result = subprocess.run(
            [command, "-L", "-t", "--siteconfigpath=/etc/spamassassin", "-p", "/dev/null"],
            input=file.read_bytes(),
            capture_output=True,
            timeout=120,
            env={"HOME": str(home), "PATH": "/usr/bin:/bin"},
            check=False,
        )
        status = re.search(
            rb"^X-Spam-Status: \w+, score=(-?[\d.]+)[^\n]*(\n\s+[^\n]*)*", result.stdout, re.M
        )
        assert status is not None, result.stderr.decode()[-500:]
        score = float(status[1])
        assert score < 1.0, f"{file.name}: {status[0].decode()}"


def test_the_migrations_since_0008_keep_editions_and_go_back(database_url: str) -> None:
    from alembic import command
    from sqlalchemy import inspect, text

    from digest.store import open_store
    from digest.store.db import _alembic_config, make_engine

    engine = make_engine(database_url)
    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0008")
        connection.execute(
            text(
                "INSERT INTO articles (id, title, content_hash, text, tags, keywords, added_at) "
                "VALUES (1, 'Kept', 'abc', 'Body.', '[]', '[]', CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO editions (id, newsletter, number, issue_date, subject, preheader,"
                " intro, status, created_at, updated_at) VALUES (1, 'brief', 1, '2026-11-24',"
                " 'S', '', '', 'draft', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO edition_sections (id, edition_id, position, title)"
                " VALUES (1, 1, 0, 'News')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO edition_items (edition_id, section_id, position, article_id,"
                " summary, summary_method, summary_note) VALUES (1, 1, 0, 1, 'Sum.', 'x', '')"
            )
        )
    store = open_store(database_url)
    [item] = store.get_edition(1).items
    assert item.show_image and item.article.title == "Kept" and item.article.image_url is None
    store.close()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0008")
        articles = {c["name"] for c in inspect(connection).get_columns("articles")}
        items = {c["name"] for c in inspect(connection).get_columns("edition_items")}
        kept = connection.execute(text("SELECT summary FROM edition_items")).scalar_one()
    engine.dispose()
    assert "image_url" not in articles and "show_image" not in items and kept == "Sum."


def test_digest_add_shows_the_picture_and_lint_counts_images(
    example_workdir: Path,
) -> None:
    from typer.testing import CliRunner

    from digest.cli import app as cli

    page = (ROOT / "examples/articles/kyiv-air-defence.html").read_text()
    meta = (
        '<meta property="og:image" content="https://images.example.net/kyiv.jpg">'
        '<meta property="og:image:width" content="1200">'
        '<meta property="og:image:height" content="800"></head>'
    )
    runner = CliRunner()
    added = runner.invoke(cli, ["add", "-", "--json"], input=page.replace("</head>", meta, 1))
    assert added.exit_code == 0, added.output
    [article] = json.loads(added.stdout)
    assert (article["image_url"], article["image_width"], article["image_height"]) == (
        PICTURE,
        1200,
        800,
    )
    shown = runner.invoke(cli, ["articles", "show", str(article["id"])])
    assert f"image: {PICTURE} (1200×800)" in shown.stdout
    built = runner.invoke(cli, ["build", "--date", "2026-11-24"])
    assert built.exit_code == 0, built.output
    lint = runner.invoke(cli, ["lint", "latest", "--json"])
    assert json.loads(lint.stdout)["images"] == 2  # the example's logo and the thumbnail
