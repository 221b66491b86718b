"""Summaries: the Summarizer protocol and the Summary value every summariser returns."""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, Field

from digest.articles import Article


class Summary(BaseModel):
    """One to three sentences about one article, the method that wrote them, and a note for the
    editor when something needs a look (an LLM summary replaced as unfaithful, say)."""

    text: str = Field(min_length=1)
    method: str
    note: str = ""


class Summarizer(Protocol):
    """Anything that can summarise an article for a newsletter's theme within a word budget."""

    method: str

    def summarize(self, article: Article, *, theme: str, max_words: int) -> Summary: ...
