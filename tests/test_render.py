"""Rendering: an edition of 12 articles in 3 sections checked by parsing the HTML and reading
the text part; hostile article text stays escaped and the output well-formed."""

from __future__ import annotations

from datetime import date

from bs4 import BeautifulSoup
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from digest.articles import Article
from digest.config import NewsletterConfig
from digest.edition import Edition, Item, Section
from digest.render import render_edition
from digest.render.lint import GMAIL_CLIP_BYTES
from digest.render.placeholders import UNSUBSCRIBE_URL, WORD_JOINER
from digest.summarize import Summary
from tests.conftest import make_newsletter


def make_edition(articles_per_section: list[list[Article]]) -> Edition:
    sections = [
        Section(
            title=f"Section {index + 1} & more",
            items=[
                Item(
                    article=a,
                    summary=Summary(
                        text=f"Summary of {a.title}: it <b>matters</b>.", method="extractive"
                    ),
                )
                for a in articles
            ],
        )
        for index, articles in enumerate(articles_per_section)
    ]
    return Edition(
        id=1,
        newsletter="brief",
        number=7,
        date=date(2026, 11, 24),
        subject="Top story & the rest",
        preheader="Preheader text here",
        intro="Intro with <i>markup</i> & an ampersand.",
        sections=sections,
    )


def twelve_articles() -> list[list[Article]]:
    articles = [
        Article(
            id=n,
            title=f"Headline {n} <with> \"quotes\" & 'apostrophes'",
            url=f"https://news.example.org/story/{n}?a=1&b=2",
            source=f"Outlet {n % 3}",
            author="Writer" if n % 2 else None,
            text=f"Body {n}.",
        )
        for n in range(1, 13)
    ]
    return [articles[0:4], articles[4:8], articles[8:12]]


def test_twelve_articles_in_three_sections(newsletter: NewsletterConfig) -> None:
    sections = twelve_articles()
    edition = make_edition(sections)
    email = render_edition(edition, newsletter)
    soup = BeautifulSoup(email.html, "html5lib")

    assert soup.html is not None and soup.html["lang"] == "en"
    assert soup.title is not None and soup.title.string == "Top story & the rest"
    headings = [h.get_text(strip=True) for h in soup.find_all("h3")]
    assert headings == [a.title for group in sections for a in group]
    assert [h.get_text(strip=True) for h in soup.find_all("h2")] == [
        "Section 1 & more",
        "Section 2 & more",
        "Section 3 & more",
    ]
    paragraphs = [p.get_text(strip=True) for p in soup.find_all("p")]
    for article in (a for group in sections for a in group):
        assert f"Summary of {article.title}: it <b>matters</b>." in paragraphs
        links = [a for a in soup.find_all("a") if a.get("href") == article.url]
        assert len(links) == 2  # headline and "Read more"
    assert soup.find_all("b") == [] and soup.find_all("i") == []  # escaped, not markup
    # Layout tables are marked for screen readers; images have alt text.
    assert all(t.get("role") == "presentation" for t in soup.find_all("table"))
    assert all(img.get("alt") for img in soup.find_all("img"))
    # Preheader, mobile breakpoint, dark mode.
    assert "Preheader text here" in soup.body.get_text() if soup.body else False
    assert "max-width:480px" in email.html.replace(
        " ", ""
    ) or "min-width:480px" in email.html.replace(" ", "")
    assert soup.find("meta", attrs={"name": "color-scheme"}) is not None
    assert "prefers-color-scheme: dark" in email.html
    # Footer: postal address, unsubscribe placeholder, web copy link.
    assert newsletter.postal_address in soup.get_text()
    assert soup.find("a", href=UNSUBSCRIBE_URL) is not None
    assert soup.find("a", href="https://brief.example.org/archive/brief/7") is not None
    assert email.size < GMAIL_CLIP_BYTES
    assert email.errors == []


def test_text_part_is_readable(newsletter: NewsletterConfig) -> None:
    sections = twelve_articles()
    email = render_edition(make_edition(sections), newsletter)
    text = email.text
    assert "<" not in text.replace("<with>", "").replace("<b>", "").replace("</b>", "").replace(
        "<i>", ""
    ).replace("</i>", "")
    lines = text.splitlines()
    assert lines[0] == "The Test Brief"
    assert "SECTION 1 & MORE" in lines
    for article in (a for group in sections for a in group):
        assert article.title in text
        assert f"Read more: {article.url}" in lines
    assert f"Unsubscribe: {UNSUBSCRIBE_URL}" in lines
    assert newsletter.postal_address in text
    assert max(len(line) for line in lines if "http" not in line) <= 72
    # Sections come in order, articles in their section's order.
    positions = [text.index(f"Headline {n} ") for n in range(1, 13)]
    assert positions == sorted(positions)


def test_article_without_url_or_source(newsletter: NewsletterConfig) -> None:
    article = Article(id=1, title="No link here", text="Body.")
    email = render_edition(make_edition([[article]]), newsletter)
    soup = BeautifulSoup(email.html, "html5lib")
    assert soup.find("h3").get_text(strip=True) == "No link here"  # type: ignore[union-attr]
    assert "Read more" not in email.html and "Read more" not in email.text


def test_without_logo_the_title_is_the_header() -> None:
    newsletter = make_newsletter(logo_url=None)
    email = render_edition(make_edition(twelve_articles()), newsletter)
    soup = BeautifulSoup(email.html, "html5lib")
    assert soup.find_all("img") == []
    assert soup.find("a", string="The Test Brief") is not None


HOSTILE = st.one_of(
    st.sampled_from(
        [
            "<script>alert(1)</script>",
            "</mj-text></mj-column><mj-raw><script>x</script></mj-raw>",
            "<div><p>unbalanced",
            "]]> <![CDATA[ x",
            "{{ secret }} {% for %} %%unsubscribe_url%%",
            "مرحبا بالعالم עברית 😀🇺🇦 ‮reversed‬",
            '" onmouseover="alert(1)',
            "&amp; &lt; &#x3C; &nbsp;",
            "<!-- comment --> <!--[if mso]>x<![endif]-->",
        ]
    ),
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=200),
)


def _visible(value: str) -> str:
    from digest.text_fields import one_line

    return one_line(value)


def _as_read(value: str) -> str:
    """What a reader sees: the word joiners that keep markers inert are invisible."""
    return " ".join(value.replace(WORD_JOINER, "").split())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=HOSTILE, summary=HOSTILE, source=HOSTILE, intro=HOSTILE)
def test_hostile_text_stays_escaped(title: str, summary: str, source: str, intro: str) -> None:
    newsletter = make_newsletter()
    clean_title = _visible(title) or "x"
    clean_summary = _visible(summary) or "y"
    clean_source = _visible(source) or None
    article = Article(
        id=1, title=clean_title, text="Body.", source=clean_source, url="https://example.org/a"
    )
    edition = Edition(
        id=1,
        newsletter="brief",
        number=1,
        date=date(2026, 1, 1),
        subject=clean_title[:200],
        preheader="p",
        intro=intro,
        sections=[
            Section(
                title="S",
                items=[Item(article=article, summary=Summary(text=clean_summary, method="t"))],
            )
        ],
    )
    email = render_edition(edition, newsletter)
    # The MJML we generate is well-formed XML, whatever the article says.
    etree.fromstring(email.mjml.encode("utf-8"), etree.XMLParser(resolve_entities=False))
    soup = BeautifulSoup(email.html, "html5lib")
    assert soup.find_all("script") == []
    assert _as_read(soup.find("h3").get_text()) == clean_title  # type: ignore[union-attr]
    texts = [_as_read(p.get_text()) for p in soup.find_all("p")]
    assert " ".join(clean_summary.split()) in texts
    hrefs = {a.get("href") for a in soup.find_all("a")}
    assert hrefs <= {
        "https://example.org/a",
        "https://brief.example.org/archive/brief/1",
        "https://brief.example.org",
        UNSUBSCRIBE_URL,
        "mailto:editors@example.org",
    }
    assert all(not attr.startswith("on") for tag in soup.find_all(True) for attr in tag.attrs)
    assert clean_title.split()[0] in _as_read(email.text)
    # Whatever the text quotes, it is not taken for a broken template.
    assert "template-marker" not in {finding.code for finding in email.findings}


def test_fifty_thousand_word_article(newsletter: NewsletterConfig) -> None:
    from digest.summarize.extractive import ExtractiveSummarizer

    sentence = "Officials said the convoy reached the front line near the river on Tuesday. "
    text = "\n\n".join(sentence * 10 for _ in range(715))  # about 50,000 words
    article = Article(id=1, title="A very long article", text=text, url="https://example.org/long")
    assert article.word_count > 49_000
    summary = ExtractiveSummarizer().summarize(article, theme=newsletter.theme, max_words=60)
    edition = make_edition([[article]]).model_copy(
        update={"sections": [Section(title="Long", items=[Item(article=article, summary=summary)])]}
    )
    email = render_edition(edition, newsletter)
    assert email.size < 30_000  # only the summary is in the email, not the article
    assert summary.text in email.text.replace("\n", " ") or summary.text.split()[0] in email.text
