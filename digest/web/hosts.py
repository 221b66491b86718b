"""The Host check: on loopback, only requests addressed to a loopback name or a configured host
are answered. A web page whose name the attacker re-points at 127.0.0.1 (DNS rebinding) is
same-origin with itself, so without this check it could read the editor's pages, CSRF token
included, and post with it; its requests still carry its own name in `Host`."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from digest.config import Settings
from digest.web.security import is_loopback

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
_ALLOWED = "digest.host_allowed"


def allowed_hosts(settings: Settings, bound: str) -> list[str] | None:
    """The names the app answers to where it is bound; None: any (off loopback, when
    web_allowed_hosts is not set, the login and the TLS proxy in front are the guard)."""
    if not is_loopback(bound) and not settings.web_allowed_hosts:
        return None
    names = [*LOOPBACK_NAMES, *settings.web_allowed_hosts]
    urls = [settings.editor_url, *(n.web_base for n in settings.newsletters.values())]
    names += [_host_of(url) for url in urls]
    names += [_as_host(settings.web_host), _as_host(bound)]
    return sorted({name.lower() for name in names if name})


def _host_of(url: str) -> str:
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    return _as_host(host)


def _as_host(name: str) -> str:
    """A name as it appears in a Host header: IPv6 literals in brackets."""
    if ":" in name and not name.startswith("["):
        return f"[{name}]"
    return name if name not in ("0.0.0.0", "[::]") else ""


class HostCheck:
    """ASGI middleware: starlette's TrustedHostMiddleware decides (it parses Host, IPv6 and
    ports included); this answers a refusal with a message that says what to do."""

    def __init__(self, app: ASGIApp, allowed: Iterable[str]) -> None:
        self.app = app
        self.allowed = list(allowed)
        self._decide = TrustedHostMiddleware(_mark_allowed, self.allowed, www_redirect=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            await self._decide(scope, receive, _discard)
            if not scope.pop(_ALLOWED, False):
                await self._refuse(scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        host = ""
        for name, value in scope.get("headers", []):
            if name == b"host":
                host = value.decode("latin-1")[:100]
        message = (
            f"Refused: this server does not answer to the host name {host!r}. Open it as "
            "http://127.0.0.1 (or localhost), or add the name to web_allowed_hosts.\n"
        )
        await PlainTextResponse(message, status_code=400)(scope, receive, send)


async def _mark_allowed(scope: Scope, receive: Receive, send: Send) -> None:
    scope[_ALLOWED] = True


async def _discard(message: Message) -> None:
    """TrustedHostMiddleware's own refusal is not sent: HostCheck answers instead."""
