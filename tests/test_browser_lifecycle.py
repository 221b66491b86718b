"""The lifecycle in Debian's chromium: cancel with confirmation (the dialog, and the page that
asks without JavaScript), back to draft with edits kept, approve at a time in the
newsletter's zone, and the editions list after a send. Screenshots in test-artifacts/."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from playwright.sync_api import Browser, Dialog, expect

from digest import editing
from digest.app import App
from digest.config import Settings
from tests.browser_support import assert_accessible
from tests.conftest import make_newsletter
from tests.web_support import draft_edition, serving, settings_for


def _settings(sqlite_url: str, tmp_path: Path) -> Settings:
    newsletter = make_newsletter(
        lists=["readers"], base_url="https://brief.example.org", timezone="Europe/Kyiv"
    )
    return settings_for(sqlite_url, tmp_path, newsletters={"brief": newsletter})


def test_cancel_confirmed_then_back_to_draft_and_approve_in_the_zone(
    browser: Browser, sqlite_url: str, tmp_path: Path
) -> None:
    settings = _settings(sqlite_url, tmp_path)
    app = App(settings)
    edition = draft_edition(app)
    edited = app.revise(edition, editing.with_fields(edition, "Kept subject", "", "Kept intro"))
    with serving(settings) as base:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{base}/editions/{edition.id}")
        asked: list[str] = []

        def dismiss(dialog: Dialog) -> None:
            asked.append(dialog.message)
            dialog.dismiss()

        page.once("dialog", dismiss)
        page.get_by_role("button", name="Cancel edition").click()
        expect(page.locator("#lifecycle")).to_be_visible()
        assert asked and "will not be sent" in asked[0]
        assert app.store.get_edition(edition.id or 0).status == "draft"

        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Cancel edition").click()
        expect(page.locator("p.notice")).to_contain_text("Cancelled")
        assert app.store.get_edition(edition.id or 0).status == "cancelled"

        page.get_by_role("button", name="Back to draft").click()
        expect(page.locator("p.notice")).to_contain_text("Back to draft")
        expect(page.locator("#reopened-note")).to_contain_text("Back to draft from cancelled")
        back = app.store.get_edition(edition.id or 0)
        assert back.status == "draft" and back.subject == "Kept subject"
        assert back.intro == "Kept intro" and back.sections == edited.sections

        page.get_by_label("Send at (Europe/Kyiv time)").fill("2026-12-02T07:00")
        page.get_by_role("button", name="Approve").click()
        shown = "Wed 2 Dec 2026, 07:00 Europe/Kyiv (05:00 UTC)"
        expect(page.locator("p.notice")).to_contain_text(shown)
        expect(page.locator("#planned")).to_contain_text(shown)
        approved = app.store.get_edition(edition.id or 0)
        assert approved.send_at == datetime(2026, 12, 2, 5, 0, tzinfo=UTC)
        assert approved.status == "approved"
        assert page.locator("#reopened-note").count() == 0

        # An edit of the approved edition puts it back to draft: the Sending box says so at
        # once, not after a reload, and no longer says when it will be sent.
        page.get_by_label("Preheader").fill("A preheader typed after approval")
        page.get_by_label("Preheader").blur()
        expect(page.locator("#reopened-note")).to_contain_text("Edited after approval")
        expect(page.locator("#planned")).to_have_count(0)
        expect(page.locator("#status")).to_have_text("draft")
        expect(page.locator("#approve button[type=submit]")).to_have_text("Approve")
        assert app.store.get_edition(edition.id or 0).status == "draft"
        page.reload()
        expect(page.locator("#reopened-note")).to_contain_text("Edited after approval")

        # Without JavaScript's dialog: the page that asks, then the cancel.
        page.goto(f"{base}/editions/{edition.id}/cancel")
        expect(page.get_by_role("heading", level=1)).to_contain_text("Cancel")
        assert_accessible(page, "lifecycle-cancel-confirm")
        page.get_by_role("button", name="Yes, cancel edition").click()
        expect(page.locator("p.notice")).to_contain_text("Cancelled")

        # A time that happens twice (clocks go back) is refused, the typed value kept.
        app.back_to_draft(app.store.get_edition(edition.id or 0))
        page.goto(f"{base}/editions/{edition.id}/approve")
        page.get_by_label("Send at (Europe/Kyiv time)").fill("2026-10-25T03:30")
        page.get_by_role("button", name="Approve").click()
        expect(page.get_by_role("alert")).to_contain_text("happens twice in Europe/Kyiv")
        expect(page.get_by_label("Send at (Europe/Kyiv time)")).to_have_value("2026-10-25T03:30")
        assert_accessible(page, "lifecycle-approve")
        page.close()
    app.close()


def test_editions_list_after_a_send_and_the_login_page(
    browser: Browser, sqlite_url: str, tmp_path: Path
) -> None:
    settings = _settings(sqlite_url, tmp_path)
    app = App(settings)
    sent = app.approve(draft_edition(app, readers=3), datetime(2026, 12, 2, 7, 0))
    app.send(sent)
    app.add([str(Path(__file__).parent.parent / "examples/articles")])
    with serving(settings) as base:
        page = browser.new_page()
        page.goto(f"{base}/editions")
        row = page.locator(f'tr[data-edition="{sent.id}"]')
        expect(row.locator(".status")).to_have_text("sent")
        expect(row.locator(".when")).to_contain_text("sent at")
        expect(row.locator(".when")).to_contain_text("Europe/Kyiv")
        expect(row.locator(".when")).to_contain_text("to 3 readers (0 failed)")
        assert "07:00 Europe/Kyiv" not in (row.locator(".when").text_content() or "")
        assert_accessible(page, "lifecycle-editions")
        page.goto(f"{base}/editions/{sent.id}")
        expect(page.locator("#sent-line")).to_contain_text("to 3 readers (0 failed)")
        assert page.get_by_role("button", name="Back to draft").count() == 0
        page.goto(f"{base}/login")
        assert_accessible(page, "lifecycle-login")
        page.close()
    app.close()
