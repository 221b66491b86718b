"""What a reader notices in a summary that ROUGE does not: a sentence that points back to
something the summary never said, a short late detail that fills the budget, a person named
by surname alone. Counted for any system's summaries, ours, Lead-3 and the published ones, so
that `digest eval summaries` prints the rates beside ROUGE.

- **dangling**: a sentence opening on a pronoun, demonstrative or connective
  (`readability.pointing_back`) as the summary's first sentence, or, when it is the article's
  own sentence, anywhere but right after the article sentence it follows.
- **filler**: a sentence after the first, of at most 15 words, taken from past the article's
  fifth sentence, whose words are less shared with the rest of the article than those of
  half the article's sentences: a short, late, peripheral detail.
- **names**: a person named by surname alone where the article gives the full name
  (`names.unintroduced`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from digest.summarize.names import unintroduced
from digest.summarize.readability import pointing_back
from digest.summarize.sentences import text_sentences
from digest.terms import content_stems

FILLER_WORDS = 15
FILLER_FROM_SENTENCE = 5
# A summary sentence is "from" an article sentence when this share of its words is there.
_ALIGNED = 0.6


@dataclass(frozen=True)
class Problems:
    """Counts of summaries with each problem, out of `count` summaries."""

    dangling: int
    filler: int
    names: int
    count: int

    def __add__(self, other: Problems) -> Problems:
        return Problems(
            self.dangling + other.dangling,
            self.filler + other.filler,
            self.names + other.names,
            self.count + other.count,
        )

    def rate(self, kind: str) -> float:
        value: int = getattr(self, kind)
        return value / self.count if self.count else 0.0

    def percent(self, kind: str) -> str:
        return f"{100 * self.rate(kind):.1f}%"


def readability_problems(article: str, summary: str) -> Problems:
    """Which of the three problems one summary of `article` has (each 0 or 1), for one
    summary."""
    summary_sentences = text_sentences(summary)
    article_stems = _sentence_stems(article)
    aligned = [_source(sentence, article_stems) for sentence in summary_sentences]
    dangling = any(
        _dangles(position, sentence, aligned) for position, sentence in enumerate(summary_sentences)
    )
    recurring = _recurring_shares(article_stems)
    median = sorted(recurring)[len(recurring) // 2] if recurring else 0.0
    filler = any(
        position > 0
        and len(sentence.split()) <= FILLER_WORDS
        and (source := aligned[position]) is not None
        and source >= FILLER_FROM_SENTENCE
        and recurring[source] < median
        for position, sentence in enumerate(summary_sentences)
    )
    names = bool(unintroduced(summary_sentences, article))
    return Problems(int(dangling), int(filler), int(names), 1)


def _dangles(position: int, sentence: str, aligned: list[int | None]) -> bool:
    if pointing_back(sentence) is None:
        return False
    if position == 0:
        return True
    source = aligned[position]
    if source is None:
        # Not the article's sentence: a writer put it after the one before, on purpose.
        return False
    return aligned[position - 1] != source - 1


@lru_cache(maxsize=512)
def _sentence_stems(article: str) -> tuple[frozenset[str], ...]:
    """The content stems of each of the article's sentences: split and stemmed once, however
    many summaries of it are measured (every system's, every setting a benchmark tries)."""
    return tuple(frozenset(content_stems(sentence)) for sentence in text_sentences(article))


def _source(sentence: str, article_stems: Sequence[frozenset[str]]) -> int | None:
    """The article sentence that `sentence` comes from, if most of its words are there."""
    stems = set(content_stems(sentence))
    if not stems:
        return None
    best, best_share = None, 0.0
    for index, candidate in enumerate(article_stems):
        share = len(stems & candidate) / len(stems)
        if share > best_share:
            best, best_share = index, share
    return best if best_share >= _ALIGNED else None


def _recurring_shares(stem_sets: Sequence[frozenset[str]]) -> list[float]:
    """For each sentence, the share of its content words that other sentences use too."""
    documents: dict[str, int] = {}
    for stems in stem_sets:
        for stem in stems:
            documents[stem] = documents.get(stem, 0) + 1
    return [
        sum(1 for stem in stems if documents[stem] > 1) / len(stems) if stems else 0.0
        for stems in stem_sets
    ]
