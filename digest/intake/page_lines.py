"""The lines of a copied page, each classified as prose, chrome or neither, from the text alone.

A browser's copy of a page (select-all, or a careful selection) gives one line per block:
menus and link lists are runs of short lines without sentence punctuation or function words;
an article is a run of long lines that read as sentences. The classes here are the shapes that
tell them apart on news pages in general (in the spirit of jusText's text-density classifier,
which needs the HTML we do not have), not the markup of any one site.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from digest.text_fields import without_bidi_controls

TERMINAL = (".", "!", "?", '"', "'", "”", "’", ")", "…")
_WORD = re.compile(r"[^\W_]+(?:[’'.-][^\W_]+)*")
# Function words: dense in sentences, rare in menus, headlines of link lists and credits.
FUNCTION_WORDS = frozenset(
    """
    a about after against all also an and any are as at be because been before being between
    both but by can could did do does during each for from had has have having he her here him
    his how i if in into is it its itself just me more most my no nor not now of off on once only
    or other our out over own same she should so some such than that the their them then there
    these they this those through to too under until up very was we were what when where which
    while who whom why will with would you your said says
    """.split()  # noqa: SIM905 - a word list reads better as text
)
# What page chrome says, wherever it stands in a line: consent, accounts, newsletters and
# donations, sharing and comments, related stories, syndication notes, ads and legal lines.
_CHROME_PHRASES = re.compile(
    r"\bcookies?\b|\bconsent to\b|privacy (?:policy|notice|settings)"
    r"|terms (?:of|and) (?:use|service|conditions)|\bnewsletters?\b|\bsubscribe\b|\bsubscription\b"
    r"|\bsign (?:up|in)\b|\blog ?in\b|\bdonat(?:e|ion)|support (?:our|independent) journalism"
    r"|all rights reserved|copyright\b|©|originally (?:appeared|published)"
    r"|this (?:article|story) (?:first|was)|opens? in (?:a )?new window|your browser"
    r"|enable javascript|\badvertis(?:e|ement|ing)\b|affiliate commission"
    r"|\bread (?:more|next|also)\b|click (?:here|to)|follow us|\bshare (?:this|on|via)\b"
    r"|comments? (?:are|policy|section)|leave a (?:comment|reply)|write a comment|\breply\b"
    r"|join the (?:conversation|discussion|debate)\b|\bcommenting\b|civil (?:forum|discussion)"
    r"|comment(?:s|ing)? (?:guidelines|rules)|house rules|we want to hear from you"
    r"|related (?:articles?|stories|posts|content|coverage)|recommended (?:for you|stories)"
    r"|most (?:read|popular|viewed)|trending now|\bsponsored\b|skip to|back to (?:top|home)"
    r"|\b(?:previous|next) (?:article|story|post)\b|\bsitemap\b"
    r"|\bfollow (?:@?\w+ ){0,3}on (?:twitter|facebook|instagram|x|tiktok|youtube)\b"
    r"|\bdownload (?:the |our )?(?:[\w-]+ ){0,3}apps?\b|\bfor ios and android\b|contact us"
    r"|about us|\bpodcasts?\b|\bwatch live\b",
    re.I,
)
# A line that is nothing but chrome: counters, buttons, labels.
_CHROME_LINE = re.compile(
    r"^(?:[\d.,]+k?|\d+\s+(?:comments?|shares?|likes?|replies|views)|comments?|no comments"
    r"|share|shares|tweet|email|e-mail|print|copy (?:link|url)|save(?: article)?|menu|search|home"
    r"|ad|advert|enlarge(?: image)?|expand|close|next|previous|previous next|more|see all|view all"
    r"|show more|load more|listen|play|pause|video|audio|watch|gallery|photos?|images?|facebook"
    r"|twitter|x|linkedin|reddit|whatsapp|pinterest|flipboard|instagram|youtube|tiktok|telegram"
    r"|rss|top|featured|latest|breaking|live|local|news|opinion|sport|sports|-|–|—|\||/|·|•|…"
    r"|(?:(?:share|tweet|email|print|comments?|adjust|save|copy link|facebook|twitter|reddit"
    r"|flipboard|whatsapp|linkedin|pinterest)[\s,|·•]*){2,}"
    r"|(?:\d+\s*)?min(?:ute)?s?\.?\s+read|reading time:.*|(?:\d+\s+)?minute read)$",
    re.I,
)
# Credits for pictures: a caption's last line, or the end of a caption line.
_CREDIT = re.compile(
    r"^(?:photo(?:graph)?s?|image|picture|illustration|credit)\s*(?:by|:)|\bphoto:"
    r"|\b(?:getty images|shutterstock|alamy|istock|ap photo|file photo|usa today sports)\b"
    r"|\w\s*/\s*(?:ap|afp|reuters|getty|epa|bloomberg|xinhua|anadolu)\b"
    r"|\b(?:ap|afp|reuters|epa)\s*/\s*\w|\bcourtesy of\b|\((?:photo|image|credit)[^)]*\)"
    r"|^by\s+[A-Z][^.!?]{0,60}$",
    re.I,
)
_CAPTION_END = re.compile(
    r"(?:\([^()]{0,40}\b(?:photo|photograph|image|picture|credit)s?\b[^()]{0,60}\)"
    r"|(?:[A-Z][\w.'-]+ ){1,3}[A-Z][\w'-]*/[A-Z][\w/ ]+"
    r"|\b(?:getty images|shutterstock|file photo))\s*$",
    re.I,
)


_INLINE_BREAKS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


# A caption says what the picture shows: "Pictured: …", "The screengrab shows …".
_CAPTION_START = re.compile(
    r"^(?:pictured|above|below|top|inset|main picture|file photo)\s*:"
    r"|^(?:the |this )?(?:screengrab|screenshot|photo|picture|image|still)s? (?:shows?|above)\b",
    re.I,
)
# Buttons laid over a picture: the line after one is the picture's caption.
IMAGE_BUTTON = re.compile(
    r"^(?:share on pinterest|pin it|enlarge(?: image| this image)?|expand image|view gallery"
    r"|open gallery|zoom)$",
    re.I,
)


@dataclass(frozen=True)
class PageLine:
    """One block of the copied page, with what its shape says about it."""

    text: str
    words: int
    function_share: float
    sentence_end: bool
    chrome: bool
    credit: bool

    @property
    def prose(self) -> bool:
        """Reads as a paragraph of an article: long enough, with function words, punctuated."""
        if self.chrome or self.words < 8 or self.function_share < 0.18:
            return False
        return self.sentence_end or self.words >= 25

    @property
    def sentence_like(self) -> bool:
        """A short line that still reads as a sentence (a one-line paragraph, a quote)."""
        return (
            not self.chrome
            and not self.credit
            and self.words >= 4
            and self.sentence_end
            and self.function_share >= 0.1
        )


_MENU_ROW = re.compile(
    r"^(?:[\w&'’.-]+(?: [\w&'’.-]+){0,2})(?:\s*[/|·•>»›]\s*[\w&'’.-]+(?: [\w&'’.-]+){0,2})+$"
)


def _menu_row(text: str, words: list[str]) -> bool:
    """A row of links ("Twitter / Facebook / RSS", "Home > World"): short names between
    separators, none of them a sentence."""
    if not _MENU_ROW.match(text.strip()):
        return False
    return sum(1 for word in words if word.lower() in FUNCTION_WORDS) <= len(words) // 4


def classify(text: str) -> PageLine:
    words = _WORD.findall(text)
    function = sum(1 for word in words if word.lower() in FUNCTION_WORDS)
    stripped = text.rstrip()
    chrome = (
        bool(_CHROME_LINE.match(text.strip()))
        or _menu_row(text, words)
        or (len(words) < 90 and bool(_CHROME_PHRASES.search(text)))
    )
    return PageLine(
        text=text,
        words=len(words),
        function_share=function / len(words) if words else 0.0,
        sentence_end=stripped.endswith(TERMINAL) and not stripped.endswith("...."),
        chrome=chrome,
        # A caption's credit closes it: only the end of a line is searched for one.
        credit=(len(words) <= 14 and bool(_CREDIT.search(text)))
        or (len(words) <= 40 and bool(_CAPTION_START.match(text)))
        or bool(_CAPTION_END.search(text[-80:])),
    )


def paragraphs(raw: str) -> list[str]:
    """One entry per block of the copy; lines hard-wrapped inside a block are joined again."""
    result: list[str] = []
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    # A paste's blocks end in line feeds; other separators and controls are inside a line.
    text = _INLINE_BREAKS.sub(" ", without_bidi_controls(text))
    for block in re.split(r"\n[ \t\xa0]*\n", text):
        lines = [" ".join(line.split()) for line in block.split("\n")]
        lines = [line for line in lines if line]
        result.extend(_unwrap(lines))
    return result


def _unwrap(lines: list[str]) -> list[str]:
    if len(lines) < 2:
        return lines
    wrapped = _hard_wrapped(lines)
    joined: list[str] = []
    for line in lines:
        if joined and (wrapped or _continues(joined[-1], line)):
            joined[-1] = f"{joined[-1]} {line}"
        else:
            joined.append(line)
    return joined


def _hard_wrapped(lines: list[str]) -> bool:
    # A block wrapped at a fixed width: every line but the last is about as long as the
    # longest, and some breaks fall before a lower-case word. A browser's copy puts one block
    # on a line, so a headline over its byline and date never looks like this.
    widths = [len(line) for line in lines[:-1]]
    widest = max(widths)
    if widest < 50 or widest > 100 or min(widths) < widest - 20:
        return False
    lower = sum(1 for line in lines[1:] if line[:1].islower())
    return lower * 3 >= len(lines) - 1


def _continues(previous: str, line: str) -> bool:
    # One line broken mid-sentence: long, no closing punctuation, the next in lower case.
    return len(previous) >= 40 and not previous.endswith(TERMINAL) and line[:1].islower()
