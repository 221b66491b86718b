"""The click redirect of emails that track clicks: `/c/TOKEN/ARTICLE_ID` sends the reader at
once to that article's stored URL (never one taken from the request) and records the click for
the reading figures. No cookie, no login; HEAD is answered the same and never counted."""

from __future__ import annotations

import logging
import re

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from digest.app import App
from digest.errors import NotFoundError
from digest.web.public_pages import PublicError

router = APIRouter()

_ARTICLE_ID = re.compile(r"[0-9]{1,18}")  # a database id: anything else names no article
PREFIX = "/c/"
HIDDEN = PREFIX + "…"


class HideClickTokens(logging.Filter):
    """uvicorn's access log names each request's path, and a click's token names its delivery:
    the log would keep who clicked which story, when and from which address, whatever
    per_reader_stats says. Its click paths are written as "/c/…"."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        # uvicorn.access: (client address, method, path with query, HTTP version, status).
        if isinstance(args, tuple) and len(args) >= 3 and str(args[2]).startswith(PREFIX):
            record.args = (*args[:2], HIDDEN, *args[3:])
        return True


def hide_tokens_from_access_log() -> None:
    """Put the filter on uvicorn's access log (once per process)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, HideClickTokens) for f in access.filters):
        access.addFilter(HideClickTokens())


_ANSWERS: dict[int | str, dict[str, object]] = {
    302: {"description": "To the article"},
    404: {"description": "Not one of our links, or no such article in its edition"},
}


@router.get(PREFIX + "{token}/{article}", status_code=302, responses=_ANSWERS)
def follow(request: Request, token: str, article: str) -> Response:
    """A reader's click on an article link of an email: to the article, counted."""
    return _redirect(request, token, article)


@router.head(PREFIX + "{token}/{article}", status_code=302, responses=_ANSWERS)
def follow_head(request: Request, token: str, article: str) -> Response:
    """The same answer to a HEAD request (link checkers), recorded but never counted."""
    return _redirect(request, token, article)


def _redirect(request: Request, token: str, article: str) -> Response:
    app: App = request.app.state.digest
    if not _ARTICLE_ID.fullmatch(article):
        raise PublicError(404, "not_found")
    try:
        url = app.follow_click(
            token,
            int(article),
            method=request.method,
            agent=request.headers.get("user-agent"),
        )
    except NotFoundError:
        raise PublicError(404, "not_found") from None
    return RedirectResponse(
        url,
        status_code=302,
        headers={
            # The article's site is told nothing of where the reader came from (a webmail's
            # address can name the message they read).
            "Referrer-Policy": "no-referrer",
            # Every click reaches us (a cached redirect would be a click never seen).
            "Cache-Control": "no-store",
        },
    )
