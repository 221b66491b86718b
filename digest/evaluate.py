"""Measuring summaries: ROUGE against reference summaries, beside Lead-3 and, where the data
set carries them, published systems' outputs for the same articles.

ROUGE-1, ROUGE-2 and ROUGE-L (summary level, sentences on separate lines) F1 with stemming,
computed by the `rouge-score` package, as the published figures are.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from digest.articles import Article
from digest.errors import DigestError
from digest.evaluate_readability import Problems, readability_problems
from digest.summarize import Summarizer
from digest.summarize.sentences import text_sentences


@dataclass(frozen=True)
class Example:
    id: str
    article: str
    reference: str
    dataset: str = ""
    systems: dict[str, str] = field(default_factory=dict)


@dataclass
class Score:
    name: str
    rouge1: float
    rouge2: float
    rougeL: float
    rougeLsum: float
    words: float
    per_second: float | None
    count: int
    problems: Problems = field(default_factory=lambda: Problems(0, 0, 0, 0))

    def row(self) -> str:
        speed = f"{self.per_second:,.0f}" if self.per_second else "-"
        return (
            f"| {self.name} | {self.rouge1:.2f} | {self.rouge2:.2f} | {self.rougeL:.2f} | "
            f"{self.rougeLsum:.2f} | {self.words:.1f} | {self.problems.percent('dangling')} | "
            f"{self.problems.percent('filler')} | {self.problems.percent('names')} | {speed} |"
        )


TABLE_HEADER = (
    "| system | R-1 | R-2 | R-L | R-Lsum | words | dangling | filler | names | articles/s |\n"
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
)


def load_examples(path: Path, dataset: str | None = None) -> list[Example]:
    examples = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise DigestError(f"{path}: {error.strerror or error}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            example = Example(
                id=str(record["id"]),
                article=str(record["article"]),
                reference=str(record["reference"]),
                dataset=str(record.get("dataset", "")),
                systems={k: str(v) for k, v in (record.get("systems") or {}).items()},
            )
        except (ValueError, KeyError, TypeError) as error:
            raise DigestError(
                f"{path}:{number}: not an {{id, article, reference}} record ({error})"
            ) from None
        if dataset is None or example.dataset == dataset:
            examples.append(example)
    if not examples:
        raise DigestError(f"{path}: no examples" + (f" of dataset {dataset!r}" if dataset else ""))
    return examples


def lead(text: str, count: int = 3) -> str:
    return " ".join(text_sentences(text)[:count])


def half_of(example_id: str) -> str:
    """Which half of an evaluation set an article is in, "tuning" or "other", by a hash of its
    id: tuning on one half and reporting the other keeps the figures about unseen articles."""
    digest = hashlib.sha256(example_id.encode()).digest()
    return "tuning" if digest[0] % 2 == 0 else "other"


@dataclass(frozen=True)
class _PairScore:
    rouge: dict[str, float]
    words: int
    problems: Problems


class ScoreCache:
    """Scores of summaries against references, each (article, summary) pair computed once:
    a search over settings meets the same summaries again and again."""

    def __init__(self) -> None:
        from rouge_score import rouge_scorer

        self._scorer = rouge_scorer.RougeScorer(_MEASURES, use_stemmer=True)
        self._pairs: dict[tuple[str, str], _PairScore] = {}

    def pair(self, example: Example, summary: str) -> _PairScore:
        key = (example.id, summary)
        if key not in self._pairs:
            result = self._scorer.score(_lines(example.reference), _lines(summary))
            self._pairs[key] = _PairScore(
                rouge={measure: result[measure].fmeasure for measure in _MEASURES},
                words=len(summary.split()),
                problems=readability_problems(example.article, summary),
            )
        return self._pairs[key]

    def score(
        self,
        name: str,
        examples: list[Example],
        summaries: list[str],
        seconds: float | None = None,
    ) -> Score:
        pairs = [self.pair(e, s) for e, s in zip(examples, summaries, strict=True)]
        count = len(pairs)
        problems = Problems(0, 0, 0, 0)
        for item in pairs:
            problems = problems + item.problems

        def mean(measure: str) -> float:
            return 100 * sum(item.rouge[measure] for item in pairs) / count

        return Score(
            name=name,
            rouge1=mean("rouge1"),
            rouge2=mean("rouge2"),
            rougeL=mean("rougeL"),
            rougeLsum=mean("rougeLsum"),
            words=sum(item.words for item in pairs) / count,
            per_second=count / seconds if seconds else None,
            count=count,
            problems=problems,
        )


_MEASURES = ("rouge1", "rouge2", "rougeL", "rougeLsum")


def score(
    name: str, examples: list[Example], summaries: list[str], seconds: float | None = None
) -> Score:
    return ScoreCache().score(name, examples, summaries, seconds)


def _lines(text: str) -> str:
    """One sentence a line, as ROUGE-Lsum wants."""
    return "\n".join(text_sentences(text)) or text


def run_summarizer(
    summarize: Callable[[Article], str], examples: Iterable[Example]
) -> tuple[list[str], float]:
    """Summaries of every example and the seconds it took."""
    articles = [Article(title=_title(e.article), text=e.article) for e in examples]
    start = time.perf_counter()
    summaries = [summarize(article) for article in articles]
    return summaries, time.perf_counter() - start


def _title(text: str) -> str:
    # The data sets have no headlines; none is better than a made-up one, so the first words
    # stand in, and the summariser's "do not repeat the headline" rule rarely fires.
    return " ".join(text.split()[:6]) or "untitled"


def evaluate(
    examples: list[Example],
    summarizers: dict[str, Summarizer],
    theme: str,
    max_words: int,
    sentences: int | None = None,
) -> tuple[list[Score], dict[str, list[str]]]:
    """Scores of Lead-3, each summariser and the published systems, and each summariser's
    outputs (for --out)."""
    lead_summaries, lead_seconds = run_summarizer(lambda a: lead(a.text), examples)
    scores = [score("Lead-3", examples, lead_summaries, lead_seconds)]
    outputs: dict[str, list[str]] = {}
    for name, summarizer in summarizers.items():

        def summarize(article: Article, s: Summarizer = summarizer) -> str:
            return s.summarize(article, theme=theme, max_words=max_words).text

        produced, seconds = run_summarizer(summarize, examples)
        outputs[name] = produced
        scores.append(score(name, examples, produced, seconds))
    published = sorted({name for e in examples for name in e.systems})
    for name in published:
        with_output = [e for e in examples if e.systems.get(name)]
        if len(with_output) == len(examples):
            scores.append(
                score(f"{name} (published)", examples, [e.systems[name] for e in examples])
            )
    return scores, outputs
