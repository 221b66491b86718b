"""Personalised copies of an edition: one per set of topics readers follow (and per set of
stories already sent to them), so that a million readers cost a handful of renders.

A variant is named by a key stored on each delivery: the topic keys, sorted and comma-joined
("" = everything), then, when some stories had already been sent to that reader in an earlier
edition of the newsletter, "|-" and their article ids. The copy a key stands for is the edition
with only the stories in those topics and without those articles, in the edition's order; its
subject, preheader and intro are written again for what it holds where the editor left them
as built (the editor's own words are kept).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache

from digest.config import NewsletterConfig, TopicConfig
from digest.edition import Edition, Item, Section, refreshed_copy

__all__ = [
    "TOP_STORIES",
    "Variant",
    "describe",
    "edition_for",
    "item_topics",
    "subject_of",
    "topics_key",
    "variant_key",
]

# The section a reader whose topics have nothing this time gets, under no_topic_match =
# "top_stories": each section's lead story.
TOP_STORIES = "Top stories"
_LEFT_OUT = "|-"


@dataclass(frozen=True)
class Variant:
    """What a variant key stands for: the topics followed (None: every story) and the articles
    already sent to its readers."""

    topics: frozenset[str] | None
    left_out: frozenset[int]

    @classmethod
    def parse(cls, key: str) -> Variant:
        topics, _, left_out = key.partition(_LEFT_OUT)
        chosen = frozenset(t for t in topics.split(",") if t) or None
        ids = frozenset(int(part) for part in left_out.split(",") if part.isdigit())
        return cls(chosen, ids)

    @property
    def key(self) -> str:
        return variant_key(topics_key(self.topics or ()), self.left_out)


def topics_key(topics: Iterable[str]) -> str:
    """The stored form of a reader's topics: sorted, comma-joined, "" for everything."""
    return ",".join(sorted(set(topics)))


def variant_key(topics: str, left_out: Iterable[int]) -> str:
    ids = sorted(set(left_out))
    return topics + (_LEFT_OUT + ",".join(map(str, ids)) if ids else "")


@cache
def _phrase(phrase: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w){re.escape(phrase)}(?!\w)", re.IGNORECASE)


def item_topics(item: Item, section_title: str, topics: Mapping[str, TopicConfig]) -> set[str]:
    """The topics a story is in: by its section's title, its articles' tags, or a query word
    or phrase in its headline or text (any of its reports)."""
    title = section_title.casefold()
    tags = {tag.casefold() for article in item.articles for tag in article.tags}
    found = set()
    for name, topic in topics.items():
        if any(title == section.casefold() for section in topic.sections) or any(
            tag.casefold() in tags for tag in topic.tags
        ):
            found.add(name)
            continue
        texts = [f"{article.title}\n{article.text}" for article in item.articles]
        if any(_phrase(phrase).search(text) for phrase in topic.query for text in texts):
            found.add(name)
    return found


def edition_for(edition: Edition, newsletter: NewsletterConfig, key: str) -> Edition | None:
    """The copy of `edition` that a variant key's readers get, or None when it holds nothing
    for them (and the newsletter sends them nothing then)."""
    variant = Variant.parse(key)
    if variant.topics is not None:
        # Topics the newsletter no longer declares are forgotten; none left is everything.
        declared = variant.topics & set(newsletter.topics)
        variant = Variant(declared or None, variant.left_out)
    if variant.topics is None and not variant.left_out:
        return edition
    sections = _kept(edition, newsletter, variant)
    if not sections and newsletter.no_topic_match == "top_stories":
        leads = [
            section.items[0]
            for section in edition.sections
            if section.items[0].article.id not in variant.left_out
        ]
        sections = [Section(title=TOP_STORIES, items=leads[:3])] if leads else []
    if not sections:
        return None
    shown = edition.model_copy(update={"sections": sections})
    return refreshed_copy(edition, shown, newsletter.theme)


def subject_of(edition: Edition, shown: Edition, subject_index: int) -> str:
    """The subject line of a copy: an A/B test's line (1-based; negative for the winner sent to
    the rest) where the copy holds the edition's lead story, which the editor's lines are
    written about; otherwise the subject written for what the copy holds."""
    subject_index = abs(subject_index)
    if not subject_index or subject_index > len(edition.subject_tests):
        return shown.subject
    lead = edition.top_story.article.id
    if shown is not edition and lead not in {item.article.id for item in shown.items}:
        return shown.subject
    return edition.subject_tests[subject_index - 1]


def describe(key: str, newsletter: NewsletterConfig) -> str:
    """A variant as the send report names it: "Every topic", or the topics' labels, and how
    many stories sent before were left out."""
    variant = Variant.parse(key)
    if variant.topics is None:
        label = "Every topic"
    else:
        declared = newsletter.topics
        labels = [(declared[n].label if n in declared else "") or n for n in sorted(variant.topics)]
        label = ", ".join(labels)
    count = len(variant.left_out)
    if count:
        label += f" ({count} {'story' if count == 1 else 'stories'} sent before left out)"
    return label


def _kept(edition: Edition, newsletter: NewsletterConfig, variant: Variant) -> list[Section]:
    sections = []
    for section in edition.sections:
        items = [
            item
            for item in section.items
            if item.article.id not in variant.left_out
            and (
                variant.topics is None
                or item_topics(item, section.title, newsletter.topics) & variant.topics
            )
        ]
        if items:
            sections.append(Section(title=section.title, items=items))
    return sections
