"""Which untagged articles belong together: a similarity between every two articles, and groups
made only of articles that are really alike (a threshold, never a quota).

The default similarity is pure Python and offline: TF-IDF over the whole text, weighted toward
the headline and lead, with sublinear term counts and unit-length vectors, plus the names
(capitalised phrases) the articles mention. `digest.embeddings` offers a sentence-embedding
similarity as an optional extra; both plug into the same threshold clustering.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from digest.articles import Article, strip_attribution, without_byline_or_dateline
from digest.summarize.sentences import paragraphs
from digest.terms import STOP_WORDS, content_stems, without_possessive

Vector = dict[str, float]
Matrix = list[list[float]]
Similarity = Callable[[Sequence[Article]], Matrix]

_NAME = re.compile(r"(?<![\w.])[A-Z][\w’'-]*[\w](?:\s+(?:of\s+)?[A-Z][\w’'-]*[\w])*")


@dataclass(frozen=True)
class TfidfWeights:
    """How much each part of an article counts, and which features are used: chosen on the
    tuning half of the BBC set (benchmarks/bench_themes.py)."""

    headline: float = 2.0
    lead: float = 1.0
    body: float = 1.0
    lead_words: int = 60
    body_words: int = 400
    bigrams: float = 0.5
    names: float = 0.0
    # A term only one article uses tells nothing about what goes together, and only shrinks
    # that article's other similarities: left out.
    min_articles: int = 2


DEFAULT_WEIGHTS = TfidfWeights()
# Two groups are merged when their average-link similarity reaches BASE + SMALL / sqrt(a * b)
# for groups of a and b articles: a pair of articles must be clearly alike, while an average
# over many pairs is steadier and may be lower (TF-IDF cosine, the weights above).
TFIDF_THRESHOLD = 0.09
TFIDF_SMALL = 0.06


def article_parts(article: Article, lead_words: int, body_words: int) -> tuple[str, str, str]:
    """Headline, lead (the first paragraph, at most lead_words) and the rest of the body."""
    text = without_byline_or_dateline(article.text).strip()
    blocks = paragraphs(text)
    first = blocks[0].split() if blocks else []
    lead = first[:lead_words]
    rest = first[lead_words:] + [w for p in blocks[1:] for w in p.split()]
    return strip_attribution(article.title), " ".join(lead), " ".join(rest[:body_words])


def names(text: str) -> list[str]:
    """Capitalised phrases not opening a sentence ("Gordon Brown", "Bank of England"),
    lower-cased: names of people, places, organisations and events."""
    found = []
    for match in _NAME.finditer(text):
        start = match.start()
        before = text[:start].rstrip()
        if not before or before[-1] in ".!?:\"“'‘\n":
            continue
        words = [without_possessive(w) for w in match.group().split()]
        if all(w.lower() in STOP_WORDS for w in words):
            continue
        found.append(" ".join(words).lower())
    return found


def tfidf_vectors(
    articles: Sequence[Article], weights: TfidfWeights = DEFAULT_WEIGHTS
) -> list[Vector]:
    """Unit-length TF-IDF vectors, the IDF taken over these articles (what sets them apart
    from each other is what matters), counts damped by 1 + log."""
    documents = [_features(article, weights) for article in articles]
    frequency = Counter(term for document in documents for term in document)
    total = len(documents)
    least = min(weights.min_articles, total)
    vectors = []
    for document in documents:
        vector = {
            term: (1 + math.log(count)) * (math.log((1 + total) / (1 + frequency[term])) + 1)
            for term, count in document.items()
            if frequency[term] >= least
        }
        norm = math.sqrt(sum(value * value for value in vector.values())) or 1.0
        vectors.append({term: value / norm for term, value in vector.items()})
    return vectors


def _features(article: Article, weights: TfidfWeights) -> dict[str, float]:
    headline, lead, body = article_parts(article, weights.lead_words, weights.body_words)
    counts: defaultdict[str, float] = defaultdict(float)
    for text, weight in ((headline, weights.headline), (lead, weights.lead), (body, weights.body)):
        stems = content_stems(text)
        for stem in stems:
            counts[stem] += weight
        if weights.bigrams:
            for first, second in itertools.pairwise(stems):
                counts[f"{first} {second}"] += weight * weights.bigrams
        if weights.names:
            for name in names(text):
                counts[f"@{name}"] += weight * weights.names
    # Weighted counts below 1 would turn negative under 1 + log.
    return {term: max(count, 1.0) for term, count in counts.items()}


def cosine(a: Vector, b: Vector) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(value * b.get(term, 0.0) for term, value in a.items())


def tfidf_similarity(articles: Sequence[Article]) -> Matrix:
    vectors = tfidf_vectors(articles)
    return [[cosine(a, b) for b in vectors] for a in vectors]


def cluster(similarity: Matrix, threshold: float, small: float = 0.0) -> list[list[int]]:
    """Average-link agglomerative clustering that merges two groups only while their mean
    pairwise similarity reaches threshold + small / sqrt(a * b) (a, b: their sizes): unlike
    articles stay apart however many groups that leaves."""
    clusters = [[i] for i in range(len(similarity))]

    def margin(x: list[int], y: list[int]) -> float:
        pairs = len(x) * len(y)
        linkage = sum(similarity[i][j] for i in x for j in y) / pairs
        return linkage - threshold - small / math.sqrt(pairs)

    while len(clusters) > 1:
        best, pair = -math.inf, (0, 1)
        for i in range(len(clusters)):
            for j in range(i + 1, len(clusters)):
                value = margin(clusters[i], clusters[j])
                if value > best:
                    best, pair = value, (i, j)
        if best < 0:
            break
        i, j = pair
        clusters[i] = clusters[i] + clusters[j]
        del clusters[j]
    return clusters


def cohesion(similarity: Matrix, members: Sequence[int]) -> float:
    """Mean similarity between the members of a group: how alike its articles are."""
    pairs = [(i, j) for i in members for j in members if i < j]
    return sum(similarity[i][j] for i, j in pairs) / len(pairs) if pairs else 0.0


@dataclass(frozen=True)
class Grouper:
    """A similarity and the threshold that goes with it."""

    similarity: Similarity
    threshold: float
    small: float = 0.0

    def groups(self, matrix: Matrix) -> list[list[int]]:
        return cluster(matrix, self.threshold, self.small)

    def joins(self, linkage: float, size: int) -> bool:
        """Whether one article this alike to a group of size articles would join it."""
        return linkage >= self.threshold + self.small / math.sqrt(max(size, 1))


TFIDF = Grouper(similarity=tfidf_similarity, threshold=TFIDF_THRESHOLD, small=TFIDF_SMALL)
