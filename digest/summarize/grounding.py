"""Whether each sentence of a summary is supported by the article it summarises: the guard an
LLM's summary passes before it is used.

A sentence is supported when its content words are found in one or two sentences of the
article (its support) and the relations between them are too: two content words that stand
side by side in one clause of the summary must stand near each other in one sentence of the
article. Content words alone would let a model splice two facts into a false third: "falling
debris destroyed a mobile fire group" takes every word from an article that says mobile fire
groups shoot drones down and debris damaged a house, but "destroyed" and "mobile" are never
near each other there. A negation in the summary ("did not", "never") needs one in its support.

Words are compared by stem, with the forms of a place's name made one ("Ukrainian",
"Ukraine's" and "Ukraine"; "Russian" and "Russia"; "British" and "Britain"), so that a
summary may say "Ukrainian forces" of an article's "Ukraine's forces".

The thresholds were calibrated by `benchmarks/bench_grounding.py` on the CNN/DM and XSum
development articles (README, "LLM summaries").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

from digest.summarize.sentences import text_sentences
from digest.terms import content_words, stem

# Calibrated (benchmarks/bench_grounding.py): at least this share of a sentence's content
# words in its support, and no pair of neighbouring content words apart in the article.
MIN_COVERAGE = 1.0
MAX_BROKEN_PAIRS = 0
# How far apart (in content words) two words may stand in an article sentence and still be
# related as they are in the summary.
WINDOW = 10
# Whether the two words must stand in the same order in the article.
ORDERED = True

# Clause boundaries inside a summary sentence: two neighbouring words across one of these need
# not be related ("Allies pledged batteries, and Kyiv asked for more").
_CLAUSE = re.compile(
    r"[,;:()—–]|\s-\s|\b(?:and|but|while|whereas|which|who|whom|whose|after|before|as|because"
    r"|when|where|although|though|since|until|if|said|says|say|told|according)\b",
    re.I,
)
_NEGATION = re.compile(r"\b(?:not|no|never|nobody|none|nothing|neither|nor)\b|n[’']t\b", re.I)

# Names of places and peoples whose forms do not share a stem.
_NAME_FORMS = {
    form: key
    for key, forms in {
        "britain": "britain british briton britons uk",
        "france": "france french",
        "netherlands": "netherlands dutch",
        "switzerland": "switzerland swiss",
        "greece": "greece greek greeks",
        "wales": "wales welsh",
        "scotland": "scotland scottish scots",
        "ireland": "ireland irish",
        "england": "england english",
        "spain": "spain spanish spaniard spaniards",
        "poland": "poland polish",
        "denmark": "denmark danish danes",
        "sweden": "sweden swedish swedes",
        "finland": "finland finnish finns",
        "norway": "norway norwegian norwegians",
        "turkey": "turkey turkish turks",
        "germany": "germany german germans",
        "china": "china chinese",
        "japan": "japan japanese",
        "vietnam": "vietnam vietnamese",
        "portugal": "portugal portuguese",
        "taiwan": "taiwan taiwanese",
        "lebanon": "lebanon lebanese",
        "belgium": "belgium belgian belgians",
        "hungary": "hungary hungarian hungarians",
        "philippines": "philippines filipino filipinos",
        "thailand": "thailand thai",
        "israel": "israel israeli israelis",
        "pakistan": "pakistan pakistani pakistanis",
        "iraq": "iraq iraqi iraqis",
        "afghanistan": "afghanistan afghan afghans",
        "yemen": "yemen yemeni yemenis",
        "kuwait": "kuwait kuwaiti kuwaitis",
        "bangladesh": "bangladesh bangladeshi bangladeshis",
        "usa": "america american americans usa",
    }.items()
    for form in forms.split()
}
# Endings that make a people or an adjective of a place: Ukraine → Ukrainian, Russia → Russian,
# Europe → European, Korea → Korean, Syria → Syrian, Egypt → Egyptian.
_DEMONYM_ENDINGS = ("ians", "eans", "ans", "ian", "ean", "an", "ia", "a", "e", "i")


@lru_cache(maxsize=65536)
def word_key(token: str) -> str:
    """The form a content word is compared in: its stem, a place's name and its people's made
    one."""
    if token in _NAME_FORMS:
        return _NAME_FORMS[token]
    key = stem(token)
    for ending in _DEMONYM_ENDINGS:
        if key.endswith(ending) and len(key) - len(ending) >= 4:
            return key[: -len(ending)]
    return key


def content_keys(text: str) -> list[str]:
    """The content words of `text` in order, each as its `word_key`."""
    return [word_key(t) for t in content_words(text)]


def _content_words(text: str) -> list[tuple[str, str]]:
    """(word, key) for each content word of `text`, in order."""
    return [(t, word_key(t)) for t in content_words(text)]


@dataclass(frozen=True)
class Grounding:
    """How one summary sentence is supported by the article."""

    sentence: str
    support: tuple[str, ...]  # the one or two article sentences that support it best
    coverage: float  # the share of its content words found in the support
    missing: tuple[str, ...]  # its content words not in the support
    broken: tuple[tuple[str, str], ...]  # neighbouring words never near each other there
    negation_unsupported: bool

    @property
    def grounded(self) -> bool:
        return (
            self.coverage >= MIN_COVERAGE
            and len(self.broken) <= MAX_BROKEN_PAIRS
            and not self.negation_unsupported
        )

    def reason(self) -> str:
        """Why the sentence is not grounded, in an editor's words ("" when it is)."""
        parts = []
        if self.coverage < MIN_COVERAGE:
            parts.append(f"{', '.join(self.missing[:3])} not in the sentences it draws on")
        if len(self.broken) > MAX_BROKEN_PAIRS:
            first, second = self.broken[0]
            parts.append(f"“{first}” and “{second}” do not go together in any sentence of it")
        if self.negation_unsupported:
            parts.append("a negation the article does not make")
        return "; ".join(parts)


class ArticleIndex:
    """The article's sentences with their content words, ready for aligning summaries."""

    def __init__(self, text: str, *, title: str = "") -> None:
        sentences = text_sentences(text)
        if title.strip():
            sentences.insert(0, " ".join(title.split()))
        self.sentences = sentences
        self.keys = [content_keys(s) for s in sentences]
        self.sets = [frozenset(k) for k in self.keys]
        self.everywhere: frozenset[str] = frozenset().union(*self.sets)  # every word it uses
        self.negated = [bool(_NEGATION.search(s)) for s in sentences]
        # Where each word stands in each sentence, for the relation check.
        self.positions: list[dict[str, list[int]]] = []
        for keys in self.keys:
            where: dict[str, list[int]] = {}
            for index, key in enumerate(keys):
                where.setdefault(key, []).append(index)
            self.positions.append(where)

    def related(
        self, first: str, second: str, window: int = WINDOW, ordered: bool = ORDERED
    ) -> bool:
        """Whether `first` and `second` stand within `window` content words of each other in
        one article sentence (`first` before `second` if `ordered`)."""
        for where in self.positions:
            a, b = where.get(first), where.get(second)
            if a and b:
                for i in a:
                    for j in b:
                        if (0 < j - i <= window) if ordered else abs(i - j) <= window:
                            return True
        return False

    def ground(self, sentence: str, *, window: int = WINDOW, ordered: bool = ORDERED) -> Grounding:
        words = _content_words(sentence)
        said: dict[str, str] = {}  # each key as the summary first wrote it
        for word, key in words:
            said.setdefault(key, word)
        wanted = set(said)
        best = self._support(wanted)
        found = set().union(*(self.sets[i] for i in best)) if best else set()
        missing = tuple(said[k] for k in said if k not in found)
        coverage = 1.0 if not wanted else (len(wanted) - len(missing)) / len(wanted)
        broken: list[tuple[str, str]] = []
        for part in _CLAUSE.split(sentence):
            # A word the article lacks counts against coverage; its neighbours on either side
            # must still be related ("debris [destroyed] a mobile fire group").
            clause = [(w, k) for w, k in _content_words(part) if k in self.everywhere]
            for (word, first), (next_word, second) in pairwise(clause):
                if first != second and not self.related(first, second, window, ordered):
                    broken.append((word, next_word))
        negation = bool(_NEGATION.search(sentence)) and not any(self.negated[i] for i in best)
        return Grounding(
            sentence=sentence,
            support=tuple(self.sentences[i] for i in best),
            coverage=coverage,
            missing=missing,
            broken=tuple(broken),
            negation_unsupported=negation,
        )

    def _support(self, wanted: set[str]) -> list[int]:
        """The one article sentence, or pair of them, that holds most of `wanted`."""
        if not wanted or not self.sets:
            return []
        overlaps = [len(wanted & s) for s in self.sets]
        first = max(range(len(overlaps)), key=lambda i: (overlaps[i], -i))
        rest = wanted - self.sets[first]
        if not rest:
            return [first]
        gains = [len(rest & s) if i != first else 0 for i, s in enumerate(self.sets)]
        second = max(range(len(gains)), key=lambda i: (gains[i], -i))
        return [first, second] if gains[second] else [first]


def ungrounded(summary: str, article: str, *, title: str = "") -> list[Grounding]:
    """The sentences of `summary` that the article does not support (none: all grounded)."""
    index = ArticleIndex(article, title=title)
    return [g for s in text_sentences(summary) if not (g := index.ground(s)).grounded]
