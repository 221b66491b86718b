"""Speed of the core pipeline on this machine: summaries per second for 50 articles of about
800 words, the time to build and to render an edition of 20 articles, and `digest --help`.

Run: .venv/bin/python benchmarks/bench_pipeline.py   (targets: >= 100 articles/s, render of
20 articles < 100 ms, --help < 300 ms). Articles are real news texts from ../shared/data,
lengthened to about 800 words each.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from digest.articles import Article
from digest.edition import Edition, build_draft
from digest.render import render_edition
from digest.summarize.extractive import ExtractiveSummarizer
from digest.themes import plan_sections

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "summaries" / "dev.jsonl"
THEME = "Russia's war in Ukraine and its allies"
TARGET_WORDS = 800


def load_articles(count: int) -> list[Article]:
    records = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]
    articles = []
    for index, record in enumerate(records[:count]):
        paragraphs = record["article"].split(". ")
        text = record["article"]
        follow = 1
        while len(text.split()) < TARGET_WORDS:
            # Lengthen with the next records' text so that word counts match the target.
            text += "\n\n" + records[(index + follow) % len(records)]["article"]
            follow += 1
        words = text.split()[:TARGET_WORDS]
        title = " ".join(paragraphs[0].split()[:10])
        articles.append(
            Article(
                id=index + 1,
                title=title,
                text=" ".join(words) + ".",
                url=f"https://news.example.org/{index}",
                source="Example",
            )
        )
    return articles


def best_of(runs: int, action: Callable[[], object]) -> float:
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        timings.append(time.perf_counter() - start)
    return min(timings)


def main() -> None:
    from tests.conftest import make_newsletter

    articles = load_articles(50)
    words = statistics.mean(a.word_count for a in articles)
    summarizer = ExtractiveSummarizer()
    summarizer.summarize(articles[0], theme=THEME, max_words=60)  # warm caches and imports

    def summarise_all() -> None:
        for article in articles:
            summarizer.summarize(article, theme=THEME, max_words=60)

    seconds = best_of(3, summarise_all)
    print(f"articles: {len(articles)}, mean {words:.0f} words")
    print(f"summaries: {len(articles) / seconds:.0f} articles/s ({seconds * 1000:.0f} ms for 50)")

    newsletter = make_newsletter()
    twenty = articles[:20]
    grouping = best_of(3, lambda: plan_sections(twenty, theme=THEME, max_sections=4))
    print(f"grouping 20 articles into sections: {grouping * 1000:.1f} ms")

    def build() -> Edition:
        return build_draft(
            twenty,
            newsletter="brief",
            theme=THEME,
            number=1,
            issue_date=date(2026, 11, 24),
            summarizer=summarizer,
            max_sections=4,
            summary_words=60,
        )

    build_seconds = best_of(3, build)
    edition = build()
    render_edition(edition, newsletter)  # compile templates once, as a running process would
    render_seconds = best_of(5, lambda: render_edition(edition, newsletter))
    email = render_edition(edition, newsletter)
    print(f"build (summaries + sections + subject) of 20 articles: {build_seconds * 1000:.1f} ms")
    print(
        f"render of 20 articles (MJML + HTML + text + lint): {render_seconds * 1000:.1f} ms, "
        f"HTML {email.size / 1024:.1f} KB"
    )

    digest = str(Path(sys.executable).parent / "digest")
    subprocess.run([digest, "--help"], capture_output=True, check=True)
    help_seconds = best_of(
        5, lambda: subprocess.run([digest, "--help"], capture_output=True, check=True)
    )
    print(f"digest --help: {help_seconds * 1000:.0f} ms")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
