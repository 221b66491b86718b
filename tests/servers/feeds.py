"""A web server on 127.0.0.1 serving RSS 2.0 and Atom feeds and article pages, for tests:
conditional GET with ETag and Last-Modified (304), a broken feed, a slow feed, a huge feed, a
feed that trickles a byte at a time, and article pages that can be made slow."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from html import escape
from http.server import BaseHTTPRequestHandler

from tests.servers import serving_in_thread


@dataclass
class Item:
    guid: str
    title: str
    body: str  # HTML in the feed; a short body makes the item an excerpt
    published: datetime
    page: str | None = None  # full article text served at /articles/<guid>
    tags: list[str] = field(default_factory=list)
    link: str | None = None  # default: this site's /articles/<guid>


@dataclass
class FeedSite:
    base: str = ""
    rss: list[Item] = field(default_factory=list)
    atom: list[Item] = field(default_factory=list)
    requests: list[tuple[str, int]] = field(default_factory=list)  # (path, status)
    slow_seconds: float = 3.0
    page_seconds: float = 0.0  # delay before each article page
    trickle_seconds: float = 0.2  # between the bytes of /trickle.xml

    def link(self, item: Item) -> str:
        return item.link or f"{self.base}/articles/{item.guid}"

    def rss_xml(self) -> str:
        items = "".join(
            f"<item><title>{escape(i.title)}</title>"
            f"<link>{escape(self.link(i))}</link><guid>{i.guid}</guid>"
            f"<pubDate>{format_datetime(i.published)}</pubDate>"
            + "".join(f"<category>{escape(t)}</category>" for t in i.tags)
            + f"<description>{escape(i.body)}</description></item>"
            for i in self.rss
        )
        return (
            f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Example Wire</title><link>{self.base}/</link>"
            f"<description>Test feed</description>{items}</channel></rss>"
        )

    def atom_xml(self) -> str:
        entries = "".join(
            f"<entry><title>{escape(i.title)}</title><id>urn:test:{i.guid}</id>"
            f'<link href="{escape(self.link(i))}"/>'
            f"<updated>{i.published.isoformat()}</updated><author><name>Atom Writer</name></author>"
            f'<content type="html">{escape(i.body)}</content></entry>'
            for i in self.atom
        )
        return (
            '<?xml version="1.0" encoding="utf-8"?>'
            '<feed xmlns="http://www.w3.org/2005/Atom"><title>Example Atom</title>'
            f"<id>urn:test:atom</id><updated>2026-11-01T00:00:00Z</updated>{entries}</feed>"
        )


class _Handler(BaseHTTPRequestHandler):
    site: FeedSite

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        site = self.site
        if self.path == "/rss.xml":
            self._feed(site.rss_xml(), "application/rss+xml")
        elif self.path == "/atom.xml":
            self._feed(site.atom_xml(), "application/atom+xml")
        elif self.path == "/broken.xml":
            self._send(200, "application/rss+xml", b"<rss><channel><title>Oops</tit")
        elif self.path == "/slow.xml":
            time.sleep(site.slow_seconds)
            self._send(200, "application/rss+xml", site.rss_xml().encode())
        elif self.path == "/trickle.xml":
            self._trickle(site.rss_xml().encode())
        elif self.path == "/huge.xml":
            self._send(200, "application/rss+xml", b"<rss>" + b" " * 3_000_000 + b"</rss>")
        elif self.path.startswith("/articles/"):
            time.sleep(site.page_seconds)
            guid = self.path.rsplit("/", 1)[1]
            item = next((i for i in site.rss + site.atom if i.guid == guid and i.page), None)
            if item is None:
                self._send(404, "text/plain", b"gone")
                return
            paragraphs = "".join(f"<p>{escape(p)}</p>" for p in item.page.split("\n\n"))  # type: ignore[union-attr]
            page = (
                f"<html><head><title>{escape(item.title)}</title></head><body>"
                f"<nav>Home News</nav><article><h1>{escape(item.title)}</h1>{paragraphs}"
                "</article><footer>Copyright Example</footer></body></html>"
            )
            self._send(200, "text/html; charset=utf-8", page.encode())
        else:
            self._send(404, "text/plain", b"not found")

    def _feed(self, xml: str, content_type: str) -> None:
        body = xml.encode()
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if self.headers.get("If-None-Match") == etag:
            self.site.requests.append((self.path, 304))
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        self._send(
            200,
            content_type,
            body,
            {"ETag": etag, "Last-Modified": "Sun, 01 Nov 2026 00:00:00 GMT"},
        )

    def _trickle(self, body: bytes) -> None:
        """Headers at once, then the body a byte at a time: every read is quick, the whole slow."""
        self.site.requests.append((self.path, 200))
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            for byte in body:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(self.site.trickle_seconds)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _send(
        self, status: int, content_type: str, body: bytes, headers: dict[str, str] | None = None
    ) -> None:
        self.site.requests.append((self.path, status))
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (time or size limit): that is the point of the test


@contextmanager
def running_feed_site() -> Iterator[FeedSite]:
    site = FeedSite()
    with serving_in_thread(type("H", (_Handler,), {"site": site})) as base:
        site.base = base
        yield site
