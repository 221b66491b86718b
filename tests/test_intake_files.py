"""Markdown, HTML, JSON and JSON Lines intake, and errors that name the file, line and field."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from digest.intake import load_sources
from digest.store import Store

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "articles"
NOW = datetime(2026, 11, 2, 8, tzinfo=UTC)


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_markdown_front_matter_fields(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "a.md",
        """---
title: Grain deal talks resume
url: https://example.org/grain?utm_source=x
source: Example News
author: A. Writer
published: 2026-11-01
tags: [Economy, grain, economy]
---

Talks on **grain exports** resumed in [Istanbul](https://example.org/ist) on Monday.

## Background

Earlier rounds failed.
""",
    )
    [article] = load_sources([path]).articles
    assert article.title == "Grain deal talks resume"
    assert article.url == "https://example.org/grain?utm_source=x"
    assert article.url_key == "https://example.org/grain"
    assert article.source == "Example News"
    assert article.published == datetime(2026, 11, 1, tzinfo=UTC)
    assert article.tags == ["economy", "grain"]
    assert article.text == (
        "Talks on grain exports resumed in Istanbul on Monday.\n\n"
        "Background\n\nEarlier rounds failed."
    )


def test_markdown_title_from_heading() -> None:
    [article] = load_sources([str(EXAMPLES / "iran-drone-supplies.md")]).articles
    assert article.title.startswith("Russia now builds most of its Shahed-type drones")
    assert not article.text.startswith("#")
    assert article.tags == ["allies"]


def test_markdown_unknown_field_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "b.md", "---\ntitle: T here\nauthr: X\n---\nBody text here.\n")
    intake = load_sources([path])
    assert intake.articles == []
    assert str(intake.errors[0]) == f"{path}: front matter field 'authr': unknown field"


def test_html_page_main_text_without_boilerplate() -> None:
    [article] = load_sources([str(EXAMPLES / "kyiv-air-defence.html")]).articles
    assert article.title == "Kyiv air defences down most of overnight drone wave"
    assert article.author == "Taras Bondar"
    assert article.source == "Example Ukraine Daily"
    assert article.published is not None and article.published.date().isoformat() == "2026-11-21"
    assert "118 of the 135 attack drones" in article.text
    for boilerplate in ("Most read", "Privacy", "All rights reserved", "Subscribe"):
        assert boilerplate not in article.text


def test_json_list_and_jsonl(tmp_path: Path) -> None:
    intake = load_sources(
        [str(EXAMPLES / "drones-and-air-defence.json"), str(EXAMPLES / "sanctions.jsonl")]
    )
    assert intake.errors == []
    assert len(intake.articles) == 4
    assert all(a.url and a.source and a.published for a in intake.articles)


def test_jsonl_bad_lines_are_reported_and_good_ones_kept(tmp_path: Path) -> None:
    good = {"title": "A good one", "text": "Some text that is fine."}
    lines = [
        json.dumps(good),
        "{not json",
        json.dumps({"title": "No text"}),
        json.dumps({"title": "Bad url", "text": "x", "url": "ftp://x"}),
        json.dumps({"title": "Bad date", "text": "x", "published": "yesterday-ish"}),
    ]
    path = write(tmp_path, "many.jsonl", "\n".join(lines) + "\n")
    intake = load_sources([path])
    assert [a.title for a in intake.articles] == ["A good one"]
    messages = [str(error) for error in intake.errors]
    assert messages[0].startswith(f"{path}:line 2: column 2:")
    assert messages[1] == f"{path}:line 3: field 'text': Field required"
    assert messages[2].startswith(f"{path}:line 4: field 'url':")
    assert messages[3].startswith(f"{path}:line 5: field 'published':")


def test_json_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.json", '[\n  {"title": "x",\n  "text": }\n]')
    [error] = load_sources([path]).errors
    assert str(error).startswith(f"{path}: line 3 column 11:")


def test_missing_and_unsupported_files_do_not_stop_the_others(tmp_path: Path) -> None:
    other = write(tmp_path, "notes.docx", "x")
    intake = load_sources(
        [str(tmp_path / "nope.md"), other, str(EXAMPLES / "pyongyang-moscow-pact.md")]
    )
    assert [a.title for a in intake.articles] == ["What Pyongyang gets from its pact with Moscow"]
    assert str(intake.errors[0]) == f"{tmp_path / 'nope.md'}: file not found"
    assert str(intake.errors[1]).startswith(f"{other}: unsupported file type")


def test_folder_loads_every_example_format() -> None:
    intake = load_sources([str(EXAMPLES)])
    assert intake.errors == []
    assert len(intake.articles) == 9


def test_not_utf8_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "latin.txt"
    path.write_bytes("Une longue ligne de titre ici\n\nCaf\xe9 cr\xe8me.".encode("latin-1"))
    [error] = load_sources([str(path)]).errors
    assert "not UTF-8" in str(error)


def test_control_characters_are_folded_in_every_format(tmp_path: Path) -> None:
    """Titles, sources and authors reach subjects and headers: whatever a file holds, they are
    one line; the text keeps its paragraphs and loses only invisible controls."""
    body = "First paragraph of the story is here.\r\n\r\nSecond\x00 paragraph\u2029Third one."
    record = {
        "title": "Grain deal\r\nresumes in\u2028Istanbul",
        "source": "Example\x00 News\u202e",
        "author": "\tA.\x85Writer\r",
        "text": body,
        "tags": ["Eco\nnomy", "\x00"],
    }
    paths = [
        write(tmp_path, "a.json", json.dumps(record)),
        write(
            tmp_path,
            "b.md",
            '---\ntitle: "Grain deal\\r\\nresumes in\\0 Istanbul"\nauthor: "A.\\u2066 Writer"\n'
            "---\n\nFirst paragraph of the story is here.\n",
        ),
        write(
            tmp_path,
            "c.txt",
            "Grain deal\u2028resumes in\x0b Istanbul\x00 today\n\n"
            "By A.\u202eWriter\n\nFirst paragraph of the story is here, at length.\n",
        ),
    ]
    intake = load_sources(paths)
    assert intake.errors == []
    json_article, md_article, txt_article = intake.articles
    assert json_article.title == "Grain deal resumes in Istanbul"
    assert (json_article.source, json_article.author) == ("Example News", "A. Writer")
    assert json_article.text == (
        "First paragraph of the story is here.\n\nSecond paragraph\nThird one."
    )
    assert json_article.tags == ["eco nomy"]
    assert md_article.title == "Grain deal resumes in Istanbul"
    assert md_article.author == "A. Writer"
    assert txt_article.title == "Grain deal resumes in Istanbul today"
    assert txt_article.author == "A.Writer"


def test_a_feed_title_with_a_line_break_is_one_line(sqlite_store: Store) -> None:
    """feedparser keeps `&#13;&#10;` in titles (a real feed's, served and fetched here); the
    stored article's title is one line."""
    import feedparser

    from digest.feeds import fetch_feed
    from digest.fetch import UrlFetcher
    from digest.url_guard import UrlGuard
    from tests.servers.feeds import Item, running_feed_site

    raw = "<rss><channel><item><title>Grain deal&#13;&#10;resumes</title></item></channel></rss>"
    assert feedparser.parse(raw).entries[0].title == "Grain deal\r\nresumes"
    long = " ".join(f"Sentence {n} about the grain talks in Istanbul." for n in range(30))
    fetcher = UrlFetcher(timeout=1.0, max_bytes=1_000_000, guard=UrlGuard(["127.0.0.1"]))
    with running_feed_site() as site:
        site.rss = [Item("g1", "Grain deal\r\nresumes\u2028in Istanbul", f"<p>{long}</p>", NOW)]
        try:
            report = fetch_feed(f"{site.base}/rss.xml", sqlite_store, fetcher)
        finally:
            fetcher.close()
    assert report.new == 1
    [article] = sqlite_store.list_articles()
    assert article.title == "Grain deal resumes in Istanbul"


def test_a_url_with_a_line_break_is_refused(tmp_path: Path) -> None:
    record = {"title": "T here", "text": "Body.", "url": "https://example.org/a\r\nX-Evil: 1"}
    path = write(tmp_path, "u.json", json.dumps(record))
    [error] = load_sources([path]).errors
    assert str(error).startswith(f"{path}:item 1: field 'url': Value error, must not contain")


def test_html_page_time_keeps_its_offset() -> None:
    from digest.intake.html import extract_page

    paragraphs = "".join(
        f"<p>Paragraph {n} of the story says what happened at the port on Friday, and why "
        "the ferries were late again after the storm.</p>"
        for n in range(4)
    )
    page = (
        '<html><head><meta property="article:published_time" content="2026-11-20T08:15:00+02:00">'
        f"<title>Ferries late again</title></head><body><article><h1>Ferries late again</h1>"
        f"{paragraphs}</article></body></html>"
    )
    published = extract_page(page).published
    assert published is not None
    assert published.isoformat() == "2026-11-20T08:15:00+02:00"


def test_a_page_without_a_site_name_is_credited_to_its_site_never_an_address() -> None:
    from digest.intake.html import extract_page

    body = "<p>" + "The harbour cranes were repaired and the grain ships left. " * 12 + "</p>"
    html = (
        "<html><head><title>Cranes repaired</title></head>"
        f"<body><article>{body}</article></body></html>"
    )
    credits = {
        url: extract_page(html, url).source
        for url in (
            "http://127.0.0.1:8123/story",
            "http://localhost:8000/story",
            "http://[::1]:8080/story",
            "https://www.harbour-post.example/story",
        )
    }
    assert credits == {
        "http://127.0.0.1:8123/story": None,
        "http://localhost:8000/story": None,
        "http://[::1]:8080/story": None,
        "https://www.harbour-post.example/story": "harbour-post.example",
    }
