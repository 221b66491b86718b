"""Rendering an Edition into an email: MJML from Jinja2 templates, compiled to HTML by
mjml-python, plus a plain-text part from its own template."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, Field

from digest.articles import Article
from digest.config import NewsletterConfig
from digest.edition import Edition
from digest.render import content, placeholders
from digest.render.lint import Finding, lint_email, without_markers
from digest.render.mjml import compile_mjml
from digest.render.templates import TemplateProblem, environments, load, render

__all__ = ["Finding", "RenderedEmail", "TemplateProblem", "render_edition", "render_web_copy"]


class RenderedEmail(BaseModel):
    """What sending needs: subject, both bodies, and what the lint found."""

    subject: str
    preheader: str
    html: str
    text: str
    mjml: str
    findings: list[Finding] = Field(default_factory=list)

    @property
    def size(self) -> int:
        """Bytes of HTML as sent, which is what Gmail's clipping counts."""
        return len(self.html.encode("utf-8"))

    @property
    def images(self) -> int:
        """Pictures in the HTML (logo and thumbnails): each is a request when images are on."""
        return self.html.count("<img ")

    @property
    def errors(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.severity == "error"]


def edition_web_url(newsletter: NewsletterConfig, edition: Edition) -> str:
    """Where the edition's web copy lives ("view in browser")."""
    return f"{newsletter.web_base}/archive/{newsletter.name}/{edition.number}"


def render_edition(
    edition: Edition,
    newsletter: NewsletterConfig,
    templates_dir: Path | None = None,
    outside: Sequence[str] = (),
    *,
    tracked: bool = False,
) -> RenderedEmail:
    """The email and its lint findings; `outside` are headlines of stored articles the edition
    does not hold (for the lint of hand-written copy that still names them). `tracked`: the
    article links go through each reader's click redirect (the copy that is sent when the
    newsletter tracks clicks); else they are the articles' own (previews, the archive)."""
    # Article and editor text is data: sending's markers in it are made inert first.
    shown = content.for_templates(edition)
    mjml, html, text = _render_parts(shown, newsletter, templates_dir, tracked=tracked)
    email = RenderedEmail(
        subject=shown.subject, preheader=shown.preheader, html=html, text=text, mjml=mjml
    )
    # Template markers are the templates' business: when the text quotes some ("{{"), the
    # templates' own output is rendered again without them for the lint to look at.
    from_templates = None
    probe = content.map_text(shown, without_markers)
    if probe != shown:
        _, probe_html, probe_text = _render_parts(probe, newsletter, templates_dir, tracked=tracked)
        from_templates = (probe_html, probe_text)
    # The copy and summaries are checked as the editor wrote them (before markers are made
    # inert), against the newsletter's budget and theme.
    email.findings = lint_email(
        edition,
        html=html,
        text=text,
        from_templates=from_templates,
        summary_words=newsletter.summary_words,
        theme=newsletter.theme,
        outside=outside,
    )
    return email


def render_web_copy(
    edition: Edition, newsletter: NewsletterConfig, templates_dir: Path | None = None
) -> str:
    """The HTML of the archive's copy: templates see `web_copy` and leave out the greeting and
    the reader's address, unsubscribe and preference links, offering `subscribe_url`
    instead. A custom template that ignores `web_copy` still gets no one's data: its markers
    are filled with a nameless reader, "you", and the subscribe link (for either link)."""
    shown = content.for_templates(edition)
    _, html, _ = _render_parts(shown, newsletter, templates_dir, web_copy=True)
    subscribe = subscribe_url(newsletter)
    values = placeholders.values_for("", "you", subscribe, preferences_url=subscribe)
    return placeholders.fill(html, values)


def subscribe_url(newsletter: NewsletterConfig) -> str:
    """The subscribe form of the newsletter's first list (its site when it has no list)."""
    if not newsletter.lists:
        return newsletter.web_base
    return f"{newsletter.web_base}/subscribe/{newsletter.lists[0]}"


def article_link(article: Article) -> str:
    """An article's link through the reader's click redirect (`%%click_base%%/ID`, filled per
    reader when sending); its own URL when it has no id (an edition not stored)."""
    if article.id is None or not article.url:
        return own_link(article)
    return f"{placeholders.CLICK_BASE}/{article.id}"


def own_link(article: Article) -> str:
    """An article's own URL: the templates' `link(article)` when clicks are not tracked."""
    return article.url or ""


def _render_parts(
    edition: Edition,
    newsletter: NewsletterConfig,
    templates_dir: Path | None,
    web_copy: bool = False,
    tracked: bool = False,
) -> tuple[str, str, str]:
    """(MJML, HTML, text) of one edition, as mailed or (`web_copy`) as the archive shows it."""
    markup, plain = environments(templates_dir)
    context: dict[str, object] = {
        "edition": edition,
        "newsletter": newsletter,
        "web_url": edition_web_url(newsletter, edition),
        "unsubscribe_url": placeholders.UNSUBSCRIBE_URL,
        "placeholders": placeholders.ForTemplates,
        "web_copy": web_copy,
        "subscribe_url": subscribe_url(newsletter) if newsletter.lists else "",
        "archive_url": f"{newsletter.web_base}/archive/{newsletter.name}",
        "link": article_link if tracked else own_link,
    }
    mjml = render(load(markup, f"{newsletter.template}.mjml.j2"), context)
    html = compile_mjml(mjml, f"{newsletter.template}.mjml.j2")
    text = render(load(plain, f"{newsletter.template}.txt.j2"), context)
    return mjml, html, text
