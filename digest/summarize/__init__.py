"""Summaries: the Summarizer protocol and the Summary value every summariser returns."""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, Field

from digest.articles import Article

# How a note saying which names were completed from the article begins.
COMPLETION_NOTE = "names completed from the article: "


class Summary(BaseModel):
    """One to three sentences about one article, the method that wrote them, and a note for the
    editor when something needs a look (an LLM summary replaced as unfaithful, say)."""

    text: str = Field(min_length=1)
    method: str
    note: str = ""

    @property
    def note_is_warning(self) -> bool:
        """Whether the note asks the editor to check something (a summary replaced), rather than
        saying where the summary's words differ from the article's (names completed)."""
        return bool(self.note) and not self.note.startswith(COMPLETION_NOTE)


class Summarizer(Protocol):
    """Anything that can summarise an article for a newsletter's theme within a word budget."""

    method: str

    def summarize(self, article: Article, *, theme: str, max_words: int) -> Summary: ...
