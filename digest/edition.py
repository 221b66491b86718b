"""The Edition: one issue of a newsletter, and building a draft of it from new articles."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, Field, field_validator

from digest.articles import Article, strip_attribution, without_controls
from digest.summarize import Summarizer, Summary
from digest.themes import plan_sections

SUBJECT_LIMIT = 78
PREHEADER_LIMIT = 140


class EditionStatus(StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"
    SENDING = "sending"
    SENT = "sent"
    CANCELLED = "cancelled"


class Item(BaseModel):
    article: Article
    summary: Summary


class Section(BaseModel):
    title: str = Field(min_length=1, max_length=120)
    items: list[Item] = Field(min_length=1)

    @field_validator("title", mode="before")
    @classmethod
    def _printable(cls, value: object) -> object:
        return without_controls(value) if isinstance(value, str) else value


class Edition(BaseModel):
    id: int | None = None
    newsletter: str
    number: int = Field(ge=1)
    date: date
    subject: str = Field(min_length=1, max_length=200)
    preheader: str = Field(default="", max_length=300)
    intro: str = ""
    sections: list[Section] = Field(min_length=1)
    status: EditionStatus = EditionStatus.DRAFT
    send_at: datetime | None = None

    @field_validator("subject", "preheader", "intro", mode="before")
    @classmethod
    def _printable(cls, value: object) -> object:
        return without_controls(value) if isinstance(value, str) else value

    @property
    def items(self) -> list[Item]:
        return [item for section in self.sections for item in section.items]

    @property
    def top_story(self) -> Item:
        return self.sections[0].items[0]


def build_draft(
    articles: list[Article],
    *,
    newsletter: str,
    theme: str,
    number: int,
    issue_date: date,
    summarizer: Summarizer,
    max_sections: int,
    summary_words: int,
) -> Edition:
    """A draft edition: articles grouped into themed sections, summarised, with a subject line."""
    if not articles:
        raise ValueError("no articles to build an edition from")
    groups = plan_sections(articles, theme=theme, max_sections=max_sections)
    ordered = [article for group in groups for article in group.articles]
    many = getattr(summarizer, "summarize_many", None)
    if many is not None:  # summarisers that work in parallel (the LLM one) do all at once
        summaries = list(many(ordered, theme=theme, max_words=summary_words))
    else:
        summaries = [summarizer.summarize(a, theme=theme, max_words=summary_words) for a in ordered]
    by_article = {id(article): summary for article, summary in zip(ordered, summaries, strict=True)}
    sections = [
        Section(
            title=group.title,
            items=[Item(article=a, summary=by_article[id(a)]) for a in group.articles],
        )
        for group in groups
    ]
    headlines = [item.article.title for section in sections for item in section.items]
    return Edition(
        newsletter=newsletter,
        number=number,
        date=issue_date,
        subject=subject_line(headlines),
        preheader=preheader(headlines, theme),
        intro=intro(headlines, [section.title for section in sections], theme),
        sections=sections,
    )


def clean_headline(title: str) -> str:
    """The headline without a trailing outlet credit (" – Bloomberg")."""
    return strip_attribution(title)


def shorten(text: str, limit: int) -> str:
    """Cut at a word boundary with an ellipsis, so a subject never ends mid-word."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:–—-")
    return f"{cut}…"


def subject_line(headlines: list[str]) -> str:
    lead = clean_headline(headlines[0])
    more = len(headlines) - 1
    suffix = f" + {more} more" if more else ""
    if len(lead) + len(suffix) <= SUBJECT_LIMIT:
        return lead + suffix
    return shorten(lead, SUBJECT_LIMIT)


def preheader(headlines: list[str], theme: str) -> str:
    others = [clean_headline(title) for title in headlines[1:3]]
    text = f"This edition: {theme}."
    if others:
        text += " Also: " + "; ".join(others)
    return shorten(text, PREHEADER_LIMIT)


def intro(headlines: list[str], section_titles: list[str], theme: str) -> str:
    count = len(headlines)
    stories = "story" if count == 1 else "stories"
    lead = clean_headline(headlines[0])
    if len(section_titles) > 1:
        listed = ", ".join(section_titles[:-1]) + f" and {section_titles[-1]}"
        shape = f"{count} {stories} on {theme}, in {len(section_titles)} sections: {listed}."
    else:
        shape = f"{count} {stories} on {theme}."
    ending = "" if lead.endswith((".", "?", "!", "…")) else "."
    return f"{shape} We lead with: {lead}{ending}"


def _headlines(edition: Edition) -> list[str]:
    return [item.article.title for item in edition.items]


def refreshed_copy(before: Edition, after: Edition, theme: str) -> Edition:
    """`after` with its subject, preheader and intro written again from its headlines, each
    only where the editor had left the one built from `before`'s: an article added late or a
    headline fixed ("SKIP TO SITE INDEX" → the real one) shows in them, an editor's own words
    are kept."""
    old, new = _headlines(before), _headlines(after)
    old_titles = [section.title for section in before.sections]
    new_titles = [section.title for section in after.sections]
    update: dict[str, str] = {}
    if before.subject == subject_line(old):
        update["subject"] = subject_line(new)
    if before.preheader == preheader(old, theme):
        update["preheader"] = preheader(new, theme)
    if before.intro == intro(old, old_titles, theme):
        update["intro"] = intro(new, new_titles, theme)
    return after.model_copy(update=update)
