"""The SSRF guard, against real servers on loopback addresses: what is refused and why, names
that resolve inside, redirects, feed item links, the allow list, `digest add`, and that the
connection goes to the address that was checked."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from pathlib import Path

import pytest
from typer.testing import CliRunner

from digest.app import App
from digest.cli import app as cli
from digest.config import Settings
from digest.errors import SourceError
from digest.feeds import fetch_feeds
from digest.fetch import UrlFetcher
from digest.store import Store
from digest.url_guard import UrlGuard, non_public_kind
from tests.conftest import make_newsletter
from tests.servers.feeds import Item, running_feed_site

REFUSED = "add it to fetch_allowed_networks to allow it"
PAGE = (
    "<html><head><title>Inside page</title></head><body><article><h1>Inside page</h1>"
    + "<p>Drafts and subscriber counts that must never leave this machine. </p>" * 20
    + "</article></body></html>"
).encode()


class _Site:
    """A small web site that records what it was asked (path and Host header)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        self.redirect_to = ""


@contextmanager
def serving(host: str = "127.0.0.1") -> Iterator[tuple[str, _Site]]:
    site = _Site()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            site.requests.append((self.path, self.headers.get("Host", "")))
            if self.path == "/redirect":
                self.send_response(302)
                self.send_header("Location", site.redirect_to)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(PAGE)))
            self.end_headers()
            self.wfile.write(PAGE)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((host, 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://{host}:{server.server_address[1]}", site
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def inside() -> Iterator[tuple[str, _Site]]:
    """A server on 127.0.0.2: loopback, and not in any allow list of these tests."""
    with serving("127.0.0.2") as served:
        yield served


@pytest.fixture
def outside() -> Iterator[tuple[str, _Site]]:
    """A server on 127.0.0.1, which the tests allow: it stands for a public site."""
    with serving("127.0.0.1") as served:
        yield served


def fetcher(allowed: list[str], names: dict[str, list[str]] | None = None) -> UrlFetcher:
    """A fetcher allowing `allowed`; `names` (if given) is its whole DNS."""
    if names is None:
        return UrlFetcher(1.0, 1_000_000, guard=UrlGuard(allowed))
    table = names

    def resolve(host: str, port: int) -> list[str]:
        return table.get(host, [host])

    return UrlFetcher(1.0, 1_000_000, guard=UrlGuard(allowed, resolve=resolve))


def refusal(fetch: UrlFetcher, url: str) -> str:
    with pytest.raises(SourceError) as caught:
        fetch.download(url)
    return str(caught.value)


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "shared CGNAT range"),
        ("169.254.169.254", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.251", "multicast"),
        ("240.0.0.1", "reserved"),
        ("192.0.2.7", "private"),  # documentation range
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fd00::1", "private"),
        ("fe80::1", "link-local"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:192.168.0.1", "private"),
        ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
        ("::ffff:8.8.8.8", None),
    ],
)
def test_address_kinds(address: str, kind: str | None) -> None:
    assert non_public_kind(ip_address(address)) == kind


def test_literal_addresses_are_refused_before_any_connection(
    inside: tuple[str, _Site],
) -> None:
    base, site = inside
    port = base.rsplit(":", 1)[1]
    with fetcher([]) as fetch:
        assert refusal(fetch, f"{base}/editions/2") == (
            f"{base}/editions/2: refused: resolves to 127.0.0.2 (loopback); {REFUSED}"
        )
        for url, shown, kind in [
            (f"http://[::1]:{port}/", "::1", "loopback"),
            (f"http://[::ffff:127.0.0.2]:{port}/", "::ffff:127.0.0.2", "loopback"),
            ("http://[fd00::1]/feed.xml", "fd00::1", "private"),
            ("http://10.0.0.7/feed.xml", "10.0.0.7", "private"),
            ("http://169.254.169.254/latest/meta-data/", "169.254.169.254", "link-local"),
            ("http://0.0.0.0:8080/", "0.0.0.0", "unspecified"),
            ("http://2130706434/", "127.0.0.2", "loopback"),  # 127.0.0.2 as one number
        ]:
            assert refusal(fetch, url) == f"{url}: refused: resolves to {shown} ({kind}); {REFUSED}"
        assert refusal(fetch, "file:///etc/passwd") == (
            "file:///etc/passwd: refused: only http and https URLs are fetched"
        )
    assert site.requests == []


def test_names_that_resolve_inside_are_refused(inside: tuple[str, _Site]) -> None:
    base, site = inside
    port = base.rsplit(":", 1)[1]
    with fetcher([]) as fetch:  # the system's resolver
        message = refusal(fetch, f"http://localhost:{port}/")
        assert message.startswith(f"http://localhost:{port}/: refused: resolves to ")
        assert "(loopback)" in message and message.endswith(REFUSED)
    # A public-looking name whose DNS answers with a loopback address.
    with fetcher([], {"news.example.com": ["127.0.0.2"]}) as fetch:
        assert refusal(fetch, f"http://news.example.com:{port}/story") == (
            f"http://news.example.com:{port}/story: refused: resolves to 127.0.0.2 "
            f"(loopback); {REFUSED}"
        )
    assert site.requests == []


def test_only_allowed_addresses_of_a_name_are_connected_to(outside: tuple[str, _Site]) -> None:
    """A name with an inside and an allowed address is reached at the allowed one only, under
    its own name (Host header), through the address that was checked: the test's DNS is the
    only one that knows these names, so a second lookup would fail."""
    base, site = outside
    port = base.rsplit(":", 1)[1]
    names = {"mixed.example.com": ["127.0.0.2", "127.0.0.1"]}
    with fetcher(["127.0.0.1"], names) as fetch:
        page = fetch(f"http://mixed.example.com:{port}/story")
    assert page.title == "Inside page"
    assert site.requests == [("/story", f"mixed.example.com:{port}")]


def test_the_checked_address_is_the_one_connected_to(outside: tuple[str, _Site]) -> None:
    """DNS rebinding: the first answer is allowed, later ones point inside. The guard asks
    once per connection and connects to that answer."""
    base, site = outside
    port = base.rsplit(":", 1)[1]
    answers = iter([["127.0.0.1"], ["127.0.0.2"], ["127.0.0.2"]])
    asked: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        asked.append(host)
        return next(answers)

    with UrlFetcher(1.0, 1_000_000, guard=UrlGuard(["127.0.0.1"], resolve=rebinding)) as fetch:
        assert fetch.download(f"http://rebind.example:{port}/a").status == 200
    assert asked == ["rebind.example"]
    assert site.requests == [("/a", f"rebind.example:{port}")]


def test_every_redirect_hop_is_checked(
    outside: tuple[str, _Site], inside: tuple[str, _Site]
) -> None:
    base, site = outside
    inside_base, inside_site = inside
    port = inside_base.rsplit(":", 1)[1]
    with fetcher(["127.0.0.1"]) as fetch:
        for target, shown in [
            (f"{inside_base}/editions/2", "127.0.0.2"),
            (f"http://[::1]:{port}/editions/2", "::1"),
        ]:
            site.redirect_to = target
            assert refusal(fetch, f"{base}/redirect") == (
                f"{base}/redirect: refused: redirected to {target}, which resolves to "
                f"{shown} (loopback); {REFUSED}"
            )
        site.redirect_to = "ftp://files.example.org/passwd"
        assert refusal(fetch, f"{base}/redirect") == (
            f"{base}/redirect: refused: redirected to ftp://files.example.org/passwd: "
            "only http and https"
        )
        # A redirect within what is allowed is followed.
        site.redirect_to = f"{base}/story"
        assert fetch(f"{base}/redirect").url == f"{base}/story"
    assert inside_site.requests == []


def test_feed_item_links_to_inside_are_not_fetched(store: Store, inside: tuple[str, _Site]) -> None:
    inside_base, inside_site = inside
    with running_feed_site() as feeds, fetcher(["127.0.0.1"]) as fetch:
        feeds.rss = [
            Item(
                "e2",
                "Edition 2",
                "<p>A short teaser.</p>",
                datetime(2026, 11, 3, tzinfo=UTC),
                link=f"{inside_base}/editions/2",
            ),
            Item(  # no text of its own: nothing to keep
                "e3",
                "Edition 3",
                "",
                datetime(2026, 11, 3, tzinfo=UTC),
                link=f"{inside_base}/editions/3",
            ),
        ]
        [report] = fetch_feeds([f"{feeds.base}/rss.xml"], store, fetch)
    assert (report.new, report.error) == (1, None)
    [article] = store.list_articles()
    assert article.text == "A short teaser."  # the feed's own excerpt, not the inside page
    assert inside_site.requests == []


def test_allow_list_lets_an_intranet_feed_through(sqlite_url: str) -> None:
    long = " ".join(f"Sentence {n} about the intranet and its servers." for n in range(30))
    with running_feed_site() as feeds:
        feeds.rss = [Item("i1", "Intranet news", f"<p>{long}</p>", datetime(2026, 11, 3))]
        url = f"{feeds.base}/rss.xml"
        newsletter = make_newsletter(feeds=[url])
        closed = App(Settings(database_url=sqlite_url, newsletters={"brief": newsletter}))
        try:
            [report] = closed.fetch_feeds()
        finally:
            closed.close()
        assert report.error == f"refused: resolves to 127.0.0.1 (loopback); {REFUSED}"
        assert feeds.requests == []

        opened = App(
            Settings(
                database_url=sqlite_url,
                newsletters={"brief": newsletter},
                fetch_allowed_networks=["127.0.0.0/8"],
            )
        )
        try:
            [report] = opened.fetch_feeds()
            assert (report.new, report.error) == (1, None)
            assert [a.title for a in opened.store.list_articles()] == ["Intranet news"]
        finally:
            opened.close()


def test_digest_add_refuses_a_loopback_url(
    tmp_path: Path, inside: tuple[str, _Site], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, site = inside
    monkeypatch.chdir(tmp_path)
    (tmp_path / "digest.toml").write_text("", encoding="utf-8")
    env = {"DIGEST_DATABASE_URL": f"sqlite:///{tmp_path / 'digest.db'}"}
    result = CliRunner().invoke(cli, ["add", f"{base}/editions/2"], env=env)
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: {base}/editions/2: refused: resolves to 127.0.0.2 (loopback); {REFUSED}\n"
    )
    # Allowed by the setting, the same page is fetched.
    env["DIGEST_FETCH_ALLOWED_NETWORKS"] = '["127.0.0.2"]'
    result = CliRunner().invoke(cli, ["add", f"{base}/editions/2"], env=env)
    assert result.exit_code == 0, result.output
    assert "added #1: Inside page" in result.stdout
    assert site.requests == [("/editions/2", base.removeprefix("http://"))]
