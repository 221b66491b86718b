"""`digest add`: a page piped in on standard input (text or HTML, detected), mixed with files,
and what intake found in each article reported so that an editor sees what to fix. In-process,
through the real command (Typer's CliRunner)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from digest.cli import app

ROOT = Path(__file__).resolve().parent.parent

PASTE = """Home  World  Business

Ferry links to the islands restored after the week-long storm

By Ingrid Solberg
Published 3 March 2026

Ferries to the outer islands sailed again on Tuesday after a storm that kept every boat in
harbour for a week, the operator said.

Shops on the islands had run short of fresh food and fuel, and a hospital patient was flown
out by helicopter on Saturday.

The operator said timetables would be back to normal by the weekend.
"""

PAGE = """<!doctype html>
<html lang="en"><head>
<title>Night trains return to the Alpine line | Example Rail News</title>
<meta property="og:site_name" content="Example Rail News">
<meta name="author" content="Paolo Ferri">
<meta property="article:published_time" content="2026-03-02T18:30:00+00:00">
<meta name="keywords" content="transport, europe, news">
</head><body>
<nav><a href="/">Home</a> <a href="/rail">Rail</a></nav>
<article>
<h1>Night trains return to the Alpine line</h1>
<p>Night trains between Zurich and Milan run again from Sunday, after two years of repairs to
the tunnel that a landslide blocked, the railway said on Monday.</p>
<p>Sleeper cars leave Zurich at ten in the evening and reach Milan before seven, and tickets
went on sale at once, with most of the first week already booked.</p>
<p>The railway said it would add a third sleeper car on Fridays if demand held up.</p>
</article>
<footer>All rights reserved. Privacy policy.</footer>
</body></html>
"""


@pytest.fixture
def workdir(example_workdir: Path) -> Path:
    return example_workdir


def digest(*args: str, stdin: str | bytes | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=stdin)


def stored(article_id: int) -> dict[str, object]:
    shown = digest("articles", "show", str(article_id), "--json")
    assert shown.exit_code == 0, shown.output
    value = json.loads(shown.stdout)
    assert isinstance(value, dict)
    return value


def test_a_pasted_page_on_stdin_is_read_as_text(workdir: Path) -> None:
    result = digest("add", "-", stdin=PASTE)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "added #1: Ferry links to the islands restored after the week-long storm"
    assert lines[1].startswith("    by Ingrid Solberg · ")
    assert lines[1].endswith(" words")
    assert lines[-1] == "1 added, 0 already stored, 0 failed"
    article = stored(1)
    assert article["author"] == "Ingrid Solberg"
    assert str(article["text"]).startswith("Ferries to the outer islands sailed again")
    assert "Home  World" not in str(article["text"])


def test_an_html_page_on_stdin_goes_to_the_html_reader_at_its_url(workdir: Path) -> None:
    result = digest("add", "-", "--url", "https://rail.example.org/night-trains", stdin=PAGE)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:2] == [
        "added #1: Night trains return to the Alpine line",
        "    by Paolo Ferri · Example Rail News · 2026-03-02 18:30 UTC · 72 words",
    ]
    article = stored(1)
    assert article["url"] == "https://rail.example.org/night-trains"
    assert "All rights reserved" not in str(article["text"])
    assert article["tags"] == []
    assert article["keywords"] == ["transport", "europe", "news"]


def test_stdin_mixed_with_files_keeps_their_order_and_tags_every_article(
    workdir: Path,
) -> None:
    result = digest(
        "add",
        str(ROOT / "examples/articles/kyiv-air-defence.html"),
        "-",
        str(ROOT / "examples/articles/sanctions.jsonl"),
        "--tag",
        "Weekend",
        stdin=PASTE,
    )
    assert result.exit_code == 0, result.output
    added = [line for line in result.stdout.splitlines() if line.startswith("added #")]
    assert added[:2] == [
        "added #1: Kyiv air defences down most of overnight drone wave",
        "added #2: Ferry links to the islands restored after the week-long storm",
    ]
    assert len(added) == 4
    assert "    by Marta Rossi · Example Europe · 2026-11-20 10:00 UTC · 86 words" in result.stdout
    assert all(stored(n)["tags"] == ["weekend"] for n in range(1, 5))

    again = digest("add", "-", stdin=PASTE)
    assert "already stored as #2: Ferry links" in again.stdout


def test_what_was_not_found_is_said(workdir: Path) -> None:
    bare = "Ferry links to the islands restored after the storm\n\n" + PASTE.split("\n\n", 4)[4]
    result = digest("add", "-", stdin=bare)
    assert result.exit_code == 0, result.output
    found = result.stdout.splitlines()[1]
    assert found.startswith("    no byline found · ")
    assert "no date found" in found


def test_bad_stdin_is_reported_as_stdin_and_the_other_sources_are_stored(workdir: Path) -> None:
    result = digest("add", "-", str(ROOT / "examples/articles/sanctions.jsonl"), stdin=b"\xff\xfe")
    assert result.exit_code == 1
    assert "error: <stdin>: not UTF-8 text (byte 0)" in result.stderr
    assert "2 added, 0 already stored, 1 failed" in result.stdout

    empty = digest("add", "-", stdin="  \n")
    assert empty.exit_code == 1
    assert "error: <stdin>: nothing on standard input" in empty.stderr


def test_url_needs_a_page_on_stdin(workdir: Path) -> None:
    result = digest("add", str(ROOT / "examples/articles"), "--url", "https://example.org/a")
    assert result.exit_code == 2
    assert "--url" in result.stderr and "standard input" in result.stderr
    assert digest("articles", "list").stdout == ""

    bad = digest("add", "-", "--url", "ftp://example.org/a", stdin=PASTE)
    assert bad.exit_code == 1
    assert "error: <stdin>: field 'url': " in bad.stderr


def test_json_output_has_keywords_and_word_count_and_reads_back(workdir: Path) -> None:
    result = digest("add", "-", "--json", stdin=PAGE)
    assert result.exit_code == 0, result.output
    [article] = json.loads(result.stdout)
    assert article["author"] == "Paolo Ferri"
    assert article["source"] == "Example Rail News"
    assert article["published"] == "2026-03-02T18:30:00Z"
    assert article["keywords"] == ["transport", "europe", "news"]
    assert article["word_count"] == 72
    assert stored(1) == article

    # What `--json` prints is a `.json` source: derived fields are ignored when read back.
    copy = workdir / "copy.json"
    copy.write_text(json.dumps([{**article, "url": None, "text": "Another text. " * 5}]))
    back = digest("add", str(copy), "--json")
    assert back.exit_code == 0, back.output
    assert json.loads(back.stdout)[0]["keywords"] == ["transport", "europe", "news"]
    assert json.loads(back.stdout)[0]["word_count"] == 10
