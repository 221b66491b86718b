"""How often two reports of one event are merged, and how often two different stories are.

Run: .venv/bin/python benchmarks/bench_duplicates.py [--seed 7]

- Different stories (BBC News, themes/bbc-dev.jsonl): every two of its 1094 articles, each
  pair that shares enough names and numbers scored inside an edition of 20 (the pair and 18
  others at random). Every merged pair is printed with its headlines, to be judged: the set
  holds a few copies and near-copies of one story (its exact copies are marked).
- Reports of one event: the careful and select-all copies of each page in ../shared/data/pasted
  (not two sources, but the same text read through two kinds of chrome), and each BBC article
  against a trimmed report of it: its own lead sentence as headline, every other sentence of
  the rest (how another outlet runs shortened agency copy).
"""

from __future__ import annotations

import argparse
import json
import random
import re
from itertools import combinations
from pathlib import Path

from digest.articles import Article, normalised_text
from digest.duplicates import (
    NEAR_COPY,
    SAME_EVENT,
    SHARED_FIGURES,
    WHOLE_TEXT,
    event_scores,
    same_event,
)
from digest.grouping import cosine, tfidf_vectors
from digest.intake.pasted import parse_pasted

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
_FIRST_LOOK = 0.2
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"“])")


def bbc() -> list[tuple[str, Article]]:
    path = DATA / "themes" / "bbc-dev.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [
        (r["topic"], Article(id=n, title=r["title"], text=r["text"])) for n, r in enumerate(rows)
    ]


def trimmed(article: Article) -> Article:
    sentences = _SENTENCE.split(" ".join(article.text.split()))
    rest = sentences[1::2] or sentences
    return Article(title=sentences[0][:300], text=" ".join(rest), source="Other Wire")


def pasted_pairs() -> list[tuple[Article, Article]]:
    folder = DATA / "pasted"
    pairs = []
    for careful in sorted(folder.glob("*.careful.txt")):
        other = careful.with_name(careful.name.replace(".careful.", ".select-all."))
        if not other.exists():
            continue
        try:
            a, b = (parse_pasted(p.read_text(encoding="utf-8")) for p in (careful, other))
        except ValueError:
            continue
        pairs.append((Article(title=a.title, text=a.text), Article(title=b.title, text=b.text)))
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=7)
    options = parser.parse_args()
    rng = random.Random(options.seed)
    labelled = bbc()

    # Every two articles of the set: those that could qualify (figures in common, or many words) are
    # scored inside an edition of 20 (the pair and 18 others drawn at random), as a build
    # scores them.
    articles = [a for _, a in labelled]

    # A cheap first look: the cosine with the IDF of the whole set, far below the threshold.
    corpus = tfidf_vectors(articles, WHOLE_TEXT)
    pairs = candidates = 0
    merged: list[tuple[float, str, str, bool]] = []
    for i, j in combinations(range(len(articles)), 2):
        pairs += 1
        if cosine(corpus[i], corpus[j]) < _FIRST_LOOK:
            continue
        candidates += 1
        others = [a for k, a in enumerate(rng.sample(articles, 20)) if k not in (i, j)][:18]
        score = event_scores([articles[i], articles[j], *others])[0][1]
        if same_event(*score):
            copy = normalised_text(articles[i].text) == normalised_text(articles[j].text)
            merged.append((score[0], articles[i].title, articles[j].title, copy))
    print(
        f"threshold: cosine >= {SAME_EVENT} with {SHARED_FIGURES} figures in common, "
        f"or cosine >= {NEAR_COPY}"
    )
    print(
        f"BBC, all {pairs} pairs of {len(articles)} articles: {candidates} scored, "
        f"{len(merged)} merged ({sum(m[3] for m in merged)} of them exact copies):"
    )
    for cos, a, b, copy in sorted(merged, reverse=True):
        print(f"  {cos:.3f}{' (copy)' if copy else ''}: {a!r} / {b!r}")

    found = 0
    lowest = 1.0
    for pair in pasted_pairs():
        cos, shared = event_scores(list(pair))[0][1]
        lowest = min(lowest, cos)
        found += same_event(cos, shared)
    print(
        f"pasted pages, careful vs select-all: {found} of {len(pasted_pairs())} merged "
        f"(lowest cosine {lowest:.3f})"
    )

    sample = rng.sample([a for _, a in labelled], 300)
    found = 0
    cosines = []
    for article in sample:
        # Inside an edition of 20, so the IDF is an edition's.
        others = rng.sample([a for _, a in labelled if a is not article], 18)
        edition = [article, trimmed(article), *others]
        score = event_scores(edition)[0][1]
        cosines.append(score[0])
        found += same_event(*score)
    cosines.sort()
    print(
        f"BBC article vs a trimmed report of it, in an edition of 20: {found} of 300 merged "
        f"(cosine 5th percentile {cosines[15]:.3f}, median {cosines[150]:.3f})"
    )


if __name__ == "__main__":
    main()
