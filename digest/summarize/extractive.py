"""The default summariser: picks whole sentences from the article, offline and deterministic.

What it picks is what an editor would: first the sentence that carries the article's news
(early, and about what the rest of the article is about, so a scene-setting lead gives way to
the news after it), then only sentences that add to it and score close to it; a summary stops
short of its word budget rather than fill it with a lower-ranked detail. Every sentence must
read on its own: one that points back ("He said…", "This means…", "But…") is used only right
after the sentence it follows in the article; a person named by surname alone gets the full
name the article gives; boilerplate, captions, questions, fragments and sentences that restate
the headline are never candidates.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from digest.articles import Article, strip_attribution, without_byline_or_dateline
from digest.summarize import Summary
from digest.summarize.names import ArticleNames, completion_note, introduce_people
from digest.summarize.readability import boilerplate, pointing_back
from digest.summarize.sentences import paragraphs, split_sentences
from digest.terms import content_stems

MAX_SENTENCES = 3
# "Details: According to…", "Violent: The video…" — a one or two word label that some sites put
# before a paragraph or a caption.
_LEAD_LABEL = re.compile(r"^[A-Z][a-z]+(?: [a-z]+)?:\s+(?=[A-Z\"“])")
_NOT_CONTENT = re.compile(
    r"^(?:source|sources|photo|image|video|read also|read more|see also|related|update|editor'?s"
    r" note|correction|disclaimer)\b",
    re.I,
)
# A heading over the story's history: "Background:", "Context", "What we know so far".
_BACKGROUND_HEADING = re.compile(
    r"^(?:background|context|history|previously|the story so far|catch up|what happened before)"
    r"\s*:?\s*$",
    re.I,
)
# Page furniture glued to the front of a paragraph by the copy ("Scroll down for video A man…").
_FURNITURE_PREFIX = re.compile(r"^(?:scroll down for (?:video|more)\W*|advertisement\s+)", re.I)
# Asides about pictures the email does not carry: "(pictured)", "(left)", "(pictured above)".
_PICTURE_ASIDE = re.compile(
    r"\s*\((?:pictured|picture|left|right|centre|center|above|below|top|bottom|inset|file)"
    r"(?:[ ,]+(?:left|right|centre|center|above|below|with \w+|in \d{4}))*\)",
    re.I,
)
_CUT_START = re.compile(r"(?:[—–-]\s*)?[a-z][a-z]*(?:[\s,;:.]|$)")
# A list item's bullet: the item is the article's words, the bullet is not.
_BULLET = re.compile(r"^[•·▪◦‣*]\s+")
# Headings, captions and cut-off text end without a full stop: they are not sentences to quote.
_SENTENCE_END = (".", "!", '"', "'", "’", "”", ")")


@dataclass(frozen=True)
class Tuning:
    """The summariser's knobs; the defaults are what measured best on the tuning half of the
    evaluation set (see the README and `benchmarks/bench_summaries.py`)."""

    lead: float = 0.7  # weight of being early in the article
    central: float = 0.3  # weight of using the article's recurring words
    theme: float = 0.3  # weight of touching the newsletter's theme
    decay: float = 0.4  # how fast the lead weight falls with position
    # Centrality is divided by (distinct words) ** this: near 1, a short sentence does not win
    # on a few recurring words ("That's been driving down emissions.").
    length_power: float = 0.8
    keep: float = 0.5  # a later sentence must score at least this share of the first's
    min_words: int = 6  # shorter sentences are fragments, captions, labels
    max_words: int = 50  # longer "sentences" are run-ons of glued text, or too long to quote
    redundancy: float = 0.35  # word overlap above which a sentence repeats a chosen one
    sentences: int = MAX_SENTENCES


@dataclass(frozen=True)
class _Candidate:
    index: int  # position among the article's sentences
    text: str
    words: int
    stems: frozenset[str]
    score: float
    points_back: bool


# One-sentence mode (for one-line digests, and the XSum evaluation): the sentence most central
# to the article, wherever it is; measured better than the lead there (see the README).
ONE_SENTENCE = Tuning(lead=0.2, central=1.0, length_power=0.3, keep=0.0, sentences=1)
# The summary's word budget at which the default is measured against Lead-3.
EVALUATION_WORDS = 84


class ExtractiveSummarizer:
    """Lead-aware, theme-aware sentence extraction whose summaries read on their own."""

    method = "extractive"

    def __init__(self, tuning: Tuning | None = None) -> None:
        self.tuning = tuning or Tuning()

    def summarize(self, article: Article, *, theme: str, max_words: int) -> Summary:
        sentences = article_sentences(article.text)
        chosen = select_sentences(sentences, article.title, theme, max_words, self.tuning)
        if not chosen:
            # Too little text to choose from: the first sentence is still the best summary.
            chosen = [sentences[0] if sentences else " ".join(article.text.split()[:max_words])]
        completed, completions = introduce_people(chosen, ArticleNames(article.text))
        note = completion_note(completions)
        return Summary(text=" ".join(completed), method=self.method, note=note)


def article_sentences(text: str) -> list[str]:
    """The article's sentences in order, with labels, furniture and picture asides taken off
    and paragraphs that are not the article's own words (sources, captions, links) left out."""
    sentences = []
    for paragraph in paragraphs(without_byline_or_dateline(text)):
        if _BACKGROUND_HEADING.match(paragraph):
            break  # what follows is the story's history, not its news
        paragraph = _FURNITURE_PREFIX.sub("", paragraph)
        if not paragraph or _NOT_CONTENT.match(paragraph):
            continue
        for sentence in split_sentences(paragraph):
            cleaned = _LEAD_LABEL.sub("", _BULLET.sub("", sentence))
            if "(" in cleaned:
                cleaned = _PICTURE_ASIDE.sub("", cleaned)
            if cleaned:
                sentences.append(cleaned)
    return sentences


def select_sentences(
    sentences: list[str], title: str, theme: str, max_words: int, tuning: Tuning | None = None
) -> list[str]:
    """Up to three whole sentences within `max_words`, in the article's order: the best one,
    then each next best that scores close to it, adds to what is chosen and reads on its own
    where it stands."""
    tuning = tuning or Tuning()
    candidates = _score(sentences, title, theme, tuning)
    ranked = sorted(candidates, key=lambda c: (-c.score, c.index))
    # Boilerplate is looked for only in what comes up for choosing: the check is the costliest.
    is_boilerplate: dict[int, bool] = {}

    def page_text(candidate: _Candidate) -> bool:
        if candidate.index not in is_boilerplate:
            is_boilerplate[candidate.index] = boilerplate(candidate.text)
        return is_boilerplate[candidate.index]

    picked: list[_Candidate] = []
    total = 0
    while len(picked) < tuning.sentences:
        chosen_indexes = {c.index for c in picked}
        best = next(
            (
                c
                for c in ranked
                if c.index not in chosen_indexes
                and total + c.words <= max_words
                and (not c.points_back or c.index - 1 in chosen_indexes)
                and not any(_overlap(c.stems, o.stems) > tuning.redundancy for o in picked)
                and not page_text(c)
            ),
            None,
        )
        if best is None or (picked and best.score < tuning.keep * picked[0].score):
            break
        picked.append(best)
        total += best.words
    if not picked:
        # No sentence fits the budget: the shortest of the best few that stand on their own.
        standing = [c for c in ranked if not c.points_back and not page_text(c)][:5]
        if standing:
            picked = [min(standing, key=lambda c: (c.words, c.index))]
    return [candidate.text for candidate in sorted(picked, key=lambda c: c.index)]


def _score(sentences: list[str], title: str, theme: str, tuning: Tuning) -> list[_Candidate]:
    headline = set(content_stems(strip_attribution(title)))
    theme_stems = set(content_stems(theme))
    stems_per_sentence = [content_stems(sentence) for sentence in sentences]
    frequency = Counter(stem for stems in stems_per_sentence for stem in set(stems))
    raw: list[tuple[int, str, int, frozenset[str], float, float]] = []
    for index, (sentence, stems) in enumerate(zip(sentences, stems_per_sentence, strict=True)):
        words = len(sentence.split())
        unique = frozenset(stems)
        # Ends as a sentence ends, and begins as one begins: "is among the menu items…" is
        # what is left of a caption ("iPhone sales…" is not).
        complete = sentence.endswith(_SENTENCE_END) and not _CUT_START.match(sentence)
        if not (tuning.min_words <= words <= tuning.max_words and complete and unique):
            continue
        if _repeats_headline(unique, headline):
            continue
        central = sum(frequency[stem] - 1 for stem in unique) / (len(unique) ** tuning.length_power)
        on_theme = len(unique & theme_stems) / (len(theme_stems) or 1)
        raw.append((index, sentence, words, unique, central, on_theme))
    if not raw:
        return []
    top_central = max(item[4] for item in raw) or 1.0
    top_theme = max(item[5] for item in raw) or 1.0
    return [
        _Candidate(
            index=index,
            text=sentence,
            words=words,
            stems=unique,
            score=tuning.lead / (1 + tuning.decay * position)
            + tuning.central * central / top_central
            + tuning.theme * on_theme / top_theme,
            points_back=pointing_back(sentence) is not None,
        )
        for position, (index, sentence, words, unique, central, on_theme) in enumerate(raw)
    ]


def _repeats_headline(stems: frozenset[str], headline: set[str]) -> bool:
    if not headline:
        return False
    # Mostly the headline's words, and little else: it says what the reader has just read.
    covered = len(stems & headline) / len(headline)
    return covered >= 0.6 and len(stems - headline) <= 4


def _overlap(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / (len(a | b) or 1)
