"""Grouping articles into themed sections, naming them, and finding the top story.

Editors' tags win: articles that share a tag share a section. Untagged articles are clustered by
the words they share (TF-IDF over headline and lead, average-link merging), and each cluster is
named after the name or phrase its articles have in common and the others lack.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from digest.articles import Article, strip_attribution, without_dateline
from digest.terms import STOP_WORDS, content_stems

BRIEF_TITLE = "In brief"
_LEAD_WORDS = 150
_MERGE_THRESHOLD = 0.10
_PHRASE = re.compile(r"[A-Z][\w’'.-]*[\w](?:\s+(?:of\s+|the\s+)?[A-Z][\w’'.-]*[\w])*")
_POSSESSIVE = re.compile(r"[’']s$")

Vector = dict[str, float]


@dataclass
class Group:
    title: str
    articles: list[Article]


def plan_sections(articles: Sequence[Article], *, theme: str, max_sections: int) -> list[Group]:
    """Sections in reading order: the top story's section first, the top story first in it."""
    vectors = _tfidf([_profile(article) for article in articles])
    ranked = rank_stories(articles, vectors, theme)
    rank = {id(article): position for position, article in enumerate(ranked)}
    tagged = [a for a in ranked if a.tags]
    untagged = [a for a in ranked if not a.tags]
    groups = _group_by_tags(tagged)
    if untagged:
        index = {id(article): i for i, article in enumerate(articles)}
        clusters = _cluster(
            [vectors[index[id(a)]] for a in untagged], max(1, max_sections - len(groups))
        )
        groups += [Group(title="", articles=[untagged[i] for i in cluster]) for cluster in clusters]
    groups = _fold_singletons(groups, max_sections)
    for group in groups:
        group.articles.sort(key=lambda a: rank[id(a)])
    groups.sort(key=lambda g: (g.title == BRIEF_TITLE, rank[id(g.articles[0])]))
    if groups[0].title == BRIEF_TITLE and len(groups) > 1:
        groups.sort(key=lambda g: rank[id(g.articles[0])])
    _name_groups(groups, theme)
    return groups


def section_for(article: Article, sections: Sequence[tuple[str, Sequence[Article]]]) -> int | None:
    """Where an article added to a built edition goes, as planning would have put it: the
    section named after one of its tags, else the themed section whose stories it shares the
    most words with (if clustering would have merged them), else None: "In brief"."""
    titles = [title for title, _ in sections]
    for tag in article.tags:
        if _tag_title(tag) in titles:
            return titles.index(_tag_title(tag))
    themed = [(i, list(arts)) for i, (title, arts) in enumerate(sections) if title != BRIEF_TITLE]
    documents = [_profile(article)] + [_profile(a) for _, arts in themed for a in arts]
    vectors = _tfidf(documents)
    best, chosen, offset = _MERGE_THRESHOLD, None, 1
    for index, arts in themed:
        mine = vectors[offset : offset + len(arts)]
        offset += len(arts)
        linkage = sum(_cosine(vectors[0], other) for other in mine) / (len(mine) or 1)
        if linkage >= best:
            best, chosen = linkage, index
    return chosen


def rank_stories(
    articles: Sequence[Article], vectors: Sequence[Vector], theme: str
) -> list[Article]:
    """Most newsworthy first: on the theme, widely covered by the other articles, substantial."""
    theme_stems = set(content_stems(theme))
    newest = sorted({a.published for a in articles if a.published}, reverse=True)
    scores = []
    for position, (article, vector) in enumerate(zip(articles, vectors, strict=True)):
        lead = set(content_stems(f"{article.title} {_lead(article)}"))
        on_theme = len(lead & theme_stems) / (len(theme_stems) or 1)
        others = [_cosine(vector, other) for other in vectors if other is not vector]
        coverage = sum(others) / len(others) if others else 0.0
        substance = min(article.word_count / 600, 1.0)
        fresh = 0.0
        if article.published and newest:
            fresh = 1 - newest.index(article.published) / len(newest)
        score = on_theme + 2 * coverage + 0.3 * substance + 0.2 * fresh
        scores.append((-score, position, article))
    return [article for _, _, article in sorted(scores, key=lambda s: (s[0], s[1]))]


def _group_by_tags(articles: Sequence[Article]) -> list[Group]:
    # Each article goes under its most widely shared tag, so sections come out as large as the
    # editor's tagging allows.
    counts = Counter(tag for article in articles for tag in article.tags)
    groups: dict[str, Group] = {}
    for article in articles:
        tag = max(article.tags, key=lambda t: (counts[t], -article.tags.index(t)))
        groups.setdefault(tag, Group(title=_tag_title(tag), articles=[])).articles.append(article)
    return list(groups.values())


def _tag_title(tag: str) -> str:
    return " ".join(word if word.isupper() else word[:1].upper() + word[1:] for word in tag.split())


def _fold_singletons(groups: list[Group], max_sections: int) -> list[Group]:
    """Lone articles, and groups past max_sections, go together into one "In brief" section."""
    singles = [g for g in groups if len(g.articles) == 1]
    if len(groups) <= max_sections and len(singles) <= 1:
        return groups
    kept = sorted((g for g in groups if len(g.articles) > 1), key=lambda g: -len(g.articles))
    spill = [a for g in singles for a in g.articles]
    while kept and len(kept) >= max_sections:
        spill.extend(kept.pop().articles)
    if not kept:
        return [Group(title="", articles=spill)]
    return [*kept, Group(title=BRIEF_TITLE, articles=spill)]


def _name_groups(groups: list[Group], theme: str) -> None:
    if len(groups) == 1 and not groups[0].title:
        groups[0].title = "Top stories"
        return
    theme_stems = frozenset(content_stems(theme))
    phrases = [[_phrases(article) for article in group.articles] for group in groups]
    titles = [[_phrases(article, lead=False) for article in group.articles] for group in groups]
    known = {p for per_group in phrases for per_article in per_group for p in per_article}
    _count_demonyms_as_places(phrases, known)
    _count_demonyms_as_places(titles, known)
    used: set[str] = set()
    for position, group in enumerate(groups):
        if group.title:
            continue
        counts = _PhraseCounts(
            inside=Counter(p for per_article in phrases[position] for p in per_article),
            in_titles=Counter(p for per_article in titles[position] for p in per_article),
            outside=Counter(
                p
                for other, per_group in enumerate(phrases)
                if other != position
                for per_article in per_group
                for p in per_article
            ),
            size=len(group.articles),
            others=sum(len(g.articles) for i, g in enumerate(groups) if i != position) or 1,
            theme_stems=theme_stems,
        )
        shared = [
            p
            for p in counts.inside
            if p.lower() not in used and (counts.size == 1 or counts.inside[p] > 1)
        ]
        # Nothing shared: the most telling phrase of any of its articles still names it better
        # than a cut-off headline.
        candidates = shared or [p for p in counts.inside if p.lower() not in used]
        if candidates:
            best = max(candidates, key=counts.score)
            group.title = best[0].upper() + best[1:]
            used.add(best.lower())
        else:
            group.title = strip_attribution(group.articles[0].title)[:60]


@dataclass(frozen=True)
class _PhraseCounts:
    """How many articles of a section (and of the other sections) use each phrase."""

    inside: Counter[str]
    in_titles: Counter[str]
    outside: Counter[str]
    size: int
    others: int
    theme_stems: frozenset[str]

    def score(self, phrase: str) -> tuple[float, int, str]:
        # Shared inside the section, rare outside it, seen in headlines, and not just the
        # newsletter's own theme ("Russia", "Ukraine" would name every section of a war digest).
        value = self.inside[phrase] / self.size - self.outside[phrase] / self.others
        value += 0.3 * self.in_titles[phrase] / self.size + 0.05 * len(phrase.split())
        if set(content_stems(phrase)) <= self.theme_stems:
            value -= 0.6
        return (value, -len(phrase), phrase)


def _count_demonyms_as_places(phrases: list[list[set[str]]], known: set[str]) -> None:
    """Let "North Korean troops" count for "North Korea" when the place is named elsewhere, so
    that sections are headed by the place rather than the adjective."""
    for per_group in phrases:
        for per_article in per_group:
            per_article.update(
                p[:-1] for p in list(per_article) if p.endswith("an") and p[:-1] in known
            )


def _phrases(article: Article, lead: bool = True) -> set[str]:
    """Names ("North Korea", "Kursk"), and word pairs ("air defence", "shadow fleet") from the
    headline and, unless lead is False, the first paragraph."""
    text = strip_attribution(article.title)
    if lead:
        text += "\n" + _lead(article)
    found: set[str] = set()
    for sentence in re.split(r"(?<=[.!?:;])\s+|\n+", text):
        for match in _PHRASE.finditer(sentence):
            words = [_POSSESSIVE.sub("", w) for w in match.group().split()]
            while words and words[0].lower() in STOP_WORDS:
                words = words[1:]
            while words and words[-1].lower() in STOP_WORDS:
                words = words[:-1]
            phrase = " ".join(words).strip(".")
            if len(phrase) >= 3 and len(words) <= 4:
                found.add(phrase)
        words = [
            _POSSESSIVE.sub("", w) for w in re.findall(r"(?<![\w’'-])[a-z][a-z’'-]+", sentence)
        ]
        for first, second in itertools.pairwise(words):
            if (
                first not in STOP_WORDS
                and second not in STOP_WORDS
                and min(len(first), len(second)) > 2
            ):
                found.add(f"{first} {second}")
    return found


def _lead(article: Article) -> str:
    return " ".join(without_dateline(article.text).split()[:_LEAD_WORDS])


def _profile(article: Article) -> list[str]:
    # The headline says what a story is about more reliably than its body: count it three times.
    return content_stems(strip_attribution(article.title)) * 3 + content_stems(_lead(article))


def _tfidf(documents: Sequence[list[str]]) -> list[Vector]:
    frequency = Counter(stem for document in documents for stem in set(document))
    total = len(documents)
    vectors = []
    for document in documents:
        counts = Counter(document)
        vector = {
            stem: (1 + math.log(count)) * math.log(1 + total / frequency[stem])
            for stem, count in counts.items()
        }
        norm = math.sqrt(sum(value * value for value in vector.values())) or 1.0
        vectors.append({stem: value / norm for stem, value in vector.items()})
    return vectors


def _cosine(a: Vector, b: Vector) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(value * b.get(stem, 0.0) for stem, value in a.items())


def _cluster(vectors: Sequence[Vector], max_clusters: int) -> list[list[int]]:
    """Average-link agglomerative clustering: merge the most similar pair until none is similar
    enough and there are at most max_clusters clusters."""
    clusters = [[i] for i in range(len(vectors))]
    similarity = [[_cosine(a, b) for b in vectors] for a in vectors]

    def linkage(x: list[int], y: list[int]) -> float:
        return sum(similarity[i][j] for i in x for j in y) / (len(x) * len(y))

    while len(clusters) > 1:
        best, pair = -1.0, (0, 1)
        for i in range(len(clusters)):
            for j in range(i + 1, len(clusters)):
                value = linkage(clusters[i], clusters[j])
                if value > best:
                    best, pair = value, (i, j)
        if best < _MERGE_THRESHOLD and len(clusters) <= max_clusters:
            break
        i, j = pair
        clusters[i] = clusters[i] + clusters[j]
        del clusters[j]
    return clusters
