"""Pasted web pages: headline, attribution and byline found, page chrome dropped, on several
shapes of page (the real example in ../shared/data and pages written for these tests)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from digest.evaluate_intake import Reading, load_cases, score
from digest.intake import article_from_pasted, load_sources
from digest.intake.bylines import find_byline, find_date
from digest.intake.page_lines import classify, paragraphs
from digest.intake.pasted import parse_pasted

PASTED_AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


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


def test_pasted_file_times_count_back_from_when_it_was_saved(
    shared_data: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "paste.txt"
    copy.write_text((shared_data / "articles" / "north-korea-troops-pasted.txt").read_text())
    saved = datetime(2026, 11, 18, 9, 30, tzinfo=UTC)
    os.utime(copy, (saved.timestamp(), saved.timestamp()))
    [article] = load_sources([str(copy)]).articles
    assert article.published == saved - timedelta(minutes=24)


def test_real_pasted_page_time_counts_back_from_the_paste(shared_data: Path) -> None:
    raw = (shared_data / "articles" / "north-korea-troops-pasted.txt").read_text()
    article = article_from_pasted(raw, "paste", now=PASTED_AT)
    assert article.author == "M.Kim"
    assert article.published == PASTED_AT - timedelta(minutes=24)


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


def _development_score(shared_data: Path, kind: str) -> tuple[float, float, float, float]:
    cases = load_cases(shared_data / "pasted")

    def read(raw: str) -> Reading:
        page = parse_pasted(raw, now=PASTED_AT)
        return Reading(page.title, page.text, page.author, str(page.published or "") or None)

    result = score(cases, kind, read)
    return (
        result.titles_right / result.pages,
        result.body_share,
        result.chrome_share,
        result.dates / result.pages,
    )


def test_real_careful_copies(shared_data: Path) -> None:
    titles, body, chrome, dates = _development_score(shared_data, "careful")
    assert titles >= 0.95
    assert body >= 0.95
    assert chrome <= 0.20
    assert dates >= 0.7


def test_real_select_all_copies(shared_data: Path) -> None:
    titles, body, chrome, dates = _development_score(shared_data, "select_all")
    assert titles >= 0.85
    assert body >= 0.95
    assert chrome <= 0.30
    assert dates >= 0.8


SELECT_ALL_PAGE = """\
Skip to main content
We use cookies to improve your experience. By continuing you consent to our use of cookies.
Accept
News
World
Business
Culture
Most read
Council election results in full
Harbour bridge repairs delayed again
Lake ferry operator cuts winter timetable
Home › Science › Space
Rare comet will be visible to the naked eye this weekend
By Ana Ruiz
12 March 2025, 14:05 GMT
Share
Tweet
Email
{body}
Related stories
Meteor shower lights up the sky over the desert
Why the Moon looks bigger on the horizon
Sign up for our science newsletter
Comments (12)
Our site uses cookies. Privacy policy. Terms of use.
© 2025 Example Media Group. All rights reserved.
"""


# A browser's copy puts each paragraph on one line, however long.
SELECT_ALL_BODY = [
    "Stargazers across the northern hemisphere should be able to see the comet without a "
    "telescope on Saturday night, astronomers said, if the skies are clear.",
    "The comet, which last passed this close to the Sun about 6,000 years ago, has brightened "
    "faster than expected over the past week.",
    "The comet over the observatory on Tuesday. Photo: Ana Ruiz/Reuters",
    "Amateur groups are planning viewing evenings in parks away from street lights, and several "
    "observatories will open their doors late.",
    '"It is the kind of thing you see once in a lifetime, and the forecast looks good," said one '
    "of the organisers.",
]


def test_select_all_copy_finds_the_article_among_menus_and_teasers() -> None:
    page = parse_pasted(SELECT_ALL_PAGE.format(body="\n".join(SELECT_ALL_BODY)))
    assert page.title == "Rare comet will be visible to the naked eye this weekend"
    assert page.author == "Ana Ruiz"
    assert page.published == datetime(2025, 3, 12, 14, 5, tzinfo=UTC)
    assert page.text.startswith("Stargazers across the northern hemisphere")
    assert page.text.endswith("said one of the organisers.")
    for chrome in ("cookies", "Most read", "Harbour bridge", "Photo:", "Related", "newsletter"):
        assert chrome not in page.text


def test_headline_is_never_joined_with_the_next_line() -> None:
    # A long headline without a full stop, over a share row: two lines, not one paragraph.
    raw = (
        "Suburban voters in swing districts could prove crucial for Democratic candidates\n"
        "Share Tweet Reddit Flipboard Email\n\n"
        "Polls in the suburbs have moved by five points since the spring, and both parties have "
        "moved money and volunteers there in the final weeks of the campaign.\n"
    )
    page = parse_pasted(raw)
    assert page.title == (
        "Suburban voters in swing districts could prove crucial for Democratic candidates"
    )
    assert "Flipboard" not in page.text
    assert page.text.startswith("Polls in the suburbs")


def test_headline_over_a_standfirst_and_byline() -> None:
    raw = (
        "Tram line opens two years late\n"
        "The new route links the station with the hospital and the university campus\n"
        "By Tomasz Nowak\n"
        "Published 4 June 2024\n\n"
        "The first trams ran on the new line on Tuesday morning, two years after the date first "
        "promised by the city, and were full by the third stop.\n"
    )
    page = parse_pasted(raw)
    assert page.title == "Tram line opens two years late"
    assert page.author == "Tomasz Nowak"


@pytest.mark.parametrize(
    ("lines", "author"),
    [
        (["by: Cora Neas"], "Cora Neas"),
        (["ByJ.R. Stone"], "J.R. Stone"),
        (["BY J.O. HASELHOEF APR. 26, 2022"], "J.O. Haselhoef"),
        (["Author: Lindsey O'Donnell"], "Lindsey O'Donnell"),
        (["By Jessica Holly, Gail Levy, 7 News WSVN"], "Jessica Holly, Gail Levy"),
        (["Jane Doe, Reuters"], "Jane Doe"),
        (["By", "Loshaun Dixon", "-", "April 28, 2022"], "Loshaun Dixon"),
        (["Shana Nys DambrotNovember 6, 2023"], "Shana Nys Dambrot"),
        (["James Lynch", "Last updated on 20 Feb, 2020"], "James Lynch"),
        (["By Evan Symon, August 14, 2020 2:30 pm"], "Evan Symon"),
        (["By Ana Vila Last updated Nov 8, 2023 Share"], "Ana Vila"),
        (["Latest News", "April 26, 2022"], None),
        (["Article by"], None),
    ],
)
def test_bylines_in_their_common_forms(lines: list[str], author: str | None) -> None:
    assert find_byline(lines, PASTED_AT)[0] == author


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Posted: Nov 8, 2023 / 04:43 PM CST", datetime(2023, 11, 8, 16, 43)),
        ("Updated 3 hours ago", PASTED_AT - timedelta(hours=3)),
        ("M.Kim24 min ago", PASTED_AT - timedelta(minutes=24)),
        ("Jan. 28, 2020, at 5:55 AM", datetime(2020, 1, 28, 5, 55)),
        ("Monday, 6 January 2020", datetime(2020, 1, 6)),
        ("2022-04-26 21:21:50", datetime(2022, 4, 26, 21, 21, 50)),
        ("19.01.2020", datetime(2020, 1, 19)),
        ("By Symon, nothing dated here", None),
    ],
)
def test_dates_in_their_common_forms(line: str, expected: datetime | None) -> None:
    found = find_date(line, PASTED_AT)
    if expected is None:
        assert found is None
        return
    assert found is not None
    assert found.replace(tzinfo=None) == expected.replace(tzinfo=None)
    if line.endswith("CST"):
        assert found.utcoffset() == timedelta(hours=-6)


def test_chart_credit_in_the_middle_is_not_the_source() -> None:
    raw = (
        "Flu cases rise for the third week running\n\n"
        "Hospital admissions for flu rose again last week, with the sharpest rise among older "
        "people, according to figures published on Thursday.\n\n"
        "Doctors urged people who are eligible to take up the vaccine before the holidays, when "
        "families gather and the virus spreads fastest.\n\n"
        "Source: CDC\n\n"
        "The agency said the season had started earlier than in any of the last five years, and "
        "that pharmacies had enough doses for everyone who wanted one.\n\n"
        "Officials will publish the next figures in a week, and expect the peak in January.\n"
    )
    assert parse_pasted(raw).source is None


def test_captions_and_credits_are_dropped_but_one_line_paragraphs_kept() -> None:
    raw = (
        "Port strike ends after nine days of talks\n"
        "By Lena Park\n\n"
        "Dock workers voted on Sunday to accept a new contract, ending a strike that had left "
        "hundreds of containers waiting at the quays.\n\n"
        "Workers leave the port gate after the vote.\n"
        "Photo: Lena Park/AFP\n\n"
        "It was not easy.\n\n"
        "The union said the deal raised pay by 6 percent this year and 4 percent next year, and "
        "limited night shifts to two a week.\n"
    )
    page = parse_pasted(raw)
    assert "Workers leave the port gate" not in page.text
    assert "Photo:" not in page.text
    assert "It was not easy." in page.text


def test_line_shapes() -> None:
    assert classify("Twitter / Facebook / RSS").chrome
    assert classify("Share Adjust Comment Print").chrome
    assert classify("Click to share on Facebook (Opens in new window)").chrome
    assert classify("Follow The Gleaner on Twitter and Instagram").chrome
    assert classify("Join the conversation in our comments section below.").chrome
    sentence = classify("The council voted on Thursday to build new lanes on four streets.")
    assert sentence.prose and not sentence.chrome
    # Hard-wrapped prose is joined; a browser's one-block-a-line copy is not.
    assert paragraphs(
        "A line that was wrapped at a fixed width in the middle of its\nsentence."
    ) == ["A line that was wrapped at a fixed width in the middle of its sentence."]
    assert len(paragraphs("A headline of some length over the next line\nBy Ana Ruiz")) == 2


def test_byline_glued_to_the_lead_or_signed_at_the_foot() -> None:
    body = (
        "The Americas cannot ignore the risk of further surges, the regional health agency "
        "warned on Wednesday, as cases rose in other regions."
    )
    glued = parse_pasted(f"Health agency warns of new wave\n\nBy Aaron Cole: {body}\n")
    assert glued.author == "Aaron Cole"
    assert glued.text.startswith("The Americas cannot ignore")
    signed = parse_pasted(
        f"Health agency warns of new wave\n\n{body}\n\n{body}\n\nWritten by Mia Lund on July 27, "
        "2017\n"
    )
    assert signed.author == "Mia Lund"


def test_agency_photo_credits_and_lines_repeated_on_the_page_are_not_article_text() -> None:
    lead = (
        "The state's highest court swore in its first Native American justice on Wednesday, in a "
        "ceremony attended by the governor and leaders of several tribes."
    )
    rest = (
        "The new justice, a former tribal court judge, said she hoped her appointment would "
        "encourage young people from the reservations to study law."
    )
    teaser = "Most shared this week: how the council plans to fix the bridge"
    raw = "\n\n".join(
        [
            "First Native American justice sworn in",
            "By Mia Lund",
            lead,
            "The justice takes the oath in the court's chamber on Wednesday. (AP Photo/Ed Park)",
            teaser,
            rest,
            teaser,
            rest.replace("young people", "students"),
            teaser,
        ]
    )
    page = parse_pasted(raw)
    assert "AP Photo" not in page.text and "takes the oath" not in page.text
    assert teaser not in page.text
    assert page.text.startswith(lead)


def test_captions_after_picture_buttons_or_saying_what_a_picture_shows_are_dropped() -> None:
    para = (
        "Researchers at the university have found that people solve puzzles faster after a short "
        "walk, in a study of two hundred volunteers published on Monday."
    )
    raw = "\n\n".join(
        [
            "Why a walk helps you think",
            "By Mia Lund",
            "Share on Pinterest",
            "A new study looks at what happens in the brain during a walk.",
            para,
            "The screengrab shows volunteers at the start of the walking test.",
            para.replace("Monday", "Tuesday"),
        ]
    )
    page = parse_pasted(raw)
    assert "A new study looks" not in page.text
    assert "screengrab" not in page.text
    assert page.text.startswith("Researchers at the university")
