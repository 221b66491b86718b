"""Text pasted from a web page: find the article in it, its headline, byline, date and source.

A copy of a news page holds more than the article: a select-all copy carries the menus, cookie
notice, link lists and footer; even a careful copy has share rows, captions and prompts. The
article is found from the shapes of its lines (`page_lines`): the longest stretch of prose,
weighed against the chrome between its paragraphs. The headline is the title-like line that
opens it, just above the byline and date (`bylines`). Nothing here is about one site.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from digest.articles import headline_attribution
from digest.intake.bylines import explicit_byline, find_byline, find_date
from digest.intake.page_lines import IMAGE_BUTTON, PageLine, classify, paragraphs

_SOURCE_LINE = re.compile(r"^(?:source|sources|via|courtesy of)\s*:\s*(.+)$", re.I)
_HEADER_REACH = 25  # lines above the article searched for its headline
_META_REACH = 6  # lines around the headline searched for byline and date
_TITLE_CASE_SMALL = frozenset(
    "a an and as at but by for from in into of on or the to vs with".split()  # noqa: SIM905
)


@dataclass
class PastedArticle:
    """What the reader recovered from a pasted page."""

    title: str
    text: str
    author: str | None = None
    source: str | None = None
    published: datetime | None = None
    dropped: list[str] = field(default_factory=list)


def parse_pasted(raw: str, now: datetime | None = None) -> PastedArticle:
    """Split a pasted page into headline, metadata and article text; relative times count back
    from `now` (the time of the paste).

    Raises ValueError when no line looks like a headline.
    """
    texts = paragraphs(raw)
    lines = [classify(text) for text in texts]
    span = _article_span(lines)
    if span is None:
        return _short_note(texts, lines, now)
    start, end = span
    headline = _headline(texts, lines, start)
    if headline is None:
        raise ValueError("no headline found: the text has no line of four or more words")
    body_start = max(start, headline + 1)
    while body_start <= end and not lines[body_start].prose:
        body_start += 1
    if body_start > end:
        raise ValueError("no article text found below the headline")
    # Below the headline, and just above the first paragraph (chrome can stand between).
    near = (
        _meta_lines(texts, lines, headline) + texts[max(headline + 1, body_start - 3) : body_start]
    )
    author, published = _meta(near, now)
    if author is None:
        # Some pages glue the byline to the lead ("By Name: The Americas cannot…"): the name
        # is the author, the rest the lead. Others sign below ("Written by Name on …").
        author, lead = _glued_byline(texts[body_start])
        if author is not None:
            texts = [*texts[:body_start], lead, *texts[body_start + 1 :]]
        else:
            author = _signed(texts[body_start : end + 8])
    return _assembled(texts, headline, _kept(texts, lines, body_start, end), author, published)


def _assembled(
    texts: list[str],
    headline: int,
    kept: set[int],
    author: str | None,
    published: datetime | None,
) -> PastedArticle:
    """The article from the lines chosen: the headline, the kept lines in page order as its
    text, everything else dropped."""
    body = [texts[index] for index in sorted(kept)]
    return PastedArticle(
        title=texts[headline],
        text="\n\n".join(body),
        author=author,
        source=_find_source(texts[headline], body),
        published=published,
        dropped=[text for i, text in enumerate(texts) if i != headline and i not in kept],
    )


def _article_span(lines: list[PageLine]) -> tuple[int, int] | None:
    """First and last line of the best run of prose: each prose line counts its words, each
    line between two prose lines costs what its shape says, and the best chain wins."""
    best: tuple[float, int, int] | None = None
    current: tuple[float, int] | None = None  # score so far, start
    gap = 0.0
    for index, line in enumerate(lines):
        if line.prose:
            weight = float(min(line.words, 120))
            if current is None or current[0] - gap <= 0:
                current = (weight, index)
            else:
                current = (current[0] - gap + weight, current[1])
            gap = 0.0
            if best is None or current[0] > best[0]:
                best = (current[0], current[1], index)
        elif current is not None:
            gap += _gap_cost(line)
    return (best[1], best[2]) if best else None


def _gap_cost(line: PageLine) -> float:
    if line.chrome:
        return 10.0
    if line.sentence_like:
        return 1.0
    return 4.0


def _headline(texts: list[str], lines: list[PageLine], start: int) -> int | None:
    """The title-like line that opens the article: in the lines above its first paragraph (or
    the first of them, when the headline reads as a sentence), the one that looks most like a
    headline and stands just above a byline, a date or a standfirst."""
    low = max(0, start - _HEADER_REACH)
    page = [_normal(text) for text in texts]
    best: tuple[float, int] | None = None
    for index in range(low, min(start + 2, len(lines))):
        if not _title_like(texts[index], lines[index]):
            continue
        if index > start and lines[index].prose:
            continue  # the second paragraph of the article, over a byline at its foot
        score = _headline_score(texts, lines, page, index, start)
        if best is None or score > best[0]:
            best = (score, index)
    if best is not None:
        return best[1]
    for index, line in enumerate(lines[: start + 1]):
        if _title_like(texts[index], line):
            return index
    return None


def _headline_score(
    texts: list[str], lines: list[PageLine], page: list[str], index: int, start: int
) -> float:
    """How much a title-like line looks like this article's headline. What weighs most is
    what follows it: a headline stands right above the byline or date, or above a longer
    standfirst that stands above them."""
    text, line = texts[index], lines[index]
    score = _meta_below(texts, lines, index)
    top = index == 0 or not _title_like(texts[index - 1], lines[index - 1])
    if (
        top
        and score >= 2.5
        and index + 1 < len(lines)
        and _title_like(texts[index + 1], lines[index + 1])
    ):
        score += 1.0  # the first of a headline and standfirst over the byline
    if index >= start and score < 2.5:
        score -= 6.0  # a paragraph of the article is its headline only above a byline
    repeated = any(j != index and page[index] in other for j, other in enumerate(page))
    if repeated and line.words <= 4 and page.count(page[index]) > 1:
        score -= 3.0  # a short line said twice is a menu entry
    elif repeated:
        score += 2.0  # repeated in a breadcrumb, a share line or the page's own title
    if _title_case(text):
        score += 1.5
    if text.rstrip().endswith("."):
        score -= 1.5
    if text.isupper():
        score -= 1.5
    if index + 1 < len(lines) and lines[index + 1].credit and score < 2.5:
        score -= 3.0  # a caption over its picture's credit
    if index > 0 and line.sentence_end and _title_like(texts[index - 1], lines[index - 1]):
        score -= 1.0  # a standfirst under its headline
    score -= 0.1 * max(0, line.words - 18)
    score -= 0.05 * max(0, start - index)
    return score


def _meta_below(texts: list[str], lines: list[PageLine], index: int) -> float:
    """3 when a byline or date follows the line (section labels and share buttons between
    do not count), 2.5 or 3 when a standfirst stands between, 1 when more does."""
    distance = 0
    for below in range(index + 1, min(index + 7, len(lines))):
        if lines[below].chrome and not _is_meta(texts, below):
            continue
        distance += 1
        if distance > 4 or (lines[below].prose and (distance > 1 or lines[below].words > 45)):
            return 0.0  # a standfirst may stand between, not a paragraph
        if _is_meta(texts, below):
            if distance == 1:
                return 3.0
            if distance == 2:
                between = texts[index + 1]
                return 3.0 if len(between) > len(texts[index]) else 2.5
            return 1.0
    return 0.0


def _is_meta(texts: list[str], index: int) -> bool:
    """A byline or date line, or a name or outlet on its own over a date ("Reuters")."""
    text = texts[index]
    if find_date(text) or _is_byline(text) or _name_line(text):
        return True
    following = texts[index + 1] if index + 1 < len(texts) else ""
    if len(text) > 40 or len(following) > 40 or _is_byline(following):
        return False
    return find_byline([text, following])[0] is not None and bool(find_date(following))


def _name_line(text: str) -> bool:
    author, _ = find_byline([text])
    return author is not None and len(text) <= 60


def _title_like(text: str, line: PageLine) -> bool:
    if line.chrome or line.credit or len(text) > 250 or len(text) < 12:
        return False
    if not 3 <= line.words <= 35 or _is_byline(text) or find_date(text):
        return False
    if line.words <= 4 and line.function_share == 0 and len(text) < 20:
        return False  # a menu entry ("View All Result"), not a headline
    return (not text.endswith((":", ",")) and text[:1].isupper()) or text[:1].isdigit()


def _title_case(text: str) -> bool:
    words = [word for word in re.findall(r"[^\W\d_][\w'’-]*", text)]
    big = [word for word in words if word.lower() not in _TITLE_CASE_SMALL]
    return len(big) >= 3 and sum(word[0].isupper() for word in big) >= 0.7 * len(big)


def _is_byline(text: str) -> bool:
    return bool(re.match(r"^\W*(?:by\b|by(?=[A-Z])|author\b|written by\b)", text, re.I))


def _normal(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def _meta_lines(texts: list[str], lines: list[PageLine], headline: int) -> list[str]:
    """The lines where a byline and date stand: just above the headline, and below it down to
    the first paragraph after a standfirst."""
    found = texts[max(0, headline - 2) : headline]
    prose_seen = 0
    for index in range(headline + 1, min(len(texts), headline + 1 + _META_REACH + 4)):
        if lines[index].prose:
            prose_seen += 1
            if prose_seen > 1 or lines[index].words > 45:
                break
            continue
        found.append(texts[index])
    return found


_GLUED_BYLINE = re.compile(r"^\W*by\s+(?P<name>[^:]{2,60}):\s+(?P<lead>\S.*)$", re.I)


def _glued_byline(line: str) -> tuple[str | None, str]:
    """The author and the lead of a first paragraph that starts "By Name: …"."""
    match = _GLUED_BYLINE.match(line)
    author = explicit_byline(f"By {match['name']}") if match else None
    return (author, match["lead"]) if match and author else (None, line)


def _signed(lines: list[str]) -> str | None:
    """The author of a short "By …" or "Written by …" line in the article or at its foot."""
    for line in lines:
        if _is_byline(line) and len(line.split()) <= 15:
            author = explicit_byline(line)
            if author:
                return author
    return None


def _meta(lines: list[str], now: datetime | None) -> tuple[str | None, datetime | None]:
    author, _ = find_byline(lines, now)
    published = None
    for line in lines:
        published = find_date(line, now)
        if published:
            break
    return author, published


def _kept(texts: list[str], lines: list[PageLine], start: int, end: int) -> set[int]:
    """The article's lines: its prose, and the short lines between that read as its own
    (one-line paragraphs, a subheading, whom it credits) rather than captions, credits,
    prompts or link lists."""
    kept: set[int] = set()
    # A line said three times or more on the page is its furniture (a teaser repeated in
    # every rail, a label in every card), however sentence-like: an article does not repeat
    # itself word for word.
    counts = Counter(texts)
    for index in range(start, end + 1):
        line = lines[index]
        if counts[texts[index]] >= 3:
            continue
        credits = bool(_SOURCE_LINE.match(texts[index])) and index - start < 3
        own = (line.prose or line.sentence_like) and not _caption(lines, index)
        if credits or own or _subheading(lines, index):
            kept.add(index)
    return kept


def _caption(lines: list[PageLine], index: int) -> bool:
    """A picture's caption: its own credit at the end, a credit line right after it, or a
    button laid over the picture right before it."""
    line = lines[index]
    if line.credit:
        return True
    if index > 0 and line.words <= 40 and IMAGE_BUTTON.match(lines[index - 1].text.strip()):
        return True
    following = lines[index + 1] if index + 1 < len(lines) else None
    # Only a credit line of its own marks the line above as its caption; a caption that
    # ends in its credit is a caption by itself, not the paragraph before it.
    return following is not None and following.credit and following.words <= 12 and line.words <= 45


def _subheading(lines: list[PageLine], index: int) -> bool:
    """A short heading inside the article: prose follows it, and prose comes before it once
    the chrome in between (a "Read more" link, a share row) is set aside."""
    line = lines[index]
    if line.chrome or line.credit or not 1 <= line.words <= 12:
        return False
    after = lines[index + 1] if index + 1 < len(lines) else None
    if after is None or not after.prose:
        return False
    before = index - 1
    while before >= 0 and lines[before].chrome:
        before -= 1
    return before >= 0 and lines[before].prose


def _short_note(texts: list[str], lines: list[PageLine], now: datetime | None) -> PastedArticle:
    """A paste with no paragraph long enough to be prose: a headline and a few short lines."""
    headline = next(
        (i for i, text in enumerate(texts) if _title_like(text, lines[i]) and lines[i].words >= 4),
        None,
    )
    if headline is None:
        raise ValueError("no headline found: the text has no line of four or more words")
    rest = {
        i
        for i in range(headline + 1, len(texts))
        if not lines[i].chrome and not find_date(texts[i], now) and not _is_byline(texts[i])
    }
    if not rest:
        raise ValueError("no article text found below the headline")
    author, published = _meta(texts[headline + 1 : headline + 1 + _META_REACH], now)
    return _assembled(texts, headline, rest, author, published)


def _find_source(title: str, body: list[str]) -> str | None:
    """The outlet credited: a "Source:" line at the top or the foot of the article (one in the
    middle credits a chart or a picture), else an attribution after the headline."""
    for line in [*body[:2], *body[-1:]]:
        match = _SOURCE_LINE.match(line)
        if match:
            credited = re.split(r"\s*(?:,|;|\bciting\b|\bquoting\b|\bvia\b|\s[–—-]\s)", match[1])[0]
            credited = credited.strip(" .")
            if credited:
                return credited
    return headline_attribution(title)
