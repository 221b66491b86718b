"""Sections by meaning: only alike articles are grouped, a lone one goes to "In brief",
max_sections moves the weakest groups there; headings name what most articles share and never
take a rejected form. Texts written here."""

from __future__ import annotations

from pathlib import Path

from digest.articles import Article
from digest.grouping import TFIDF, cluster
from digest.headings import name_sections, rejected, title_case
from digest.intake import load_sources
from digest.themes import BRIEF_TITLE, TOP_TITLE, plan_sections

THEME = "Russia's war in Ukraine and its allies"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "articles"

HARBOUR = [
    (
        "Harbour cranes at Odesa port work again after repairs",
        "Harbour cranes at Odesa port were lifting grain containers again on Tuesday. Port "
        "engineers replaced damaged cables on the cranes, and grain ships left the harbour.",
    ),
    (
        "Odesa port reopens berths for grain ships",
        "Odesa port reopened three berths for grain ships. The port authority said harbour "
        "cranes and grain terminals were repaired after strikes on the port.",
    ),
    (
        "Grain ships queue outside Odesa port as cranes are repaired",
        "Grain ships waited outside Odesa port while harbour cranes were repaired. Port "
        "officials expect the grain terminals to load ships again this week.",
    ),
]
CHESS = [
    (
        "Chess final in Oslo goes to a tie-break",
        "The chess final in Oslo went to a tie-break after twelve drawn games. The chess "
        "champion defended the title in rapid games on the last evening of the final.",
    ),
    (
        "Oslo chess champion keeps the title",
        "The chess champion kept the title in Oslo, winning the rapid tie-break of the final. "
        "Chess fans filled the hall for the last games.",
    ),
]
LONE = (
    "Beekeepers in Lviv report a record honey harvest",
    "Beekeepers around Lviv collected a record honey harvest this summer, helped by a warm "
    "spring and many flowering lime trees.",
)


def _articles(*pairs: tuple[str, str]) -> list[Article]:
    return [Article(id=n, title=t, text=x) for n, (t, x) in enumerate(pairs, start=1)]


def _titles(group_articles: list[Article]) -> set[str]:
    return {a.title for a in group_articles}


def test_unlike_articles_are_not_merged_and_a_lone_one_goes_to_brief() -> None:
    articles = _articles(*HARBOUR, *CHESS, LONE)
    groups = plan_sections(articles, theme=THEME, max_sections=12)
    by_title = {g.title: _titles(g.articles) for g in groups}
    assert len(groups) == 3
    assert {t for t, _ in HARBOUR} in by_title.values()
    assert {t for t, _ in CHESS} in by_title.values()
    assert by_title[BRIEF_TITLE] == {LONE[0]}
    assert groups[-1].title == BRIEF_TITLE


def test_a_quota_never_merges_unlike_groups() -> None:
    # Room for one section only: the weaker group (chess, two articles) goes to "In brief"
    # with the lone story, rather than being merged into the harbour section.
    articles = _articles(*HARBOUR, *CHESS, LONE)
    groups = plan_sections(articles, theme=THEME, max_sections=2)
    assert [len(g.articles) for g in groups] == [3, 3]
    assert _titles(groups[0].articles) == {t for t, _ in HARBOUR}
    assert groups[1].title == BRIEF_TITLE
    assert _titles(groups[1].articles) == {LONE[0], *(t for t, _ in CHESS)}


def test_nothing_alike_is_one_section_of_top_stories() -> None:
    articles = _articles(HARBOUR[0], CHESS[0], LONE)
    groups = plan_sections(articles, theme=THEME, max_sections=4)
    assert [g.title for g in groups] == [TOP_TITLE]
    assert len(groups[0].articles) == 3


def test_clustering_stops_at_the_threshold() -> None:
    similarity = [
        [1.0, 0.5, 0.0, 0.0],
        [0.5, 1.0, 0.0, 0.0],
        [0.0, 0.0, 1.0, 0.05],
        [0.0, 0.0, 0.05, 1.0],
    ]
    assert sorted(map(sorted, cluster(similarity, 0.1))) == [[0, 1], [2], [3]]
    # Two articles need to be more alike than two large groups do.
    assert sorted(map(sorted, cluster(similarity, 0.1, small=0.5))) == [[0], [1], [2], [3]]


def test_an_article_joins_only_a_group_it_is_like() -> None:
    articles = _articles(*HARBOUR, LONE)
    matrix = TFIDF.similarity(articles)
    assert TFIDF.joins(sum(matrix[0][1:3]) / 2, 2)
    assert not TFIDF.joins(sum(matrix[3][:3]) / 3, 3)


def test_rejected_heading_forms() -> None:
    for phrase in ("We've", "I'm", "Don't know", "GMT", "10:30", "2005", "Tonight", "Ukraine"):
        assert rejected(phrase, THEME), phrase
    # A word made from one of the theme's ("Ukraine" → "Ukrainian") says the theme too.
    for phrase in ("Ukrainian", "Ukrainian Drones", "Russian"):
        assert rejected(phrase, THEME), phrase
    for phrase in ("Odesa Port", "Chess", "Bank of England", "Shadow Fleet", "Drones"):
        assert not rejected(phrase, THEME), phrase


def test_heading_is_shared_by_most_articles_not_one_headline() -> None:
    # "Record honey harvest" is in one article's headline only; "grain ships" in every one.
    harbour = _articles(*HARBOUR)
    harbour[0] = harbour[0].model_copy(update={"title": "Record honey harvest at Odesa port"})
    chess = _articles(*CHESS)
    headings = name_sections([harbour, chess], THEME, [True, True])
    assert "honey" not in headings[0].lower()
    for heading, group in zip(headings, (harbour, chess), strict=True):
        words = heading.lower().split()
        shared = [a for a in group if all(w in f"{a.title} {a.text}".lower() for w in words)]
        assert len(shared) >= 0.6 * len(group), heading
    # Both are in every chess article: the place (a name) or the game.
    assert headings[1] in ("Chess", "Oslo")


def test_headings_leave_out_contractions_times_numbers_and_the_theme() -> None:
    texts = [
        (
            "We've seen 2,000 drones over Ukraine at 03:00 GMT, Kharkiv says",
            "\"We've never seen so many,\" Kharkiv's mayor said. Drones hit Kharkiv at 03:00 GMT "
            "and 2,000 people left. Ukraine's air force said the drones came in waves.",
        ),
        (
            "Kharkiv counts drone damage; we've no power, residents say",
            "\"We've no power,\" residents of Kharkiv said at 09:00 GMT. Ukraine's grid operator "
            "said 2,000 homes in Kharkiv were cut off after the drones.",
        ),
    ]
    heading = name_sections([_articles(*texts), _articles(*CHESS)], THEME, [True, False])[0]
    assert heading in ("Kharkiv", "Drones")
    assert name_sections([_articles(*texts), _articles(*CHESS)], THEME, [False, True])[0] == ""


RUGBY = [
    (
        "Wales edge Scotland in a tight Six Nations game",
        "Wales beat Scotland in the Six Nations after a tight game in Cardiff. The Six "
        "Nations leaders kicked a late penalty to settle the game.",
    ),
    (
        "Ireland keep Six Nations hopes alive with a game to spare",
        "Ireland won their game against Italy and stay in the Six Nations race with a game "
        "left. The Six Nations table is level at the top.",
    ),
    (
        "France thrash England as the Six Nations game turns",
        "France scored five tries against England in a Six Nations game in Paris, the "
        "heaviest defeat of the Six Nations so far.",
    ),
]


def test_a_name_heads_a_section_rather_than_a_lone_common_word_or_a_number() -> None:
    # "game" is in every article, but alone it names no topic; "Six" is a number.
    heading = name_sections([_articles(*RUGBY), _articles(*CHESS)], THEME, [True, False])[0]
    assert heading == "Six Nations"


def test_a_noun_phrase_heads_a_section_rather_than_a_lone_word() -> None:
    texts = [
        (
            "Air defence crews in Kharkiv down a wave of drones",
            "Air defence crews in Kharkiv shot down most of the interceptor targets. The air "
            "defence units fired missiles at the drones.",
        ),
        (
            "Allies send air defence systems to Kharkiv",
            "Allies sent two air defence systems and interceptor missiles to protect Kharkiv "
            "from the drones.",
        ),
        (
            "New radar links air defence sites",
            "A new radar links air defence sites so that crews can aim interceptor missiles "
            "sooner, engineers said.",
        ),
    ]
    heading = name_sections([_articles(*texts), _articles(*CHESS)], THEME, [True, False])[0]
    assert heading == "Air Defence"


def test_two_phrases_head_a_section_no_one_phrase_covers() -> None:
    # "Shadow fleet" is in two articles and "grain corridor" in the other two: neither is in
    # most of them, together they are in all.
    texts = [
        (
            "Shadow fleet tankers barred from EU ports",
            "Dozens of shadow fleet tankers were barred from European ports by the new package.",
        ),
        (
            "Insurers check shadow fleet paperwork",
            "Insurers refused cover to shadow fleet vessels whose papers were false.",
        ),
        (
            "Grain corridor stays open despite strikes",
            "The grain corridor from Odesa kept working through a week of strikes on berths.",
        ),
        (
            "Farmers count on the grain corridor",
            "Farmers in the south rely on the grain corridor to sell their harvest abroad.",
        ),
    ]
    heading = name_sections([_articles(*texts), _articles(*CHESS)], THEME, [True, False])[0]
    assert heading in ("Shadow Fleet and Grain Corridor", "Grain Corridor and Shadow Fleet")


def test_title_case_reads_as_a_heading() -> None:
    assert title_case("shadow fleet") == "Shadow Fleet"
    assert title_case("Bank of England") == "Bank of England"
    assert title_case("BBC") == "BBC"


def test_the_example_edition_has_sections_an_editor_would_keep() -> None:
    articles = load_sources([str(EXAMPLES)]).articles
    articles = [a.model_copy(update={"id": n}) for n, a in enumerate(articles, start=1)]
    groups = plan_sections(articles, theme=THEME, max_sections=4)
    sections = {g.title: {a.title for a in g.articles} for g in groups}
    korea = next(titles for titles in sections.values() if any("Pyongyang" in t for t in titles))
    assert all("Korea" in t or "Pyongyang" in t for t in korea)
    assert "North Korea" in sections and "Air Defence" in sections
    sanctions = next(t for t in sections.values() if any("sanctions" in x for x in t))
    assert any("price cap" in t for t in sanctions)
    air = next(t for t in sections.values() if any("air defences" in x for x in t))
    assert any("Patriot" in t for t in air) and any("interceptor drones" in t for t in air)
    # The drone factories story (its tag shared by no other article) sits with the drones.
    assert any("Shahed" in t for t in air)
    for title in sections:
        assert not rejected(title, THEME) or title in (BRIEF_TITLE, TOP_TITLE)
    assert len(sections) == 3


def test_a_place_whose_name_opens_with_a_stop_word_is_named_whole() -> None:
    stories = [
        ("New York fashion week opens", "Designers showed coats in New York on Monday."),
        ("Museum in New York reopens", "The museum in New York reopened after repairs."),
        ("New York marathon record", "Runners set a record in New York on Sunday."),
        ("Budget vote in parliament", "Members of parliament voted on the budget."),
        ("Parliament delays the budget", "The budget vote in parliament was delayed."),
    ]
    articles = [Article(title=title, text=text) for title, text in stories]
    headings = name_sections([articles[:3], articles[3:]], "world news", [True, True])
    assert headings[0] == "New York"


def test_a_first_name_of_different_people_does_not_head_a_section() -> None:
    # Three Davids, each a different person; what the stories share is the stage.
    texts = [
        (
            "David Hare's new play opens in London",
            "David Hare opened his new play on a London stage. Hare said the cast had "
            "a long run of rehearsals.",
        ),
        (
            "Award for David Tennant's Hamlet",
            "David Tennant won an award for his Hamlet on the stage. Tennant thanked the "
            "company and the cast.",
        ),
        (
            "David Suchet returns in a new production",
            "David Suchet is back on stage in a new production. Suchet said acting had "
            "always been his first love.",
        ),
    ]
    heading = name_sections([_articles(*texts), _articles(*CHESS)], THEME, [True, False])[0]
    assert "David" not in heading, heading


def test_a_name_is_not_heading_stories_that_only_share_its_stem() -> None:
    # "customers" stems as "Customs" does: only one story is about the customs service.
    texts = [
        (
            "Customs seize fake phones at the port",
            "Officers from Customs seized fake phones at the port. A spokesman for Customs "
            "said the phones came by sea, and Customs will destroy them.",
        ),
        (
            "Broadband firm has a slow week",
            "The broadband firm lost customers after its phone lines were slow for a week.",
        ),
        (
            "Phone company grows its broadband service",
            "The phone company added customers to its broadband service in the autumn.",
        ),
    ]
    heading = name_sections([_articles(*texts), _articles(*CHESS)], THEME, [True, False])[0]
    assert heading != "Customs", heading
