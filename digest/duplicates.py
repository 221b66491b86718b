"""Reports of one event: articles from different sources that tell the same story, found so an
edition shows it once ("also reported by …") instead of two summaries saying the same thing.

Two articles are one event when their whole texts are very alike (TF-IDF cosine of words and
word pairs over everything they say, far stricter than sections' "about the same topic") and
they give the same figures (counts, sums, times: years aside, which any two stories on one
subject share), or when their texts are nearly the same. Names do not tell events apart: the
next day's story about the same people names them all again. Calibrated with
`benchmarks/bench_duplicates.py`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from digest.articles import Article, site_of
from digest.grouping import TfidfWeights, cosine, tfidf_vectors
from digest.terms import content_stems

# The whole text, headline and lead counted a little more; terms one article alone uses are
# kept (they are what makes two stories different).
WHOLE_TEXT = TfidfWeights(
    headline=2.0,
    lead=1.0,
    body=1.0,
    lead_words=60,
    body_words=5000,
    bigrams=0.5,
    names=0.0,
    min_articles=1,
)
# Cosine of the two whole texts at least this, with at least two figures in common...
SAME_EVENT = 0.40
SHARED_FIGURES = 2
# ...or at least this, whatever the figures: nearly the same text.
NEAR_COPY = 0.60

# Figures: "212", "4.9", "£18.2", "15:12", "1,300" (as "1300"); not years.
_FIGURE = re.compile(r"(?<![\w.])\d[\d,.:]*\d|(?<![\w.])\d(?!\w)")
_YEAR = re.compile(r"(?:1[89]|20)\d\d")


def figures(article: Article) -> set[str]:
    """The figures an article gives, years aside: what tells one event from the next."""
    found = (f.replace(",", "").rstrip(".:") for f in _FIGURE.findall(article.text))
    return {f for f in found if not _YEAR.fullmatch(f)} | {
        f.replace(",", "") for f in _FIGURE.findall(article.title) if not _YEAR.fullmatch(f)
    }


def same_event(similarity: float, shared_figures: int) -> bool:
    return similarity >= NEAR_COPY or (
        similarity >= SAME_EVENT and shared_figures >= SHARED_FIGURES
    )


def event_scores(articles: Sequence[Article]) -> list[list[tuple[float, int]]]:
    """For every two articles: (whole-text cosine, figures they share)."""
    vectors = tfidf_vectors(articles, WHOLE_TEXT)
    facts = [figures(article) for article in articles]
    return [
        [(cosine(vectors[i], vectors[j]), len(facts[i] & facts[j])) for j in range(len(facts))]
        for i in range(len(facts))
    ]


def reports_of_events(articles: Sequence[Article]) -> list[list[int]]:
    """Indices of the articles grouped by event, in first-seen order; an article that reports
    the same event as every member of a group joins it (complete link: a chain of loosely
    similar stories never becomes one event)."""
    scores = event_scores(articles)
    events: list[list[int]] = []
    for index, article in enumerate(articles):
        for event in events:
            if any(_same_source(article, articles[other]) for other in event):
                continue
            if all(same_event(*scores[index][other]) for other in event):
                event.append(index)
                break
        else:
            events.append([index])
    return events


def _same_source(a: Article, b: Article) -> bool:
    """Two articles of one outlet are two stories, never two reports of one (a follow-up).
    The outlet is the source named, else the site the article is from."""
    first, second = _outlet_key(a), _outlet_key(b)
    return first is not None and first == second


def _outlet_key(article: Article) -> str | None:
    return article.source.casefold() if article.source else site_of(article.url)


def main_report(reports: Sequence[Article], theme_words: set[str] | None = None) -> Article:
    """The report an item leads with: the one most on the newsletter's theme, then the
    longest, then the earliest."""
    theme = theme_words or set()

    def key(article: Article) -> tuple[int, int, float]:
        on_theme = len(set(content_stems(f"{article.title} {article.text[:1000]}")) & theme)
        published = article.published.timestamp() if article.published else float("inf")
        return (-on_theme, -article.word_count, published)

    return min(reports, key=key)
