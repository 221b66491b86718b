"""Rendering an Edition into an email: MJML from Jinja2 templates, compiled to HTML by
mjml-python, plus a plain-text part from its own template."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from digest.config import NewsletterConfig
from digest.edition import Edition
from digest.render import placeholders
from digest.render.lint import Finding, lint_email
from digest.render.mjml import compile_mjml
from digest.render.templates import TemplateProblem, environments, load, render

__all__ = ["Finding", "RenderedEmail", "TemplateProblem", "render_edition"]


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
    def errors(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.severity == "error"]


def edition_web_url(newsletter: NewsletterConfig, edition: Edition) -> str:
    """Where the edition's web copy lives ("view in browser")."""
    return f"{newsletter.web_base}/archive/{newsletter.name}/{edition.number}"


def render_edition(
    edition: Edition, newsletter: NewsletterConfig, templates_dir: Path | None = None
) -> RenderedEmail:
    markup, plain = environments(templates_dir)
    context: dict[str, object] = {
        "edition": edition,
        "newsletter": newsletter,
        "web_url": edition_web_url(newsletter, edition),
        "unsubscribe_url": placeholders.UNSUBSCRIBE_URL,
        "placeholders": placeholders.ForTemplates,
    }
    mjml = render(load(markup, f"{newsletter.template}.mjml.j2"), context)
    html = compile_mjml(mjml, f"{newsletter.template}.mjml.j2")
    text = render(load(plain, f"{newsletter.template}.txt.j2"), context)
    email = RenderedEmail(
        subject=edition.subject, preheader=edition.preheader, html=html, text=text, mjml=mjml
    )
    email.findings = lint_email(edition, html=html, text=text)
    return email
