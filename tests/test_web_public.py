"""Public pages over real HTTP: every error is an HTML page in the newsletter's look and
language with the right status (never FastAPI's JSON), the pages name the newsletter, the
confirmation email says its lifetime as people do, and the archive's copy is nobody's."""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import time_machine
from fastapi import FastAPI

from digest.app import App
from digest.colours import WHITE, contrast
from digest.colours import rgb as _rgb
from digest.config import Settings
from digest.render import placeholders
from digest.web.look import look_for
from digest.web.messages import messages
from tests.conftest import make_newsletter
from tests.web_support import draft_edition, plain_text_of, serving, settings_for

TITLE = "The Test Brief"


def ukrainian(database_url: str, tmp_path: Path, **overrides: object) -> Settings:
    newsletter = make_newsletter(
        lists=["readers"],
        base_url="https://brief.example.org",
        title="Щоденний огляд",
        language="uk",
        accent_color="#FFD500",
    )
    return settings_for(database_url, tmp_path, newsletters={"brief": newsletter}, **overrides)


def assert_page(answer: httpx.Response, status: int, *texts: str) -> str:
    """An HTML page (not JSON) with the status and the texts; returns its text."""
    assert answer.status_code == status, answer.text[:300]
    assert answer.headers["content-type"].startswith("text/html")
    assert '{"detail"' not in answer.text
    for text in texts:
        assert text in answer.text, f"{text!r} not in the page"
    return answer.text


def confirm_link(outbox: Path) -> tuple[str, str]:
    """(path of the confirmation link, the email's text) of the one confirmation sent."""
    [mail] = outbox.rglob("notice-*.eml")
    text = plain_text_of(mail)
    link = re.search(r"https://brief\.example\.org(/confirm/\S+)", text)
    assert link is not None
    return link.group(1), text


def test_every_public_error_is_a_page_naming_the_newsletter(
    database_url: str, tmp_path: Path
) -> None:
    settings = settings_for(database_url, tmp_path)
    with serving(settings) as base, httpx.Client(base_url=base, timeout=60) as client:
        accent = f"--accent: {make_newsletter().accent_color}"
        for method in ("GET", "POST"):
            broken = client.request(method, "/u/1.1.1.bogus")
            assert_page(broken, 404, TITLE, accent, "This unsubscribe link does not work")
            assert_page(client.request(method, "/u/garbage"), 404, TITLE, "does not work")
            assert_page(
                client.request(method, "/confirm/not-a-token"),
                404,
                TITLE,
                "This confirmation link does not work",
            )
        assert_page(client.get("/subscribe/nope"), 404, "No such subscription", TITLE)
        assert_page(client.get("/archive/nope"), 404, "Page not found")
        assert_page(client.get("/archive/nope/feed.xml"), 404, "Page not found")
        assert_page(client.get("/archive/brief/7"), 404, TITLE, "No such edition")
        assert_page(client.get("/archive/brief/seven"), 404, TITLE, "Page not found")
        assert_page(client.get("/archive/brief/7/more"), 404, TITLE, "Page not found")
        assert_page(client.get("/u"), 404, TITLE, "Page not found")
        wrong = client.put("/subscribe/readers", data={"email": "a@example.org"})
        assert_page(wrong, 405, TITLE, "This page cannot do that")
        assert "GET" in wrong.headers["allow"]  # the header survives the page
        assert_page(client.delete("/archive/brief"), 405, TITLE)


def test_subscribe_form_errors_keep_what_was_typed_and_name_the_field(
    sqlite_url: str, tmp_path: Path
) -> None:
    settings = settings_for(sqlite_url, tmp_path, subscribe_limit_per_hour=2)
    with serving(settings) as base, httpx.Client(base_url=base, timeout=60) as client:
        missing = client.post("/subscribe/readers", data={"name": "Olena"})
        assert_page(missing, 422, TITLE, "Email: please enter your email address.", 'value="Olena"')
        wrong = client.post("/subscribe/readers", data={"email": "not-an-address", "name": "O"})
        assert_page(wrong, 422, "Email: “not-an-address” is not an address", 'aria-invalid="true"')
        long_name = client.post(
            "/subscribe/readers", data={"email": "a@example.org", "name": "n" * 201}
        )
        assert_page(long_name, 422, "Name: at most 200 characters.", 'value="a@example.org"')
        long_email = client.post("/subscribe/readers", data={"email": "a" * 330 + "@example.org"})
        assert_page(long_email, 422, "Email: at most 320 characters.")
        escaped = client.post("/subscribe/readers", data={"email": "<b>x</b>"})
        assert "<b>x</b>" not in escaped.text and "&lt;b&gt;x&lt;/b&gt;" in escaped.text
        for n in range(2):
            ok = client.post("/subscribe/readers", data={"email": f"x{n}@example.org"})
            assert_page(ok, 200, "check your inbox")
        limited = client.post("/subscribe/readers", data={"email": "x9@example.org"})
        assert_page(limited, 429, TITLE, "Too many requests", 'value="x9@example.org"')
    app = App(settings)
    list_id = app.store.subscribers.list_id("readers")
    assert app.store.subscribers.find(list_id, "x9@example.org") is None  # nothing was stored
    app.close()


def test_confirmation_email_and_its_expiry_say_the_lifetime_as_people_do(
    sqlite_url: str, tmp_path: Path
) -> None:
    settings = settings_for(sqlite_url, tmp_path, confirm_link_lifetime=timedelta(hours=12))
    with serving(settings) as base, httpx.Client(base_url=base, timeout=60) as client:
        client.post("/subscribe/readers", data={"email": "new@example.org"})
        path, text = confirm_link(tmp_path / "outbox")
        assert "open this link within 12 hours:" in text and "0:00" not in text
        assert TITLE in text
        assert_page(client.get(path), 200, TITLE, "Send The Test Brief to new@example.org?")
        with time_machine.travel(datetime.now(UTC) + timedelta(hours=13)):
            expired = client.post(path)
            assert_page(
                expired, 410, TITLE, "This confirmation link has expired", "works for 12 hours"
            )
        assert_page(client.post(path), 200, "Subscribed", "new@example.org now receives")
        # Opened again later: said to be done, not asked again.
        again = assert_page(client.get(path), 200, "Subscribed", "new@example.org now receives")
        assert "<form" not in again
    # The email names the newsletter once, and its link is a link in the HTML part too.
    [mail] = (tmp_path / "outbox").rglob("notice-*.eml")
    message = email.message_from_bytes(mail.read_bytes(), policy=email.policy.default)
    assert message["Subject"] == f"Confirm your subscription to {TITLE}"
    html_part = message.get_body(("html",))
    assert html_part is not None
    assert f'<a href="https://brief.example.org{path}">' in html_part.get_content()


def test_unsubscribe_page_names_the_newsletter_not_the_list(
    database_url: str, tmp_path: Path
) -> None:
    settings = settings_for(database_url, tmp_path)
    app = App(settings)
    app.send(app.approve(draft_edition(app, readers=1)))
    [eml] = sorted((tmp_path / "outbox").rglob("0*.eml"))
    url = re.search(r"List-Unsubscribe: <https://brief\.example\.org([^>]+)>", eml.read_text())
    assert url is not None
    with serving(settings) as base, httpx.Client(base_url=base, timeout=60) as client:
        asked = assert_page(client.get(url.group(1)), 200, "Stop sending The Test Brief to r0@")
        done = client.post(url.group(1), data={"List-Unsubscribe": "One-Click"})
        assert_page(done, 200, "r0@example.org will receive no more emails of The Test Brief")
        for page in (asked, done.text):
            assert "readers" not in page.replace("/subscribe/readers", "")
    app.close()


def test_pages_and_errors_speak_the_newsletters_language(sqlite_url: str, tmp_path: Path) -> None:
    settings = ukrainian(sqlite_url, tmp_path)
    with serving(settings) as base, httpx.Client(base_url=base, timeout=60) as client:
        form = assert_page(client.get("/subscribe/readers"), 200, "Підписка на Щоденний огляд")
        assert '<html lang="uk">' in form
        assert "--on-accent: #000000" in form  # pale yellow: black text on it
        broken = assert_page(client.get("/u/garbage"), 404, "Це посилання для відписки не працює")
        assert '<html lang="uk">' in broken and "Помилка 404" in broken
        assert_page(client.get("/archive/brief/3"), 404, "Такого випуску немає")
        missing = client.post("/subscribe/readers", data={})
        assert_page(missing, 422, "Електронна пошта: введіть")
        client.post("/subscribe/readers", data={"email": "new@example.org"})
        path, text = confirm_link(tmp_path / "outbox")
        assert "термін дії: 2 дні" in text and "Щоденний огляд" in text
        with time_machine.travel(datetime.now(UTC) + timedelta(days=3)):
            assert_page(client.get(path), 410, "Термін дії посилання минув", "— 2 дні")


def _failing_archive(web: FastAPI) -> None:
    def boom(*args: object) -> list[object]:
        raise RuntimeError("the database went away")

    web.state.digest.store.editions_with_status = boom


def test_a_server_error_on_a_public_page_is_a_page(sqlite_url: str, tmp_path: Path) -> None:
    settings = settings_for(sqlite_url, tmp_path)
    configure: Callable[[FastAPI], None] = _failing_archive
    with (
        serving(settings, configure=configure) as base,
        httpx.Client(base_url=base, timeout=60) as client,
    ):
        failed = client.get("/archive/brief")
        assert_page(failed, 500, TITLE, "Something went wrong")
        assert "database went away" not in failed.text  # no internals for readers
    # The server drops the connection after an error: a new one for the next request.
    with serving(settings, configure=configure) as base:
        assert_page(httpx.get(f"{base}/archive/brief/1"), 500, "Something went wrong")


def test_editor_errors_stay_json_for_scripts_but_a_browser_gets_a_page(
    sqlite_url: str, tmp_path: Path
) -> None:
    settings = settings_for(sqlite_url, tmp_path)
    html = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    with serving(settings) as base, httpx.Client(base_url=base, timeout=60) as client:
        for path in ("/editions/9999", "/no/such/page"):
            script = client.get(path)
            assert script.status_code == 404 and "detail" in script.json()
            page = assert_page(client.get(path, headers=html), 404, "Page not found")
            assert 'href="/editions"' in page
        webhook = client.get("/webhooks/sendgrid", headers=html)
        assert webhook.status_code == 405


def test_archive_copy_has_no_personal_links(database_url: str, tmp_path: Path) -> None:
    settings = settings_for(database_url, tmp_path)
    app = App(settings)
    edition = app.approve(draft_edition(app, readers=2))
    app.send(edition)
    with serving(settings) as base, httpx.Client(base_url=base, timeout=60) as client:
        copy = client.get("/archive/brief/1")
        assert copy.status_code == 200 and edition.subject in copy.text
        for personal in ("/u/", "Unsubscribe", "Hello", "Reader 0", "r0@example.org", "%%"):
            assert personal not in copy.text, personal
        assert 'href="https://brief.example.org/subscribe/readers"' in copy.text
        assert "web copy of The Test Brief" in copy.text
        listing = assert_page(client.get("/archive/brief"), 200, edition.subject)
        assert 'href="/subscribe/readers"' in listing
    # The mailed copy still has them.
    [eml] = sorted((tmp_path / "outbox").rglob("0*.eml"))[:1]
    assert "Unsubscribe" in plain_text_of(eml)
    app.close()


def test_preview_and_test_send_greet_a_nameless_reader_alike(
    sqlite_url: str, tmp_path: Path
) -> None:
    settings = settings_for(sqlite_url, tmp_path)
    app = App(settings)
    edition = draft_edition(app)
    assert edition.id is not None
    app.test_send(edition, "editor@example.org")
    [test_copy] = (tmp_path / "outbox").rglob("*.eml")
    sent_greeting = re.search(r"Hello [^,\n]*,", plain_text_of(test_copy))
    with serving(settings) as base, httpx.Client(base_url=base, timeout=60) as client:
        preview = client.get(f"/editions/{edition.id}/preview")
    shown_greeting = re.search(r"Hello [^,<]*,", preview.text)
    assert sent_greeting is not None and shown_greeting is not None
    assert sent_greeting.group() == shown_greeting.group() == f"Hello {placeholders.NAMELESS},"
    app.close()


@pytest.mark.parametrize(
    ("language", "span", "said"),
    [
        ("en", timedelta(days=2), "2 days"),
        ("en", timedelta(days=1), "1 day"),
        ("en", timedelta(hours=12), "12 hours"),
        ("en", timedelta(hours=36), "36 hours"),
        ("en", timedelta(minutes=90), "90 minutes"),
        ("en", timedelta(days=14), "2 weeks"),
        ("en", timedelta(seconds=20), "1 minute"),
        ("en-GB", timedelta(days=2), "2 days"),
        ("uk", timedelta(days=2), "2 дні"),
        ("uk", timedelta(days=5), "5 днів"),
        ("uk", timedelta(days=1), "1 день"),
        ("xx", timedelta(days=3), "3 days"),
    ],
)
def test_durations_for_people(language: str, span: timedelta, said: str) -> None:
    assert messages(language).duration(span) == said


def test_a_missing_translation_reads_english() -> None:
    assert messages("fr").language == "en"
    assert messages("uk-UA")("subscribe") == "Підписатися"
    assert messages("fr")("subscribe") == "Subscribe"


@pytest.mark.parametrize("accent", ["#ffd500", "#1f6feb", "#00ff00", "#000000", "#ffffff"])
def test_any_accent_gives_readable_text_and_links(accent: str) -> None:
    look = look_for(accent)
    assert look.accent == accent
    assert contrast(_rgb(look.accent), _rgb(look.on_accent)) >= 4.5
    assert contrast(_rgb(look.link), WHITE) >= 4.5


def test_the_confirmation_link_carries_nothing_personal(database_url: str, tmp_path: Path) -> None:
    import base64

    settings = settings_for(database_url, tmp_path)
    app = App(settings)
    address, name = "Olena.Kovalenko@example.org", "Olena Kovalenko"
    with serving(settings) as base, httpx.Client(base_url=base, timeout=60) as client:
        asked = client.post("/subscribe/readers", data={"email": address, "name": name})
        assert asked.status_code == 200
        path, _ = confirm_link(tmp_path / "outbox")
        token = path.removeprefix("/confirm/")
        # Whatever part of the link is decoded, no address, name or client address is in it.
        readable = token
        for part in token.split("."):
            try:
                readable += base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode(
                    "latin-1"
                )
            except ValueError:
                continue
        for secret in ("olena", "kovalenko", "example.org", "127.0.0.1"):
            assert secret not in readable.casefold(), secret
        assert_page(client.get(path), 200, address.split("@")[0])
        # The request is erased before it is confirmed: the link no longer works, and confirms
        # no one else who signs up after (SQLite may give them the erased row's id).
        assert app.store.subscribers.remove(address) == 1
        assert_page(client.get(path), 404, "This confirmation link does not work")
        other = "someone.else@example.net"
        client.post("/subscribe/readers", data={"email": other})
        assert_page(client.post(path), 404, "This confirmation link does not work")
        list_id = app.store.subscribers.list_id("readers")
        again = app.store.subscribers.find(list_id, other)
        assert again is not None and again.status.value == "pending"
    app.close()
