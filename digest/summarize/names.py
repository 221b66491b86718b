"""People named by surname alone: a summary must introduce whoever it names.

An article introduces "Chi Onwurah, the Labour MP for Newcastle Central" and then says
"Onwurah said"; a summary that keeps only the second sentence names someone the reader has
never met. Where the article gives the person's full name, the summary's first mention is
completed with it ("Chi Onwurah said"); what was completed is reported, so the editor sees
where the summary differs from the article's words.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from digest.summarize import COMPLETION_NOTE
from digest.terms import STOP_WORDS

# A capitalised word (with its hyphenated or apostrophised parts: "Al-Douri", "O'Toole"; not
# a possessive "'s").
_NAME_WORD = r"[A-Z][a-z]+(?:[-'’][A-Z]?[a-z]{2,})*"
# A mention: a capitalised word, perhaps after a courtesy title ("Mr Smith", "Dr. Lee").
_MENTION = re.compile(rf"\b(?:(?:Mr|Mrs|Ms|Miss|Dr)\.?\s+)?({_NAME_WORD})\b")
# Overlapping, so that "Scientologist John Travolta" yields "John Travolta" too.
_FULL_NAME = re.compile(rf"(?=\b({_NAME_WORD})\s+(?:[A-Z]\.\s+)?({_NAME_WORD})\b)")
_CAPITALISED_BEFORE = re.compile(r"[A-Z][\w'’.-]*\s+$")
_CAPITALISED_AFTER = re.compile(r"^\s+[A-Z]")
# The given name (and perhaps an initial) just before a surname: "Chi ", "John F. ".
_GIVEN_BEFORE = re.compile(rf"\b({_NAME_WORD})\s+(?:[A-Z]\.\s+)?$")
# After a surname, what makes it part of something longer: "Wall Street Journal", "Smith-Jones".
_FURTHER = re.compile(r"\s+[A-Z]|[-'’]\w")
# Capitalised words that begin a name's run without being a given name: titles and offices,
# words that start sentences, and the first words of places and bodies.
_NOT_GIVEN_NAMES = frozenset(
    """
    mr mrs ms miss dr prof sir dame lord lady president minister secretary senator governor
    mayor judge justice king queen prince princess pope general colonel captain sergeant chief
    officer detective inspector coach manager director chairman chairwoman chancellor premier
    sheriff rep representative speaker leader commander admiral bishop archbishop saint st
    mp mep the a an in on at of for from by with to and or but as if when while after before
    north south east west new old great united royal national state federal city county
    san santa los las el la le de del hong sri costa puerto buenos rio hollywood
    january february march april may june july august september october november december
    monday tuesday wednesday thursday friday saturday sunday
    """.split()  # noqa: SIM905 - a word list reads better as text
)


@dataclass(frozen=True)
class Completion:
    """A surname in the summary and the full name from the article put in its place."""

    surname: str
    full_name: str


class ArticleNames:
    """The full names an article gives its people, looked up surname by surname (a summary
    names a few, so only those are searched for)."""

    def __init__(self, article_text: str) -> None:
        self.text = article_text
        self._found: dict[str, str | None] = {}

    def full_name(self, surname: str) -> str | None:
        """The first full name the article gives for `surname` ("Onwurah" → "Chi Onwurah"), if
        `surname` is a person's: the article also calls them by it alone, it is not an
        ordinary word there ("Islamic State" then "the state"), and the word before it is a
        given name, not a place used on its own too ("Nepal India's")."""
        if surname not in self._found:
            self._found[surname] = self._look_up(surname)
        return self._found[surname]

    def _look_up(self, surname: str) -> str | None:
        # str.find and short look-behinds, not a pattern per surname: patterns would be
        # compiled for each name of each article, and a pass over the whole article per
        # summary costs more than the summary.
        text = self.text
        if surname.lower() in STOP_WORDS or _occurs_as_word(text, surname.lower()):
            return None
        places = _word_places(text, surname)
        mentions = []
        for at in places:
            given = _GIVEN_BEFORE.search(text, max(0, at - 40), at)
            after = text[at + len(surname) : at + len(surname) + 3]
            if given is None or given[1].lower() in _NOT_GIVEN_NAMES or _FURTHER.match(after):
                continue
            mentions.append(_Mention(given[1], given.start(), at + len(surname)))
        if not mentions:
            return None
        alone = len(places) - len(mentions)
        given_alone = len(_word_places(text, mentions[0].given)) - len(mentions)
        introductions = [m for m in mentions if _introduces(text, m)]
        if not introductions or alone < 1 or given_alone > 1:
            return None
        first = introductions[0]
        return " ".join(text[first.start : first.end].split())


@dataclass(frozen=True)
class _Mention:
    given: str
    start: int
    end: int


def _word_places(text: str, word: str) -> list[int]:
    """Where `word` occurs in `text` as a whole word."""
    places = []
    at = text.find(word)
    while at != -1:
        end = at + len(word)
        if (at == 0 or not text[at - 1].isalnum()) and (
            end == len(text) or not text[end].isalnum()
        ):
            places.append(at)
        at = text.find(word, at + 1)
    return places


def _occurs_as_word(text: str, word: str) -> bool:
    return bool(_word_places(text, word))


def _introduces(text: str, mention: _Mention) -> bool:
    """Whether a "Given Surname" in the article reads as a person being introduced: in the
    middle of a sentence after a lower-case word ("said John Smith", "countryman Adam Scott"),
    after a capitalised one that is not a sentence's first ("Scientologist John Travolta" is,
    as a label in "Maverick Tottenham forward" at a caption's start is not), followed by an
    apposition ("Chi Onwurah, the Labour MP", "Michelle Manhart, 38,"), or in the article's
    opening lines, where news introduces its people."""
    start, end = mention.start, mention.end
    if _APPOSITION.match(text, end) or start < _LEAD_CHARACTERS:
        return True
    before = text[max(0, start - 40) : start]
    previous = _PREVIOUS_WORD.search(before)
    if previous is None:
        return False
    if previous[1][0].islower():
        return True
    return _PREVIOUS_WORD.search(before[: previous.start()]) is not None


_LEAD_CHARACTERS = 300
_APPOSITION = re.compile(r",\s+(?:(?:the|a|an|who|whose|aged|one of)\b|\d{1,3},)")
# The word before, within the same sentence (no stop, colon or line break in between).
_PREVIOUS_WORD = re.compile(r"([\w'’-]+)[ ,]*$")


def introduce_people(
    sentences: Sequence[str], names: ArticleNames
) -> tuple[list[str], list[Completion]]:
    """`sentences` with each person's first mention by surname alone (or by courtesy title and
    surname) replaced by the article's full name, and what was replaced. A person the summary
    already names in full is left as written, and so is a capitalised word beside another
    ("Premier League", "Princess Eugenie"), which is a name already."""
    introduced: set[str] = set()
    completed: list[Completion] = []
    shortened: dict[str, str] = {}  # a full name put in earlier → its surname
    result: list[str] = []
    for sentence in sentences:
        # Named in full once already: later the surname does, as the article itself writes.
        for full, surname in shortened.items():
            sentence = sentence.replace(full, surname)
        for match in _FULL_NAME.finditer(sentence):
            if match[1].lower() not in _NOT_GIVEN_NAMES:
                introduced.add(match[2])

        def complete(match: re.Match[str], sentence: str = sentence) -> str:
            surname = match[1]
            if surname in introduced or not _standalone(sentence, match):
                return match[0]
            full = names.full_name(surname)
            if full is None:
                return match[0]
            introduced.add(surname)
            completed.append(Completion(surname=match[0], full_name=full))
            shortened[full] = surname
            return full

        result.append(_MENTION.sub(complete, sentence))
    return result, completed


def _standalone(sentence: str, match: re.Match[str]) -> bool:
    before = sentence[max(0, match.start() - 30) : match.start()]
    after = sentence[match.end() : match.end() + 3]
    return not _CAPITALISED_BEFORE.search(before) and not _CAPITALISED_AFTER.match(after)


def unintroduced(sentences: Sequence[str], article_text: str) -> list[str]:
    """Surnames the summary uses before (or without) the full name the article gives: what
    `introduce_people` would complete. For measuring any system's summaries."""
    _, completed = introduce_people(sentences, ArticleNames(article_text))
    return [completion.surname for completion in completed]


def completion_note(completions: Sequence[Completion]) -> str:
    """The editor's note on what a summary says differently from the article: "“Onwurah” →
    “Chi Onwurah”"."""
    if not completions:
        return ""
    changed = ", ".join(f"“{c.surname}” → “{c.full_name}”" for c in completions)
    return COMPLETION_NOTE + changed
