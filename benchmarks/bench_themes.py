"""How well articles are grouped into sections and headed, against topic labels, beside a
TF-IDF + k-means baseline computed in the same run on the same articles.

Run: .venv/bin/python benchmarks/bench_themes.py [--compare [--vectors FILE.json]]
     [--embeddings MODEL_FOLDER]   (a static model made by `digest themes-model`)

Two labelled sets from ../shared/data:

- BBC News (themes/bbc-dev.jsonl, five topics): seeded editions of 20 untagged articles from
  4 and 5 topics, drawn apart from each half of the set (split by a hash of each article's id:
  "tuning", where the method's settings were chosen, and "other", held out). For each half:
  mean adjusted Rand index (ARI) of digest's sections and of k-means (k = the edition's number
  of topics); the share of sections mostly (>= 75%) one topic; any section over half the
  edition spanning more than two topics; the share of sections whose heading's every word is
  in at least 60% of their articles; the time to group 20 articles.
- CNN / Daily Mail (summaries/dev.jsonl): the articles whose URL names a topical section,
  merged into six topics, grouped all at once.

--compare scores the representations tried (TF-IDF variants; with --vectors, sentence
embeddings precomputed by benchmarks/embed_bbc.py, alone and combined with TF-IDF; with
--embeddings, the extra's static model alone and mixed) on both halves.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from digest.articles import Article
from digest.evaluate import half_of, load_examples
from digest.grouping import (
    DEFAULT_WEIGHTS,
    TFIDF,
    Grouper,
    Matrix,
    TfidfWeights,
    cosine,
    tfidf_vectors,
)
from digest.summarize.sentences import text_sentences
from digest.terms import content_stems
from digest.themes import BRIEF_TITLE, TOP_TITLE, plan_sections

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
BBC = SHARED / "themes" / "bbc-dev.jsonl"
CNNDM = SHARED / "summaries" / "dev.jsonl"
EDITIONS_PER_SIZE = 12  # of 4 topics and of 5 topics: 24 editions per half
EDITION_SIZE = 20
MAX_SECTIONS = 6
TOPICS = {
    "sport": "sport",
    "femail": "lifestyle",
    "entertainment": "entertainment",
    "tvshowbiz": "entertainment",
    "sciencetech": "science and health",
    "health": "science and health",
    "travel": "travel",
    "asia": "world and politics",
    "us": "world and politics",
    "world": "world and politics",
    "politics": "world and politics",
}


@dataclass(frozen=True)
class Labelled:
    id: str
    topic: str
    article: Article


def bbc(path: Path = BBC) -> list[Labelled]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [
        Labelled(r["id"], r["topic"], Article(id=n, title=r["title"], text=r["text"]))
        for n, r in enumerate(rows, 1)
    ]


def editions(pool: Sequence[Labelled], seed: int) -> list[list[Labelled]]:
    """EDITIONS_PER_SIZE editions of EDITION_SIZE articles from 4 topics, as many from 5."""
    rng = random.Random(seed)
    topics = sorted({item.topic for item in pool})
    made = []
    for count in (4, 5):
        for _ in range(EDITIONS_PER_SIZE):
            chosen = rng.sample(topics, count)
            candidates = [item for item in pool if item.topic in chosen]
            while True:
                edition = rng.sample(candidates, EDITION_SIZE)
                if len({item.topic for item in edition}) == count:
                    break
            made.append(edition)
    return made


def ari(truth: Sequence[str], found: Sequence[object]) -> float:
    from sklearn.metrics import adjusted_rand_score

    return float(adjusted_rand_score(list(truth), [str(f) for f in found]))


def kmeans_labels(edition: Sequence[Labelled], k: int) -> list[int]:
    from sklearn.cluster import KMeans
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = [f"{i.article.title} {i.article.text}" for i in edition]
    matrix = TfidfVectorizer(stop_words="english", sublinear_tf=True).fit_transform(texts)
    return [int(x) for x in KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(matrix)]


@dataclass
class Scores:
    ari: list[float]
    ari_brief_one: list[float]
    baseline: list[float]
    sections: int = 0
    pure: int = 0
    wide_catch_all: int = 0
    headed: int = 0
    named: int = 0
    brief: int = 0
    articles: int = 0

    def line(self, name: str) -> str:
        return (
            f"{name}: ARI {statistics.mean(self.ari):.3f} (In brief as one section "
            f"{statistics.mean(self.ari_brief_one):.3f}) vs k-means "
            f"{statistics.mean(self.baseline):.3f}; sections mostly one topic "
            f"{self.pure}/{self.sections} ({self.pure / max(self.sections, 1):.0%}); "
            f"over half the edition and > 2 topics: {self.wide_catch_all}; heading words in "
            f">= 60% of articles {self.headed}/{self.sections} "
            f"({self.headed / max(self.sections, 1):.0%}); a name or a phrase "
            f"{self.named}/{self.sections} ({self.named / max(self.sections, 1):.0%}); in brief "
            f"{self.brief / max(self.articles, 1):.0%} of articles"
        )


def heading_shared(title: str, articles: Sequence[Article]) -> bool:
    """Every content word of the heading (by stem) is in at least 60% of the articles."""
    words = set(content_stems(title))
    if not words:
        return False
    texts = [set(content_stems(f"{a.title} {a.text}")) for a in articles]
    return all(sum(w in t for t in texts) >= 0.6 * len(texts) for w in words)


_MID_CLAUSE = re.compile(r"(?<=[\w,’'] )([^\W\d_][\w’'-]*)")


def name_or_phrase(title: str, articles: Sequence[Article]) -> bool:
    """The heading is a phrase of two or more content words ("Air Defence", "Bank of England"),
    or one word the articles write with a capital mid-sentence more often than without (a
    name: "Blair", "EU"): not a lone common word ("Game", "Market"). Judged on capitalisation
    in the articles' own text, no word list."""
    words = content_stems(title)
    if len(words) != 1:
        return len(words) > 1
    capital = lower = 0
    for article in articles:
        for match in _MID_CLAUSE.finditer(f"{article.title}. {article.text}"):
            word = match.group(1)
            if content_stems(word) == words:
                capital += word[:1].isupper()
                lower += not word[:1].isupper()
    return capital > lower


def score(
    runs: Sequence[Sequence[Labelled]], grouper: Grouper, shown: list[str] | None = None
) -> tuple[Scores, list[float]]:
    result = Scores(ari=[], ari_brief_one=[], baseline=[])
    timings = []
    for number, edition in enumerate(runs):
        articles = [item.article for item in edition]
        topic = {id(item.article): item.topic for item in edition}
        start = time.perf_counter()
        groups = plan_sections(articles, theme="news", max_sections=MAX_SECTIONS, grouper=grouper)
        timings.append(time.perf_counter() - start)
        where: dict[int, str] = {}
        where_one: dict[int, str] = {}
        for n, group in enumerate(groups):
            brief = group.title in (BRIEF_TITLE, TOP_TITLE) and len(groups) > 1
            for a in group.articles:
                where[id(a)] = f"brief-{a.id}" if brief else str(n)
                where_one[id(a)] = str(n)
            if brief:
                result.brief += len(group.articles)
                continue
            topics = Counter(topic[id(a)] for a in group.articles)
            result.sections += 1
            result.pure += topics.most_common(1)[0][1] >= 0.75 * len(group.articles)
            result.headed += heading_shared(group.title, group.articles)
            result.named += name_or_phrase(group.title, group.articles)
            if len(group.articles) > len(articles) / 2 and len(topics) > 2:
                result.wide_catch_all += 1
        result.articles += len(articles)
        truth = [item.topic for item in edition]
        result.ari.append(ari(truth, [where[id(a)] for a in articles]))
        result.ari_brief_one.append(ari(truth, [where_one[id(a)] for a in articles]))
        result.baseline.append(ari(truth, kmeans_labels(edition, len({i.topic for i in edition}))))
        if shown is not None and number < 3:
            shown.append(f"edition {number + 1} ({len(set(truth))} topics):")
            for group in groups:
                topics = Counter(topic[id(a)] for a in group.articles)
                mix = ", ".join(f"{n} {t}" for t, n in topics.most_common())
                shown.append(f"  {group.title!r}: {len(group.articles)} articles ({mix})")
    return result, timings


def precomputed(path: Path, ids: dict[int, str]) -> Grouper:
    vectors: dict[str, list[float]] = json.loads(path.read_text(encoding="utf-8"))

    def similarity(articles: Sequence[Article]) -> Matrix:
        rows = [vectors[ids[a.id or 0]] for a in articles]
        return [[sum(x * y for x, y in zip(a, b, strict=True)) for b in rows] for a in rows]

    return Grouper(similarity=similarity, threshold=0.3)


def tfidf_grouper(weights: TfidfWeights, threshold: float, small: float) -> Grouper:
    def similarity(articles: Sequence[Article]) -> Matrix:
        vectors = tfidf_vectors(articles, weights)
        return [[cosine(a, b) for b in vectors] for a in vectors]

    return Grouper(similarity=similarity, threshold=threshold, small=small)


def mixed(first: Grouper, second: Grouper, share: float, threshold: float, small: float) -> Grouper:
    def similarity(articles: Sequence[Article]) -> Matrix:
        a, b = first.similarity(articles), second.similarity(articles)
        return [
            [share * x + (1 - share) * y for x, y in zip(ra, rb, strict=True)]
            for ra, rb in zip(a, b, strict=True)
        ]

    return Grouper(similarity=similarity, threshold=threshold, small=small)


def compare(
    halves: dict[str, list[list[Labelled]]],
    vectors: Path | None,
    ids: dict[int, str],
    static: str | None = None,
):
    shipped = TfidfWeights(headline=3, lead=1, body=0, lead_words=150, bigrams=0, min_articles=1)
    words = replace(DEFAULT_WEIGHTS, bigrams=0)
    variants: dict[str, Grouper] = {
        "headline + lead (as shipped), t = 0.05": tfidf_grouper(shipped, 0.05, 0),
        "whole text, all words, t = 0.04": tfidf_grouper(replace(words, min_articles=1), 0.04, 0),
        "whole text, shared words, t = 0.12": tfidf_grouper(words, 0.12, 0),
        "whole text, shared words, t = 0.10 + 0.04/sqrt(ab)": tfidf_grouper(words, 0.10, 0.04),
        "+ names, t = 0.10 + 0.04/sqrt(ab)": tfidf_grouper(replace(words, names=0.3), 0.10, 0.04),
        "+ bigrams (the default), t = 0.09 + 0.06/sqrt(ab)": TFIDF,
    }
    if vectors is not None:
        embedded = precomputed(vectors, ids)
        for t, small in ((0.12, 0.05), (0.15, 0.05), (0.18, 0.05)):
            variants[f"embeddings ({vectors.name}), t = {t} + {small}/sqrt(ab)"] = replace(
                embedded, threshold=t, small=small
            )
        variants["embeddings + TF-IDF (half each), t = 0.12 + 0.05/sqrt(ab)"] = mixed(
            embedded, TFIDF, 0.5, 0.12, 0.05
        )
    if static is not None:
        from digest.embeddings import embedding_grouper, embedding_similarity

        variants["static model alone (edition mean removed), t = 0.04 + 0.05/sqrt(ab)"] = Grouper(
            lambda articles: embedding_similarity(articles, static), 0.04, 0.05
        )
        variants["half static model, half TF-IDF (the extra), t = 0.09 + 0.05/sqrt(ab)"] = (
            embedding_grouper(static)
        )
    print(
        "| representation | tuning: ARI | k-means | mostly one topic "
        "| other: ARI | k-means | mostly one topic |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, grouper in variants.items():
        cells = []
        for half in ("tuning", "other"):
            result, _ = score(halves[half], grouper)
            cells.append(
                f"{statistics.mean(result.ari):.3f} | {statistics.mean(result.baseline):.3f} | "
                f"{result.pure / max(result.sections, 1):.0%}"
            )
        print(f"| {name} | {' | '.join(cells)} |", flush=True)


def cnndm(grouper: Grouper, path: Path = CNNDM) -> None:
    urls = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        urls[record["id"]] = record.get("url", "")
    articles, labels = [], []
    for index, example in enumerate(load_examples(path, "cnndm")):
        url = urls[example.id]
        parts = re.sub(r"^https?://web\.archive\.org/web/[^/]+/", "", url).split("/")
        section = parts[6] if "cnn.com" in url and len(parts) > 6 else parts[3]
        topic = TOPICS.get(section)
        if topic is None:
            continue
        first = text_sentences(example.article)[0]
        articles.append(Article(id=index + 1, title=first[:300], text=example.article))
        labels.append(topic)
    topics = sorted(set(labels))
    print(
        f"CNN/DM: {len(articles)} articles, {len(topics)} topics: "
        + ", ".join(f"{t} ({labels.count(t)})" for t in topics)
    )
    # One "edition" of 58 articles: room for as many sections as a newsletter may have.
    start = time.perf_counter()
    groups = plan_sections(articles, theme="news", max_sections=12, grouper=grouper)
    seconds = time.perf_counter() - start
    found = {id(a): str(n) for n, g in enumerate(groups) for a in g.articles}
    one = ari(labels, [found[id(a)] for a in articles])
    for a in groups[-1].articles if groups[-1].title == BRIEF_TITLE else []:
        found[id(a)] = f"brief-{a.id}"
    print(
        f"digest themes: ARI {ari(labels, [found[id(a)] for a in articles]):.3f} "
        f"(In brief as one section {one:.3f}; {len(groups)} sections, {seconds * 1000:.0f} ms)"
    )
    for group in groups:
        members = [labels[articles.index(a)] for a in group.articles]
        top = max(set(members), key=members.count)
        print(f"  {group.title!r}: {len(members)} articles, {members.count(top)} {top}")
    from sklearn.cluster import KMeans
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = [f"{a.title} {a.text}" for a in articles]
    matrix = TfidfVectorizer(stop_words="english", sublinear_tf=True).fit_transform(texts)
    runs = [
        ari(labels, KMeans(n_clusters=len(topics), n_init=10, random_state=s).fit_predict(matrix))
        for s in range(5)
    ]
    print(
        f"TF-IDF + k-means (k={len(topics)}): ARI {statistics.mean(runs):.3f} "
        f"(mean of 5 seeds, min {min(runs):.3f}, max {max(runs):.3f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--compare", action="store_true")
    parser.add_argument("--vectors", type=Path)
    parser.add_argument(
        "--embeddings", help="group with the embeddings extra and this static model folder"
    )
    options = parser.parse_args()
    items = bbc()
    ids = {item.article.id or 0: item.id for item in items}
    halves = {
        half: editions([i for i in items if half_of(i.id) == half], seed=12)
        for half in ("tuning", "other")
    }
    if options.compare:
        compare(halves, options.vectors, ids, options.embeddings)
        return
    grouper = TFIDF
    name = "digest (TF-IDF, the default)"
    if options.embeddings:
        start = time.perf_counter()
        from digest.embeddings import _model, embedding_grouper

        _model(options.embeddings)
        print(
            f"embeddings extra: model2vec imported and the model loaded in "
            f"{(time.perf_counter() - start) * 1000:.0f} ms (once per process)"
        )
        grouper = embedding_grouper(options.embeddings)
        name = "digest (embeddings extra)"
    print(
        f"BBC News: {len(items)} articles; per half {len(halves['tuning'])} editions of "
        f"{EDITION_SIZE} (half of 4 topics, half of 5), max_sections = {MAX_SECTIONS}"
    )
    for half in ("tuning", "other"):
        shown: list[str] = []
        result, timings = score(halves[half], grouper, shown)
        label = "tuning half" if half == "tuning" else "held-out half"
        print(f"{label}: {result.line(name)}")
        print(
            f"  grouping 20 articles (sections and headings): median "
            f"{statistics.median(timings) * 1000:.0f} ms, max {max(timings) * 1000:.0f} ms"
        )
        print("\n".join(shown))
    cnndm(grouper)


if __name__ == "__main__":
    main()
