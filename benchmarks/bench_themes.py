"""How well articles are grouped into sections: adjusted Rand index against topic labels, beside
a TF-IDF + k-means baseline computed in the same run.

Run: .venv/bin/python benchmarks/bench_themes.py   (reads ../shared/data/summaries/dev.jsonl)

The labelled set: the CNN / Daily Mail articles of the dev split whose URL names a topical
section, labelled by that section and merged into six topics (below). Daily Mail's catch-all
"news" section names no topic and is left out. Titles are not in the data: each article's first
sentence stands in for its headline.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

from digest.articles import Article
from digest.evaluate import load_examples, sentences_of
from digest.themes import plan_sections

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "summaries" / "dev.jsonl"
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


def section(url: str) -> str:
    path = re.sub(r"^https?://web\.archive\.org/web/[^/]+/", "", url).split("/")
    # cnn.com/2015/04/30/entertainment/… ; dailymail.co.uk/sport/…
    return path[6] if "cnn.com" in url and len(path) > 6 else path[3]


def labelled(path: Path) -> tuple[list[Article], list[str]]:
    articles, labels = [], []
    for index, example in enumerate(load_examples(path, "cnndm")):
        topic = TOPICS.get(section(_url(path, example.id)))
        if topic is None:
            continue
        first = sentences_of(example.article)[0]
        articles.append(Article(id=index + 1, title=first[:300], text=example.article))
        labels.append(topic)
    return articles, labels


_URLS: dict[str, str] = {}


def _url(path: Path, example_id: str) -> str:
    if not _URLS:
        import json

        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            _URLS[record["id"]] = record.get("url", "")
    return _URLS[example_id]


def main() -> None:
    from sklearn.cluster import KMeans
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics import adjusted_rand_score

    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DATA
    articles, labels = labelled(path)
    topics = sorted(set(labels))
    print(
        f"{len(articles)} articles, {len(topics)} topics: "
        + ", ".join(f"{t} ({labels.count(t)})" for t in topics)
    )
    start = time.perf_counter()
    groups = plan_sections(articles, theme="news", max_sections=len(topics))
    seconds = time.perf_counter() - start
    found = {id(a): n for n, g in enumerate(groups) for a in g.articles}
    ours = [found[id(a)] for a in articles]
    print(
        f"digest themes: ARI {adjusted_rand_score(labels, ours):.3f} "
        f"({len(groups)} sections, {seconds * 1000:.0f} ms)"
    )
    for group in groups:
        members = [labels[articles.index(a)] for a in group.articles]
        top = max(set(members), key=members.count)
        print(f"  {group.title!r}: {len(members)} articles, {members.count(top)} {top}")
    texts = [f"{a.title} {a.text}" for a in articles]
    matrix = TfidfVectorizer(stop_words="english", sublinear_tf=True).fit_transform(texts)
    runs = [
        adjusted_rand_score(
            labels, KMeans(n_clusters=len(topics), n_init=10, random_state=seed).fit_predict(matrix)
        )
        for seed in range(5)
    ]
    print(
        f"TF-IDF + k-means (k={len(topics)}): ARI {sum(runs) / len(runs):.3f} "
        f"(mean of 5 seeds, min {min(runs):.3f}, max {max(runs):.3f})"
    )


if __name__ == "__main__":
    main()
