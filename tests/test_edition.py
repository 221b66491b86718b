"""Building a draft: sections by tag or by topic, readable headings, top story first, subject,
preheader and intro."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from digest.articles import Article
from digest.edition import SUBJECT_LIMIT, build_draft
from digest.edition_copy import built_copy
from digest.intake import load_sources
from digest.summarize.extractive import ExtractiveSummarizer
from digest.themes import BRIEF_TITLE, plan_sections

THEME = "Russia's war in Ukraine and its allies"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "articles"

TOPICS = {
    "grid": [
        (
            "Missile strikes cut power to Kharkiv as grid repairs continue",
            "Russian missiles hit power substations around Kharkiv overnight, cutting power to "
            "thousands of homes. Grid operator engineers began repairs to the substations at dawn.",
        ),
        (
            "Engineers race to repair power substations before winter",
            "Grid operator crews are repairing damaged power substations and transformers. The "
            "electricity grid lost a third of its generating capacity to strikes this year.",
        ),
        (
            "Blackout schedules return as strikes damage electricity grid",
            "Households face scheduled blackouts again after strikes damaged power plants and "
            "substations. The grid operator asked people to save electricity in the evening.",
        ),
        (
            "Allies send transformers to rebuild the power grid",
            "Allies shipped transformers and generators to repair the electricity grid. The grid "
            "operator said substations hit by missile strikes would be rebuilt.",
        ),
    ],
    "sanctions": [
        (
            "EU targets shadow fleet tankers in new sanctions",
            "The EU listed more shadow fleet tankers carrying Russian oil. The sanctions ban the "
            "tankers from European ports and insurance.",
        ),
        (
            "Oil price cap checks tighten on shadow fleet tankers",
            "Insurers check the papers of tankers carrying Russian oil under the price cap. Shadow "
            "fleet tankers without insurance face sanctions.",
        ),
        (
            "Shadow fleet tanker detained in Baltic over sanctions",
            "Estonian authorities detained a shadow fleet tanker carrying Russian oil. Officials "
            "said the tanker broke the sanctions and lacked insurance.",
        ),
    ],
    "korea": [
        (
            "North Korean troops rotate into Kursk region",
            "North Korean troops arrived in the Kursk region, South Korean intelligence said. "
            "Pyongyang has sent troops and shells to Moscow.",
        ),
        (
            "Seoul warns of deeper Pyongyang-Moscow military ties",
            "South Korean intelligence warned that Pyongyang is receiving military technology from "
            "Moscow for its troops and shells. North Korean soldiers fight in Kursk.",
        ),
    ],
}


def topic_articles() -> list[Article]:
    articles = []
    n = 0
    for pairs in TOPICS.values():
        for title, text in pairs:
            n += 1
            articles.append(Article(id=n, title=title, text=text))
    return articles


def test_untagged_articles_cluster_by_topic() -> None:
    articles = topic_articles()
    groups = plan_sections(articles, theme=THEME, max_sections=4)
    by_title = {
        a.title: topic
        for topic, pairs in TOPICS.items()
        for a_title, _ in pairs
        for a in articles
        if a.title == a_title
    }
    assert len(groups) == 3
    for group in groups:
        assert len({by_title[a.title] for a in group.articles}) == 1, group
        assert 1 <= len(group.title.split()) <= 4
        assert group.title[0].isupper()
    assert len({g.title for g in groups}) == 3


def test_tags_decide_sections_and_overflow_goes_to_brief() -> None:
    articles = [
        Article(id=1, title="A one here", text="Text a.", tags=["frontline", "kharkiv"]),
        Article(id=2, title="B two here", text="Text b.", tags=["frontline"]),
        Article(id=3, title="C three here", text="Text c.", tags=["diplomacy"]),
        Article(id=4, title="D four here", text="Text d.", tags=["diplomacy", "EU"]),
        # Tags no other article shares make no section; unlike, these two go to "In brief".
        Article(id=5, title="Grain prices rise", text="Wheat futures climbed.", tags=["economy"]),
        Article(id=6, title="Lviv film festival", text="Cinemas filled up.", tags=["culture"]),
    ]
    groups = plan_sections(articles, theme=THEME, max_sections=3)
    titles = {g.title: sorted(a.id or 0 for a in g.articles) for g in groups}
    assert titles == {"Frontline": [1, 2], "Diplomacy": [3, 4], BRIEF_TITLE: [5, 6]}
    assert groups[-1].title == BRIEF_TITLE


def test_top_story_leads_the_first_section() -> None:
    articles = topic_articles()
    # The most widely covered story leads: here the power grid (four articles).
    groups = plan_sections(articles, theme=THEME, max_sections=4)
    assert groups[0].articles[0].title in [t for t, _ in TOPICS["grid"]]


def test_draft_from_example_articles() -> None:
    articles = load_sources([str(EXAMPLES)]).articles
    articles = [a.model_copy(update={"id": n}) for n, a in enumerate(articles, start=1)]
    edition = build_draft(
        articles,
        newsletter="brief",
        theme=THEME,
        number=3,
        issue_date=date(2026, 11, 24),
        summarizer=ExtractiveSummarizer(),
        max_sections=4,
        summary_words=60,
    )
    assert edition.number == 3 and edition.status == "draft"
    assert sorted(i.article.id or 0 for i in edition.items) == list(range(1, 10))
    assert 2 <= len(edition.sections) <= 4
    top = edition.top_story.article.title
    assert edition.subject.startswith(top.split(" – ")[0][:40])
    assert len(edition.subject) <= SUBJECT_LIMIT
    assert 0 < len(edition.preheader) <= 140 and "This edition" not in edition.preheader
    assert edition.intro.startswith(top.split(" – ")[0][:40])
    assert "nine stories in all" in edition.intro.lower()
    for item in edition.items:
        assert 1 <= len(item.summary.text.split()) <= 80


def test_a_subject_without_a_clause_to_cut_at_is_cut_at_a_word() -> None:
    long = " ".join(f"word{n}" for n in range(30))
    subject = built_copy([("News", [long, "Second story here"])], "news").subject
    assert len(subject) <= SUBJECT_LIMIT and subject.endswith("…")
    assert long.startswith(subject.removesuffix("…"))
    assert built_copy([("News", ["Only one story – Reuters"])], "news").subject == "Only one story"


SITE_PAGE = """<!doctype html><html><head><title>{title} | Example Daily</title>
<meta name="keywords" content="news, world, europe, politics">
<meta property="article:tag" content="Breaking">
<meta property="article:section" content="World">
</head><body><nav><a href="/">Home</a></nav><article><h1>{title}</h1>{paragraphs}</article>
</body></html>"""


def test_page_keywords_are_not_tags_and_pages_are_clustered_by_topic(tmp_path: Path) -> None:
    # Every page of a site carries the same keywords: as tags they would make one section.
    topic_of = {}
    for n, (topic, title, text) in enumerate(
        (topic, title, text) for topic, pairs in TOPICS.items() for title, text in pairs
    ):
        paragraphs = "".join(f"<p>{part.strip()}.</p>" for part in text.split(". "))
        page = SITE_PAGE.format(title=title, paragraphs=paragraphs.replace("..", "."))
        (tmp_path / f"page-{n}.html").write_text(page, encoding="utf-8")
        topic_of[title] = topic
    intake = load_sources([str(tmp_path)])
    assert intake.errors == []
    articles = [a.model_copy(update={"id": n}) for n, a in enumerate(intake.articles, 1)]
    assert {a.title for a in articles} == set(topic_of)
    for article in articles:
        assert article.tags == []
        assert article.keywords == ["news", "world", "europe", "politics", "breaking"]

    groups = plan_sections(articles, theme=THEME, max_sections=4)
    assert len(groups) == 3
    for group in groups:
        assert len({topic_of[a.title] for a in group.articles}) == 1, group
        assert group.title.lower() not in articles[0].keywords


def test_a_top_stories_edition_counts_what_the_preheader_leaves_out() -> None:
    headlines = [
        "Floods close the main road to Uzhhorod after two days of heavy rain",
        "Kyiv metro extends its night service for the whole of the winter",
        "Farmers sow winter wheat late after a dry autumn in the south",
        "Lviv opens a new wing of its children's hospital",
        "Odesa opera returns to its stage after repairs",
        "Chernihiv rebuilds a bridge over the Desna river",
    ]
    copy = built_copy([("Top stories", headlines)], "news")
    assert copy.preheader.endswith("Plus three more."), copy.preheader
    assert "Top stories" not in copy.preheader
