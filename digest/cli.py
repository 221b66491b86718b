"""The `digest` command: parses arguments, calls digest.app, prints. Heavy modules are imported
inside the commands that need them so that `digest --help` and idle cron ticks stay fast."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

if TYPE_CHECKING:
    from digest.app import App
    from digest.articles import Article
    from digest.edition import Edition
    from digest.render import RenderedEmail

app = typer.Typer(
    help="Newsletter digests: add articles, build a themed edition, render it as email.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
articles_app = typer.Typer(help="Stored articles.", no_args_is_help=True)
editions_app = typer.Typer(help="Editions.", no_args_is_help=True)
app.add_typer(articles_app, name="articles")
app.add_typer(editions_app, name="editions")

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="Settings file (default: $DIGEST_CONFIG or ./digest.toml)."
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
EditionArgument = Annotated[str, typer.Argument(help="Edition id, or 'latest'.")]
NewsletterOption = Annotated[
    str | None, typer.Option("--newsletter", "-n", help="Newsletter name (if several).")
]


@app.callback()
def _root(ctx: typer.Context, config: ConfigOption = None) -> None:
    ctx.obj = config


def _app(ctx: typer.Context) -> App:
    from digest.app import App
    from digest.config import load_settings

    instance = App(load_settings(ctx.obj))
    ctx.call_on_close(instance.close)
    return instance


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def _article_json(article: Article) -> dict[str, Any]:
    return article.model_dump(
        mode="json", include={"id", "title", "url", "source", "author", "published", "tags", "text"}
    )


def _edition_json(edition: Edition) -> dict[str, Any]:
    return edition.model_dump(mode="json")


@app.command("config")
def config_command(ctx: typer.Context) -> None:
    """Print the effective settings (secrets masked)."""
    from digest.config import load_settings

    _print_json(load_settings(ctx.obj).masked())


@app.command()
def add(
    ctx: typer.Context,
    sources: Annotated[list[str], typer.Argument(help="Files, folders or http(s) URLs.")],
    tag: Annotated[list[str] | None, typer.Option("--tag", "-t", help="Tag every article.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Add articles from .txt, .md, .html, .json and .jsonl files, folders of them, or URLs."""
    report = _app(ctx).add(sources, tag)
    for error in report.errors:
        typer.echo(f"error: {error}", err=True)
    if as_json:
        _print_json([_article_json(article) for article in report.added])
    else:
        for outcome in report.outcomes:
            a = outcome.article
            if outcome.added:
                typer.echo(f"added #{a.id}: {a.title}")
            else:
                typer.echo(f"already stored as #{outcome.duplicate_of}: {a.title}")
        typer.echo(
            f"{len(report.added)} added, {len(report.outcomes) - len(report.added)} already "
            f"stored, {len(report.errors)} failed"
        )
    if report.errors:
        raise typer.Exit(1)


@articles_app.command("list")
def articles_list(
    ctx: typer.Context,
    limit: Annotated[int | None, typer.Option(help="Newest N only.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List stored articles, newest first."""
    stored = _app(ctx).store.list_articles(limit)
    if as_json:
        _print_json([_article_json(article) for article in stored])
        return
    for article in stored:
        source = f" ({article.source})" if article.source else ""
        typer.echo(f"#{article.id}  {article.title}{source}")


@articles_app.command("show")
def articles_show(
    ctx: typer.Context,
    article_id: Annotated[int, typer.Argument(metavar="ID")],
    as_json: JsonOption = False,
) -> None:
    """Show one stored article."""
    article = _app(ctx).store.get_article(article_id)
    if as_json:
        _print_json(_article_json(article))
        return
    typer.echo(article.title)
    for label, value in (
        ("url", article.url),
        ("source", article.source),
        ("author", article.author),
        ("published", article.published),
        ("tags", ", ".join(article.tags)),
    ):
        if value:
            typer.echo(f"{label}: {value}")
    typer.echo("")
    typer.echo(article.text)


@app.command()
def build(
    ctx: typer.Context,
    newsletter: NewsletterOption = None,
    on: Annotated[
        str | None, typer.Option("--date", help="Issue date, YYYY-MM-DD (default: today).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Build a draft edition from the articles not yet in an edition."""
    instance = _app(ctx)
    config = instance.settings.newsletter(newsletter)
    issue_date = _parse_date(on) if on else date.today()
    edition = instance.build(config, issue_date)
    if as_json:
        _print_json(_edition_json(edition))
        return
    typer.echo(f"edition {edition.id}: {config.name} No. {edition.number}, {edition.date} (draft)")
    _print_outline(edition)


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a date like 2026-11-24", param_hint="--date"
        ) from None


def _print_outline(edition: Edition) -> None:
    typer.echo(f"subject:   {edition.subject}")
    typer.echo(f"preheader: {edition.preheader}")
    for section in edition.sections:
        typer.echo(f"  {section.title}")
        for item in section.items:
            typer.echo(f"    #{item.article.id} {item.article.title}")


@editions_app.command("list")
def editions_list(
    ctx: typer.Context, newsletter: NewsletterOption = None, as_json: JsonOption = False
) -> None:
    """List editions, newest first."""
    editions = _app(ctx).store.list_editions(newsletter)
    if as_json:
        _print_json([_edition_json(edition) for edition in editions])
        return
    for edition in editions:
        typer.echo(
            f"{edition.id}  {edition.newsletter} No. {edition.number}  {edition.date}  "
            f"{edition.status.value:<9} {edition.subject}"
        )


@editions_app.command("show")
def editions_show(
    ctx: typer.Context, edition: EditionArgument, as_json: JsonOption = False
) -> None:
    """Show an edition's outline."""
    found = _app(ctx).edition(edition)
    if as_json:
        _print_json(_edition_json(found))
        return
    typer.echo(
        f"edition {found.id}: {found.newsletter} No. {found.number}, {found.date} "
        f"({found.status.value})"
    )
    _print_outline(found)


@app.command()
def edit(
    ctx: typer.Context,
    edition: EditionArgument,
    from_file: Annotated[
        Path | None,
        typer.Option("--from", help="Apply this YAML file instead of opening an editor."),
    ] = None,
    to_file: Annotated[
        Path | None, typer.Option("--to", help="Write the edition as YAML to this file and stop.")
    ] = None,
) -> None:
    """Edit a draft's subject, intro, sections, order and summaries as YAML ($EDITOR)."""
    from digest.editing import apply_yaml, edition_to_yaml, open_in_editor

    instance = _app(ctx)
    current = instance.edition(edition)
    if to_file:
        to_file.write_text(edition_to_yaml(current), encoding="utf-8")
        typer.echo(f"wrote edition {current.id} to {to_file}")
        return
    if from_file:
        text = from_file.read_text(encoding="utf-8")
        origin = str(from_file)
    else:
        edited = open_in_editor(edition_to_yaml(current))
        if edited is None:
            typer.echo("no changes")
            return
        text, origin = edited, f"edition {current.id}"
    try:
        updated = instance.store.update_edition(apply_yaml(current, text, instance.store, origin))
    except Exception:
        if not from_file:
            # Keep the editor's work: a validation error must not throw it away.
            rescue = Path(f"edition-{current.id}-unsaved.yaml")
            rescue.write_text(text, encoding="utf-8")
            typer.echo(
                f"your changes are kept in {rescue}; fix it and run "
                f"`digest edit {current.id} --from {rescue}`",
                err=True,
            )
        raise
    typer.echo(f"edition {updated.id} updated")
    _print_outline(updated)


@app.command()
def render(
    ctx: typer.Context,
    edition: EditionArgument,
    format: Annotated[
        Literal["html", "text", "mjml"], typer.Option("--format", "-f", help="What to write.")
    ] = "html",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="File (default: stdout).")] = None,
    force: Annotated[bool, typer.Option(help="Write even if the lint finds errors.")] = False,
) -> None:
    """Render an edition as email HTML, plain text or MJML."""
    instance = _app(ctx)
    email = instance.render(instance.edition(edition))
    _report_findings(email)
    if email.errors and not force:
        typer.echo("not written: fix the errors above or pass --force", err=True)
        raise typer.Exit(1)
    body = {"html": email.html, "text": email.text, "mjml": email.mjml}[format]
    if out is None:
        sys.stdout.write(body)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(body, encoding="utf-8")
    typer.echo(f"wrote {out} ({len(body.encode()):,} bytes)", err=True)


@app.command()
def lint(ctx: typer.Context, edition: EditionArgument, as_json: JsonOption = False) -> None:
    """Check an edition's email: size against Gmail's clip limit, alt text, links, markers."""
    instance = _app(ctx)
    email = instance.render(instance.edition(edition))
    if as_json:
        _print_json({"size": email.size, "findings": [f.model_dump() for f in email.findings]})
    else:
        typer.echo(f"HTML size: {email.size / 1024:.1f} KB (Gmail clips over 102 KB)")
        _report_findings(email, stream_err=False)
        if not email.findings:
            typer.echo("no problems found")
    if email.errors:
        raise typer.Exit(1)


def _report_findings(email: RenderedEmail, stream_err: bool = True) -> None:
    for finding in email.findings:
        typer.echo(f"{finding.severity}: {finding.code}: {finding.message}", err=stream_err)


def main() -> None:
    from digest.errors import DigestError

    try:
        app()
    except DigestError as error:
        typer.echo(f"error: {error}", err=True)
        sys.exit(1)
