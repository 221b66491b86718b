"""Sentence splitting and the extractive summariser, on hand-made cases and real articles."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from digest.articles import Article
from digest.intake import load_sources
from digest.summarize import Summary
from digest.summarize.extractive import ExtractiveSummarizer
from digest.summarize.sentences import paragraphs, split_sentences

THEME = "Russia's war in Ukraine and its allies"


def as_in_article(summary: Summary, sentences: list[str]) -> list[str]:
    """The summary's sentences with the names it completed put back as the article had them."""
    for surname, full in re.findall(r"“([^”]+)” → “([^”]+)”", summary.note):
        sentences = [sentence.replace(full, surname, 1) for sentence in sentences]
    return sentences


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "The U.S. sent 100,000 troops. Officials said it cost $1.5 bn.",
            ["The U.S. sent 100,000 troops.", "Officials said it cost $1.5 bn."],
        ),
        (
            '"Is it true?" he asked. Mr. Smith said no.',
            ['"Is it true?" he asked.', "Mr. Smith said no."],
        ),
        (
            "Work began in Jan. 2024 at 3.5 times the cost. Dr. Lee agreed.",
            ["Work began in Jan. 2024 at 3.5 times the cost.", "Dr. Lee agreed."],
        ),
        (
            "It was welcomed by the community.Dr Venter said more was needed.",
            ["It was welcomed by the community.", "Dr Venter said more was needed."],
        ),
        (
            "Troops under M.Kim moved on. They stopped.",
            ["Troops under M.Kim moved on.", "They stopped."],
        ),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_sentences_never_cross_paragraphs() -> None:
    assert paragraphs("First line without stop\n\nSecond one.") == [
        "First line without stop",
        "Second one.",
    ]


def test_pasted_example_summary(shared_data: Path) -> None:
    [article] = load_sources([str(shared_data / "articles/north-korea-troops-pasted.txt")]).articles
    summary = ExtractiveSummarizer().summarize(article, theme=THEME, max_words=60)
    sentences = split_sentences(summary.text)
    assert 1 <= len(sentences) <= 3
    assert len(summary.text.split()) <= 60
    body = article.text
    for sentence in as_in_article(summary, sentences):
        assert sentence in body  # whole sentences from the body, label prefixes aside
    # The first line restates the headline, so it is not the summary.
    assert not summary.text.startswith("North Korea could send up to 100,000 troops")
    assert "Source:" not in summary.text
    assert summary.method == "extractive"


def test_summaries_of_real_articles_are_whole_sentences_within_budget(shared_data: Path) -> None:
    summarizer = ExtractiveSummarizer()
    lines = (shared_data / "summaries/dev.jsonl").read_text(encoding="utf-8").splitlines()
    for line in lines[:60]:
        record = json.loads(line)
        title = " ".join(record["article"].split()[:8])
        article = Article(title=title, text=record["article"])
        summary = summarizer.summarize(article, theme="world news", max_words=60)
        chosen = split_sentences(summary.text)
        assert 1 <= len(chosen) <= 3, record["id"]
        flat = " ".join(article.text.split())
        assert all(s in flat for s in as_in_article(summary, chosen)), record["id"]
        assert summary.text[-1] in ".!?\"'’”)", record["id"]
        if len(chosen) > 1:
            assert len(summary.text.split()) <= 60, record["id"]


def test_theme_biases_the_choice() -> None:
    text = (
        "The city council met on Tuesday to discuss the budget for next year and heard reports. "
        "Members debated road repairs and new parking rules for the historic market area. "
        "A councillor also raised drone attacks on Ukraine's power grid and Russia's allies."
    )
    article = Article(title="Council meets on budget", text=text)
    summarizer = ExtractiveSummarizer()
    # The news leads either way; what the theme touches is what is added to it.
    themed = summarizer.summarize(article, theme=THEME, max_words=35)
    plain = summarizer.summarize(article, theme="city budget and council", max_words=35)
    assert themed.text.startswith("The city council met") and plain.text.startswith("The city")
    assert "drone attacks" in themed.text
    assert "drone attacks" not in plain.text


def test_deterministic_and_in_article_order(shared_data: Path) -> None:
    [article] = load_sources([str(shared_data / "articles/north-korea-troops-pasted.txt")]).articles
    first = ExtractiveSummarizer().summarize(article, theme=THEME, max_words=80)
    second = ExtractiveSummarizer().summarize(article, theme=THEME, max_words=80)
    assert first == second
    positions = [article.text.index(s) for s in split_sentences(first.text)]
    assert positions == sorted(positions)


def test_short_article_falls_back_to_its_first_sentence() -> None:
    article = Article(title="Brief", text="Talks resumed. More later?")
    assert ExtractiveSummarizer().summarize(article, theme=THEME, max_words=60).text == (
        "Talks resumed."
    )


def test_budget_smaller_than_any_sentence_still_gives_one_whole_sentence() -> None:
    text = " ".join(
        f"Sentence number {n} talks about the war in Ukraine at some length." for n in range(5)
    )
    summary = ExtractiveSummarizer().summarize(
        Article(title="T x", text=text), theme=THEME, max_words=5
    )
    assert re.fullmatch(
        r"Sentence number \d talks about the war in Ukraine at some length\.", summary.text
    )


@pytest.mark.parametrize(
    "opening",
    ["By Jane Doe: ", "BY JANE DOE\n", "By Jane Doe, Reuters\n\n", "By J.R. Stone - "],
)
def test_a_byline_the_text_opens_with_is_not_summarised(opening: str) -> None:
    text = (
        f"{opening}The city council voted on Tuesday to close the old bridge to traffic. "
        "Engineers found cracks in two of its pillars. Repairs will take a year."
    )
    article = Article(id=1, title="Repairs ahead for a river crossing", text=text)
    summary = ExtractiveSummarizer().summarize(article, theme="news", max_words=60).text
    assert summary.startswith("The city council voted on Tuesday"), summary
    assert "Doe" not in summary and "Stone" not in summary


def test_by_opening_a_sentence_is_kept() -> None:
    text = (
        "By the end of May, the council will have closed the old bridge to traffic. "
        "Engineers found cracks in two of its pillars."
    )
    article = Article(id=1, title="Repairs ahead for a river crossing", text=text)
    summary = ExtractiveSummarizer().summarize(article, theme="news", max_words=60).text
    assert summary.startswith("By the end of May, the council")
