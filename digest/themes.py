"""Articles into themed sections, in reading order, and the top story.

Editors' tags win: articles that share a tag share a section. Untagged articles are grouped by
meaning (`digest.grouping`: only articles that are really alike share a section), and each
group is headed by what most of its articles share (`digest.headings`). A section needs two
articles: a lone one, and the weakest groups past `max_sections`, go to "In brief".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from digest.articles import Article, without_byline_or_dateline
from digest.grouping import TFIDF, Grouper, Matrix, cohesion
from digest.headings import name_sections
from digest.terms import content_stems

BRIEF_TITLE = "In brief"
TOP_TITLE = "Top stories"
_LEAD_WORDS = 150


@dataclass
class Group:
    title: str
    articles: list[Article]


def plan_sections(
    articles: Sequence[Article],
    *,
    theme: str,
    max_sections: int,
    grouper: Grouper = TFIDF,
) -> list[Group]:
    """Sections in reading order: the top story's section first, the top story first in it;
    "In brief" last."""
    similarity = grouper.similarity(articles)
    ranked = rank_stories(articles, theme, similarity)
    rank = {id(article): position for position, article in enumerate(ranked)}
    # A tag no other article shares makes no section: its article is grouped by meaning.
    shared = {t for t, n in Counter(t for a in articles for t in set(a.tags)).items() if n > 1}
    tagged = [a for a in ranked if shared & set(a.tags)]
    # (group, strength): editors' tags first, then larger groups, then more alike ones.
    candidates = [(g, (1, len(g.articles), 1.0)) for g in _group_by_tags(tagged, shared)]
    untagged = [i for i, a in enumerate(articles) if not shared & set(a.tags)]
    if untagged:
        matrix = [[similarity[i][j] for j in untagged] for i in untagged]
        for members in grouper.groups(matrix):
            group = Group(title="", articles=[articles[untagged[i]] for i in members])
            candidates.append((group, (0, len(members), cohesion(matrix, members))))
    groups = _cap(candidates, max_sections)
    for group in groups:
        group.articles.sort(key=lambda a: rank[id(a)])
    groups.sort(key=lambda g: (g.title == BRIEF_TITLE, rank[id(g.articles[0])]))
    if len(groups) == 1 and groups[0].title in ("", BRIEF_TITLE):
        groups[0].title = TOP_TITLE
        return groups
    headings = name_sections([g.articles for g in groups], theme, [not g.title for g in groups])
    for group, heading in zip(groups, headings, strict=True):
        group.title = group.title or heading
    return groups


def _cap(candidates: list[tuple[Group, tuple[int, int, float]]], max_sections: int) -> list[Group]:
    """Groups of two or more articles, the strongest first, as many as max_sections allows
    beside "In brief"; every other article goes to "In brief" (unlike groups are never merged
    to make room)."""
    kept = sorted(
        (c for c in candidates if len(c[0].articles) > 1), key=lambda c: c[1], reverse=True
    )
    spill = [a for group, _ in candidates if len(group.articles) == 1 for a in group.articles]
    room = max_sections if not spill else max_sections - 1
    while len(kept) > max(room, 0):
        spill.extend(kept.pop()[0].articles)
        room = max_sections - 1
    groups = [group for group, _ in kept]
    if spill:
        groups.append(Group(title=BRIEF_TITLE if groups else TOP_TITLE, articles=spill))
    return groups


def section_for(
    article: Article,
    sections: Sequence[tuple[str, Sequence[Article]]],
    grouper: Grouper = TFIDF,
) -> int | None:
    """Where an article added to a built edition goes, as planning would have put it: the
    section named after one of its tags, else the themed section it is most like (if grouping
    would have put it there), else None: "In brief"."""
    titles = [title for title, _ in sections]
    for tag in article.tags:
        if _tag_title(tag) in titles:
            return titles.index(_tag_title(tag))
    themed = [(i, list(arts)) for i, (title, arts) in enumerate(sections) if title != BRIEF_TITLE]
    everyone = [article] + [a for _, arts in themed for a in arts]
    similarity = grouper.similarity(everyone)
    best, chosen, offset = -1.0, None, 1
    for index, arts in themed:
        linkage = sum(similarity[0][offset : offset + len(arts)]) / (len(arts) or 1)
        offset += len(arts)
        if grouper.joins(linkage, len(arts)) and linkage > best:
            best, chosen = linkage, index
    return chosen


def rank_stories(
    articles: Sequence[Article], theme: str, similarity: Matrix | None = None
) -> list[Article]:
    """Most newsworthy first: on the theme, widely covered by the other articles, substantial."""
    theme_stems = set(content_stems(theme))
    if similarity is None:
        similarity = TFIDF.similarity(articles)
    newest = sorted({a.published for a in articles if a.published}, reverse=True)
    scores = []
    for position, article in enumerate(articles):
        lead = " ".join(without_byline_or_dateline(article.text).split()[:_LEAD_WORDS])
        on_theme = len(set(content_stems(f"{article.title} {lead}")) & theme_stems) / (
            len(theme_stems) or 1
        )
        others = [value for other, value in enumerate(similarity[position]) if other != position]
        coverage = sum(others) / len(others) if others else 0.0
        substance = min(article.word_count / 600, 1.0)
        fresh = 0.0
        if article.published and newest:
            fresh = 1 - newest.index(article.published) / len(newest)
        score = on_theme + 2 * coverage + 0.3 * substance + 0.2 * fresh
        scores.append((-score, position, article))
    return [article for _, _, article in sorted(scores, key=lambda s: (s[0], s[1]))]


def _group_by_tags(articles: Sequence[Article], shared: set[str]) -> list[Group]:
    # Each article goes under its most widely shared tag, so sections come out as large as the
    # editor's tagging allows.
    counts = Counter(tag for article in articles for tag in article.tags)
    groups: dict[str, Group] = {}
    for article in articles:
        tags = [t for t in article.tags if t in shared]
        tag = max(tags, key=lambda t: (counts[t], -article.tags.index(t)))
        groups.setdefault(tag, Group(title=_tag_title(tag), articles=[])).articles.append(article)
    return list(groups.values())


def _tag_title(tag: str) -> str:
    return " ".join(word if word.isupper() else word[:1].upper() + word[1:] for word in tag.split())
