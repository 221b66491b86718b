"""Request body caps, enforced before a route reads a byte: a declared Content-Length over the
cap is refused at once, and a chunked body (which declares nothing) is counted as it streams
in and refused as soon as it passes the cap. Every form here is small; only the "Add articles"
box (files, a page's HTML) and SendGrid's webhook take more, up to their own caps."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

FORM_MAX_BYTES = 1_000_000
# The "Add articles" box takes files and a page's HTML (a select-all copy of a news page is
# often 1-3 MB of markup): the whole request up to 10 MB, about the size `fetch_max_bytes`
# allows a fetched page (5 MB) twice over. Its URLs are fetched one after another while the
# editor waits, so at most this many at once.
ADD_PATH = "/articles/add"
ADD_MAX_BYTES = 10_000_000
ADD_MAX_URLS = 20


class BodyLimit:
    """ASGI middleware: at most `default` bytes of body, or `per_path[path]` for those paths."""

    def __init__(self, app: ASGIApp, default: int, per_path: Mapping[str, int]) -> None:
        self.app = app
        self.default = default
        self.per_path = dict(per_path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(scope["path"], self.default)
        declared = _content_length(scope)
        if declared is None or declared > limit:
            message = "bad Content-Length" if declared is None else f"body over {limit} bytes"
            status = 400 if declared is None else 413
            await PlainTextResponse(message, status_code=status)(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # Raised inside the route's read: FastAPI answers it like any HTTPException.
                    raise HTTPException(status_code=413, detail=f"body over {limit} bytes")
            return message

        await self.app(scope, counted, send)


def _content_length(scope: Scope) -> int | None:
    """The declared length (0 when none is declared), or None when it is not a number."""
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            if not (text.isascii() and text.isdigit() and len(text) <= 18):
                return None
            return int(text)
    return 0
