"""The Jinja2 environment for email templates: where templates live, filters, and errors that
name the template and line."""

from __future__ import annotations

import textwrap
from datetime import date
from functools import lru_cache
from pathlib import Path

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
    UndefinedError,
)

from digest.articles import Article, site_of
from digest.colours import readable_hex
from digest.errors import DigestError
from digest.render.images import thumbnail

_PACKAGE = Path(__file__).resolve().parent.parent


class TemplateProblem(DigestError):
    """A template that cannot be loaded or rendered; the message names it and the line."""


def default_templates_dir() -> Path:
    """The bundled templates: inside the installed package, or at the repository root."""
    installed = _PACKAGE / "templates"
    if installed.is_dir():
        return installed
    return _PACKAGE.parent / "templates"


@lru_cache(maxsize=8)
def environments(custom_dir: Path | None) -> tuple[Environment, Environment]:
    """(MJML environment with HTML escaping, plain-text environment without it).

    A custom folder comes first, so it can override single partials and keep the rest.
    """
    folders = [str(custom_dir)] if custom_dir else []
    folders.append(str(default_templates_dir()))
    loader = ChoiceLoader([FileSystemLoader(folder) for folder in folders])
    markup = Environment(
        loader=loader,
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    plain = Environment(
        loader=loader,
        autoescape=False,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    for environment in (markup, plain):
        environment.filters["long_date"] = long_date
        environment.filters["wrap"] = wrap
        environment.filters["outlet"] = outlet
        environment.filters["thumbnail"] = thumbnail
        environment.filters["readable_on"] = readable_hex
    return markup, plain


def long_date(value: date) -> str:
    return f"{value.day} {value:%B %Y}"


def outlet(article: Article) -> str:
    """Who published a report, for "Also reported by …": its source, else its site's name."""
    return article.source or site_of(article.url) or "another source"


def wrap(text: str, width: int = 72, indent: int = 0) -> str:
    """Fill a paragraph for plain-text email: lines of at most `width`, never breaking words or
    URLs."""
    prefix = " " * indent
    return textwrap.fill(
        " ".join(text.split()),
        width=width,
        initial_indent=prefix,
        subsequent_indent=prefix,
        break_long_words=False,
        break_on_hyphens=False,
    )


def load(environment: Environment, name: str) -> Template:
    try:
        return environment.get_template(name)
    except TemplateNotFound as error:
        raise TemplateProblem(f"template {error.name!r} not found") from None
    except TemplateSyntaxError as error:
        raise TemplateProblem(
            f"{error.filename or error.name}:{error.lineno}: {error.message}"
        ) from None


def render(template: Template, context: dict[str, object]) -> str:
    try:
        return template.render(context)
    except TemplateSyntaxError as error:
        raise TemplateProblem(
            f"{error.filename or error.name}:{error.lineno}: {error.message}"
        ) from None
    except (UndefinedError, TemplateError, TypeError, ValueError) as error:
        raise TemplateProblem(f"{_failing_line(error, template)}: {error}") from None


def _failing_line(error: BaseException, template: Template) -> str:
    """ "name:line" of the innermost template frame, from Jinja's rewritten traceback."""
    where = f"{template.name}:?"
    traceback = error.__traceback__
    while traceback is not None:
        filename = traceback.tb_frame.f_code.co_filename
        if filename.endswith(".j2"):
            where = f"{Path(filename).name}:{traceback.tb_lineno}"
        traceback = traceback.tb_next
    return where
