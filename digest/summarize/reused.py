"""Summaries an earlier edition of the newsletter already holds, used again: a weekly edition
of the daily editions' stories summarises none of them a second time, and keeps what an editor
corrected in them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from digest.articles import Article
from digest.summarize import Summarizer, Summary


class ReusedSummaries:
    """A summariser that answers from `known` (article id → summary) and asks `inner` for the
    others only, one by one or, when `inner` works in parallel, all at once."""

    def __init__(self, inner: Summarizer, known: Mapping[int, Summary]) -> None:
        self.inner, self.known = inner, known
        self.method = inner.method

    def summarize(self, article: Article, *, theme: str, max_words: int) -> Summary:
        if article.id is not None and article.id in self.known:
            return self.known[article.id]
        return self.inner.summarize(article, theme=theme, max_words=max_words)

    def summarize_many(
        self, articles: Sequence[Article], *, theme: str, max_words: int
    ) -> list[Summary]:
        new = [a for a in articles if a.id is None or a.id not in self.known]
        many = getattr(self.inner, "summarize_many", None)
        if many is not None:
            fresh = iter(many(new, theme=theme, max_words=max_words))
        else:
            fresh = iter(self.inner.summarize(a, theme=theme, max_words=max_words) for a in new)
        return [
            self.known[a.id] if a.id is not None and a.id in self.known else next(fresh)
            for a in articles
        ]
