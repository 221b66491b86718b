"""Content words and their stems: the vocabulary that summaries and themes compare on."""

from __future__ import annotations

import re
from functools import lru_cache

import snowballstemmer

_TOKEN = re.compile(r"[^\W_]+(?:[’'.,-][^\W_]+)*", re.UNICODE)
_POSSESSIVES = ("'s", "’s")
_STEMMER = snowballstemmer.stemmer("english")

STOP_WORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself yourselves
    said says say told according one two three new may might must shall us mr mrs ms dr also
    however year years week weeks day days time including since last first second news per cent
    percent many much well even still back like make made get got going go went come came take
    took think ago around across several another every often already within without among amid
    via yet scroll click video videos picture pictures photo photos image images read share
    daily mail cnn updated published january february march april june july august
    september october november december monday tuesday wednesday thursday friday saturday sunday
    """.split()  # noqa: SIM905 - a word list reads better as text
)


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    return str(_STEMMER.stemWord(word))


def without_possessive(word: str) -> str:
    """ "Britain's" → "Britain": endswith, not a regex, as this runs for every word."""
    return word[:-2] if word[-2:].lower() in _POSSESSIVES else word


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens, keeping numbers like 100,000 and names like U.S. whole."""
    # endswith, not the regex: this runs for every word of every article.
    return [
        token[:-2] if token.endswith(_POSSESSIVES) else token
        for token in _TOKEN.findall(text.lower())
    ]


def content_words(text: str) -> list[str]:
    """The words that carry meaning, lower-cased, in order (no stop words, no single letters)."""
    return [token for token in tokens(text) if token not in STOP_WORDS and len(token) > 1]


def content_stems(text: str) -> list[str]:
    """Stems of the words that carry meaning (no stop words, no single letters)."""
    # The filter of content_words written out: this runs for every sentence of every article,
    # and one list is cheaper than two.
    return [stem(token) for token in tokens(text) if token not in STOP_WORDS and len(token) > 1]
