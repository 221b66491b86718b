"""The editor page's saves, as JSON: one field at a time (debounced by the page's script), and
changes of structure (order, sections, removal and restore, a summary regenerated). Each
answer carries the edition's new version and what the page shows beside the fields (inbox
line, size, lint, plain text), so the page never reloads; 409 when the edition changed
elsewhere: for a field, with its current value, for the structure (made only on the
version the page shows), with a reason. A field's answer says the version it was saved on
(`was`): the page's own, or a newer one (another window's change merged in, which the page
says, and does not show). Thin: the
use cases are App.edit_field, App.rearrange and App.regenerate_summary."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from digest import editing
from digest.edition import Edition, EditionStatus
from digest.edition_fields import FieldConflict
from digest.errors import DigestError, FieldError, NotFoundError, StaleEdition
from digest.render.images import shown_picture
from digest.web import PAGES
from digest.web.editor import (
    Editor,
    EditorPost,
    EditorSession,
    RowId,
    back_to,
    editor,
    render_hash,
)
from digest.web.security import check_csrf

router = APIRouter(include_in_schema=False)
CSRF_HEADER = "x-csrf-token"
_Id = Annotated[int, Field(ge=1, le=2**63 - 1)]
_Index = Annotated[int, Field(ge=0, le=1000)]
# What an editor types into one field, at most (a summary is a few sentences; an intro more).
_VALUE_MAX = 20_000
_CHANGED = "Changed in another window: reload to see it, then make this change again."


def _field_value(edition: Edition, key: str) -> str:
    from digest.edition_fields import parse_key, value_of

    return value_of(edition, parse_key(key))


# The sections' template shows each field as the server compares it (a byline "" not None),
# and says when a picture the editor leaves on is not shown all the same.
PAGES.env.globals["field_value"] = _field_value
PAGES.env.globals["shown_picture"] = shown_picture


def json_editor(request: Request) -> Editor:
    """A script's post: logged in (where needed) and carrying the session's CSRF token in a
    header (a form post from another site cannot set one)."""
    current = editor(request)
    check_csrf(current.session, request.headers.get(CSRF_HEADER))
    return current


EditorJson = Annotated[Editor, Depends(json_editor)]


class FieldSave(BaseModel):
    key: str = Field(max_length=100)
    value: str = Field(max_length=_VALUE_MAX)
    base: str = Field(max_length=_VALUE_MAX)
    version: int = Field(ge=0)


class Placement(BaseModel):
    section: _Index
    articles: list[_Id] = Field(max_length=1000)


class Change(BaseModel):
    """One change of structure; which fields count depends on `op`."""

    op: Literal["layout", "merge", "split", "remove", "restore", "regenerate", "split_report"]
    version: int = Field(ge=0)
    layout: list[Placement] = Field(default_factory=list, max_length=1000)
    section: _Index = 0
    into: _Index = 0
    articles: list[_Id] = Field(default_factory=list, max_length=1000)
    title: str = Field(default="", max_length=200)
    article: _Id | None = None
    report: _Id | None = None


def state(current: Editor, edition: Edition) -> dict[str, object]:
    """What the page shows beside the fields, as the email now stands."""
    from digest.render.lint import GMAIL_CLIP_BYTES
    from digest.web.editor import sample_text

    email = current.app.render(edition)
    return {
        "version": edition.version,
        "render": render_hash(email),
        "status": edition.status.value,
        "subject": edition.subject,
        "preheader": edition.preheader,
        "intro": edition.intro,
        "size_kb": round(email.size / 1024, 1),
        "over": email.size > GMAIL_CLIP_BYTES,
        "findings": [{"severity": f.severity, "message": f.message} for f in email.findings],
        "text": sample_text(current, edition, email),
    }


def sections_html(current: Editor, edition: Edition) -> str:
    """The sections as the page lays them out (escaped by the template's autoescape)."""
    template = PAGES.get_template("_sections.html")
    return template.render(
        edition=edition,
        editable=edition.status == EditionStatus.DRAFT,
        pictures=current.app.settings.newsletter(edition.newsletter).article_images,
    )


def removed_html(edition: Edition) -> str:
    """The stories removed from the edition, each with its Restore button."""
    return PAGES.get_template("_removed.html").render(edition=edition)


def _problem(message: str, status: int = 422, **extra: object) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def _edition_or_404(current: Editor, edition_id: int) -> Edition | JSONResponse:
    try:
        return current.app.store.get_edition(edition_id)
    except NotFoundError:
        return _problem(f"no edition {edition_id}", 404)


@router.post("/editions/{edition_id}/field")
def save_field(current: EditorJson, edition_id: RowId, save: FieldSave) -> JSONResponse:
    """One field saved; the value as stored comes back, so the page knows what it is based on."""
    from digest.edition_fields import parse_key, value_of

    found = _edition_or_404(current, edition_id)
    if isinstance(found, JSONResponse):
        return found
    try:
        saved = current.app.edit_field(
            edition_id, save.key, save.value, base=save.base, version=save.version
        )
        edition = saved.edition
        stored = value_of(edition, parse_key(save.key))
    except FieldConflict as conflict:
        return _problem(
            "Changed in another window meanwhile",
            409,
            current=conflict.current,
            version=conflict.version,
        )
    except FieldError as problem:
        return _problem(f"{_label(problem.field)}: {problem.reason}")
    except DigestError as problem:
        return _problem(str(problem))
    return JSONResponse({"value": stored, "was": saved.was, **state(current, edition)})


@router.post("/editions/{edition_id}/save")
async def save_all(current: EditorPost, edition_id: RowId, request: Request) -> Response:
    """The page's "Save all" without JavaScript: every field whose value is not its base,
    through the same edit model as one field's save (a change elsewhere to another field is
    merged; one to the same field is a conflict, said with the words typed, so that none is
    lost)."""
    from starlette.concurrency import run_in_threadpool

    form = await request.form()
    try:
        version = int(str(form.get("version", "")))
    except ValueError:
        return back_to(current, edition_id, errors=["The page was incomplete: reload it."])
    changed = []
    for key, value in form.multi_items():
        base = form.get(f"base:{key}")
        if isinstance(value, str) and isinstance(base, str) and value != base:
            changed.append((key, value[:_VALUE_MAX], base))
    notice, problems = await run_in_threadpool(_save_fields, current, edition_id, changed, version)
    return back_to(current, edition_id, notice, problems)


def _save_fields(
    current: Editor, edition_id: int, changed: list[tuple[str, str, str]], version: int
) -> tuple[str, list[str]]:
    saved, problems = 0, []
    for key, value, base in changed:
        try:
            current.app.edit_field(edition_id, key, value, base=base, version=version)
            saved += 1
        except FieldConflict as conflict:
            problems.append(
                f"{_label(conflict.key)}: changed in another window meanwhile; yours was not "
                f"saved: {value[:300]}"
            )
        except FieldError as problem:
            problems.append(f"{_label(problem.field)}: {problem.reason}")
        except DigestError as problem:
            problems.append(str(problem))
    if saved:
        return f"Saved {saved} change{'s' if saved != 1 else ''}.", problems
    return ("" if problems else "Nothing had changed."), problems


_LABELS = {
    "title": "Headline",
    "author": "Byline",
    "source": "Source",
    "url": "Link",
    "image": "Picture",
}


def _label(field: str) -> str:
    name = field.rsplit(":", 1)[-1]
    return _LABELS.get(name, "Date" if name == "published" else name.capitalize())


@router.get("/editions/{edition_id}/fields")
def stored_fields(current: EditorSession, edition_id: RowId) -> JSONResponse:
    """Every field as stored, the order of the stories and the status: a page that sees a
    newer version compares them with its own copy to say what another window changed (and
    shows none of that window's words)."""
    from digest.edition_fields import values

    found = _edition_or_404(current, edition_id)
    if isinstance(found, JSONResponse):
        return found
    layout = [[item.article.id for item in section.items] for section in found.sections]
    return JSONResponse(
        {
            "version": found.version,
            "status": found.status.value,
            "fields": values(found),
            "layout": layout,
        }
    )


@router.post("/editions/{edition_id}/arrange")
def arrange(current: EditorJson, edition_id: RowId, change: Change) -> JSONResponse:
    """A change of structure, on the version the page shows; the sections come back as HTML."""
    found = _edition_or_404(current, edition_id)
    if isinstance(found, JSONResponse):
        return found
    app = current.app
    if found.version != change.version:
        # Every change of structure is made on what the page shows, or not at all.
        return _problem(_CHANGED, 409)
    try:
        if change.op == "regenerate":
            edition = app.regenerate_summary(edition_id, _required(change.article))
        elif change.op == "split_report":
            edition = app.split_report(found, _required(change.article), _required(change.report))
        else:
            edition = app.rearrange(edition_id, change.version, _structure(change))
    except StaleEdition:
        return _problem(_CHANGED, 409)
    except DigestError as problem:
        # The sections as stored, to put back what the page moved.
        stored = app.store.get_edition(edition_id)
        return _problem(str(problem), sections=sections_html(current, stored))
    return JSONResponse(
        {
            "sections": sections_html(current, edition),
            "removed": removed_html(edition),
            **state(current, edition),
        }
    )


def _required(value: int | None) -> int:
    if value is None:
        raise DigestError("which article? (none given)")
    return value


def _structure(change: Change) -> Callable[[Edition], Edition]:
    if change.op == "layout":
        layout = [(p.section, list(p.articles)) for p in change.layout]
        return lambda e: editing.arranged(e, layout)
    if change.op == "merge":
        return lambda e: editing.merged_sections(e, change.section, change.into)
    if change.op == "split":
        return lambda e: editing.split_section(e, change.section, change.articles, change.title)
    if change.op == "remove":
        return lambda e: editing.removed(e, _required(change.article))
    # A removed story back as the edition kept it (its summary, other reports and place).
    return lambda e: editing.restored(e, _required(change.article))
