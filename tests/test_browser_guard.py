"""The complaint and bounce guard in a real browser (Debian's chromium): a send through the local
SendGrid server paused by spam reports posted to the signed webhook while it ran; the report
page and the edition's page say why, and "Resume sending" (a form post with the CSRF token)
goes on where it stopped, every reader once. Pages checked with axe-core and photographed at
1280 and 390 px (test-artifacts/guard-*.png)."""

from __future__ import annotations

import time
from pathlib import Path

from playwright.sync_api import Browser, expect

from digest.cli import EXIT_PAUSED
from tests.browser_support import assert_accessible
from tests.guard_support import Request, guarded_send
from tests.test_guard import LIGHT, THREE_COMPLAINTS, digest, ledger, once_each


def test_an_editor_resumes_a_paused_send_from_the_report_page(
    browser: Browser, sqlite_url: str, tmp_path: Path
) -> None:
    with guarded_send(tmp_path, sqlite_url, 1500, THREE_COMPLAINTS, **LIGHT) as send:
        number = send.edition_id
        assert digest(send, "send", str(number), "--yes", "--now").exit_code == EXIT_PAUSED
        page = browser.new_page()
        page.goto(f"{send.events.base}/editions/{number}")
        expect(page.locator("#status")).to_have_text("paused")
        expect(page.locator("#lifecycle #pause-reason")).to_contain_text(
            "3 complaints in 300 delivered (1%) is over complaint_pause_rate 0.1%"
        )
        assert_accessible(page, "guard-edition-paused")
        page.get_by_role("link", name="send report").click()
        expect(page.locator("#status")).to_have_text("paused")
        expect(page.locator("#paused")).to_contain_text("Paused by the complaint and bounce guard")
        expect(page.locator(".count.complained strong")).to_have_text("3")
        assert_accessible(page, "guard-report-paused")
        once_each(send, 1000)

        page.get_by_role("button", name="Resume sending").click()
        expect(page.locator("p.notice")).to_contain_text("Resumed by editor on the editor page")
        deadline = time.monotonic() + 120
        while ledger(send)[1] != "sent" and time.monotonic() < deadline:
            time.sleep(0.2)
        page.reload()
        expect(page.locator("#status")).to_have_text("sent")
        expect(page.locator("#resumed")).to_contain_text("resumed by editor on the editor page")
        expect(page.get_by_role("button", name="Resume sending")).to_have_count(0)
        assert_accessible(page, "guard-report-resumed")
    once_each(send, 1500)
    assert set(send.copies()) == {f"reader{n}@example.org" for n in range(1500)}


def test_a_second_resume_of_the_same_pause_changes_nothing(
    browser: Browser, sqlite_url: str, tmp_path: Path
) -> None:
    """Two tabs open on the paused report: the first resume goes on, the second is told there
    is nothing to resume (one conditional update: one resume)."""
    script = [Request(complaints=3, arrived=300), Request(arrived=0)]
    with guarded_send(tmp_path, sqlite_url, 1500, script, **LIGHT) as send:
        number = send.edition_id
        assert digest(send, "send", str(number), "--yes", "--now").exit_code == EXIT_PAUSED
        context = browser.new_context()
        first, second = context.new_page(), context.new_page()
        for tab in (first, second):
            tab.goto(f"{send.events.base}/editions/{number}/report")
        first.get_by_role("button", name="Resume sending").click()
        expect(first.locator("p.notice")).to_contain_text("Resumed by")
        second.get_by_role("button", name="Resume sending").click()
        expect(second.locator("p.error")).to_have_text(
            "This send is not paused: nothing to resume."
        )
        deadline = time.monotonic() + 120
        while ledger(send)[1] != "sent" and time.monotonic() < deadline:
            time.sleep(0.2)
        context.close()
        once_each(send, 1500)
