"""Editor pages: editions, the preview at desktop and phone widths, dark mode and plain text,
the lint, and every edit; send a test (the list, approve and cancel: web/lifecycle.py). Hidden
from the OpenAPI schema (it documents the public endpoints)."""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from digest import editing
from digest.app import App
from digest.edition import Edition, EditionStatus
from digest.errors import DigestError, NotFoundError
from digest.render import RenderedEmail, placeholders
from digest.render.lint import GMAIL_CLIP_BYTES
from digest.web import PAGES
from digest.web.ratelimit import FailureBackoff
from digest.web.security import (
    SESSION_COOKIE,
    Flash,
    check_csrf,
    credentials_match,
    new_csrf_token,
    with_flash,
)

router = APIRouter(include_in_schema=False)
log = logging.getLogger("digest.web")
_DARK_QUERY = "@media (prefers-color-scheme: dark)"


class Editor:
    """The request's editor session; raises a redirect to /login where a login is needed."""

    def __init__(self, request: Request) -> None:
        self.request = request
        sessions = request.app.state.sessions
        self.session = sessions.read(request)
        self.fresh = "csrf" not in self.session
        if self.fresh:
            self.session["csrf"] = new_csrf_token()

    @property
    def app(self) -> App:
        app: App = self.request.app.state.digest
        return app

    @property
    def csrf(self) -> str:
        return str(self.session["csrf"])

    def require_login(self) -> None:
        if self.request.app.state.login_required and not self.session.get("editor"):
            raise HTTPException(status_code=303, headers={"Location": "/login"})

    def finish(self, response: Response) -> Response:
        if self.fresh or self.session.get("changed"):
            self.session.pop("changed", None)
            response.set_cookie(
                SESSION_COOKIE,
                self.request.app.state.sessions.dump(self.session),
                **self.request.app.state.sessions.cookie_options(),
            )
        return response

    def flash(self, notice: str = "", errors: list[str] | None = None) -> None:
        """What the next page this editor opens says once (then it is gone): kept in the
        signed session cookie, so no link can carry one and a reload does not repeat it."""
        sessions = self.request.app.state.sessions
        self.session = with_flash(self.session, notice, errors or [], sessions)
        self.session["changed"] = True

    def flashed(self) -> Flash:
        """The message left for this page, taken out of the session (shown once)."""
        found = Flash.of(self.session.pop("flash", None))
        if found:
            self.session["changed"] = True
        return found

    def page(self, name: str, **context: object) -> Response:
        context.update(csrf=self.csrf, login_required=self.request.app.state.login_required)
        return self.finish(PAGES.TemplateResponse(self.request, name, context))


def editor(request: Request) -> Editor:
    current = Editor(request)
    current.require_login()
    return current


def posted(request: Request, csrf: Annotated[str, Form()] = "") -> Editor:
    """An editor form post: logged in (where needed) and carrying the session's CSRF token."""
    current = editor(request)
    check_csrf(current.session, csrf)
    return current


EditorSession = Annotated[Editor, Depends(editor)]
# A database id: past a signed 64-bit integer it is no row of ours (and the database would fail).
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]
EditorPost = Annotated[Editor, Depends(posted)]


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    return Editor(request).page("login.html", error=None)


def _login_answer(current: Editor, error: str, status: int) -> Response:
    response = PAGES.TemplateResponse(
        current.request,
        "login.html",
        {"csrf": current.csrf, "error": error, "login_required": True},
        status_code=status,
    )
    return current.finish(response)


@router.post("/login")
def login(
    request: Request, secret: Annotated[str, Form()] = "", csrf: Annotated[str, Form()] = ""
) -> Response:
    current = Editor(request)
    backoff: FailureBackoff = request.app.state.login_backoff
    client = request.client.host if request.client else "unknown"
    wait = math.ceil(backoff.wait(client))
    if wait > 0:
        # Refused before the password is even looked at: guessing stays slow.
        response = _login_answer(
            current, f"Too many failed logins: try again in {wait} seconds.", 429
        )
        response.headers["Retry-After"] = str(wait)
        return response
    check_csrf(current.session, csrf)
    settings = current.app.settings
    if credentials_match(
        secret,
        settings.editor_token.get_secret_value(),
        settings.editor_password_hash.get_secret_value(),
    ):
        backoff.succeeded(client)
        # A new session (and CSRF token) on login: nothing from before carries over.
        current.session = {"editor": True, "csrf": new_csrf_token(), "changed": True}
        return current.finish(RedirectResponse("/editions", status_code=303))
    backoff.failed(client)
    log.warning("failed editor login from %s", client)
    return _login_answer(current, "Wrong password or token.", 401)


@router.post("/logout")
def logout(current: EditorPost) -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/")
def home() -> Response:
    return RedirectResponse("/editions", status_code=303)


def _edition(current: Editor, edition_id: int) -> Edition:
    try:
        return current.app.store.get_edition(edition_id)
    except NotFoundError:
        raise HTTPException(status_code=404, detail="no such edition") from None


def _sample(current: Editor, edition: Edition, email: RenderedEmail, html: bool) -> str:
    newsletter = current.app.settings.newsletter(edition.newsletter)
    values = placeholders.sample_values(newsletter.web_base)
    return placeholders.fill(email.html if html else email.text, values)


@router.get("/editions/{edition_id}", response_class=HTMLResponse)
def edition_page(current: EditorSession, edition_id: RowId) -> Response:
    edition = _edition(current, edition_id)
    email = current.app.render(edition)
    said = current.flashed()
    return current.page(
        "edition.html",
        edition=edition,
        email=email,
        text=_sample(current, edition, email, False),
        limit_kb=GMAIL_CLIP_BYTES / 1024,
        size_kb=email.size / 1024,
        # An approved edition is edited too: the edit puts it back to draft (App.reopen).
        editable=edition.status in (EditionStatus.DRAFT, EditionStatus.APPROVED),
        errors=said.errors,
        notice=said.notice,
        pictures=current.app.settings.newsletter(edition.newsletter).article_images,
        version=edition.version,
        render=render_hash(email),
    )


@router.get("/editions/{edition_id}/preview", response_class=HTMLResponse)
def preview(current: EditorSession, edition_id: RowId, dark: bool = False) -> Response:
    edition = _edition(current, edition_id)
    html = _sample(current, edition, current.app.render(edition), True)
    if dark:
        # The email's own dark-mode rules, switched on whatever the browser prefers.
        html = html.replace(_DARK_QUERY, "@media all")
    return HTMLResponse(html)


def render_hash(email: RenderedEmail) -> str:
    """Changes when the email does (the edition or a template)."""
    return hashlib.sha256((email.html + email.text).encode()).hexdigest()[:16]


def sample_text(current: Editor, edition: Edition, email: RenderedEmail) -> str:
    """The plain-text part as a sample reader gets it."""
    return _sample(current, edition, email, False)


@router.get("/editions/{edition_id}/version")
def version(current: EditorSession, edition_id: RowId) -> JSONResponse:
    """What the page polls: the stored version (a change elsewhere: the page says so, and
    never reloads over the editor's typing) and the email's hash (a template changed: the
    preview alone is refreshed)."""
    edition = _edition(current, edition_id)
    email = current.app.render(edition)
    return JSONResponse(
        {"version": edition.version, "render": render_hash(email), "status": edition.status.value}
    )


def back_to(
    current: Editor,
    edition: int,
    notice: str = "",
    errors: list[str] | None = None,
    anchor: str = "",
) -> Response:
    """Back to the page a form was on (an edition, or the list at 0), which says once what
    happened (a flash in the session, never in the URL), scrolled to `anchor` (an element's
    id) when given."""
    current.flash(notice, errors)
    page = f"/editions/{edition}" if edition else "/editions"
    fragment = f"#{anchor}" if anchor else ""
    return current.finish(RedirectResponse(f"{page}{fragment}", status_code=303))


def _back(
    current: Editor, edition_id: int, error: str | None = None, notice: str | None = None
) -> Response:
    return back_to(current, edition_id, notice or "", [error] if error else [])


def _change(current: Editor, edition_id: int, change: Callable[[Edition], Edition]) -> Response:
    """One edit of a draft, stored through the app (built copy follows the edit)."""
    edition = _edition(current, edition_id)
    try:
        current.app.revise(edition, change(edition))
    except DigestError as problem:
        return _back(current, edition_id, error=str(problem))
    return _back(current, edition_id)


@router.post("/editions/{edition_id}/fields")
def edit_fields(
    current: EditorPost,
    edition_id: RowId,
    subject: Annotated[str, Form()],
    preheader: Annotated[str, Form()] = "",
    intro: Annotated[str, Form()] = "",
) -> Response:
    return _change(current, edition_id, lambda e: editing.with_fields(e, subject, preheader, intro))


@router.post("/editions/{edition_id}/items/{article_id}/summary")
def edit_summary(
    current: EditorPost, edition_id: RowId, article_id: RowId, text: Annotated[str, Form()]
) -> Response:
    return _change(current, edition_id, lambda e: editing.with_summary(e, article_id, text))


@router.post("/editions/{edition_id}/items/{article_id}/regenerate")
def regenerate(current: EditorPost, edition_id: RowId, article_id: RowId) -> Response:
    """Summarised again as `digest build` summarises (App.regenerate_summary)."""
    _edition(current, edition_id)
    try:
        current.app.regenerate_summary(edition_id, article_id)
    except DigestError as problem:
        return _back(current, edition_id, error=str(problem))
    return _back(current, edition_id)


@router.post("/editions/{edition_id}/items/{article_id}/split")
def split_report(
    current: EditorPost,
    edition_id: RowId,
    article_id: RowId,
    report: Annotated[int, Form(ge=1, le=2**63 - 1)],
) -> Response:
    """Another report of a story made a story of its own, summarised, in the same section."""
    edition = _edition(current, edition_id)
    try:
        current.app.split_report(edition, article_id, report)
    except DigestError as problem:
        return _back(current, edition_id, error=str(problem))
    return _back(current, edition_id, notice=f"Article {report} is now a story of its own.")


@router.post("/editions/{edition_id}/items/{article_id}/move")
def move(
    current: EditorPost,
    edition_id: RowId,
    article_id: RowId,
    step: Annotated[int, Form(ge=-1, le=1)],
) -> Response:
    return _change(current, edition_id, lambda e: editing.moved(e, article_id, step))


@router.post("/editions/{edition_id}/items/{article_id}/remove")
def remove(current: EditorPost, edition_id: RowId, article_id: RowId) -> Response:
    return _change(current, edition_id, lambda e: editing.removed(e, article_id))


@router.post("/editions/{edition_id}/items/{article_id}/section")
def to_section(
    current: EditorPost, edition_id: RowId, article_id: RowId, section: Annotated[int, Form(ge=0)]
) -> Response:
    return _change(current, edition_id, lambda e: editing.moved_to_section(e, article_id, section))


@router.post("/editions/{edition_id}/sections/{section}/title")
def rename_section(
    current: EditorPost,
    edition_id: RowId,
    section: Annotated[int, Path(ge=0, le=1000)],
    title: Annotated[str, Form()],
) -> Response:
    return _change(current, edition_id, lambda e: editing.renamed_section(e, section, title))


@router.post("/editions/{edition_id}/test")
def send_test(current: EditorPost, edition_id: RowId, address: Annotated[str, Form()]) -> Response:
    try:
        current.app.test_send(_edition(current, edition_id), address)
    except (DigestError, ValueError) as problem:
        return _back(current, edition_id, error=f"Test not sent: {problem}")
    return _back(current, edition_id, notice=f"Test copy sent to {address}.")
