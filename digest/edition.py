"""The Edition: one issue of a newsletter, and building a draft of it from new articles."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, Field, field_validator

from digest.articles import Article, without_controls
from digest.duplicates import main_report, reports_of_events
from digest.edition_copy import SUBJECT_LIMIT, Copy, built_copy, outline
from digest.grouping import TFIDF, Grouper
from digest.summarize import Summarizer, Summary
from digest.terms import content_stems
from digest.themes import plan_sections

__all__ = [
    "SUBJECT_LIMIT",
    "Edition",
    "EditionStatus",
    "Item",
    "Removed",
    "Reopened",
    "Section",
    "build_draft",
    "edition_copy",
    "refreshed_copy",
]


class EditionStatus(StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"
    SENDING = "sending"
    SENT = "sent"
    CANCELLED = "cancelled"


class Reopened(StrEnum):
    """Why a draft is a draft again (cleared when it leaves draft): the page says so, so that
    an editor knows it must be approved again to be sent."""

    EDITED = "edited"  # an edit of an approved edition put it back
    FROM_APPROVED = "approved"  # "back to draft" from approved
    FROM_CANCELLED = "cancelled"  # "back to draft" from cancelled


class Item(BaseModel):
    """One story: its main article and summary, and other reports of the same event
    (`also`: other sources, shown as "Also reported by …" and never summarised again)."""

    article: Article
    summary: Summary
    also: list[Article] = Field(default_factory=list)
    # False: the editor left the article's picture out of this edition.
    show_image: bool = True

    @property
    def articles(self) -> list[Article]:
        return [self.article, *self.also]


class Removed(BaseModel):
    """A story an editor took out of a draft, kept with the edition (until it is sent) so that
    any page, after a reload or in another window, can put it back where it was."""

    item: Item
    section: str  # the title of the section it was in
    index: int = Field(ge=0)  # that section's place then
    position: int = Field(ge=0)  # its place in the section then


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
    reopened: Reopened | None = None
    # The store's count of changes (0: not stored yet); edits name the one they were based on.
    version: int = Field(default=0, ge=0)
    # Stories taken out of this draft, latest last, offered back to the editor.
    removed: list[Removed] = Field(default_factory=list)
    # The newsletter's frequency it is for ("" when the newsletter declares none).
    frequency: str = Field(default="", max_length=32)
    # Subject lines to test against each other (A/B): two to four, or none.
    subject_tests: list[str] = Field(default_factory=list, max_length=4)

    @field_validator("subject", "preheader", "intro", mode="before")
    @classmethod
    def _printable(cls, value: object) -> object:
        return without_controls(value) if isinstance(value, str) else value

    @property
    def items(self) -> list[Item]:
        return [item for section in self.sections for item in section.items]

    @property
    def article_ids(self) -> set[int | None]:
        """Every article the edition holds, other reports included."""
        return {article.id for item in self.items for article in item.articles}

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
    grouper: Grouper = TFIDF,
) -> Edition:
    """A draft edition: articles grouped into themed sections, summarised, with the subject,
    preheader and intro built from what it leads with and what its sections hold."""
    if not articles:
        raise ValueError("no articles to build an edition from")
    # Reports of one event become one item: planned, summarised and shown once.
    theme_words = set(content_stems(theme))
    others: dict[int, list[Article]] = {}
    mains = []
    for event in reports_of_events(articles):
        reports = [articles[index] for index in event]
        main = main_report(reports, theme_words)
        mains.append(main)
        others[id(main)] = [report for report in reports if report is not main]
    groups = plan_sections(mains, theme=theme, max_sections=max_sections, grouper=grouper)
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
            items=[
                Item(article=a, summary=by_article[id(a)], also=others[id(a)])
                for a in group.articles
            ],
        )
        for group in groups
    ]
    copy = built_copy(outline(sections), theme)
    return Edition(
        newsletter=newsletter,
        number=number,
        date=issue_date,
        subject=copy.subject,
        preheader=copy.preheader,
        intro=copy.intro,
        sections=sections,
    )


def edition_copy(edition: Edition, theme: str) -> Copy:
    """The subject, preheader and intro built from the edition as it stands."""
    return built_copy(outline(edition.sections), theme)


def refreshed_copy(before: Edition, after: Edition, theme: str) -> Edition:
    """`after` (an edit of `before`) with its subject, preheader and intro written again from
    what it now leads with and holds, each only where the editor had left the one built for
    `before` and did not change it in this edit: a lead moved or removed, a section renamed,
    an article added late or a headline fixed shows in them; an editor's own words are kept
    (and the lint says where they no longer match)."""
    old, new = edition_copy(before, theme), edition_copy(after, theme)
    update: dict[str, str] = {}
    for field in ("subject", "preheader", "intro"):
        was = getattr(before, field)
        if was == getattr(old, field) and getattr(after, field) == was:
            update[field] = getattr(new, field)
    return after.model_copy(update=update)
