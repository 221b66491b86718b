"""Error answers: a page for people, JSON for programs.

Public pages (a reader's links: unsubscribe, preferences, subscribe, confirm, archive, click
redirects) always answer with an HTML page in the newsletter's look and language, whatever went
wrong; a reader never sees FastAPI's JSON. Elsewhere (editor, webhooks) the JSON stays for the
scripts that read it, but a browser that navigates (Accept: text/html) to a missing page gets a
page too.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from digest.app import App
from digest.config import NewsletterConfig
from digest.web.public_pages import PublicError, error_page

log = logging.getLogger("digest.web")

PUBLIC_ROOTS = ("u", "p", "subscribe", "confirm", "archive", "c")
# What a status says to a reader, for errors raised without a catalogue key of their own.
KEYS = {404: "not_found", 405: "method", 410: "not_found", 503: "unavailable", 500: "server_error"}
# Off the public pages, only a navigation to a page that is not there becomes HTML: the
# editor's scripts read the JSON of every other error.
BROWSER_STATUSES = {404, 405}


def is_public(request: Request) -> bool:
    return request.url.path.strip("/").split("/")[0] in PUBLIC_ROOTS


def wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def newsletter_of(request: Request) -> NewsletterConfig | None:
    """The newsletter a public path belongs to, as far as its path tells: /archive/NAME,
    /subscribe/LIST; otherwise the only newsletter, if there is one."""
    app: App = request.app.state.digest
    newsletters = app.settings.newsletters
    parts = request.url.path.strip("/").split("/")
    if len(parts) >= 2 and parts[0] == "archive" and parts[1] in newsletters:
        return newsletters[parts[1]]
    if len(parts) >= 2 and parts[0] == "subscribe":
        for newsletter in newsletters.values():
            if parts[1] in newsletter.lists:
                return newsletter
    return next(iter(newsletters.values())) if len(newsletters) == 1 else None


def _page_for(request: Request, status: int, headers: Mapping[str, str] | None) -> Response:
    public = is_public(request)
    return error_page(
        request,
        status,
        KEYS.get(status, "bad_request"),
        newsletter_of(request) if public else None,
        home_url=None if public else "/editions",
        headers=headers,
    )


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    if isinstance(error, PublicError):
        return error_page(
            request,
            error.status_code,
            error.key,
            error.newsletter or newsletter_of(request),
            headers=error.headers,
            values=error.values,
        )
    status = error.status_code
    if status >= 400 and (
        is_public(request) or (wants_html(request) and status in BROWSER_STATUSES)
    ):
        return _page_for(request, status, error.headers)
    return await http_exception_handler(request, error)


async def _invalid_request(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    if not is_public(request):
        return await request_validation_exception_handler(request, error)
    # A path that does not parse (/archive/brief/abc) names no page: "not found".
    in_path = any(problem.get("loc", ("",))[0] == "path" for problem in error.errors())
    return _page_for(request, 404 if in_path else 422, None)


async def _server_error(request: Request, error: Exception) -> Response:
    """The last resort (the error itself is logged by the server as it goes on up)."""
    if is_public(request) or wants_html(request):
        try:
            return _page_for(request, 500, None)
        except Exception:  # the page itself failing must not hide the first error
            log.exception("the error page failed too")
    return PlainTextResponse("Internal Server Error", status_code=500)


def install(app: FastAPI) -> None:
    """Put the handlers on the app."""
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(Exception, _server_error)
