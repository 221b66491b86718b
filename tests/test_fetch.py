"""URL intake against a real HTTP server on 127.0.0.1: pages, errors, time and size limits,
and the overall deadline that cuts off a server trickling bytes."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from digest.errors import SourceError
from digest.fetch import BudgetSpent, UrlFetcher
from digest.intake import load_sources
from digest.url_guard import UrlGuard

PAGE = (
    Path(__file__).resolve().parent.parent / "examples/articles/kyiv-air-defence.html"
).read_bytes()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/article":
            self._send(200, "text/html; charset=utf-8", PAGE)
        elif self.path == "/moved":
            self.send_response(301)
            self.send_header("Location", "/article")
            self.end_headers()
        elif self.path == "/plain":
            body = "Headline of a plain text page here\n\nBody text of the page.\n0 Comments\n"
            self._send(200, "text/plain; charset=utf-8", body.encode())
        elif self.path == "/slow":
            time.sleep(2)
            self._send(200, "text/html", PAGE)
        elif self.path == "/huge":
            self._send(200, "text/html", b"<p>" + b"x" * 300_000 + b"</p>")
        elif self.path == "/chunked-huge":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()  # no Content-Length: the limit must hold while streaming
            for _ in range(40):
                self.wfile.write(b"y" * 10_000)
        elif self.path == "/trickle":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self._trickle(b"<p>" + b"z" * 997)
        elif self.path == "/trickle-headers":
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            self._trickle(b"X-Padding: " + b"p" * 1000 + b"\r\n\r\n")
        elif self.path == "/pdf":
            self._send(200, "application/pdf", b"%PDF-1.4")
        else:
            self._send(404, "text/plain", b"not here")

    def _trickle(self, data: bytes) -> None:
        """One byte every 0.1 s: each read well within the timeout, the whole far beyond."""
        try:
            for byte in data:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture
def fetcher() -> Iterator[UrlFetcher]:
    instance = UrlFetcher(timeout=0.5, max_bytes=200_000, guard=UrlGuard(["127.0.0.1"]))
    yield instance
    instance.close()


def test_html_page_is_extracted_with_final_url(server: str, fetcher: UrlFetcher) -> None:
    article = fetcher(f"{server}/moved")
    assert article.title == "Kyiv air defences down most of overnight drone wave"
    assert "118 of the 135" in article.text
    assert article.url is not None


def test_plain_text_goes_through_the_pasted_page_rules(server: str, fetcher: UrlFetcher) -> None:
    article = fetcher(f"{server}/plain")
    assert article.title == "Headline of a plain text page here"
    assert "Comments" not in article.text


def test_each_failed_url_is_reported_and_the_rest_added(server: str, fetcher: UrlFetcher) -> None:
    sources = [
        f"{server}/missing",
        f"{server}/slow",
        f"{server}/huge",
        f"{server}/chunked-huge",
        f"{server}/pdf",
        "http://127.0.0.1:9/closed",
        f"{server}/article",
    ]
    intake = load_sources(sources, fetch_url=fetcher)
    assert len(intake.articles) == 1
    messages = [str(error) for error in intake.errors]
    assert messages[0] == f"{server}/missing: HTTP 404 Not Found"
    assert messages[1] == f"{server}/slow: timed out after 0.5 s"
    assert "larger than the 200,000 byte limit" in messages[2]
    assert "larger than the 200,000 byte limit" in messages[3]
    assert messages[4] == f"{server}/pdf: unsupported content type 'application/pdf'"
    assert messages[5].startswith("http://127.0.0.1:9/closed: could not connect")


@pytest.mark.parametrize("path", ["/trickle", "/trickle-headers"])
def test_a_trickling_server_is_cut_off_at_the_deadline(server: str, path: str) -> None:
    guard = UrlGuard(["127.0.0.1"])
    with UrlFetcher(timeout=0.5, max_bytes=200_000, deadline=1.0, guard=guard) as fetcher:
        started = time.monotonic()
        with pytest.raises(SourceError) as caught:
            fetcher.download(f"{server}{path}")
        elapsed = time.monotonic() - started
    assert str(caught.value) == f"{server}{path}: took longer than the 1 s limit (fetch_deadline)"
    assert 0.9 < elapsed < 1.5


def test_a_budget_sooner_than_the_deadline_stops_the_download(server: str) -> None:
    guard = UrlGuard(["127.0.0.1"])
    with UrlFetcher(timeout=0.5, max_bytes=200_000, deadline=5.0, guard=guard) as fetcher:
        started = time.monotonic()
        with pytest.raises(BudgetSpent):
            fetcher.download(f"{server}/trickle", until=started + 0.6)
        assert time.monotonic() - started < 1.0
        # The budget is the caller's, for that call only: the next download has its own time.
        assert fetcher.download(f"{server}/article").status == 200
