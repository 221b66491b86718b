"""The `digest` command: parses arguments, calls digest.app, prints. Heavy modules are imported
inside the commands that need them so that `digest --help` and idle cron ticks stay fast."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, date, datetime, time, timedelta
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
    # Plain help: rich-formatted help costs half a second of imports and layout per call.
    rich_markup_mode=None,
)
articles_app = typer.Typer(help="Stored articles.", no_args_is_help=True)
editions_app = typer.Typer(help="Editions.", no_args_is_help=True)
subscribers_app = typer.Typer(help="Subscriber lists.", no_args_is_help=True)
eval_app = typer.Typer(help="Measure summaries and themes.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")
app.add_typer(articles_app, name="articles")
app.add_typer(editions_app, name="editions")
app.add_typer(subscribers_app, name="subscribers")

# Exit status when another run holds the lock: nothing was done, and nothing is wrong.
EXIT_BUSY = 75
# `digest send` stopped by the complaint and bounce guard: not a failure, but not sent either.
EXIT_PAUSED = 3

ListOption = Annotated[str, typer.Option("--list", "-l", help="Subscriber list name.")]
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


def _picture(article: Article) -> str | None:
    if not article.image_url:
        return None
    if article.image_width and article.image_height:
        return f"{article.image_url} ({article.image_width}×{article.image_height})"
    return article.image_url


def _article_json(article: Article) -> dict[str, Any]:
    # What scripts get of an article (and `.json` intake reads back), with its word count.
    from digest.articles import RECORD_FIELDS

    fields = article.model_dump(mode="json", include={"id", *RECORD_FIELDS})
    return {**fields, "word_count": article.word_count}


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
    sources: Annotated[
        list[str], typer.Argument(help="Files, folders, http(s) URLs, or - for standard input.")
    ],
    tag: Annotated[list[str] | None, typer.Option("--tag", "-t", help="Tag every article.")] = None,
    url: Annotated[
        str | None, typer.Option("--url", help="The address of the page given on standard input.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Add articles from .txt, .md, .html, .json and .jsonl files, folders of them, URLs, or a
    page's text or HTML piped in (-). Prints what was found in each, to check and fix."""
    from digest.app import STDIN

    if url is not None and STDIN not in sources:
        raise typer.BadParameter(
            "is the address of a page on standard input: add - as a source", param_hint="--url"
        )
    stdin = _read_stdin() if STDIN in sources else None
    report = _app(ctx).add(sources, tag, stdin=stdin, url=url)
    for error in report.errors:
        typer.echo(f"error: {error}", err=True)
    if as_json:
        _print_json([_article_json(article) for article in report.added])
    else:
        for outcome in report.outcomes:
            a = outcome.article
            if outcome.added:
                typer.echo(f"added #{a.id}: {a.title}")
                typer.echo(f"    {_found(a)}")
            else:
                typer.echo(f"already stored as #{outcome.duplicate_of}: {a.title}")
        typer.echo(
            f"{len(report.added)} added, {len(report.outcomes) - len(report.added)} already "
            f"stored, {len(report.errors)} failed"
        )
    if report.errors:
        raise typer.Exit(1)


def _read_stdin() -> bytes:
    """Standard input as bytes (the app decodes it); a hint first if a person is typing."""
    if sys.stdin.isatty():
        typer.echo("reading a page from standard input (end with Ctrl-D)", err=True)
    return sys.stdin.buffer.read()


def _found(article: Article) -> str:
    """What intake guessed, said so an editor sees at once what is missing and to fix."""
    parts = [f"by {article.author}" if article.author else "no byline found"]
    if article.source:
        parts.append(article.source)
    parts.append(_when(article.published) if article.published else "no date found")
    parts.append(f"{article.word_count} words")
    return " · ".join(parts)


def _when(published: datetime) -> str:
    """A date alone when only a date was given (midnight UTC), else the time and its zone."""
    if published.utcoffset() == timedelta(0) and published.time() == time(0):
        return f"{published:%Y-%m-%d}"
    return f"{published:%Y-%m-%d %H:%M %Z}".strip()


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
        ("keywords", ", ".join(article.keywords)),
        ("image", _picture(article)),
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
    frequency: Annotated[
        str,
        typer.Option(
            help="One of the newsletter's frequencies (default: its main one): the edition "
            "takes the articles no edition of that frequency holds yet."
        ),
    ] = "",
    as_json: JsonOption = False,
) -> None:
    """Build a draft edition from the articles not yet in an edition."""
    instance = _app(ctx)
    config = instance.settings.newsletter(newsletter)
    issue_date = _parse_date(on) if on else date.today()
    edition = instance.build(config, issue_date, frequency=frequency)
    if as_json:
        _print_json(_edition_json(edition))
        return
    every = f", {edition.frequency}" if edition.frequency else ""
    typer.echo(
        f"edition {edition.id}: {config.name} No. {edition.number}, {edition.date}{every} (draft)"
    )
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
    states = _app(ctx).edition_states(newsletter)
    if as_json:
        _print_json(
            [{**_edition_json(s.edition), "state": s.label, "when": s.when} for s in states]
        )
        return
    for state in states:
        edition = state.edition
        typer.echo(
            f"{edition.id}  {edition.newsletter} No. {edition.number}  {edition.date}  "
            f"{state.label:<9} {edition.subject}"
        )
        if state.when:
            typer.echo(f"      {state.when}")


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
        edited_edition = apply_yaml(
            current,
            text,
            instance.store,
            origin,
            summarize=lambda article: instance.summarize_one(current.newsletter, article),
        )
        updated = instance.revise(current, edited_edition)
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
    raw: Annotated[
        bool, typer.Option(help="Keep the per-reader %%markers%% instead of a sample reader.")
    ] = False,
) -> None:
    """Render an edition as email HTML, plain text or MJML (as a sample reader sees it)."""
    from digest.render import placeholders

    instance = _app(ctx)
    found = instance.edition(edition)
    email = instance.render(found)
    _report_findings(email)
    if email.errors and not force:
        typer.echo("not written: fix the errors above or pass --force", err=True)
        raise typer.Exit(1)
    body = {"html": email.html, "text": email.text, "mjml": email.mjml}[format]
    if not raw:
        newsletter = instance.settings.newsletter(found.newsletter)
        body = placeholders.fill(body, placeholders.sample_values(newsletter.web_base))
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
        _print_json(
            {
                "size": email.size,
                "images": email.images,
                "findings": [f.model_dump() for f in email.findings],
            }
        )
    else:
        typer.echo(f"HTML size: {email.size / 1024:.1f} KB (Gmail clips over 102 KB)")
        typer.echo(f"images: {email.images}")
        _report_findings(email, stream_err=False)
        if not email.findings:
            typer.echo("no problems found")
    if email.errors:
        raise typer.Exit(1)


@app.command()
def approve(
    ctx: typer.Context,
    edition: EditionArgument,
    send_at: Annotated[
        str | None,
        typer.Option(
            "--send-at",
            help="When to send, ISO 8601, in the newsletter's time zone unless it has an offset "
            "(default: the time it was built for, or the next scheduled time).",
        ),
    ] = None,
) -> None:
    """Approve a draft for sending (or move an approved edition to another time)."""
    instance = _app(ctx)
    when = None
    if send_at:
        try:
            when = datetime.fromisoformat(send_at)
        except ValueError:
            raise typer.BadParameter(
                f"{send_at!r} is not an ISO date and time", param_hint="--send-at"
            ) from None
    approved = instance.approve(instance.edition(edition), when)
    at = f" to be sent at {approved.send_at.isoformat()}" if approved.send_at else ""
    typer.echo(f"edition {approved.id} approved{at}")


@app.command()
def cancel(
    ctx: typer.Context,
    edition: EditionArgument,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Withdraw a draft or approved edition: it will not be sent (`digest back-to-draft`
    undoes it, every edit kept)."""
    instance = _app(ctx)
    found = instance.edition(edition)
    if not yes:
        typer.confirm(
            f"Cancel edition {found.id} of {found.newsletter} ({found.subject!r})?", abort=True
        )
    cancelled = instance.cancel(found)
    typer.echo(f"edition {cancelled.id} cancelled (digest back-to-draft {cancelled.id} undoes it)")


@app.command("back-to-draft")
def back_to_draft(ctx: typer.Context, edition: EditionArgument) -> None:
    """Make an approved or cancelled edition a draft again, every edit kept; refused once
    sending has started."""
    instance = _app(ctx)
    draft = instance.back_to_draft(instance.edition(edition))
    typer.echo(f"edition {draft.id} is a draft again: edit it, then approve it to send")


@app.command()
def fetch(ctx: typer.Context) -> None:
    """Collect new items from every configured RSS and Atom feed (within fetch_tick_budget)."""
    instance = _app(ctx)
    if not any(n.feeds for n in instance.settings.newsletters.values()):
        typer.echo("no feeds configured")
        return
    reports = instance.fetch_feeds()
    for report in reports:
        typer.echo(report.line())
    if any(report.error for report in reports):
        raise typer.Exit(1)


@app.command()
def run(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Do everything that is due (for cron, every 1-5 minutes): send approved and automatic
    editions, build drafts, notify editors, then fetch feeds. One line per action."""
    from digest.runner import run_due
    from digest.store.locks import LockBusy

    instance = _app(ctx)
    try:  # each action printed as it happens: a killed run leaves what it did in the log
        actions = run_due(
            instance, report=lambda action: typer.echo(action.json() if as_json else action.line())
        )
    except LockBusy:
        # Another run is at work: normal when a tick takes longer than the cron interval.
        typer.echo(
            json.dumps({"action": "run", "status": "busy"})
            if as_json
            else "run busy: another digest run is at work; nothing done"
        )
        return
    if any(action.failed for action in actions):
        raise typer.Exit(1)


@app.command("schedule")
def schedule_command(
    ctx: typer.Context,
    count: Annotated[int, typer.Option(help="How many next times to show.")] = 3,
    as_json: JsonOption = False,
) -> None:
    """Each newsletter's next scheduled times (in its own time zone) and its last outcome."""
    from datetime import UTC

    from digest.frequencies import cadences
    from digest.schedule import next_times

    instance = _app(ctx)
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    paused = {name: instance.paused_sends(name) for name in instance.settings.newsletters}
    for each in instance.settings.newsletters.values():
        for cadence in cadences(each):
            newsletter = cadence.newsletter
            times = (
                next_times(newsletter.schedule, newsletter.zone, now, count)
                if newsletter.schedule
                else []
            )
            last = instance.store.schedule.latest(cadence.key)
            rows.append(
                {
                    "newsletter": newsletter.name,
                    "frequency": cadence.frequency or None,
                    "schedule": newsletter.schedule,
                    "timezone": newsletter.timezone,
                    "mode": newsletter.mode,
                    "next": [t.astimezone(newsletter.zone).isoformat() for t in times],
                    "paused": [
                        {"edition": pause.edition_id, **pause.as_json(), "line": pause.line()}
                        for pause in paused.get(newsletter.name, [])
                    ],
                    "last": (
                        {
                            "slot": last[0].slot.astimezone(newsletter.zone).isoformat(),
                            "action": last[0].action,
                            "status": last[0].status,
                            "edition": last[0].edition_id,
                            "detail": last[0].detail,
                        }
                        if last
                        else None
                    ),
                }
            )
    if as_json:
        _print_json(rows)
        return
    for row in rows:
        name = row["newsletter"] + (f" ({row['frequency']})" if row["frequency"] else "")
        if not row["schedule"]:
            typer.echo(f"{name}: no schedule")
            for pause in row["paused"]:
                typer.echo(f"  edition {pause['edition']} {pause['line']}")
            continue
        typer.echo(f"{name} ({row['mode']}, {row['schedule']!r} {row['timezone']}):")
        for moment in row["next"]:
            typer.echo(f"  next: {moment}")
        last_run = row["last"]
        if last_run:
            detail = f" - {last_run['detail']}" if last_run["detail"] else ""
            typer.echo(
                f"  last: {last_run['slot']} {last_run['action']} {last_run['status']}{detail}"
            )
        for pause in row["paused"]:
            typer.echo(f"  edition {pause['edition']} {pause['line']}")


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default web_host).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port (default web_port).", min=1, max=65535)
    ] = None,
    behind_tls_proxy: Annotated[
        bool,
        typer.Option(
            "--behind-tls-proxy",
            help="A proxy in front terminates TLS (as web_behind_tls_proxy = true).",
        ),
    ] = False,
    insecure_http: Annotated[
        bool,
        typer.Option(
            "--insecure-http",
            help="Development only: serve logins off loopback over plain http.",
        ),
    ] = False,
) -> None:
    """The web app: editor pages (preview, edit, approve), unsubscribe, subscribe, archive.
    Off loopback it needs TLS from a proxy in front (--behind-tls-proxy)."""
    import uvicorn

    from digest.web import create_app, server_options

    settings = _app(ctx).settings
    if behind_tls_proxy:
        settings = settings.model_copy(update={"web_behind_tls_proxy": True})
    bound = host or settings.web_host
    web = create_app(settings, bound, insecure_http=insecure_http)  # ConfigError: one line
    uvicorn.run(web, host=bound, port=port or settings.web_port, **server_options(settings))


@app.command("hash-password")
def hash_password_command() -> None:
    """Print a hash of a password (asked for) to put in editor_password_hash."""
    from digest.web.security import hash_password

    password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    typer.echo(hash_password(password))


@app.command("themes-model")
def themes_model_command(
    out: Annotated[Path, typer.Argument(help="Folder to write the model into.")],
    source: Annotated[
        Path | None,
        typer.Option(help="A sentence-transformers model folder (default: all-MiniLM-L6-v2)."),
    ] = None,
) -> None:
    """Make the static embedding model that themes_embedding_model names (once; needs
    pip install 'digest[embeddings-distill]')."""
    from digest.app import make_themes_model

    typer.echo(f"wrote {make_themes_model(out, source)}: set themes_embedding_model to it")


@eval_app.command("summaries")
def eval_summaries(
    ctx: typer.Context,
    dataset: Annotated[Path, typer.Argument(help="JSONL of {id, article, reference}.")],
    summarizer: Annotated[
        str, typer.Option("--summarizer", "-s", help="extractive, extractive-one or llm.")
    ] = "extractive",
    part: Annotated[
        str | None, typer.Option("--dataset", help="Only records of this dataset (cnndm, xsum).")
    ] = None,
    max_words: Annotated[int, typer.Option(help="Word budget of each summary.")] = 84,
    half: Annotated[
        str | None,
        typer.Option(help="Only one half: tuning (the default was tuned on it) or other."),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Write {id, summary} lines here.")] = None,
) -> None:
    """ROUGE-1/2/L F1 (stemmed) of a summariser beside Lead-3 and any published systems, with
    the share of summaries with a dangling opening, budget filler or an unintroduced name."""
    from digest.errors import DigestError
    from digest.evaluate import TABLE_HEADER, evaluate, half_of, load_examples

    if half not in (None, "tuning", "other"):
        raise DigestError(f"--half: {half!r} is not tuning or other")
    examples = [e for e in load_examples(dataset, part) if half is None or half_of(e.id) == half]
    if not examples:
        raise DigestError(f"{dataset}: no examples in the {half} half")
    if summarizer == "llm":
        chosen = _app(ctx).summarizer
    else:
        from digest.summarize.registry import offline_summarizer

        chosen = offline_summarizer(summarizer)
    scores, outputs = evaluate(examples, {summarizer: chosen}, theme="news", max_words=max_words)
    typer.echo(
        f"{len(examples)} articles from {dataset}"
        + (f" ({part})" if part else "")
        + (f", {half} half" if half else "")
    )
    typer.echo(TABLE_HEADER)
    for row in scores:
        typer.echo(row.row())
    if out:
        with out.open("w", encoding="utf-8") as file:
            for example, summary in zip(examples, outputs[summarizer], strict=True):
                file.write(json.dumps({"id": example.id, "summary": summary}) + "\n")
        typer.echo(f"wrote {out}", err=True)


ViaOption = Annotated[
    str | None,
    typer.Option(
        "--via", help="outbox, smtp, sendgrid, ses, postmark or mailgun (default: configured)."
    ),
]


@app.command()
def send(
    ctx: typer.Context,
    edition: EditionArgument,
    lists: Annotated[
        list[str] | None, typer.Option("--list", "-l", help="Only these lists (repeatable).")
    ] = None,
    via: ViaOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count and render only.")] = False,
    limit: Annotated[int | None, typer.Option(help="At most N recipients this run.")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    resend_unknown: Annotated[
        bool,
        typer.Option(
            "--resend-unknown",
            help="Send again to readers whose earlier send has no known outcome.",
        ),
    ] = False,
    now: Annotated[
        bool,
        typer.Option("--now", help="Send now an edition approved for a later time."),
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Send a newsletter's first edition although `digest doctor` finds errors.",
        ),
    ] = False,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue a send the complaint and bounce guard paused, where it stopped.",
        ),
    ] = False,
    workers: Annotated[
        int,
        typer.Option("--workers", help="Processes sharing the send (PostgreSQL only; SQLite: 1)."),
    ] = 1,
) -> None:
    """Send an approved edition to its lists, exactly once per subscriber (one approved for a
    later time only with --now: `digest run` sends it when it is due). Exit status 3: the
    complaint and bounce guard paused it (`--resume` continues)."""
    from digest.edition import EditionStatus
    from digest.errors import DigestError
    from digest.send.campaign import check_sendable, plan_send
    from digest.shared_send import check_workers

    instance = _app(ctx)
    check_workers(instance, workers)
    found = instance.edition(edition)
    if resend_unknown and not dry_run:
        count = instance.resend_unknown(found)
        typer.echo(f"{count} reader(s) of unknown outcome queued to be sent again")
        found = instance.edition(edition)
    newsletter = instance.settings.newsletter(found.newsletter)
    chosen = lists or newsletter.lists
    check_sendable(found, newsletter)
    later = ""
    approved = found.status == EditionStatus.APPROVED
    if approved and found.send_at and found.send_at > datetime.now(UTC):
        later = instance.edition_state(found).planned
    if later and not now and not dry_run:
        raise DigestError(
            f"edition {found.id} is approved for {later}: `digest run` sends it then; "
            f"`digest send {found.id} --now` sends it now"
        )
    plan = plan_send(instance.store, found, chosen, via or newsletter.sender)
    described = ", ".join(f"{name} ({count} subscribed)" for name, count in plan.lists.items())
    if dry_run:
        # The same checks as a send (secret_key, sender settings, lint errors), without sending.
        email = instance.check_send(found, lists=chosen, via=via, force=force).email
        _report_findings(email)
        typer.echo(
            f"dry run: edition {found.id} via {plan.provider} to {described}; "
            f"{plan.already_delivered} already delivered; HTML {email.size / 1024:.1f} KB"
        )
        if later:
            typer.echo(f"approved for {later}: `digest run` sends it then (--now: at once)")
        return
    if not yes and sys.stdin.isatty():
        typer.confirm(
            f"Send edition {found.id} ({found.subject!r}) via {plan.provider} to {described}?",
            abort=True,
        )
    pause = instance.send_pause(found)
    if resume and (pause is None or not pause.open):
        typer.echo(f"edition {found.id} was not paused: sending it as usual")
    report = _with_progress(
        sum(plan.lists.values()),
        lambda advance: instance.send(
            found,
            force=force,
            lists=chosen,
            via=via,
            limit=limit,
            on_progress=advance,
            resume=resume,
            resumed_by=_who(),
            workers=workers,
        ),
    )
    typer.echo(report.summary())
    if report.paused is not None:
        typer.echo(report.paused.line())
        raise typer.Exit(EXIT_PAUSED)


def _who() -> str:
    """Who runs this command, for the record of a resume."""
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except (OSError, KeyError):
        user = "unknown user"
    return f"{user}@{socket.gethostname()} (digest send --resume)"


@app.command()
def doctor(
    ctx: typer.Context,
    newsletter: NewsletterOption = None,
    via: ViaOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check what mailbox providers check before a newsletter's first send: SPF, DKIM, DMARC
    and MX of its From domain, the one-click unsubscribe at base_url, the edition's email.
    Exit status 1 when anything is an error."""
    reports = _app(ctx).doctor(newsletter, via)
    if as_json:
        _print_json([report.json() for report in reports])
    else:
        typer.echo("\n\n".join("\n".join(report.lines()) for report in reports))
    if any(report.errors for report in reports):
        raise typer.Exit(1)


def _with_progress(total: int | None, work: Any, label: str = "sending") -> Any:
    """Run work(advance) with a progress bar on a terminal, quietly otherwise (cron).
    advance(n) adds n; advance(n, absolute=True) sets the count to n."""
    if not sys.stderr.isatty():
        return work(None)
    from rich.progress import Progress

    with Progress(transient=True) as progress:
        task = progress.add_task(label, total=total)

        def advance(count: int, absolute: bool = False) -> None:
            if absolute:
                progress.update(task, completed=count)
            else:
                progress.advance(task, count)

        return work(advance)


@app.command()
def deliveries(
    ctx: typer.Context,
    edition: EditionArgument,
    status: Annotated[
        list[str] | None,
        typer.Option(help="Only this status (repeatable): sent, failed, deferred, unknown, …"),
    ] = None,
    limit: Annotated[int | None, typer.Option(help="At most N.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Each reader's outcome for an edition: who failed and why, who is deferred until when."""
    import json

    instance = _app(ctx)
    found = instance.edition(edition)
    assert found.id is not None
    for outcome in instance.store.deliveries.outcomes(found.id, status, limit):
        if as_json:
            data = outcome._asdict()
            for key in ("next_attempt_at", "sent_at"):
                data[key] = data[key].isoformat() if data[key] else None
            typer.echo(json.dumps(data, ensure_ascii=False))
            continue
        line = f"{outcome.delivery_id}\t{outcome.email or '(erased)'}\t{outcome.status}"
        if outcome.next_attempt_at and outcome.status == "deferred":
            line += f"\tnext attempt {outcome.next_attempt_at:%Y-%m-%d %H:%M} UTC"
        if outcome.error and outcome.status != "sent":
            line += f"\t{outcome.error}"
        typer.echo(line)


@app.command()
def report(ctx: typer.Context, edition: EditionArgument, as_json: JsonOption = False) -> None:
    """An edition's send report: sent, delivered, deferred (next attempt), failed (why),
    unknown (how to settle), bounced, unsubscribed, complained; and who needs a look. With
    click tracking, the readers who clicked, per article and section, and what was left out."""
    instance = _app(ctx)
    chosen = instance.edition(edition)
    found = instance.delivery_report(chosen)
    clicks = instance.click_figures(chosen)
    if as_json:
        _print_json({**found.as_json(), "clicks": clicks.as_json() if clicks else None})
        return
    for line in [*found.lines(), *(clicks.lines() if clicks else [])]:
        typer.echo(line)


@app.command("test-send")
def test_send(
    ctx: typer.Context,
    edition: EditionArgument,
    to: Annotated[str, typer.Option("--to", help="Address for the test copy.")],
    via: ViaOption = None,
) -> None:
    """Send one copy marked as a test; records no delivery."""
    instance = _app(ctx)
    found = instance.edition(edition)
    provider_id = instance.test_send(found, to, via)
    typer.echo(
        f"test copy of edition {found.id} sent to {to}"
        + (f" ({provider_id})" if provider_id else "")
    )


@app.command()
def unsubscribe(ctx: typer.Context, token: Annotated[str, typer.Argument()]) -> None:
    """Apply a one-click unsubscribe token (as in an email's unsubscribe link)."""
    subscriber = _app(ctx).unsubscribe(token)
    typer.echo(f"{subscriber.email} is {subscriber.status.value} on list {subscriber.list}")


@subscribers_app.command("import")
def subscribers_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV with a header; 'email' is required.")],
    list_name: ListOption,
    status: Annotated[
        str, typer.Option(help="Status for new addresses: subscribed or pending.")
    ] = "subscribed",
    rejects: Annotated[
        Path | None, typer.Option(help="Where bad rows go (default: FILE.rejects.csv).")
    ] = None,
) -> None:
    """Import (and merge) subscribers; bad rows are reported and written to a rejects file.
    Columns topics (keys separated by ;) and frequency must be what the list's newsletters
    declare."""
    from digest.subscribers.model import Status

    if status not in (Status.SUBSCRIBED.value, Status.PENDING.value):
        raise typer.BadParameter("subscribed or pending", param_hint="--status")
    if not file.is_file():
        raise typer.BadParameter(f"{file}: file not found", param_hint="FILE")
    instance = _app(ctx)
    report = _with_progress(
        None,
        lambda advance: instance.import_subscriber_file(
            file,
            list_name,
            pending=status == Status.PENDING.value,
            rejects_path=rejects,
            on_progress=(lambda rows: advance(rows, absolute=True)) if advance else None,
        ),
        "importing",
    )
    for problem in report.problems:
        typer.echo(f"rejected: {problem}", err=True)
    if report.rejected > len(report.problems):
        typer.echo(f"… and {report.rejected - len(report.problems)} more", err=True)
    typer.echo(
        f"{file}: {report.rows} rows, {report.new} new, {report.merged} merged, "
        f"{report.rejected} rejected"
        + (f" (see {report.rejects_path})" if report.rejects_path else "")
    )


@subscribers_app.command("export")
def subscribers_export(
    ctx: typer.Context,
    list_name: ListOption,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="File (default: stdout).")] = None,
) -> None:
    """Export a list as CSV in the import format."""
    from digest.subscribers.exporter import export_csv

    repository = _app(ctx).store.subscribers
    if out is None:
        export_csv(repository, list_name, sys.stdout)
        return
    with out.open("w", encoding="utf-8", newline="") as file:
        count = export_csv(repository, list_name, file)
    typer.echo(f"wrote {count} subscribers to {out}", err=True)


@subscribers_app.command("add")
def subscribers_add(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument()],
    list_name: ListOption,
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    field: Annotated[
        list[str] | None, typer.Option("--field", "-f", help="KEY=VALUE (repeatable).")
    ] = None,
    topics: Annotated[
        str | None,
        typer.Option(help='Topic keys to follow, separated by "," or ";" ("" for every topic).'),
    ] = None,
    frequency: Annotated[
        str | None, typer.Option(help='A frequency key ("" for the newsletter\'s main one).')
    ] = None,
) -> None:
    """Add one subscriber (never resubscribes an address that left). --topics and --frequency
    must be what the list's newsletters declare; left out, a known reader keeps theirs."""
    fields = {}
    for pair in field or []:
        key, separator, value = pair.partition("=")
        if not separator or not key.strip():
            raise typer.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--field")
        fields[key.strip()] = value.strip()
    subscriber, created = _app(ctx).add_subscriber(
        list_name,
        email,
        name,
        "cli",
        fields=fields,
        topics=topics,
        frequency=frequency,
        new_list=True,
    )
    verb = "added" if created else "already on the list, merged"
    choice = ""
    if subscriber.topics or subscriber.frequency:
        topics_said = ", ".join(subscriber.topics) or "every topic"
        choice = f" ({topics_said}; {subscriber.frequency or 'main frequency'})"
    typer.echo(f"{subscriber.email} {verb}: {subscriber.status.value} on {list_name}{choice}")


@subscribers_app.command("unsubscribe")
def subscribers_unsubscribe(
    ctx: typer.Context, email: Annotated[str, typer.Argument()], list_name: ListOption
) -> None:
    """Unsubscribe an address from a list, at once."""
    from digest.errors import NotFoundError
    from digest.subscribers.model import SUPPRESSED, Status

    repository = _app(ctx).store.subscribers
    found = repository.find(repository.list_id(list_name), email)
    if found is None:
        raise NotFoundError(f"{email} is not on list {list_name}")
    if found.status not in SUPPRESSED:
        found = repository.set_status(found.id, Status.UNSUBSCRIBED)
    typer.echo(f"{found.email} is {found.status.value} on {list_name}")


@subscribers_app.command("remove")
def subscribers_remove(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument()],
    list_name: Annotated[
        str | None, typer.Option("--list", "-l", help="Only this list (default: all).")
    ] = None,
) -> None:
    """Erase an address and its data (GDPR); deliveries and the outbox keep no trace of it."""
    removed = _app(ctx).erase_subscriber(email, list_name)
    typer.echo(f"removed {removed} subscription(s) of {email}")


@subscribers_app.command("list")
def subscribers_list(
    ctx: typer.Context,
    list_name: ListOption,
    status: Annotated[str | None, typer.Option(help="Only this status.")] = None,
    limit: Annotated[int | None, typer.Option(help="At most N.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List the subscribers of a list."""
    import itertools

    from digest.subscribers.model import Status

    repository = _app(ctx).store.subscribers
    chosen = Status(status) if status else None
    people = itertools.islice(repository.iterate(repository.list_id(list_name), chosen), limit)
    if as_json:
        _print_json([person.model_dump(mode="json") for person in people])
        return
    for person in people:
        typer.echo(f"{person.id}  {person.email}  {person.name}  {person.status.value}")


@subscribers_app.command("stats")
def subscribers_stats(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Subscribers per list and status."""
    stats = _app(ctx).store.subscribers.stats()
    if as_json:
        _print_json(stats)
        return
    for name, counts in stats.items():
        listed = ", ".join(f"{count} {status}" for status, count in counts.items())
        typer.echo(f"{name}: {listed}")


def _report_findings(email: RenderedEmail, stream_err: bool = True) -> None:
    for finding in email.findings:
        typer.echo(f"{finding.severity}: {finding.code}: {finding.message}", err=stream_err)


def main() -> None:
    import logging

    from digest.errors import AlreadySent, DigestError, LockBusy

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        app()
    except AlreadySent as done:
        typer.echo(str(done))
    except LockBusy as busy:
        typer.echo(f"busy: {busy}; nothing done", err=True)
        sys.exit(EXIT_BUSY)
    except DigestError as error:
        typer.echo(f"error: {error}", err=True)
        sys.exit(1)
    except Exception as error:
        # An operator (or cron's mail) gets one line, never a traceback; DIGEST_DEBUG=1 shows it.
        if os.environ.get("DIGEST_DEBUG"):
            raise
        typer.echo(f"error: {_one_line(error)}", err=True)
        sys.exit(1)


def _one_line(error: Exception) -> str:
    """A database or system error as one line: the driver's own first line, without the SQL
    SQLAlchemy appends (it can quote readers' addresses)."""
    cause = getattr(error, "orig", None) or error
    text = str(cause).strip().splitlines()
    kind = "database" if type(error).__module__.startswith("sqlalchemy") else type(cause).__name__
    return f"{kind}: {text[0] if text else type(cause).__name__}"
