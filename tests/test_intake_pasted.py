"""Pasted web pages: headline, attribution and byline found, page chrome dropped, on several
shapes of page (the real example in ../shared/data and pages written for these tests)."""

from __future__ import annotations

from pathlib import Path

import pytest

from digest.intake import load_sources
from digest.intake.pasted import parse_pasted


def test_real_pasted_page(shared_data: Path) -> None:
    intake = load_sources([str(shared_data / "articles" / "north-korea-troops-pasted.txt")])
    assert intake.errors == []
    [article] = intake.articles
    assert article.title == "North Korea may send up to 100,000 soldiers to help Russia – Bloomberg"
    assert article.source == "Bloomberg"
    assert article.author == "M.Kim"
    assert "0 Comments" not in article.text
    assert not article.text.rstrip().endswith("\n0")
    assert article.text.split("\n\n")[-1].startswith("The Financial Times reported")
    assert "24 min ago" not in article.text
    # The attribution stays in the body: the reader still sees whom Bloomberg cites.
    assert "Source: Bloomberg" in article.text
    assert article.text.startswith("North Korea could send up to 100,000 troops")


WIRE_STORY = """\
Skip to content
Home › World › Europe

Danube ferry service resumes after ice closes river for a week

By Jane Doe and John Roe
Updated: March 3, 2025 at 4:15 PM
4 min read

Ferries crossed the Danube again on Monday after a week in which thick ice closed the river
to traffic between the two border towns, local officials said.

Advertisement

The operator said timetables would return to normal by Wednesday. Freight lorries had queued
for up to 20 km while the crossing was shut.

Read more: Winter closes mountain passes across the region

Officials said a new bridge, due in 2027, would end the dependence on the ferry.

Share this article
Tweet
Email
Copyright 2025 Example Wire. All rights reserved.
"""

BLOG_POST = """\
MENU

How a small town library became a makerspace

Posted 12/05/2024
Maria Lopez · 2 hours ago

The library on Main Street had lost half its visitors in ten years. Then the staff put a 3D
printer next to the reading room.

Within months, schools were booking sessions and retired engineers were volunteering to teach.

Related articles
Leave a comment
3 comments
"""

PLAIN_NOTE = """\
Council approves new cycle lanes for the city centre

The city council voted 31 to 12 on Thursday to build protected cycle lanes on four central
streets, a plan first proposed in 2021.

Work is due to start in the spring.
"""


def test_wire_story_shape() -> None:
    page = parse_pasted(WIRE_STORY)
    assert page.title == "Danube ferry service resumes after ice closes river for a week"
    assert page.author == "Jane Doe and John Roe"
    assert page.published is not None
    assert (page.published.year, page.published.month, page.published.day) == (2025, 3, 3)
    assert page.text.startswith("Ferries crossed the Danube again on Monday")
    # Hard-wrapped lines are joined back into paragraphs.
    assert "closed the river to traffic" in page.text
    for chrome in (
        "Advertisement",
        "Read more",
        "Share this article",
        "Tweet",
        "Copyright",
        "4 min read",
        "Skip to content",
    ):
        assert chrome not in page.text
    assert page.text.endswith("would end the dependence on the ferry.")


def test_blog_shape_with_relative_time_after_name() -> None:
    page = parse_pasted(BLOG_POST)
    assert page.title == "How a small town library became a makerspace"
    assert page.author == "Maria Lopez"
    assert page.published is not None and page.published.month == 5  # day-first date
    assert page.text.startswith("The library on Main Street")
    assert "comment" not in page.text.lower()
    assert "Related" not in page.text


def test_plain_note_without_any_chrome_keeps_everything() -> None:
    page = parse_pasted(PLAIN_NOTE)
    assert page.title == "Council approves new cycle lanes for the city centre"
    assert page.author is None and page.source is None
    assert page.text.endswith("Work is due to start in the spring.")
    assert page.dropped == []


def test_headline_attribution_gives_the_source() -> None:
    page = parse_pasted("Markets rally as inflation cools – Reuters\n\nStocks rose on Friday.\n")
    assert page.source == "Reuters"


def test_source_line_is_preferred_and_cut_at_citing() -> None:
    page = parse_pasted(
        "A long enough headline for the test\n\nSource: The Guardian, citing officials\n\n"
        "Officials spoke on Friday about the plan.\n"
    )
    assert page.source == "The Guardian"


def test_text_without_headline_is_an_error() -> None:
    with pytest.raises(ValueError, match="no headline"):
        parse_pasted("News\n\n0\n")
