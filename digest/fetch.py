"""Articles from the web: fetch a URL with limits on time and size, then extract the article."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from digest import __version__
from digest.articles import Article
from digest.errors import SourceError
from digest.intake import article_from_html, article_from_pasted

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


class UrlFetcher:
    """Fetches article pages over one reused HTTP connection pool."""

    def __init__(self, timeout: float, max_bytes: int, client: httpx.Client | None = None) -> None:
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.client = client or httpx.Client(
            follow_redirects=True,
            max_redirects=5,
            timeout=httpx.Timeout(timeout),
            headers={"User-Agent": USER_AGENT},
        )

    def __call__(self, url: str) -> Article:
        page = self.download(url)
        try:
            if page.content_type in _HTML_TYPES:
                return article_from_html(page.body, url, url=page.url)
            if page.content_type == "text/plain":
                text = page.body.decode(page.encoding or "utf-8", "replace")
                return article_from_pasted(text, url, url=page.url)
        except ValueError as error:
            raise SourceError(url, str(error)) from None
        raise SourceError(url, f"unsupported content type {page.content_type or 'unknown'!r}")

    def download(self, url: str, headers: dict[str, str] | None = None) -> Download:
        """GET within the time and size limits; a 304 comes back as such, with no body."""
        try:
            with self.client.stream("GET", url, headers=headers) as response:
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
        except httpx.TimeoutException:
            raise SourceError(url, f"timed out after {self.timeout:g} s") from None
        except httpx.TooManyRedirects:
            raise SourceError(url, "too many redirects") from None
        except httpx.ConnectError as error:
            raise SourceError(url, f"could not connect ({error})") from None
        except httpx.InvalidURL as error:
            raise SourceError(url, f"invalid URL ({error})") from None
        except httpx.HTTPError as error:
            raise SourceError(url, f"request failed ({type(error).__name__}: {error})") from None

    def _too_large(self) -> str:
        return f"page is larger than the {self.max_bytes:,} byte limit (fetch_max_bytes)"

    def close(self) -> None:
        self.client.close()
