"""Summary quality on the evaluation set: ROUGE of every extractive variant tried, the chosen
default, Lead-3 and the published systems, on the CNN/DM and XSum parts of the dev split.

Run: .venv/bin/python benchmarks/bench_summaries.py   (reads ../shared/data/summaries/dev.jsonl)
"""

from __future__ import annotations

import sys
from pathlib import Path

from digest.articles import Article
from digest.evaluate import TABLE_HEADER, evaluate, lead, load_examples, run_summarizer, score
from digest.summarize import Summarizer, Summary
from digest.summarize.extractive import EVALUATION_WORDS, ONE_SENTENCE, ExtractiveSummarizer, Tuning

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "summaries" / "dev.jsonl"


class _Budget:
    """A variant with its own word budget."""

    def __init__(self, tuning: Tuning, words: int) -> None:
        self.inner = ExtractiveSummarizer(tuning)
        self.words = words
        self.method = "extractive"

    def summarize(self, article: Article, *, theme: str, max_words: int) -> Summary:
        return self.inner.summarize(article, theme=theme, max_words=self.words)


FIRST = Tuning(lead=0.45, central=0.35, theme=0.2, decay=0.4, max_words=70, redundancy=0.5)
VARIANTS: dict[str, Summarizer] = {
    "v0: first version (lead .45, centrality .35, 75 words)": _Budget(FIRST, 75),
    "v1: lead only": _Budget(Tuning(lead=1.0, central=0.0, decay=0.5), 75),
    "v2: centrality only (TF, no lead)": _Budget(Tuning(lead=0.0, central=1.0), 75),
    "v3: lead .7, centrality .3, decay .8": _Budget(Tuning(max_words=70, redundancy=0.5), 75),
    "v4: v3 + budget 84 words": _Budget(Tuning(max_words=70, redundancy=0.5), 84),
    "v5: v4 + sentences of at most 50 words + MMR-style redundancy .35 (default)": _Budget(
        Tuning(), EVALUATION_WORDS
    ),
    "one-sentence mode (centrality, 1 sentence)": _Budget(ONE_SENTENCE, 40),
}


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DATA
    for part in ("cnndm", "xsum"):
        examples = load_examples(path, part)
        scores, _ = evaluate(examples, VARIANTS, theme="news", max_words=EVALUATION_WORDS)
        print(f"\n{part}: {len(examples)} articles")
        print(TABLE_HEADER)
        lead_one = score("Lead-1", examples, *run_summarizer(lambda a: lead(a.text, 1), examples))
        for row in [scores[0], lead_one, *scores[1:]]:
            print(row.row())


if __name__ == "__main__":
    main()
