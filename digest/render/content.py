"""The text of an edition as templates get it: what articles, summaries and editors wrote is
data, never markup or per-reader markers.

Jinja never evaluates what it inserts, but sending fills `%%name%%`-shaped markers wherever
they are (and SendGrid substitutes them in the subject too): a story quoting `%%email%%` would
print each reader's address, and a link to `…?q=%%email%%` would hand it to another site. So
before rendering, marker-shaped runs in text are broken with an invisible word joiner and
stray `%` in URLs are percent-encoded.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from digest.articles import Article
from digest.edition import Edition
from digest.render import placeholders

# "%" not starting a percent-escape ("%2F"): "%%email%%" in a URL is not one.
_STRAY_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def for_templates(edition: Edition) -> Edition:
    """The edition with its text made inert for sending's markers."""
    return map_text(edition, placeholders.inert, _encoded_url)


def _encoded_url(url: str) -> str:
    return _STRAY_PERCENT.sub("%25", url)


def map_text(
    edition: Edition, text: Callable[[str], str], url: Callable[[str], str] | None = None
) -> Edition:
    """A copy of the edition with `text` applied to every string a template may show (and
    `url`, or `text`, to article links)."""
    link = url or text

    def optional(value: str | None) -> str | None:
        return text(value) if value else value

    def shown(article: Article) -> Article:
        return article.model_copy(
            update={
                "title": text(article.title),
                "source": optional(article.source),
                "author": optional(article.author),
                "text": text(article.text),
                "tags": [text(tag) for tag in article.tags],
                "url": link(article.url) if article.url else None,
                "image_url": link(article.image_url) if article.image_url else None,
            }
        )

    sections = []
    for section in edition.sections:
        items = []
        for item in section.items:
            items.append(
                item.model_copy(
                    update={
                        "article": shown(item.article),
                        "summary": item.summary.model_copy(
                            update={"text": text(item.summary.text)}
                        ),
                        "also": [shown(report) for report in item.also],
                    }
                )
            )
        sections.append(section.model_copy(update={"title": text(section.title), "items": items}))
    return edition.model_copy(
        update={
            "subject": text(edition.subject),
            "preheader": text(edition.preheader),
            "intro": text(edition.intro),
            "sections": sections,
        }
    )
