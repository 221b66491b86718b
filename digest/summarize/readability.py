"""Whether a summary's sentence reads on its own: the checks every summariser's output passes
(the extractive one while choosing, the LLM's before it is used, `digest eval summaries` on
every system's output).

A summary is read without the article, so a sentence that points back ("He said…", "This
means…", "But the plan…") to something the summary does not say leaves the reader lost, and
text that is about the page rather than the news (republication notes, captions, credits,
calls to subscribe, donate or follow) has no place in it.
"""

from __future__ import annotations

import re

# Words that, opening a sentence, point back to what came before it. Pronouns and
# demonstratives stand for something said earlier; connectives continue an argument. "It" is
# here too: "It was the third attack…" leans on the sentence before as much as "He" does.
_POINTING_BACK = frozenset(
    """
    he she it they we i you him her them his hers its their theirs our us
    this that these those such
    and but or so yet also then still however meanwhile moreover furthermore besides
    nevertheless nonetheless instead otherwise therefore thus hence
    likewise similarly indeed additionally consequently accordingly regardless
    """.split()  # noqa: SIM905 - a word list reads better as text
)
# Openings of more than one word that do the same.
_POINTING_BACK_PHRASES = re.compile(
    r"^(?:in addition|as a result|even so|at the same time|on the other hand|in turn|after that"
    r"|in other words|that said|for (?:example|instance)|in (?:fact|contrast|particular|short)"
    r"|by contrast|on the contrary|what's more|after all|not only that|to (?:that|this) end"
    r"|before that|by then|for (?:his|her|their|its) part|the (?:latter|former)|both of them"
    r"|neither of them|the same (?:day|week|month|year|thing|way))\b",
    re.I,
)
# A sentence that is a quotation: its "I" and "we" are the speaker's, named in the attribution.
_QUOTED_OPENING = re.compile(r"^[\"“‘'«]")
_ATTRIBUTION = re.compile(
    r"[,.?!]?[\"”’'»]\s*,?\s*(?:[\w.'’-]+\s+){0,4}?(?:said|says|told|added|asked|wrote"
    r"|explained|insisted|warned|noted|argued)\b",
)
# A quotation or report attributed to a pronoun ("…,” he said.") leans on an earlier sentence
# for its speaker as much as one that opens on "He".
_PRONOUN_SPEAKER = re.compile(
    r"[,”\"’']\s*(he|she|they|we|I)\s+(?:said|says|added|told|explained|insisted|warned|noted"
    r"|argued|wrote|asked)\b"
)
_FIRST_WORD = re.compile(r"[A-Za-z][A-Za-z'’]*")

# Text about the page, the outlet or the reader's subscription, not about the news.
_BOILERPLATE = re.compile(
    r"(?:^|\b)(?:"
    r"(?:this|the) (?:article|story|piece|post|report|interview) (?:was |is |has been |first )?"
    r"(?:originally |first )?(?:appeared|published|posted|ran)"
    r"|(?:originally|first) (?:appeared|published) (?:on|in|at)"
    r"|republished (?:with|by|from|under)|reprinted (?:with|by)|(?:used|shared) with permission"
    r"|all rights reserved|copyright \d{4}|©"
    r"|(?:additional )?reporting by|editing by|writing by|compiled by|produced by"
    r"|^\(?(?:photo|image|picture|video|graphic|illustration)s?(?: credit)?\s*(?::|by\b)"
    r"|getty images|\bap photo\b|\bafp via\b|/reuters\b|\breuters/"
    r"|scroll down for|click (?:here|through|the link|below|to)\b"
    r"|read more\b|read also\b|see also\b|related:|watch:|listen:"
    r"|sign up (?:for|to|here|now)|subscribe (?:to|now|here|for|today)|newsletter sign"
    r"|(?:support|fund) (?:our|independent|quality) (?:journalism|reporting|work)"
    r"|^(?:please )?donate\b|\bdonate (?:now|today|here|to us)\b|make a donation to us"
    r"|become a (?:member|subscriber|patron)\b"
    r"|follow (?:us|him|her|them|the author)\b.{0,20}\bon (?:twitter|x|facebook|instagram"
    r"|bluesky|threads|linkedin|tiktok)"
    r"|download (?:our|the) app|share this (?:article|story)|comments? (?:below|are closed)"
    r"|contact (?:the )?(?:author|reporter|writer)|can be reached at|tips? (?:to|at) \S+@"
    r"|for more (?:news|stories|coverage) (?:like this|on)|this content (?:is|was) (?:created|"
    r"produced|paid)"
    r")",
    re.I,
)
_EMAIL_ADDRESS = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b")
# Words without which none of the above can match: a plain substring test rules most
# sentences out before the long pattern runs (it is slow on every sentence of every article).
_TRIGGERS = (
    *"""
    appeared published posted republish reprint permission copyright © photo image picture
    video graphic illustration getty reuters afp scroll click subscribe newsletter journalism
    donat follow download comment contact tip @
    """.split(),  # noqa: SIM905 - a word list reads better as text
    "ran ",
    "rights reserved",
    "reporting by",
    "editing by",
    "writing by",
    "compiled by",
    "produced by",
    "read more",
    "read also",
    "see also",
    "related:",
    "watch:",
    "listen:",
    "sign up",
    "become a",
    "share this",
    "reached at",
    "for more",
    "this content",
)


def pointing_back(sentence: str) -> str | None:
    """The opening word or phrase of `sentence` that needs an earlier sentence to make sense
    ("He", "This", "But", "As a result"), or the pronoun a quotation is attributed to ("…," he
    said.), or None. A quotation with its speaker named ("We will not leave," the mayor said.)
    stands on its own."""
    text = sentence.lstrip(" \t([{—–-…")
    speaker = _PRONOUN_SPEAKER.search(text)
    if speaker:
        return speaker[1]
    if _QUOTED_OPENING.match(text):
        if _ATTRIBUTION.search(text):
            return None
        text = text[1:]
    phrase = _POINTING_BACK_PHRASES.match(text)
    if phrase:
        return phrase.group(0)
    word = _FIRST_WORD.match(text)
    if word is None:
        return None
    first = word.group(0)
    bare = first.lower().replace("’", "'").split("'")[0]  # "It's", "That's", "They're"
    if bare in _POINTING_BACK:
        return first
    return None


def boilerplate(sentence: str) -> bool:
    """Whether `sentence` is about the page rather than the news: a republication note, a
    caption or credit, a call to subscribe, donate, follow or click, an address to write to."""
    lowered = sentence.lower()
    if not any(trigger in lowered for trigger in _TRIGGERS):
        return False
    return bool(_BOILERPLATE.search(sentence) or _EMAIL_ADDRESS.search(sentence))
