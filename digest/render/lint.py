"""Checks on a rendered email before anyone receives it: size against Gmail's clipping, images
without alt text, empty or overlong summaries, a subject, preheader or intro written by hand
that no longer matches the edition, insecure links, leftover template markers."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from lxml import html as lxml_html
from pydantic import BaseModel

from digest.edition import Edition
from digest.edition_copy import clean_headline, stale_copy
from digest.render import placeholders

# Gmail hides everything past 102 KB of HTML behind "[Message clipped]", including the footer
# with the unsubscribe link.
GMAIL_CLIP_BYTES = 102 * 1024
SIZE_WARNING_BYTES = 90 * 1024
SUBJECT_WARNING_CHARS = 90
# A summary may run this far past the newsletter's summary_words before the lint says so.
SUMMARY_SLACK = 1.25
_TEMPLATE_MARKERS = re.compile(r"\{\{|\}\}|\{%|%\}|\{#|#\}|</?mj-[a-z-]+|%%[a-z_]+%%")


class Finding(BaseModel):
    severity: Literal["error", "warning"]
    code: str
    message: str


def lint_email(
    edition: Edition,
    *,
    html: str,
    text: str,
    from_templates: tuple[str, str] | None = None,
    summary_words: int | None = None,
    theme: str = "",
    outside: Sequence[str] = (),
) -> list[Finding]:
    """Findings on the email as sent. Leftover template markers are looked for in
    `from_templates` when given: (html, text) rendered with the markers taken out of the
    articles' and editors' text, so that a story quoting "{{ price }}" is not mistaken for a
    broken template. `summary_words` and `theme` are the newsletter's: summaries are held to
    the one, and the copy built from the edition (never stale) is told apart with the other;
    `outside` are headlines of stored articles the edition does not hold, which hand-written
    copy should no longer name."""
    findings: list[Finding] = []
    findings += _size(html)
    findings += _content(edition, summary_words)
    findings += [
        _warning("stale-copy", f"{field}: {message}")
        for field, message in stale_copy(edition, theme, outside)
    ]
    document = lxml_html.document_fromstring(html)
    findings += _images(document)
    findings += _article_images(edition)
    findings += _links(document)
    template_html, template_text = from_templates or (html, text)
    if template_html is not html:
        document = lxml_html.document_fromstring(template_html)
    findings += _leftovers(_visible_text(document), "HTML")
    findings += _leftovers(template_text, "text")
    if placeholders.UNSUBSCRIBE_URL not in html or placeholders.UNSUBSCRIBE_URL not in text:
        findings.append(_error("no-unsubscribe", "the template has no unsubscribe link"))
    return findings


def _error(code: str, message: str) -> Finding:
    return Finding(severity="error", code=code, message=message)


def _warning(code: str, message: str) -> Finding:
    return Finding(severity="warning", code=code, message=message)


def _size(html: str) -> list[Finding]:
    size = len(html.encode("utf-8"))
    described = f"HTML is {size / 1024:.1f} KB"
    if size > GMAIL_CLIP_BYTES:
        return [_error("size", f"{described}: Gmail clips messages over 102 KB")]
    if size > SIZE_WARNING_BYTES:
        return [_warning("size", f"{described}: close to Gmail's 102 KB clipping limit")]
    return []


def _content(edition: Edition, summary_words: int | None) -> list[Finding]:
    findings = []
    if not edition.subject.strip():
        findings.append(_error("empty-subject", "the subject is empty"))
    elif len(edition.subject) > SUBJECT_WARNING_CHARS:
        findings.append(
            _warning(
                "long-subject",
                f"the subject has {len(edition.subject)} characters; "
                f"inboxes show about {SUBJECT_WARNING_CHARS}",
            )
        )
    if not edition.preheader.strip():
        findings.append(_warning("no-preheader", "no preheader: inboxes will show body text"))
    for item in edition.items:
        headline = clean_headline(item.article.title)
        words = len(item.summary.text.split())
        if not words:
            findings.append(
                _error("empty-summary", f'"{headline}" (article {item.article.id}): empty summary')
            )
        elif summary_words and words > SUMMARY_SLACK * summary_words:
            findings.append(
                _warning(
                    "long-summary",
                    f'"{headline}" (article {item.article.id}): the summary has {words} words, '
                    f"more than a quarter over the newsletter's {summary_words}",
                )
            )
    return findings


def _images(document: lxml_html.HtmlElement) -> list[Finding]:
    """Every picture in the HTML: alt text, https, and a size (images off, clients reserve the
    box; without one the layout jumps)."""
    findings = []
    images = list(document.iter("img"))
    for image in images:
        source = image.get("src", "")
        if source.startswith("http://"):
            findings.append(_warning("insecure-image", f"image is not https: {source}"))
        if not image.get("width"):
            findings.append(_warning("image-size", f"image {source} has no width"))
        if image.get("alt") is None:
            findings.append(_error("image-alt", f"image {source} has no alt text"))
        elif not image.get("alt", "").strip() and image.get("role") != "presentation":
            findings.append(_warning("image-alt", f"image {source} has empty alt text"))
    return findings


def _article_images(edition: Edition) -> list[Finding]:
    """Pictures the email leaves out because they are not https: the editor may want another."""
    findings = []
    for item in edition.items:
        url = item.article.image_url
        if url and item.show_image and not url.startswith("https://"):
            findings.append(
                _warning(
                    "insecure-image",
                    f'"{clean_headline(item.article.title)}" (article {item.article.id}): its '
                    f"picture is not https and is left out: {url}",
                )
            )
    return findings


_CLICK_LINK = placeholders.CLICK_BASE + "/"


def _links(document: lxml_html.HtmlElement) -> list[Finding]:
    findings = []
    seen: set[str] = set()
    for link in document.iter("a"):
        href = (link.get("href") or "").strip()
        # The click redirect's links are filled per reader with the newsletter's https
        # address; the article URLs behind them are checked in the untracked preview.
        if href in seen or href in placeholders.ALL or href.startswith(_CLICK_LINK):
            continue
        seen.add(href)
        if not href:
            findings.append(_error("empty-link", "a link has no address"))
        elif href.startswith("http://"):
            findings.append(_warning("insecure-link", f"link is not https: {href}"))
        elif not href.startswith(("https://", "mailto:")):
            findings.append(_error("bad-link", f"link is neither https nor mailto: {href}"))
    return findings


def _visible_text(document: lxml_html.HtmlElement) -> str:
    """Text and addresses a reader could see; CSS braces are not template markers."""
    parts: list[str] = []
    for element in document.iter():
        if element.tag in ("style", "script") or not isinstance(element.tag, str):
            continue
        parts.append(element.text or "")
        parts.extend(element.get(name, "") for name in ("href", "src", "alt", "title"))
    parts.extend(element.tail or "" for element in document.iter() if isinstance(element.tag, str))
    return "\n".join(parts)


def without_markers(text: str) -> str:
    """Text with every template-marker shape taken out (until none is left: "{{{" has one
    inside another)."""
    while _TEMPLATE_MARKERS.search(text):
        text = _TEMPLATE_MARKERS.sub(" ", text)
    return text


def _leftovers(body: str, part: str) -> list[Finding]:
    markers = sorted({m.group() for m in _TEMPLATE_MARKERS.finditer(body)} - set(placeholders.ALL))
    if not markers:
        return []
    listed = ", ".join(repr(marker) for marker in markers)
    return [_error("template-marker", f"{part} part has leftover template markers: {listed}")]
