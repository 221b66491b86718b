"""An edition's lifecycle in the editor: the editions list with each one's real state and
times, approve at a time in the newsletter's zone, cancel (confirmed), back to draft, and
resume a send the complaint and bounce guard paused.

The confirmations work without JavaScript: a post that is not confirmed answers with a page
that asks; with JavaScript the page asks in a dialog first and posts confirmed.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.background import BackgroundTask

from digest.app import App
from digest.edition import Edition
from digest.edition_state import EditionState
from digest.errors import DigestError, FieldError, NotFoundError
from digest.send_guard import SendPause
from digest.send_time import describe, local_input
from digest.web import PAGES
from digest.web.editor import Editor, EditorPost, EditorSession, RowId, back_to

router = APIRouter(include_in_schema=False)
log = logging.getLogger("digest.web")
# How many articles waiting for an edition the list shows, with what the intake guessed.
WAITING_SHOWN = 50


def _edition(current: Editor, edition_id: int) -> Edition:
    try:
        return current.app.store.get_edition(edition_id)
    except NotFoundError:
        raise HTTPException(status_code=404, detail="no such edition") from None


def lifecycle_of(request: Request, edition: Edition) -> EditionState:
    """For the edition page's lifecycle block: its state, times in its newsletter's zone."""
    state: EditionState = request.app.state.digest.edition_state(edition)
    return state


def choices_of(request: Request, edition: Edition) -> tuple[str, str]:
    """For the edition page: the frequency it is for (its label), and its subject test's
    state ("" for none)."""
    from digest.frequencies import cadence_of

    app = request.app.state.digest
    newsletter = app.settings.newsletters.get(edition.newsletter)
    frequency = cadence_of(newsletter, edition.frequency).label if newsletter else ""
    return frequency, app.subject_test_status(edition)


def pause_of(request: Request, edition: Edition) -> SendPause | None:
    """For the edition page: the guard's last pause of its send (None: never paused)."""
    if edition.id is None:
        return None
    pause: SendPause | None = request.app.state.digest.send_pause(edition)
    return pause


PAGES.env.globals["lifecycle_of"] = lifecycle_of
PAGES.env.globals["pause_of"] = pause_of
PAGES.env.globals["choices_of"] = choices_of
PAGES.env.globals["local_input"] = local_input


@router.get("/editions", response_class=HTMLResponse)
def editions(current: EditorSession) -> Response:
    app = current.app
    states = app.edition_states()
    said = current.flashed()
    return current.page(
        "editions.html",
        states=states,
        drafts=[state.edition for state in states if state.status.value == "draft"],
        waiting=app.store.articles_in_no_edition(WAITING_SHOWN),
        errors=said.errors,
        notice=said.notice,
    )


def _approve_page(
    current: Editor, edition: Edition, send_at: str, error: str = "", status: int = 200
) -> Response:
    state = current.app.edition_state(edition)
    response = current.page(
        "approve.html",
        state=state,
        edition=edition,
        send_at=send_at or local_input(edition.send_at, state.zone),
        error=error,
    )
    response.status_code = status
    return response


@router.get("/editions/{edition_id}/approve", response_class=HTMLResponse)
def approve_page(current: EditorSession, edition_id: RowId) -> Response:
    """The approve form on a page of its own: the time in the newsletter's zone."""
    return _approve_page(current, _edition(current, edition_id), "")


@router.post("/editions/{edition_id}/approve")
def approve(
    current: EditorPost, edition_id: RowId, send_at: Annotated[str, Form()] = ""
) -> Response:
    edition = _edition(current, edition_id)
    app = current.app
    try:
        newsletter = app.settings.newsletter(edition.newsletter)
        when = app.local_time(newsletter, send_at) if send_at.strip() else None
        approved = app.approve(edition, when)
    except FieldError as problem:
        return _approve_page(current, edition, send_at, f"Send time: {problem.reason}", 400)
    except DigestError as problem:
        # The form again, with what was typed: nothing the editor gave is lost.
        return _approve_page(current, edition, send_at, str(problem), 400)
    if approved.send_at is None:
        return back_to(current, edition_id, "Approved, to be sent by the next `digest send`.")
    return back_to(
        current,
        edition_id,
        f"Approved, to be sent at {describe(approved.send_at, newsletter.zone)}.",
    )


@router.get("/editions/{edition_id}/cancel", response_class=HTMLResponse)
def cancel_page(current: EditorSession, edition_id: RowId) -> Response:
    """Asks before an edition is cancelled (it can be put back to draft later)."""
    edition = _edition(current, edition_id)
    return current.page("cancel.html", edition=edition, state=current.app.edition_state(edition))


@router.post("/editions/{edition_id}/cancel")
def cancel(
    current: EditorPost, edition_id: RowId, confirmed: Annotated[str, Form()] = ""
) -> Response:
    if confirmed != "yes":
        return RedirectResponse(f"/editions/{edition_id}/cancel", status_code=303)
    try:
        current.app.cancel(_edition(current, edition_id))
    except DigestError as problem:
        return back_to(current, edition_id, errors=[str(problem)])
    return back_to(
        current, edition_id, "Cancelled: it will not be sent. “Back to draft” undoes it."
    )


@router.post("/editions/{edition_id}/draft")
def back_to_draft(current: EditorPost, edition_id: RowId) -> Response:
    try:
        current.app.back_to_draft(_edition(current, edition_id))
    except DigestError as problem:
        return back_to(current, edition_id, errors=[str(problem)])
    return back_to(current, edition_id, "Back to draft, every edit kept: approve again to send.")


@router.post("/editions/{edition_id}/resume")
def resume(current: EditorPost, edition_id: RowId, back: Annotated[str, Form()] = "") -> Response:
    """Lift the guard's pause and go on sending, in the background (the page answers at
    once; the report shows the send as it goes). Resuming twice resumes once."""
    edition = _edition(current, edition_id)
    page = f"/editions/{edition_id}/report" if back == "report" else f"/editions/{edition_id}"
    resumed = current.app.resume_send(edition, _who(current.request))
    if resumed is None:
        current.flash("", ["This send is not paused: nothing to resume."])
        return current.finish(RedirectResponse(page, status_code=303))
    current.flash(
        f"Resumed by {resumed.resumed_by}: sending goes on where it stopped; the guard judges "
        "the complaints and bounces that come from now on."
    )
    response = current.finish(RedirectResponse(page, status_code=303))
    response.background = BackgroundTask(_send_on, current.app, edition_id)
    return response


def _who(request: Request) -> str:
    """Who resumed, as far as the web app knows: an editor's session from an address."""
    client = request.client.host if request.client else "unknown address"
    login = "logged-in editor" if request.app.state.login_required else "editor"
    return f"{login} on the editor page from {client}"


def _send_on(app: App, edition_id: int) -> None:
    """The resumed send, after the answer went out. Its errors are one log line: the
    edition stays sending, and `digest run` or `digest send` take it up."""
    try:
        report = app.send(app.store.get_edition(edition_id))
    except DigestError as problem:
        log.warning("edition %s: resumed send stopped: %s", edition_id, problem)
        return
    except Exception as error:  # a background task has no one to raise to
        log.error("edition %s: resumed send failed: %s", edition_id, error)
        return
    log.warning("edition %s: %s", edition_id, report.summary())
