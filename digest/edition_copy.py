"""The edition's own words: a subject line, preheader and intro written from what the edition
leads with and what its sections hold, and the words of hand-written ones that no longer match
the edition (for the lint).

Everything here works from an outline (section titles and their headlines, lead first), so it
is deterministic and offline, and the same outline always gives the same words: a copy equal
to the one built from the edition as it stands is the machine's, any other is the editor's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations
from typing import TYPE_CHECKING

from digest.articles import strip_attribution
from digest.terms import content_stems, tokens
from digest.themes import BRIEF_TITLE, TOP_TITLE

if TYPE_CHECKING:
    from digest.edition import Edition, Section

SUBJECT_LIMIT = 78
PREHEADER_LIMIT = 140
# The lead's headline in the intro: past this it is cut at a clause.
INTRO_HEADLINE_LIMIT = 120
# Sections the intro names with their first story; the others by name only.
INTRO_SECTIONS = 3

# An outline: (section title, its headlines), the lead story first.
Outline = Sequence[tuple[str, Sequence[str]]]


@dataclass(frozen=True)
class Copy:
    subject: str
    preheader: str
    intro: str


def outline(sections: Sequence[Section]) -> list[tuple[str, list[str]]]:
    return [(section.title, [item.article.title for item in section.items]) for section in sections]


def built_copy(sections: Outline, theme: str) -> Copy:
    """The subject, preheader and intro an editor would start from, for this outline."""
    stories = _stories(sections)
    subject, named = _subject(stories, sections)
    return Copy(
        subject=subject,
        preheader=_preheader(stories, sections, named, theme),
        intro=_intro(stories, sections),
    )


# Headlines and their shorter forms


# The copy tries each headline's forms many times over (every combination the subject weighs,
# every fit of the preheader), and a draft's copy is built again at each edit and lint: the
# forms of a headline are worked out once.
@lru_cache(maxsize=4096)
def clean_headline(title: str) -> str:
    """The headline without a trailing outlet credit (" – Bloomberg", "| DW | 19.01.2020") or a
    label that is not news ("VIDEO:", "Update |")."""
    text = " ".join(title.split())
    site, bar, _ = text.partition(" | ")
    if bar and len(site.split()) >= 4 and not _KICKER.match(text):
        text = site  # "Headline | Outlet, Weather, Sports | City": the page's name after it
    previous = None
    while previous != text:
        previous = text
        text = strip_attribution(text)
        text = _DATED_CREDIT.sub("", text).strip()
        text = _KICKER.sub("", text).strip()
        head, dash, tail = text.rpartition(" - ")
        if dash and len(head.split()) >= 4 and _credit_like(tail):
            text = head
    return text.rstrip(" .") if not text.endswith("...") else text


def _credit_like(text: str) -> bool:
    """A credit such as "The St Kitts Nevis Observer" or "WSVN 7News": capitalised words."""
    words = text.split()
    return 0 < len(words) <= 6 and all(w[:1].isupper() or w[:1].isdigit() for w in words)


# "| DW | 19.01.2020": an outlet with a date after the headline.
_DATED_CREDIT = re.compile(r"\s+[|–—-]\s+[A-Z][\w.&' ]{0,30}\s+[|–—-]\s+[\d./-]+$")
# Labels that say what kind of piece it is, not what happened.
_KICKER = re.compile(
    r"^(?:video|watch|live|update|updated|breaking|exclusive|opinion|analysis|explainer|"
    r"photos|in pictures|listen|podcast|preview)\s*(?:[:|]|\s[–—-])\s+",
    re.IGNORECASE,
)


def _listed(text: str) -> tuple[str, ...]:
    """A word list written as text, which reads better than a list of quoted words."""
    return tuple(text.split())


def _words(text: str) -> frozenset[str]:
    return frozenset(_listed(text))


# Where a headline may be cut and still say something whole: before a clause, a credit
# ("…, officials say"), a subtitle or a second sentence.
_PUNCTUATION_CUT = re.compile(r"(?<=[^\s.])(?:[,;:]|(?<=[a-z]{3})\.(?=\s+[A-Z])|\s[|–—-])\s+")
_WORD_CUT = re.compile(
    r"\s+(?=(?:as|after|amid|amidst|while|despite|following|ahead of|before|because|but|over|"
    r"aimed at|in a bid to|in response to|with|without|until|since|when|where|which|who|"
    r"even as|than|thanks to|due to|under)\s(?!(?:it|them|him|her|us|you|me)\b))",
    re.IGNORECASE,
)
# A shortened form must not end on a word that needs the rest of the sentence.
_DANGLING = _words(
    "a an the of to and or but for with in on at by from its their his her our as into onto "
    "about than that this these those is are was were be been has have had will would can "
    "could new more most says say said"
)
_QUOTES = ('"', "“", "”", "‘", "’", "'", "(", ")")
_MIN_WORDS = 3


@dataclass(frozen=True)
class _Form:
    """One way of saying a story: its text and how much of the headline it keeps."""

    text: str
    kept: float
    cut: bool = False  # ends in an ellipsis: the last resort


def _balanced(text: str) -> bool:
    straight = text.count('"') % 2 == 0
    curly = text.count("“") == text.count("”")
    single = text.count("‘") <= text.count("’")
    # An apostrophe (Russia's) is a right single quote too, so only an unclosed ‘ counts.
    return straight and curly and single and text.count("(") == text.count(")")


def _acceptable(text: str) -> bool:
    words = text.split()
    if len(words) < _MIN_WORDS:
        return False
    # What follows the last full stop or colon must say something too ("…a century. Now").
    last_part = re.split(r"(?<=[a-z]{3})\.\s+|:\s+", text)[-1]
    if len(last_part.split()) < 2:
        return False
    last = words[-1].lower().strip("".join(_QUOTES) + ",;:")
    return last not in _DANGLING and _balanced(text)


def short_forms(headline: str) -> list[str]:
    """The headline and the shorter forms of it that still say something whole (cut at a
    clause, a credit or a subtitle), longest first."""
    return list(_short_forms(headline))


@lru_cache(maxsize=4096)
def _short_forms(headline: str) -> tuple[str, ...]:
    full = clean_headline(headline)
    forms = {full}
    cuts = [(m.start(), _MIN_WORDS) for m in _PUNCTUATION_CUT.finditer(full)]
    # Before a joining word a few more words are needed: "Scientists confirm 2023 as…".
    cuts += [(m.start(), _MIN_WORDS + 1) for m in _WORD_CUT.finditer(full)]
    for cut, least in cuts:
        prefix = full[:cut].rstrip(" ,;:–—-|")
        if full[cut] == ":" and len(prefix.split()) <= 3:
            continue  # "Sixers game notes: …" is a label, not the news
        if len(prefix.split()) >= least and _acceptable(prefix) and not _in_a_list(full, cut):
            forms.add(prefix)
    # "Label: the news" (a short label before a colon): the news alone.
    label, colon, rest = full.partition(": ")
    if colon and len(label.split()) <= 3 and _acceptable(rest):
        forms.add(rest[0].upper() + rest[1:])
    return tuple(sorted(forms, key=lambda form: (-len(form), form)))


def _in_a_list(text: str, cut: int) -> bool:
    """A comma between figures ("RTX 3080, 3090 or 3070") lists, it does not end a clause."""
    before, after = text[:cut].split()[-1:], text[cut:].lstrip(" ,").split()[:1]
    return bool(before and after and before[0][:1].isdigit() and after[0][:1].isdigit())


def _forms(headline: str, limit: int) -> list[_Form]:
    """The forms of a headline that fit in `limit` characters; a word-boundary cut with an
    ellipsis only when no whole form fits."""
    full = clean_headline(headline)
    words = max(len(full.split()), 1)
    fitting = [
        _Form(form, min(len(form.split()) / words, 1.0))
        for form in _short_forms(headline)
        if len(form) <= limit
    ]
    if fitting:
        return fitting
    cut = shorten(full, limit)
    if len(cut.split()) < _MIN_WORDS:
        return []
    return [_Form(cut, (len(cut.split()) - 1) / words, cut=True)]


def shorten(text: str, limit: int) -> str:
    """Cut at a word boundary with an ellipsis, so a line never ends mid-word."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:–—-")
    return f"{cut}…"


# Which stories the copy names


@dataclass(frozen=True)
class _Story:
    headline: str
    section: int
    position: int


def _stories(sections: Outline) -> list[_Story]:
    """Every story, in the order the copy should name them: the lead, then the first story of
    each other section (what the sections hold), then the rest in edition order."""
    every = [
        _Story(headline, s_index, i_index)
        for s_index, (_, headlines) in enumerate(sections)
        for i_index, headline in enumerate(headlines)
    ]
    if not every:
        return []
    lead, rest = every[0], every[1:]
    openers = [s for s in rest if s.position == 0 and sections[s.section][0] != BRIEF_TITLE]
    others = [s for s in rest if s not in openers]
    return [lead, *openers, *others]


# Candidates for the stories after the lead that a subject line may name.
_SUBJECT_CHOICES = 4
_SUBJECT_OTHERS = 2


def _subject(stories: list[_Story], sections: Outline) -> tuple[str, set[int]]:
    """The lead's news and one or two other stories, within SUBJECT_LIMIT, with the indexes
    of the stories named. The lead keeps as much of its headline as it can, but another story
    is worth cutting it at a clause ("…Kharkiv after overnight strikes" → "…Kharkiv"). Where
    no other story fits, the other sections' names may ("…, and more on North Korea and
    Shadow fleet")."""
    if not stories:
        return "", set()
    best: tuple[float, str, set[int]] | None = None
    lead_forms = _forms(stories[0].headline, SUBJECT_LIMIT)
    choices = list(enumerate(stories[1 : 1 + _SUBJECT_CHOICES], start=1))
    for lead in lead_forms:
        for count in range(_SUBJECT_OTHERS + 1):
            for picked in combinations(choices, count):
                joined = _join_forms(lead, picked, SUBJECT_LIMIT - len(lead.text))
                if joined is None:
                    continue
                text, score = joined
                named = {0, *(index for index, _ in picked)}
                if not picked:
                    text, score = _with_topics(text, score, stories, sections, named)
                if best is None or score > best[0]:
                    best = (score, text, named)
    if best is None:  # not even three words of the lead fit: should not happen at 78
        return shorten(clean_headline(stories[0].headline), SUBJECT_LIMIT), {0}
    return best[1], best[2]


def _with_topics(
    text: str, score: float, stories: list[_Story], sections: Outline, named: set[int]
) -> tuple[str, float]:
    """The subject with the names of sections it says nothing of, as many as fit (two at
    most), each worth less than a story."""
    covered = {stories[index].section for index in named}
    topics = [
        title
        for index, (title, _) in enumerate(sections)
        if index not in covered and title != BRIEF_TITLE
    ]
    for count in (2, 1):
        if len(topics) < count:
            continue
        longer = f"{text}, and more on {_join_and(topics[:count])}"
        if len(longer) <= SUBJECT_LIMIT:
            return longer, score + (0.3 if count == 1 else 0.4)
    return text, score


def _join_forms(
    lead: _Form, picked: Sequence[tuple[int, _Story]], room: int
) -> tuple[str, float] | None:
    """The best subject with this lead form and these other stories, and its score."""
    score = 2.0 * lead.kept - (1.5 if lead.cut else 0.0)
    parts = [lead.text]
    for index, story in picked:
        room -= 2  # "; "
        forms = [form for form in _forms(story.headline, room) if not form.cut]
        if not forms:
            return None
        form = forms[0]
        room -= len(form.text)
        parts.append(form.text)
        score += 0.9 + 0.4 * form.kept - 0.1 * index
    return "; ".join(parts), score


# Preheader: the stories the subject left out, then the sections


def _preheader(stories: list[_Story], sections: Outline, named: set[int], theme: str) -> str:
    """The next stories after the subject's, then the sections they leave unnamed, in one
    line within PREHEADER_LIMIT."""
    left = [story for index, story in enumerate(stories) if index not in named]
    if not left:  # the subject named them all
        total = sum(len(headlines) for _, headlines in sections)
        about = f" on {theme}" if theme else ""
        return shorten(f"{_counted(total).capitalize()}{about}.", PREHEADER_LIMIT)
    # Two or three stories and the sections they leave out; fewer stories before no sections.
    for count, with_tail in ((3, True), (2, True), (3, False), (2, False), (1, True), (1, False)):
        chosen = left[:count]
        if len(chosen) < count:
            continue
        tail = _sections_tail(sections, stories, named | {stories.index(s) for s in chosen})
        tail = tail if with_tail else ""
        room = PREHEADER_LIMIT - len(tail) - 2 * (count - 1) - 2
        texts = _fit_all([story.headline for story in chosen], room)
        if texts is not None:
            return f"{_sentence('; '.join(texts))} {tail}".strip()
    return shorten(clean_headline(left[0].headline), PREHEADER_LIMIT)


def _fit_all(headlines: list[str], room: int) -> list[str] | None:
    """A whole form of each headline, longest first, sharing `room` characters."""
    texts: list[str] = []
    for position, headline in enumerate(headlines):
        # Leave the next headlines at least a short form's worth of room.
        reserve = sum(min(len(f) for f in _short_forms(h)) for h in headlines[position + 1 :])
        forms = [f for f in _forms(headline, room - reserve) if not f.cut]
        if not forms:
            return None
        texts.append(forms[0].text)
        room -= len(forms[0].text)
    return texts


def _sections_tail(sections: Outline, stories: list[_Story], named: set[int]) -> str:
    """ "More on A and B, and three in brief." for the sections with stories not named."""
    unread = [story for index, story in enumerate(stories) if index not in named]
    unnamed = sorted({story.section for story in unread})
    themed = [sections[s][0] for s in unnamed if sections[s][0] not in (BRIEF_TITLE, TOP_TITLE)]
    brief = [story for story in unread if sections[story.section][0] == BRIEF_TITLE]
    # An edition of one "Top stories" section has no section to name: "Plus three more."
    top = [story for story in unread if sections[story.section][0] == TOP_TITLE]
    parts = []
    if themed:
        parts.append(f"More on {_join_and(themed)}")
    for stories_left, label in ((brief, "in brief"), (top, "more")):
        if stories_left:
            words = f"{number_words(len(stories_left))} {label}"
            parts.append(f"and {words}" if parts else f"Plus {words}")
    return (", ".join(parts) + ".") if parts else ""


# Intro


def _intro(stories: list[_Story], sections: Outline) -> str:
    """A short paragraph: the lead, what each section opens with, how many stories in all."""
    if not stories:
        return ""
    lead = stories[0]
    headline = clean_headline(lead.headline)
    if len(headline) > INTRO_HEADLINE_LIMIT:
        headline = _forms(headline, INTRO_HEADLINE_LIMIT)[0].text
    sentences = [_sentence(headline)]
    lead_title, lead_headlines = sections[0]
    total = sum(len(headlines) for _, headlines in sections)
    if len(sections) == 1:
        if total > 1:
            sentences.append(f"That leads this edition of {_counted(total)}.")
        return " ".join(sentences)
    more = len(lead_headlines) - 1
    company = f", with {_more(more)} in {lead_title}" if more else ""
    sentences.append(f"That leads this edition{company}.")
    themed = [
        (index, title, headlines)
        for index, (title, headlines) in enumerate(sections)
        if index and title != BRIEF_TITLE
    ]
    for _, title, headlines in themed[:INTRO_SECTIONS]:
        opener = _forms(headlines[0], INTRO_HEADLINE_LIMIT)
        if not opener:
            continue
        company = f", and {_more(len(headlines) - 1)}" if len(headlines) > 1 else ""
        sentences.append(_sentence(f"In {title}, {_lowered(opener[0].text)}{company}"))
    rest = [title for _, title, _ in themed[INTRO_SECTIONS:]]
    if rest:
        sentences.append(f"More in {_join_and(rest)}.")
    brief = [headlines for title, headlines in sections[1:] if title == BRIEF_TITLE]
    if brief:
        sentences.append(f"And {_more(len(brief[0]))} in brief.")
    sentences.append(f"{number_words(total).capitalize()} stories in all.")
    return " ".join(sentences)


def _sentence(text: str) -> str:
    return text if text.endswith((".", "?", "!", "…")) else f"{text}."


def _counted(count: int) -> str:
    return f"{number_words(count)} {'story' if count == 1 else 'stories'}"


def _more(count: int) -> str:
    return f"{number_words(count)} more"


# Words that start a headline without being a name: lower-cased after "In Section, …".
_COMMON_OPENERS = _words(
    "a an the this these those what why how who when where which new more most some "
    "many few all every our your their its his her meet inside"
)


def _lowered(text: str) -> str:
    """The headline's first word in lower case when it is a common word in a sentence-case
    headline ("In Ports, the terminal…"), not in a title-case one ("Where and How to Buy")."""
    first, _, rest = text.partition(" ")
    later = [w for w in rest.split() if w[:1].isalpha()]
    capitals = sum(w[:1].isupper() for w in later)
    title_case = len(later) >= 2 and capitals / len(later) > 0.5
    if first.lower() in _COMMON_OPENERS and not first.isupper() and not title_case:
        return f"{first.lower()} {rest}".rstrip()
    return text


_NUMBER_WORDS = _listed(
    "no one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty"
)


def number_words(count: int) -> str:
    """A count as an editor writes it: in words up to twenty, in figures above."""
    return _NUMBER_WORDS[count] if 0 <= count < len(_NUMBER_WORDS) else str(count)


def _join_and(names: Sequence[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + f" and {names[-1]}"


# Copy that no longer matches the edition

# Words any copy uses about itself; they name no story.
_COPY_WORDS = frozenset(
    content_stems(
        "story stories article articles item items edition issue newsletter digest lead leads "
        "top today week weekly morning evening roundup round briefing brief plus also inside "
        "here latest more other all rest elsewhere highlights read reads"
    )
)
_COUNT = re.compile(
    r"\b(\d+|" + "|".join(_NUMBER_WORDS[2:]) + r")\s+(stories|articles|items|pieces|reads)\b",
    re.IGNORECASE,
)
_CLAUSES = re.compile(r"[.;:!?|•·]\s*|,\s+|\s+[–—-]\s+|\s+\+\s+")
_SECTION_REFERENCE = re.compile(r"^(?:and\s+)?(?:more\s+)?(?:in|under|on)\s+(.+)$", re.IGNORECASE)
# A story is named when this share of a clause's words are its headline's or summary's.
_NAMES_SHARE = 0.5


@dataclass(frozen=True)
class _EditionWords:
    """What copy is checked against: each story's words, the sections, every word shown."""

    stories: list[set[str]]
    section_titles: set[str]
    words: set[str]
    text: str
    total: int
    section_sizes: set[int]


def _edition_words(edition: Edition, theme: str) -> _EditionWords:
    stories = [
        set(content_stems(f"{item.article.title} {item.summary.text}")) for item in edition.items
    ]
    everything = " ".join(
        f"{item.article.title} {item.summary.text} {item.article.text}" for item in edition.items
    )
    titles = " ".join(section.title for section in edition.sections)
    return _EditionWords(
        stories=stories,
        section_titles={section.title.casefold() for section in edition.sections},
        words=set(tokens(f"{everything} {titles} {theme}")),
        text=everything,
        total=len(edition.items),
        section_sizes={len(section.items) for section in edition.sections},
    )


def stale_copy(edition: Edition, theme: str, outside: Sequence[str] = ()) -> list[tuple[str, str]]:
    """(field, message) for each thing the subject, preheader or intro says that the edition
    no longer holds: a story not in it, a lead that is no longer the lead, a count, a section.
    A phrase names a story that left when it matches none of the edition's stories and
    either matches one of the `outside` headlines (stored articles the edition does not hold:
    a removed story goes back among them) or names someone or somewhere that the edition no
    longer mentions and an outside headline does. Copy equal to the one built from the
    edition as it stands is never stale."""
    built = built_copy(outline(edition.sections), theme)
    known = _edition_words(edition, theme)
    ignored = _COPY_WORDS | set(content_stems(theme))
    others = [set(content_stems(clean_headline(headline))) for headline in outside]
    outside_words = {word for headline in outside for word in tokens(clean_headline(headline))}
    findings: list[tuple[str, str]] = []
    for field in ("subject", "preheader", "intro"):
        text: str = getattr(edition, field)
        if not text.strip() or text == getattr(built, field):
            continue
        messages = _counts(text, known)
        messages += _named(
            text, known, (others, outside_words), ignored, check_lead=field != "preheader"
        )
        findings += [(field, message) for message in dict.fromkeys(messages)]
    return findings


def _counts(text: str, known: _EditionWords) -> list[str]:
    messages = []
    for match in _COUNT.finditer(text):
        said = match[1].lower()
        count = int(said) if said.isdigit() else _NUMBER_WORDS.index(said)
        before = text[: match.start()].split()[-1:]
        if before and before[0].lower() in ("another", "other", "more"):
            continue
        if count != known.total and count not in known.section_sizes:
            messages.append(f"says {match[0]}, the edition has {known.total}")
    return messages


def _share(stems: set[str], story: set[str]) -> float:
    return len(stems & story) / len(stems) if stems else 0.0


def _named(
    text: str,
    known: _EditionWords,
    outside: tuple[list[set[str]], set[str]],
    ignored: frozenset[str],
    check_lead: bool,
) -> list[str]:
    """Clauses that name a section or a story the edition no longer has, and a first story
    that is not the lead. A name counts as gone only when a story outside the edition has it
    in its headline: a name the editor brings in ("Good morning from Lviv") is their own."""
    others, outside_words = outside
    messages = []
    first_story = True
    for clause in (c.strip() for c in _CLAUSES.split(text)):
        if not clause:
            continue
        section = _section_named(clause, known)
        if section is not None:
            if section:
                messages.append(f'names section "{section}", which is no longer a section')
            continue
        stems = {s for s in content_stems(clause) if s not in ignored}
        if not stems:
            continue
        shares = [_share(stems, story) for story in known.stories]
        best = max(range(len(shares)), key=lambda i: shares[i]) if shares else -1
        if best >= 0 and shares[best] >= _NAMES_SHARE:
            if check_lead and first_story and shares[best] > shares[0]:
                messages.append("leads with a story that is no longer the lead")
            first_story = False
            continue
        left = any(_share(stems, other) >= _NAMES_SHARE for other in others) and len(stems) > 1
        names = [w.strip(".,;:!?'’\"“”()") for w in clause.split()[1:] if w[:1].isupper()]
        gone = [
            name
            for name in names
            if name and not set(tokens(name)) <= known.words and set(tokens(name)) <= outside_words
        ]
        if left or gone:
            messages.append(f'names "{_quoted(clause)}", which is no longer in the edition')
            first_story = False
    return messages


def _section_named(clause: str, known: _EditionWords) -> str | None:
    """For a clause that names sections ("In Allies", "more on Energy and In brief"): "" when
    they are all sections, or the first one that is not; None for a clause that names none."""
    match = _SECTION_REFERENCE.match(clause)
    if match is None:
        return None
    names = [name.strip() for name in re.split(r",\s*|\s+and\s+", match[1]) if name.strip()]
    if clause.casefold().endswith(BRIEF_TITLE.casefold()) and len(clause.split()) <= 6:
        return "" if BRIEF_TITLE.casefold() in known.section_titles else BRIEF_TITLE
    if not names or not all(name[:1].isupper() for name in names):
        return None  # "in the east": plain words, not a heading
    for name in names:
        if name.casefold() in known.section_titles:
            continue
        proper = all(word[:1].isupper() for word in name.split())
        if proper and name in known.text:
            return None  # "In Kyiv", "In North Korea": a place the stories name
        return name
    return ""


def _quoted(clause: str) -> str:
    words = clause.split()
    return " ".join(words[:3]) + ("…" if len(words) > 3 else "")
