"""Section headings that name what most of a section's articles share.

A heading is a short phrase (a name such as "North Korea" or "Bank of England", a word pair
such as "shadow fleet", or one word) found in most of the section's articles and in few of
the edition's others: class-based document frequency, the group against the rest. Some forms
never name a section: contractions ("We've"), time words ("GMT"), numbers, words of the
newsletter's theme, and phrases that only one article uses.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

from digest.articles import Article, strip_attribution, without_byline_or_dateline
from digest.terms import STOP_WORDS, content_stems, stem, without_possessive

# Hyphens split: "air-defence" counts as "air defence".
_WORD = re.compile(r"[^\W_]+(?:[’'.][^\W_]+)*")
# Clause ends: a phrase never spans them.
_CLAUSE = re.compile(r"[.;:!?()\[\]\"“”]+(?=\s|$)|,(?=\s)|\s[–—-]\s|\n+")
_CONTRACTION = re.compile(r"(?:n[’']t|[’'](?:ve|m|re|ll|d|t))$", re.IGNORECASE)
TIME_WORDS = frozenset(
    """
    gmt bst utc cet est edt pst pdt am pm today tonight yesterday tomorrow morning afternoon
    evening night nights hour hours minute minutes month months weekend weekends season
    seasons decade decades date dates jan feb mar apr jun jul aug sep sept oct nov dec
    """.split()  # noqa: SIM905 - a word list reads better as text
)
# Words that are everywhere in news and name no subject.
_VAGUE = frozenset(
    """
    people told want wants wanted need needs make makes making set sets use used using way
    ways part parts plan plans number numbers group groups deal deals move moves end top big
    high low good bad best better biggest former next end top chief head added believe
    believes expected likely major key latest recent future past early late lot lots thing
    things something really need able place side sides issue issues case cases point points
    call calls look looks run runs give gives show shows help helps keep kept left right
    common important previous include includes see seen live name names great negative
    ahead return start chance absence rose rise boost sir lord stand win won lose lost hit
    popular dated message today own real full whole long short small large few less least known
    general local national international public private free open close hard easy new old
    different similar certain clear possible
    """.split()  # noqa: SIM905
)
# Nouns that name no topic on their own, whatever the section (see _generic).
_GENERIC = frozenset(
    """
    game games play match matches victory defeat win side team player players star stars ball
    market markets firm firms company companies state states rate rates ban research book
    books term terms artist artists scientist scientists official officials country
    countries government minister ministers chancellor world year week day time report
    reports figure figures operator operators computer computers result results series
    talks plan firms chief boss leader leaders title titles record records sales price
    prices cost costs money system systems service services work worker workers job jobs
    """.split()  # noqa: SIM905
)
_NUMBER_WORDS = frozenset(
    """
    one two three four five six seven eight nine ten eleven twelve twenty hundred thousand
    million billion first second third fourth fifth sixth seventh eighth ninth tenth half dozen
    """.split()  # noqa: SIM905
)
_PAIR_CANDIDATES = 12
_SMALL = frozenset({"of", "the", "and", "in", "on", "for", "to", "a", "an", "at"})
_BRIDGES = frozenset({"of", "of the"})
_MAX_WORDS = 3
_MOSTLY = 0.6
_BODY_WORDS = 400


class _Token(NamedTuple):
    # A named tuple: one is made for every word of every article's lead, and a frozen
    # dataclass costs several times as much to make.
    surface: str
    stem: str
    usable: bool  # may be part of a heading
    capital: bool
    opens: bool  # first word of its clause: a capital there says nothing


@dataclass
class _Phrases:
    """The phrases of one article: keyed by their stems, with the forms they were written in."""

    keys: set[tuple[str, ...]] = field(default_factory=set)
    mentions: Counter[tuple[str, ...]] = field(default_factory=Counter)
    in_headline: set[tuple[str, ...]] = field(default_factory=set)
    forms: dict[tuple[str, ...], Counter[str]] = field(default_factory=dict)


def rejected(phrase: str, theme: str = "") -> bool:
    """True for forms that never head a section: a contraction, a time word, a number, a stop
    word, or a word of the newsletter's theme."""
    words = phrase.split()
    if not words:
        return True
    theme_stems = set(content_stems(theme))
    usable = [w for w in words if w.lower() not in _SMALL]
    if not usable or any(not _usable(w) for w in usable):
        return True
    return of_theme([stem(without_possessive(w.lower())) for w in usable], theme_stems)


def of_theme(stems: Sequence[str], theme_stems: set[str]) -> bool:
    """A word of the theme, or one made from it ("Ukrainian" in a theme naming Ukraine):
    a stem that begins with a theme stem of five letters or more."""
    return any(
        s in theme_stems or any(len(t) >= 5 and s.startswith(t) for t in theme_stems) for s in stems
    )


@lru_cache(maxsize=65536)
def _usable(word: str) -> bool:
    lower = word.lower()
    return not (
        (lower in STOP_WORDS and not (word[:1].isupper() and lower in _NAME_OPENERS))
        or lower in TIME_WORDS
        or len(lower) < 2
        or any(c.isdigit() for c in lower)
        or _CONTRACTION.search(lower)
        or (lower.endswith("ly") and not word[:1].isupper())
    )


def _tokens(text: str) -> list[_Token]:
    found = []
    for clause in _CLAUSE.split(text):
        opens = True
        for match in _WORD.finditer(clause):
            word = match.group()
            bare = without_possessive(word)
            lower = bare.lower()
            found.append(
                _Token(
                    surface=bare,
                    stem=stem(lower),
                    usable=_usable(bare),
                    capital=bare[:1].isupper(),
                    opens=opens,
                )
            )
            opens = False
        found.append(_Token(surface="", stem="", usable=False, capital=False, opens=True))
    return found


def _article_phrases(article: Article) -> _Phrases:
    phrases = _Phrases()
    headline = strip_attribution(article.title)
    body = " ".join(without_byline_or_dateline(article.text).split()[:_BODY_WORDS])
    for text, is_headline in ((headline, True), (body, False)):
        tokens = _tokens(text)
        for start, token in enumerate(tokens):
            if not token.usable:
                continue
            stems: list[str] = []
            surface: list[str] = []
            position = start
            while position < len(tokens) and len(stems) < _MAX_WORDS:
                current = tokens[position]
                if not current.usable:
                    bridge = _bridge(tokens, position, surface)
                    if bridge is None:
                        break
                    surface.extend(tokens[i].surface for i in range(position, bridge))
                    position = bridge
                    continue
                stems.append(current.stem)
                surface.append(current.surface)
                key = tuple(stems)
                phrases.keys.add(key)
                phrases.mentions[key] += 1
                if is_headline:
                    phrases.in_headline.add(key)
                written = _display_case(surface, token.opens)
                phrases.forms.setdefault(key, Counter())[written] += 1
                position += 1
    return phrases


def _bridge(tokens: Sequence[_Token], position: int, surface: list[str]) -> int | None:
    """Where a name goes on after "of" or "of the" ("Bank of England"), or None."""
    if not surface or not surface[-1][:1].isupper():
        return None
    for length in (1, 2):
        words = " ".join(t.surface.lower() for t in tokens[position : position + length])
        after = position + length
        if (
            words in _BRIDGES
            and after < len(tokens)
            and tokens[after].usable
            and tokens[after].capital
        ):
            return after
    return None


def _display_case(surface: list[str], opens: bool) -> str:
    # A capital that only opens a clause is not a name: "Clash set to…" is "clash".
    if opens and len(surface) >= 1 and surface[0][1:].islower():
        return " ".join([surface[0].lower(), *surface[1:]])
    return " ".join(surface)


def title_case(phrase: str) -> str:
    """ "shadow fleet" → "Shadow Fleet", "bank of England" → "Bank of England"; words written
    with capitals inside ("BBC", "iPod") are kept as they are."""
    words = phrase.split()
    out = []
    for position, word in enumerate(words):
        if (
            any(c.isupper() for c in word[1:])
            or (word[:1].isupper() and position > 0)
            or (position > 0 and word in _SMALL)
        ):
            out.append(word)
        else:
            out.append(word[:1].upper() + word[1:])
    return " ".join(out)


@dataclass(frozen=True)
class _Choice:
    key: tuple[str, ...]
    score: tuple[float, ...]


@dataclass(frozen=True)
class HeadingWeights:
    """How much a name or a noun phrase is preferred to a lone common word: chosen on the
    tuning half of the BBC set (benchmarks/bench_themes.py)."""

    name: float = 0.5
    phrase: float = 0.5


DEFAULT_HEADING_WEIGHTS = HeadingWeights()


def name_sections(
    groups: Sequence[Sequence[Article]],
    theme: str,
    needs_name: Sequence[bool],
    weights: HeadingWeights = DEFAULT_HEADING_WEIGHTS,
) -> list[str]:
    """A heading for each group that needs one ("" for the others): the phrase most of its
    articles share and the rest of the edition uses least, a name or a noun phrase before a
    lone common word; two phrases ("Ports and Shadow Fleet") when no one phrase is shared by
    most articles but two together are used by all."""
    theme_stems = set(content_stems(theme))
    per_article = [[_article_phrases(a) for a in group] for group in groups]
    known = {k for group in per_article for p in group for k in p.keys}
    for group in per_article:
        for phrases in group:
            _count_demonyms_as_places(phrases, known)
    totals = Counter(k for group in per_article for p in group for k in p.keys)
    everyone = sum(len(group) for group in groups)
    used: set[tuple[str, ...]] = set()
    headings = []
    for position, group in enumerate(per_article):
        if not needs_name[position]:
            headings.append("")
            continue
        inside = Counter(k for p in group for k in p.keys)
        headline = Counter(k for p in group for k in p.in_headline)
        mentions: Counter[tuple[str, ...]] = Counter()
        for p in group:
            mentions.update(p.mentions)
        size, others = len(group), max(everyone - len(group), 1)
        before_names = _before_names(group)
        choices = []
        names: dict[tuple[str, ...], bool] = {}
        nouns: set[tuple[str, ...]] = set()  # names and noun phrases
        for key, count in inside.items():
            if count < min(2, size) or key in used or of_theme(key, theme_stems):
                continue
            form = _form(group, key)
            words = [w for w in form.split() if w not in _SMALL]
            name = form[:1].isupper()
            names[key] = all(w[:1].isupper() for w in words)
            if len(key) == 1 and _lone_word_says_nothing(form, name):
                continue
            if len(key) == 1 and before_names[key[0]] >= 0.75 * mentions[key]:
                continue  # "David": a first name of different people, not what they share
            if len(key) == 1 and names[key]:
                # Articles that use the name as the heading writes it, give or take a plural:
                # "customers" shares the stem of "Customs" but is not about them.
                count = sum(_writes(p, key, form) for p in group)
                if count < min(2, size):
                    continue
            # A noun phrase: two or more words, none a vague verb or adjective.
            phrase = len(key) > 1 and not any(_vague(w) for w in words if not w[:1].isupper())
            if names[key] or phrase:
                nouns.add(key)
            share = count / size
            outside = (totals[key] - count) / others
            # What the articles keep coming back to, what sets them apart from the rest of
            # the edition, named in their headlines; a name or a phrase says more than a word.
            repeated = 1 + 0.5 * math.log(max(mentions[key], count) / count)
            value = (1.5 * share - outside) * repeated + 0.2 * headline[key] / size
            value += weights.name * names[key] + weights.phrase * phrase
            score = (float(share >= _MOSTLY), value)
            choices.append(_Choice(key=key, score=score))
        if not choices:
            headings.append(strip_attribution(groups[position][0].title)[:60])
            continue
        choices.sort(key=lambda c: (c.score, -len(" ".join(c.key)), c.key), reverse=True)
        best = _whole_name(choices[0], choices, inside, mentions, names)
        pair = None if best.score[0] else _two_phrases(choices, group, nouns)
        if pair is not None:
            used.update(c.key for c in pair)
            headings.append(" and ".join(title_case(_form(group, c.key)) for c in pair))
            continue
        used.add(best.key)
        headings.append(title_case(_form(group, best.key)))
    return headings


def _two_phrases(
    choices: Sequence[_Choice], group: Sequence[_Phrases], nouns: set[tuple[str, ...]]
) -> tuple[_Choice, _Choice] | None:
    """The best two names or noun phrases that together are used by every article of the
    group, each by at least two and neither part of the other, in the order they score; None
    if there are none (a lone common word, "Almost", never makes half of a pair)."""
    every = frozenset(range(len(group)))
    top = [c for c in choices if c.key in nouns][:_PAIR_CANDIDATES]
    users = {c.key: frozenset(i for i, p in enumerate(group) if c.key in p.keys) for c in top}
    found: tuple[float, _Choice, _Choice] | None = None
    for i, first in enumerate(top):
        for second in top[i + 1 :]:
            if users[first.key] | users[second.key] != every or set(first.key) & set(second.key):
                continue
            value = first.score[-1] + second.score[-1]
            if found is None or value > found[0]:
                found = (value, first, second)
    return None if found is None else (found[1], found[2])


def _whole_name(
    best: _Choice,
    choices: Sequence[_Choice],
    inside: Counter[tuple[str, ...]],
    mentions: Counter[tuple[str, ...]],
    names: dict[tuple[str, ...], bool],
) -> _Choice:
    """The longest phrase around the best word that as many articles use, most times they
    use the word: "Michael Howard" rather than "Howard", "North Korea" rather than "North"."""
    wider = [
        c
        for c in choices
        if inside[c.key] == inside[best.key]
        and _within(best.key, c.key)
        and (mentions[c.key] >= 0.6 * mentions[best.key] or (names[c.key] and names[best.key]))
    ]
    return max(wider, key=lambda c: (len(c.key), mentions[c.key], c.score), default=best)


def _within(short: tuple[str, ...], long: tuple[str, ...]) -> bool:
    return any(long[i : i + len(short)] == short for i in range(len(long) - len(short) + 1))


def _vague(word: str) -> bool:
    """A word that names no subject: a common verb or adjective, most -ing and -ed forms."""
    lower = word.lower()
    return stem(lower) in _VAGUE_STEMS or lower.endswith(("ing", "ed", "ous", "ful", "ive"))


_VAGUE_STEMS = frozenset(stem(w) for w in _VAGUE)


# Stop words that open names when capitalised: "New York", "New Zealand", "New Labour".
_NAME_OPENERS = frozenset({"new"})


def _before_names(group: Sequence[_Phrases]) -> Counter[str]:
    """For each word, how often the group writes it just before a capitalised word ("David"
    in "David Blunkett"): a word seldom written without one is the first part of names."""
    found: Counter[str] = Counter()
    for phrases in group:
        for key, forms in phrases.forms.items():
            if len(key) == 2:
                found[key[0]] += sum(n for f, n in forms.items() if f.split()[-1][:1].isupper())
    return found


def _writes(phrases: _Phrases, key: tuple[str, ...], form: str) -> bool:
    """Whether the article writes the one-word name as form, its plural or its singular."""
    wanted = form.casefold()
    variants = {wanted, f"{wanted}s", wanted.removesuffix("s")}
    return any(f.casefold() in variants for f in phrases.forms.get(key, {}))


def _lone_word_says_nothing(form: str, name: bool) -> bool:
    """A word that alone heads nothing: a number written out ("Six", though "Six Nations" may),
    a vague or generic word, even capitalised ("International", "Known"), unless it is an
    acronym ("BBC") or a name that is no such word ("Blair")."""
    if form.isupper() and len(form) > 1:
        return False
    if form.lower() in _NAME_OPENERS:
        return True
    return form.lower() in _NUMBER_WORDS or _vague(form) or (not name and _generic(form))


def _generic(word: str) -> bool:
    """A noun that is everywhere in its kind of news and alone names no topic ("Game",
    "Market", "Research"): it may be part of a phrase ("Stock Market"), never the heading."""
    return stem(word.lower()) in _GENERIC_STEMS


_GENERIC_STEMS = frozenset(stem(w) for w in _GENERIC)


def _form(group: Sequence[_Phrases], key: tuple[str, ...]) -> str:
    """The way the group writes the phrase most often, a name's capitals kept."""
    forms: Counter[str] = Counter()
    for phrases in group:
        forms.update(phrases.forms.get(key, {}))
    capitalised = [f for f in forms if f[:1].isupper()]
    lower = [f for f in forms if not f[:1].isupper()]
    if capitalised and sum(forms[f] for f in capitalised) >= sum(forms[f] for f in lower):
        return max(capitalised, key=lambda f: (forms[f], f))
    return max(forms, key=lambda f: (forms[f], f))


def _count_demonyms_as_places(phrases: _Phrases, known: set[tuple[str, ...]]) -> None:
    """Let "North Korean troops" count for "North Korea" when the place is named elsewhere, so
    that sections are headed by the place rather than the adjective."""
    for key in list(phrases.keys):
        if key[-1].endswith("an"):
            place = (*key[:-1], key[-1][:-1])
            if place in known:
                phrases.keys.add(place)
                phrases.mentions[place] += phrases.mentions[key]
                written = phrases.forms.setdefault(place, Counter())
                for form, count in phrases.forms.get(key, Counter()).items():
                    written[form[:-1]] += count
