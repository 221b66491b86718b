"""Editor routes for articles: the "Add articles" box (URLs, a paste, files), into a draft or
kept for the next edition, and the fix of what the intake guessed (title, byline, source, date,
URL). Thin: the form is read here, the use cases in digest.app do the work."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import Response

from digest.app import AddReport, App
from digest.articles import Article
from digest.errors import DigestError, FieldError, NotFoundError, SourceError
from digest.text_fields import one_line
from digest.web.editor import EditorPost, RowId, back_to
from digest.web.limits import ADD_MAX_URLS

if TYPE_CHECKING:
    from digest.intake import PasteKind

router = APIRouter(include_in_schema=False)
_PASTE = "the paste"
EditionChoice = Annotated[int, Form(ge=0, le=2**63 - 1)]


def _upload_name(upload: UploadFile) -> str:
    """The file's own name, as one short line (it is the client's text: it names errors)."""
    return one_line(Path(upload.filename or "").name)[:200] or "upload"


def _gather(
    app: App,
    urls: str,
    paste: str,
    clipboard: UploadFile | None,
    kind: str,
    files: list[UploadFile],
) -> AddReport | None:
    """Every source of the form into one report; None when the form gave nothing to add."""
    reports: list[AddReport] = []
    lines = [line.strip() for line in urls.splitlines() if line.strip()]
    if lines:
        report = app.add_urls(lines[:ADD_MAX_URLS])
        if len(lines) > ADD_MAX_URLS:
            report.errors.extend(
                SourceError(url, f"not fetched: at most {ADD_MAX_URLS} URLs at once")
                for url in lines[ADD_MAX_URLS:]
            )
        reports.append(report)
    if clipboard is not None and clipboard.filename:
        text = clipboard.file.read().decode("utf-8", errors="replace")
        paste_kind: PasteKind = "html" if kind == "html" else "text"
        reports.append(app.add_content(text, _PASTE, paste_kind))
    elif paste.strip():
        reports.append(app.add_content(paste, _PASTE))  # no JavaScript: HTML or text, detected
    for upload in files:
        if upload.filename:
            reports.append(app.add_upload(_upload_name(upload), upload.file.read()))
    if not reports:
        return None
    return AddReport(
        [outcome for report in reports for outcome in report.outcomes],
        [error for report in reports for error in report.errors],
    )


def _added_notice(report: AddReport, into_draft: bool) -> str:
    """What was added and what the intake made of it, so the editor sees at once what to fix
    (the page scrolls to the first one)."""
    new = len(report.added)
    known = len(report.outcomes) - new
    where = "to this edition" if into_draft else "for the next edition"
    notice = f"Added {new} article{'' if new == 1 else 's'} {where}"
    shown = [f"“{a.title}” ({_guessed(a)})" for a in report.added[:3]]
    notice += (
        (": " + "; ".join(shown) + ("; …" if new > len(shown) else "") + ".") if shown else "."
    )
    if known:
        notice += f" {known} already stored" + (", now in this edition." if into_draft else ".")
    return notice


def _guessed(article: Article) -> str:
    byline = f"by {article.author}" if article.author else "no byline found"
    when = f"{article.published:%Y-%m-%d}" if article.published else "no date found"
    return f"{byline} · {when}"


# The fix form's labels, for its one-line errors.
_LABELS = {
    "title": "Title",
    "author": "Byline",
    "source": "Source",
    "published": "Date",
    "url": "URL",
}


@router.post("/articles/add")
def add_articles(
    current: EditorPost,
    edition: EditionChoice = 0,
    urls: Annotated[str, Form()] = "",
    paste: Annotated[str, Form()] = "",
    clipboard: Annotated[UploadFile | None, File()] = None,
    paste_kind: Annotated[str, Form()] = "",
    files: Annotated[list[UploadFile] | None, File()] = None,
) -> Response:
    """The Add box: the page's script sends a paste as `clipboard` (its HTML when the
    clipboard has some, else its text) with `paste_kind`; without the script the textarea
    comes as `paste`."""
    app = current.app
    report = _gather(app, urls, paste, clipboard, paste_kind, files or [])
    if report is None:
        return back_to(
            current, edition, errors=["Nothing to add: give URLs, paste a page or choose files."]
        )
    errors = [str(error) for error in report.errors]
    if edition and report.outcomes:
        try:
            app.add_to_draft(app.store.get_edition(edition), [o.article for o in report.outcomes])
        except NotFoundError:
            return back_to(current, 0, errors=[f"no edition {edition}: the articles are stored"])
        except DigestError as problem:
            return back_to(current, edition, _added_notice(report, False), [str(problem), *errors])
    notice = _added_notice(report, bool(edition)) if report.outcomes else ""
    first = f"article-{report.outcomes[0].article.id}" if report.outcomes else ""
    return back_to(current, edition, notice, errors, anchor=first)


@router.post("/articles/{article_id}")
def fix_article(
    current: EditorPost,
    article_id: RowId,
    title: Annotated[str, Form()],
    author: Annotated[str, Form()] = "",
    source: Annotated[str, Form()] = "",
    published: Annotated[str, Form()] = "",
    url: Annotated[str, Form()] = "",
    back: EditionChoice = 0,
) -> Response:
    """One article's fix, from the form beside it; the page it was on shows the result."""
    try:
        current.app.update_article(
            article_id, title=title, author=author, source=source, published=published, url=url
        )
    except FieldError as problem:
        label = _LABELS.get(problem.field, problem.field)
        message = f"Article {article_id} not saved: {label}: {problem.reason}"
        return back_to(current, back, errors=[message], anchor=f"article-{article_id}")
    except DigestError as problem:
        message = f"Article {article_id} not saved: {problem}"
        return back_to(current, back, errors=[message], anchor=f"article-{article_id}")
    return back_to(current, back, f"Article {article_id} saved.", anchor=f"article-{article_id}")
