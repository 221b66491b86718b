"""Subscriber lists as editors' pages: counts by status, search, add, unsubscribe, erase (after
a confirmation), CSV import with its rejected rows shown and downloadable, and export."""

from __future__ import annotations

import base64
import csv
import io
import os
import tempfile
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, HTTPException, Query, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.background import BackgroundTask

from digest.errors import DigestError, NotFoundError
from digest.subscribers.model import Status
from digest.web.editor import Editor, EditorPost, EditorSession

router = APIRouter(include_in_schema=False)

# The import posts here (one path, so the body limit can allow a large file).
IMPORT_PATH = "/lists/import"
IMPORT_MAX_BYTES = 50_000_000
PER_PAGE = 50
# Rejected rows listed on the page after an import (the download has them all).
REJECTS_SHOWN = 200


def _list_page(current: Editor, name: str, notice: str = "", error: str = "") -> Response:
    """Back to the list's page, which says once what happened (a flash, not in the URL)."""
    current.flash(notice, [error] if error else [])
    return current.finish(RedirectResponse(f"/lists/{quote(name, safe='')}", 303))


def _counts(current: Editor, name: str) -> dict[str, int]:
    lists = current.app.subscriber_lists()
    if name not in lists:
        raise HTTPException(status_code=404, detail=f"no subscriber list named {name!r}")
    return lists[name]


@router.get("/lists", response_class=HTMLResponse)
def lists_page(current: EditorSession) -> Response:
    return current.page("lists.html", lists=current.app.subscriber_lists(), statuses=list(Status))


@router.get("/lists/{name}", response_class=HTMLResponse)
def list_page(
    current: EditorSession,
    name: str,
    q: Annotated[str, Query(max_length=320)] = "",
    page: Annotated[int, Query(ge=1, le=10_000_000)] = 1,
) -> Response:
    counts = _counts(current, name)
    said = current.flashed()
    people, total = current.app.find_subscribers(name, q, page, PER_PAGE)
    pages = max(1, -(-total // PER_PAGE))
    return current.page(
        "list.html",
        list_name=name,
        counts=counts,
        statuses=list(Status),
        people=people,
        total=total,
        q=q,
        page=page,
        pages=pages,
        notice=said.notice,
        errors=said.errors,
        import_path=IMPORT_PATH,
        choices=current.app.list_choices(name),
    )


@router.post("/lists/{name}/add")
def add(
    current: EditorPost,
    name: str,
    email: Annotated[str, Form(max_length=320)],
    display: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    _counts(current, name)
    try:
        person, created = current.app.add_subscriber(name, email, display)
    except DigestError as problem:
        return _list_page(current, name, error=str(problem))
    if created:
        return _list_page(current, name, notice=f"{person.email} added: {person.status.value}.")
    return _list_page(
        current,
        name,
        notice=f"{person.email} was already on the list ({person.status.value}): merged.",
    )


@router.post("/lists/{name}/unsubscribe")
def unsubscribe(current: EditorPost, name: str, email: Annotated[str, Form()]) -> Response:
    _counts(current, name)
    try:
        person = current.app.unsubscribe_address(name, email)
    except NotFoundError as problem:
        return _list_page(current, name, error=str(problem))
    return _list_page(current, name, notice=f"{person.email} is {person.status.value}.")


@router.post("/lists/{name}/erase", response_class=HTMLResponse)
def erase(
    current: EditorPost,
    name: str,
    email: Annotated[str, Form()],
    confirmed: Annotated[str, Form()] = "",
) -> Response:
    """Erasure cannot be undone: the first post asks, the second (confirmed) erases."""
    _counts(current, name)
    if confirmed != "yes":
        return current.page("erase.html", list_name=name, email=email)
    removed = current.app.erase_subscriber(email, name)
    if not removed:
        return _list_page(current, name, error=f"{email} is not on list {name}: nothing erased.")
    return _list_page(
        current, name, notice=f"{email} erased from {name}, with its delivery records."
    )


@router.post(IMPORT_PATH, response_class=HTMLResponse)
async def import_upload(
    current: EditorPost,
    file: UploadFile,
    list_name: Annotated[str, Form(alias="list")],
    status: Annotated[str, Form()] = Status.SUBSCRIBED.value,
) -> Response:
    _counts(current, list_name)
    if status not in (Status.SUBSCRIBED.value, Status.PENDING.value):
        return _list_page(
            current, list_name, error=f"status: {status!r} is not subscribed or pending"
        )
    data = await file.read()
    filename = file.filename or "upload.csv"
    try:
        report, rejects = current.app.import_subscribers(
            list_name, filename, data, pending=status == Status.PENDING.value
        )
    except DigestError as problem:
        # The file as a whole is unreadable (no header, not UTF-8): say why.
        return _list_page(current, list_name, error=str(problem))
    rows = list(csv.reader(io.StringIO(rejects.decode("utf-8"))))[1 : REJECTS_SHOWN + 1]
    download = "data:text/csv;charset=utf-8;base64," + base64.b64encode(rejects).decode()
    return current.page(
        "imported.html",
        list_name=list_name,
        filename=filename,
        report=report,
        rejected=rows,
        download=download if rejects else "",
        rejects_name=f"{os.path.splitext(os.path.basename(filename))[0] or 'import'}.rejects.csv",
    )


@router.get("/lists/{name}/export.csv")
def export(current: EditorSession, name: str) -> Response:
    _counts(current, name)
    handle, path = tempfile.mkstemp(prefix="digest-export-", suffix=".csv")
    with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
        current.app.export_subscribers(name, out)
    response = FileResponse(
        path,
        media_type="text/csv; charset=utf-8",
        filename=f"{name}.csv",
        background=BackgroundTask(os.unlink, path),
    )
    return current.finish(response)
