"""Reading figures: which clicks on an email's links were people's, counted once per reader.

Pure logic, no store. The click redirect (`digest/web/clicks.py`) records every request with
what it showed on arrival (`arrival_reason`: a HEAD request, a known scanner's user agent, a
click within seconds of delivery); the rest is decided here at report time from all of an
edition's stored clicks (`classify`), so that a scanner's burst is recognised even when its
first click arrived alone and looked like a person's. `figures` then counts distinct readers
per article, per section and per subject line.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple

from digest.articles import Article
from digest.edition import Edition


class Reason(StrEnum):
    """Why a click was left out of the figures."""

    HEAD = "head"  # a HEAD request: link checkers and scanners, never a browser following a link
    EARLY = "early"  # within click_scanner_delay of the delivery being sent
    SCANNER_AGENT = "scanner_agent"  # a known scanner's or preview bot's user agent, or none
    BURST = "burst"  # one message's clicks on several links at once, or on (nearly) all
    CLOSED = "closed"  # after the edition's reader keys were forgotten: no longer counted


# The order reports list the reasons in, and what each says to an editor.
REASON_WORDS: dict[Reason, str] = {
    Reason.HEAD: "HEAD requests (link checkers)",
    Reason.EARLY: "within seconds of delivery (mail scanners)",
    Reason.SCANNER_AGENT: "known scanner or link-preview agents, or no agent",
    Reason.BURST: "bursts (several links of one email at once, or nearly all of them)",
    Reason.CLOSED: "after counting closed (the edition's reader keys were forgotten)",
}

# Mail-security scanners and link-preview bots, as their user agents name them (lower case,
# matched anywhere in the agent). Generic HTTP libraries are here too: a person's click comes
# from a browser. Scanners that pose as a browser are caught by time and bursts instead.
SCANNER_AGENTS = (
    "barracuda",
    "mimecast",
    "proofpoint",
    "messagelabs",
    "symantec",
    "trendmicro",
    "forcepoint",
    "sophos",
    "ironport",
    "safelinks",
    "bingpreview",
    "googleimageproxy",
    "slackbot",
    "slack-imgproxy",
    "discordbot",
    "telegrambot",
    "twitterbot",
    "facebookexternalhit",
    "linkedinbot",
    "whatsapp",
    "skypeuripreview",
    "headlesschrome",
    "python-requests",
    "python-urllib",
    "curl/",
    "wget/",
    "go-http-client",
    "okhttp",
    "libwww-perl",
    "apache-httpclient",
)

# A burst: one message's clicks on BURST_LINKS different links within BURST_SPAN (a person
# reads a story before opening the next; a scanner opens every link in a second or two).
BURST_SPAN = timedelta(seconds=2)
BURST_LINKS = 3
# A sweep: one message's clicks on at least SWEEP_SHARE of the edition's links (and at least
# SWEEP_LINKS of them) within SWEEP_SPAN: scanners that pace their requests still open them all.
SWEEP_SPAN = timedelta(minutes=10)
SWEEP_SHARE = 0.8
SWEEP_LINKS = 4

_KEY_BYTES = 16


def is_scanner_agent(agent: str | None) -> bool:
    """A user agent of a known scanner or link-preview bot; a missing one counts as one (every
    browser sends it)."""
    if not agent or not agent.strip():
        return True
    lowered = agent.lower()
    return any(name in lowered for name in SCANNER_AGENTS)


def arrival_reason(
    method: str,
    agent: str | None,
    clicked_at: datetime,
    delivered_at: datetime | None,
    scanner_delay: timedelta,
) -> Reason | None:
    """What a click shows on arrival that leaves it out (None: maybe a person, until
    `classify` looks at the message's other clicks). Without a delivery time, the message is
    still being handed over: a click then is a scanner's."""
    if method.upper() == "HEAD":
        return Reason.HEAD
    if is_scanner_agent(agent):
        return Reason.SCANNER_AGENT
    if delivered_at is None or clicked_at - delivered_at < scanner_delay:
        return Reason.EARLY
    return None


def reader_key(salt: str, delivery_id: int) -> str:
    """The key that tells one message's clicks apart without naming it: an HMAC of the
    delivery id under the edition's random salt. Once the salt is deleted nobody can say which
    delivery a key stands for."""
    mac = hmac.new(salt.encode(), str(delivery_id).encode(), hashlib.sha256)
    return mac.hexdigest()[: _KEY_BYTES * 2]


class Click(NamedTuple):
    """One stored click, as the report reads it."""

    article_id: int
    clicked_at: datetime
    # What it showed on arrival (a Reason's value), "" when nothing left it out then.
    reason: str
    # The message it came from (None for HEAD requests and after counting closed).
    reader_key: str | None
    subject_index: int = 0


def classify(clicks: Sequence[Click], links: int) -> list[Reason | None]:
    """Each click's reason to be left out (None: a person's), given how many links the
    edition has. A message's clicks that form a burst or a sweep are all left out, whatever
    each looked like when it arrived; its clicks before and after stay a person's."""
    reasons = [Reason(click.reason) if click.reason else None for click in clicks]
    by_message: dict[str, list[int]] = defaultdict(list)
    for index, click in enumerate(clicks):
        if click.reader_key and reasons[index] not in (Reason.HEAD, Reason.CLOSED):
            by_message[click.reader_key].append(index)
    burst_links = max(2, min(BURST_LINKS, links))
    sweep_links = max(SWEEP_LINKS, math.ceil(SWEEP_SHARE * links))
    for indices in by_message.values():
        if len(indices) < 2:
            continue
        indices.sort(key=lambda i: clicks[i].clicked_at)
        marked = _windows(clicks, indices, BURST_SPAN, burst_links)
        marked |= _windows(clicks, indices, SWEEP_SPAN, sweep_links)
        for index in marked:
            if reasons[index] is None:
                reasons[index] = Reason.BURST
    return reasons


def _windows(clicks: Sequence[Click], ordered: list[int], span: timedelta, needed: int) -> set[int]:
    """The clicks (indices, in time order) inside any stretch of `span` that holds clicks on
    at least `needed` different links."""
    marked: set[int] = set()
    counts: Counter[int] = Counter()
    left = 0
    for right, index in enumerate(ordered):
        counts[clicks[index].article_id] += 1
        while clicks[index].clicked_at - clicks[ordered[left]].clicked_at > span:
            gone = clicks[ordered[left]].article_id
            counts[gone] -= 1
            if not counts[gone]:
                del counts[gone]
            left += 1
        if len(counts) >= needed:
            marked.update(ordered[left : right + 1])
    return marked


@dataclass(frozen=True)
class ArticleFigure:
    article_id: int
    label: str  # the headline, or the outlet of another report
    readers: int  # distinct people who clicked it
    linked: bool = True  # False: it has no URL, so the email has no link to it


@dataclass(frozen=True)
class StoryFigure:
    article: ArticleFigure
    also: list[ArticleFigure]  # the other reports ("Also reported by …")


@dataclass(frozen=True)
class SectionFigure:
    title: str
    readers: int  # distinct people who clicked any of its links
    stories: list[StoryFigure]


@dataclass(frozen=True)
class ClickFigures:
    """An edition's reading figures: people counted once per link, what was left out and why."""

    edition_id: int
    readers: int  # distinct people who clicked at least one link
    counted: int  # people's first clicks on each link (the sum over articles)
    repeats: int  # people's further clicks on a link they had clicked already
    left_out: dict[str, int]
    sections: list[SectionFigure]
    # Distinct people who clicked, per subject line (0: the edition's own; N: test line N).
    by_subject: dict[int, int] = field(default_factory=dict)
    scanner_delay: timedelta = timedelta(seconds=60)

    @property
    def total(self) -> int:
        return self.counted + self.repeats + sum(self.left_out.values())

    def reason_words(self, reason: Reason) -> str:
        if reason == Reason.EARLY:
            seconds = int(self.scanner_delay.total_seconds())
            return f"within {seconds} s of delivery (mail scanners)"
        return REASON_WORDS[reason]

    def left_out_by_reason(self) -> list[tuple[str, int, str]]:
        """(reason, clicks, what it means) for every reason, in the order reports list them."""
        return [
            (reason.value, self.left_out.get(reason.value, 0), self.reason_words(reason))
            for reason in Reason
        ]

    def as_json(self) -> dict[str, Any]:
        return {
            "readers": self.readers,
            "counted": self.counted,
            "repeats": self.repeats,
            "left_out": self.left_out,
            "by_subject": {str(index): count for index, count in self.by_subject.items()},
            "sections": [
                {
                    "title": section.title,
                    "readers": section.readers,
                    "articles": [
                        {
                            "article": story.article.article_id,
                            "title": story.article.label,
                            "readers": story.article.readers,
                            "linked": story.article.linked,
                            "also": [
                                {"article": a.article_id, "source": a.label, "readers": a.readers}
                                for a in story.also
                            ],
                        }
                        for story in section.stories
                    ],
                }
                for section in self.sections
            ],
        }

    def lines(self) -> list[str]:
        """The figures as a terminal shows them."""
        lines = [
            f"  clicks: {self.readers} readers clicked (people, each counted once per link: "
            f"{self.counted} clicks; {self.repeats} repeat clicks not counted again)"
        ]
        left = [f"{count} {words}" for _, count, words in self.left_out_by_reason() if count]
        lines.append("  left out: " + ("; ".join(left) if left else "none"))
        for section in self.sections:
            lines.append(f"  {section.title}: {section.readers} readers")
            for story in section.stories:
                shown = story.article.readers if story.article.linked else "-"
                lines.append(f"    {shown:>6}  {story.article.label}")
                for report in story.also:
                    lines.append(f"    {report.readers:>6}    also: {report.label}")
        if len(self.by_subject) > 1:
            subjects = ", ".join(f"line {i}: {n}" for i, n in sorted(self.by_subject.items()))
            lines.append(f"  readers per subject line: {subjects}")
        return lines


def figures(
    edition: Edition,
    clicks: Sequence[Click],
    scanner_delay: timedelta = timedelta(seconds=60),
) -> ClickFigures:
    """Distinct people per article, per section and per subject line, from an edition's
    stored clicks (sections as the edition was stored), and what was left out by reason."""
    from digest.render.templates import outlet

    links = len({a.id for item in edition.items for a in item.articles if a.id is not None})
    reasons = classify(clicks, links)
    left_out: Counter[str] = Counter()
    readers_of: dict[int, set[str]] = defaultdict(set)
    subjects: dict[int, set[str]] = defaultdict(set)
    people: set[str] = set()
    counted_pairs: set[tuple[str, int]] = set()
    repeats = 0
    for click, reason in zip(clicks, reasons, strict=True):
        if reason is not None:
            left_out[reason.value] += 1
            continue
        key = click.reader_key or ""
        pair = (key, click.article_id)
        if pair in counted_pairs:
            repeats += 1
            continue
        counted_pairs.add(pair)
        readers_of[click.article_id].add(key)
        subjects[click.subject_index].add(key)
        people.add(key)

    def figure(article: Article, label: str) -> ArticleFigure:
        article_id = article.id or 0
        readers = len(readers_of.get(article_id, ()))
        return ArticleFigure(article_id, label, readers, linked=bool(article.url))

    sections = []
    for section in edition.sections:
        stories = [
            StoryFigure(
                figure(item.article, item.article.title),
                [figure(report, outlet(report)) for report in item.also],
            )
            for item in section.items
        ]
        ids = {a.id for item in section.items for a in item.articles if a.id is not None}
        sections.append(SectionFigure(section.title, len(_union(readers_of, ids)), stories))
    return ClickFigures(
        edition_id=edition.id or 0,
        readers=len(people),
        counted=len(counted_pairs),
        repeats=repeats,
        left_out={reason.value: left_out.get(reason.value, 0) for reason in Reason},
        sections=sections,
        by_subject={index: len(keys) for index, keys in sorted(subjects.items())},
        scanner_delay=scanner_delay,
    )


def _union(readers_of: dict[int, set[str]], ids: Iterable[int]) -> set[str]:
    found: set[str] = set()
    for article_id in ids:
        found |= readers_of.get(article_id, set())
    return found
