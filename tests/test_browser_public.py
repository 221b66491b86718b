"""The public pages and their error pages in a real browser (Debian's chromium): a reader's
whole path (subscribe, confirm, read the archive, unsubscribe) and each broken link, each
checked by axe-core and photographed at desktop and phone widths in test-artifacts/."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import time_machine
from fastapi import FastAPI
from playwright.sync_api import Browser, Page, expect

from digest.app import App
from tests.browser_support import assert_accessible
from tests.conftest import make_newsletter
from tests.web_support import draft_edition, plain_text_of, serving, settings_for

TITLE = "The Test Brief"


def _confirm_path(outbox: Path) -> str:
    mails = sorted(outbox.rglob("notice-*.eml"), key=lambda p: p.stat().st_mtime)
    link = re.search(r"https://brief\.example\.org(/confirm/\S+)", plain_text_of(mails[-1]))
    assert link is not None
    return link.group(1)


def _error_page(page: Page, name: str, status: int, heading: str | re.Pattern[str]) -> None:
    """The page shown is an error page of the newsletter, with its status, then checked."""
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    expect(page.locator(".code")).to_contain_text(str(status))
    assert_accessible(page, name)


def test_a_readers_path_through_the_public_pages(
    browser: Browser, sqlite_url: str, tmp_path: Path
) -> None:
    settings = settings_for(sqlite_url, tmp_path)
    app = App(settings)
    app.send(app.approve(draft_edition(app, readers=1)))
    [sent] = sorted((tmp_path / "outbox").rglob("0*.eml"))
    unsubscribe = re.search(
        r"List-Unsubscribe: <https://brief\.example\.org([^>]+)>", sent.read_text()
    )
    assert unsubscribe is not None
    with serving(settings) as base:
        page = browser.new_page()
        page.goto(f"{base}/subscribe/readers")
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Subscribe to {TITLE}")
        assert_accessible(page, "public-subscribe")
        page.get_by_label("Name (optional)").fill("Olena")
        page.get_by_label("Email").fill("not an address")
        # The browser's own check would stop the form: let the server's speak.
        page.locator("form").evaluate("form => form.noValidate = true")
        page.get_by_role("button", name="Subscribe").click()
        expect(page.get_by_role("alert")).to_contain_text("Email:")
        expect(page.get_by_label("Name (optional)")).to_have_value("Olena")
        assert_accessible(page, "public-subscribe-error")
        page.get_by_label("Email").fill("olena@example.org")
        page.get_by_role("button", name="Subscribe").click()
        expect(page.get_by_text("check your inbox")).to_be_visible()
        assert_accessible(page, "public-subscribe-sent")

        page.goto(f"{base}{_confirm_path(tmp_path / 'outbox')}")
        expect(page.get_by_text(f"Send {TITLE} to olena@example.org?")).to_be_visible()
        assert_accessible(page, "public-confirm")
        page.get_by_role("button", name="Confirm").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Subscribed")
        assert_accessible(page, "public-confirmed")

        page.goto(f"{base}/archive/brief")
        expect(page.get_by_role("heading", level=1)).to_have_text(f"{TITLE}: archive")
        assert_accessible(page, "public-archive")
        page.get_by_role("link", name=re.compile("^No. 1")).click()
        expect(page.get_by_role("link", name="Subscribe")).to_have_attribute(
            "href", "https://brief.example.org/subscribe/readers"
        )
        expect(page.get_by_role("link", name="Unsubscribe")).to_have_count(0)
        assert_accessible(page, "public-archive-edition")

        page.goto(f"{base}{unsubscribe.group(1)}")
        expect(page.get_by_text(f"Stop sending {TITLE} to r0@example.org?")).to_be_visible()
        assert_accessible(page, "public-unsubscribe")
        page.get_by_role("button", name="Unsubscribe").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("You are unsubscribed")
        assert_accessible(page, "public-unsubscribed")
        page.close()
    app.close()


def test_each_public_error_page_in_the_browser(
    browser: Browser, sqlite_url: str, tmp_path: Path
) -> None:
    settings = settings_for(sqlite_url, tmp_path)
    with serving(settings) as base:
        page = browser.new_page()
        client_side = [
            ("/u/1.2.3.forged", "public-error-unsubscribe", 404, "unsubscribe link does not work"),
            ("/confirm/broken", "public-error-confirm", 404, "confirmation link does not work"),
            ("/subscribe/nope", "public-error-list", 404, "No such subscription"),
            ("/archive/brief/42", "public-error-edition", 404, "No such edition"),
            ("/archive/nope", "public-error-newsletter", 404, "Page not found"),
            ("/archive/brief/1/x", "public-error-path", 404, "Page not found"),
            ("/editions/9999", "editor-error-404", 404, "Page not found"),
        ]
        for path, name, status, heading in client_side:
            answer = page.goto(f"{base}{path}")
            assert answer is not None and answer.status == status, path
            _error_page(page, name, status, re.compile(heading))
        expect(page.get_by_role("link", name="Back to the editions")).to_be_visible()

        page.goto(f"{base}/subscribe/readers")
        page.get_by_label("Email").fill("late@example.org")
        page.get_by_role("button", name="Subscribe").click()
        expect(page.get_by_text("check your inbox")).to_be_visible()
        with time_machine.travel(datetime.now(UTC) + timedelta(days=3)):
            answer = page.goto(f"{base}{_confirm_path(tmp_path / 'outbox')}")
            assert answer is not None and answer.status == 410
            _error_page(page, "public-error-expired", 410, "This confirmation link has expired")
        expect(page.get_by_text("works for 2 days")).to_be_visible()
        page.close()


def _broken_store(web: FastAPI) -> None:
    def boom(*args: object) -> list[object]:
        raise RuntimeError("the database went away")

    web.state.digest.store.editions_with_status = boom


def test_server_error_and_another_language_in_the_browser(
    browser: Browser, sqlite_url: str, tmp_path: Path
) -> None:
    newsletter = make_newsletter(
        lists=["readers"],
        base_url="https://brief.example.org",
        title="Щоденний огляд",
        language="uk",
        accent_color="#ffd500",
    )
    settings = settings_for(sqlite_url, tmp_path, newsletters={"brief": newsletter})
    with serving(settings, configure=_broken_store) as base:
        page = browser.new_page()
        answer = page.goto(f"{base}/archive/brief")
        assert answer is not None and answer.status == 500
        _error_page(page, "public-error-500-uk", 500, "Щось пішло не так")
        expect(page.locator("html")).to_have_attribute("lang", "uk")
        page.goto(f"{base}/subscribe/readers")
        expect(page.get_by_role("heading", level=1)).to_have_text("Підписка на Щоденний огляд")
        assert_accessible(page, "public-subscribe-uk")
        page.goto(f"{base}/u/garbage")
        _error_page(page, "public-error-unsubscribe-uk", 404, "Це посилання для відписки не працює")
        page.close()
