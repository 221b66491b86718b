"""Articles from the web: fetch a URL with limits on time and size, only from addresses the
SSRF guard allows (`digest.url_guard`), then extract the article."""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass
from types import TracebackType

import httpx

from digest import __version__
from digest.articles import Article
from digest.errors import SourceError
from digest.intake import article_from_html, article_from_pasted
from digest.url_guard import DeadlinePassed, Refused, UrlGuard, deadline_until, guarded_transport

USER_AGENT = f"digest/{__version__} (newsletter digest generator)"
_HTML_TYPES = ("text/html", "application/xhtml+xml")


@dataclass(frozen=True)
class Download:
    status: int
    body: bytes
    content_type: str
    url: str
    encoding: str | None
    headers: httpx.Headers


class _NotHttp(Exception):
    """A redirect to another scheme (file:, ftp:, gopher:…)."""


class BudgetSpent(SourceError):
    """The caller's overall time (`until`: a tick's budget) ran out during this download."""


class UrlFetcher:
    """Fetches pages over one reused HTTP connection pool: `timeout` bounds each connect and
    read, `deadline` (seconds) a whole download, redirects included; every connection, every
    redirect hop's too, goes only where `guard` allows (by default: public addresses only)."""

    def __init__(
        self,
        timeout: float,
        max_bytes: int,
        *,
        deadline: float = 30.0,
        guard: UrlGuard | None = None,
        verify: ssl.SSLContext | None = None,
    ) -> None:
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.deadline = deadline
        self.guard = guard or UrlGuard()
        self._hops: list[str] = []  # the current download's request URLs, redirects included
        self.client = httpx.Client(
            transport=guarded_transport(self.guard, verify),
            trust_env=False,  # no proxy from the environment: it would connect past the guard
            follow_redirects=True,
            max_redirects=5,
            timeout=httpx.Timeout(timeout),
            headers={"User-Agent": USER_AGENT},
            event_hooks={"request": [self._hop]},
        )

    def __enter__(self) -> UrlFetcher:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __call__(self, url: str, until: float | None = None) -> Article:
        page = self.download(url, until=until)
        try:
            if page.content_type in _HTML_TYPES:
                return article_from_html(page.body, url, url=page.url)
            if page.content_type == "text/plain":
                text = page.body.decode(page.encoding or "utf-8", "replace")
                return article_from_pasted(text, url, url=page.url)
        except ValueError as error:
            raise SourceError(url, str(error)) from None
        raise SourceError(url, f"unsupported content type {page.content_type or 'unknown'!r}")

    def download(
        self, url: str, headers: dict[str, str] | None = None, until: float | None = None
    ) -> Download:
        """GET within the time and size limits, and by `until` (a time.monotonic() instant) if
        that comes sooner than the deadline; a 304 comes back as such, with no body."""
        if not url.lower().startswith(("http://", "https://")):
            raise SourceError(url, "refused: only http and https URLs are fetched")
        own = time.monotonic() + self.deadline
        instant = own if until is None or until > own else until
        self._hops = []
        try:
            with (
                deadline_until(instant),
                self.client.stream("GET", url, headers=headers) as response,
            ):
                if response.status_code == 304:
                    return Download(304, b"", "", str(response.url), None, response.headers)
                if response.status_code >= 400:
                    raise SourceError(url, f"HTTP {response.status_code} {response.reason_phrase}")
                declared = response.headers.get("Content-Length")
                if declared and declared.isdigit() and int(declared) > self.max_bytes:
                    raise SourceError(url, self._too_large())
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise SourceError(url, self._too_large())
                    chunks.append(chunk)
                content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
                return Download(
                    response.status_code,
                    b"".join(chunks),
                    content_type.lower(),
                    str(response.url),
                    response.charset_encoding,
                    response.headers,
                )
        except Refused as refusal:
            where = f"redirected to {self._hops[-1]}, which " if len(self._hops) > 1 else ""
            raise SourceError(url, f"refused: {where}{refusal.reason}") from None
        except _NotHttp as hop:
            raise SourceError(url, f"refused: redirected to {hop}: only http and https") from None
        except httpx.TimeoutException as error:
            if not isinstance(error.__cause__, DeadlinePassed):
                raise SourceError(url, f"timed out after {self.timeout:g} s") from None
            if instant < own:
                raise BudgetSpent(url, "stopped: the time budget was spent") from None
            raise SourceError(
                url, f"took longer than the {self.deadline:g} s limit (fetch_deadline)"
            ) from None
        except httpx.TooManyRedirects:
            raise SourceError(url, "too many redirects") from None
        except httpx.ConnectError as error:
            raise SourceError(url, f"could not connect ({error})") from None
        except httpx.InvalidURL as error:
            raise SourceError(url, f"invalid URL ({error})") from None
        except httpx.HTTPError as error:
            raise SourceError(url, f"request failed ({type(error).__name__}: {error})") from None

    def _hop(self, request: httpx.Request) -> None:
        """Called by httpx before each request, the first and every redirect."""
        self._hops.append(str(request.url))
        if request.url.scheme not in ("http", "https"):
            raise _NotHttp(str(request.url))

    def _too_large(self) -> str:
        return f"page is larger than the {self.max_bytes:,} byte limit (fetch_max_bytes)"

    def close(self) -> None:
        self.client.close()
