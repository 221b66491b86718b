"""The send report and the subscriber pages in a real browser (Debian's chromium): a send
through aiosmtpd that refuses one reader and defers another, a bounce posted to the signed
webhook, then the report and its CSV; a list's search, add, unsubscribe, erase (confirmed) and
an import with bad rows, their rejects listed and downloaded. Each page is checked with
axe-core and photographed at 1280 and 390 px."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import httpx
from playwright.sync_api import Browser, expect

from digest.app import App
from digest.subscribers.model import Status
from tests.browser_support import assert_accessible
from tests.servers.smtp import running_smtp
from tests.web_support import draft_edition, serving, settings_for, signed, webhook_key


def test_the_send_report_after_a_send_with_failures(
    browser: Browser, sqlite_url: str, tmp_path: Path
) -> None:
    key, public = webhook_key()
    with running_smtp(tmp_path) as server:
        settings = settings_for(
            sqlite_url,
            tmp_path,
            smtp_host=server.host,
            smtp_port=server.port,
            smtp_security="none",
            sendgrid_webhook_public_key=public,
        )
        app = App(settings)
        edition = app.approve(draft_edition(app, readers=5))
        server.state.refuse.add("r1@example.org")
        server.state.defer.add("r2@example.org")
        app.send(edition, via="smtp")
    assert edition.id is not None
    bounced = next(o for o in app.delivery_outcomes(edition) if o.email == "r4@example.org")
    body = json.dumps(
        [
            {
                "event": "bounce",
                "email": "r4@example.org",
                "timestamp": int(time.time()),
                "sg_event_id": "bounce-r4",
                "reason": "550 5.1.1 mailbox does not exist",
                "edition_id": str(edition.id),
                "delivery_id": str(bounced.delivery_id),
            }
        ]
    ).encode()
    with serving(settings) as base:
        posted = httpx.post(
            f"{base}/webhooks/sendgrid",
            content=body,
            headers=signed(key, body, str(int(time.time()))),
        )
        assert posted.status_code == 200, posted.text
        page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        page.goto(f"{base}/editions")
        page.locator("tr", has_text=edition.subject).get_by_role("link", name="report").click()
        expect(page.get_by_role("heading", name="Send report")).to_be_visible()
        counts = {
            name: page.locator(f'[data-count="{name}"] strong').inner_text()
            for name in ("sent", "failed", "deferred", "bounced", "unknown", "delivered")
        }
        assert counts == {
            "sent": "2",
            "failed": "2",
            "deferred": "1",
            "bounced": "1",
            "unknown": "0",
            "delivered": "0",
        }
        rows = page.locator("#failures tbody tr")
        expect(rows).to_have_count(3)
        refused = page.locator("#failures tr", has_text="r1@example.org")
        expect(refused).to_contain_text("failed")
        expect(refused.locator(".reason")).to_contain_text("550")
        expect(page.locator("#failures tr", has_text="r4@example.org")).to_contain_text(
            "bounce: 550 5.1.1 mailbox does not exist"
        )
        expect(page.locator("#failures tr", has_text="r2@example.org")).to_contain_text("deferred")
        expect(page.locator("#next-attempt")).to_contain_text("UTC")
        assert_accessible(page, "send-report")

        with page.expect_download() as download:
            page.get_by_role("link", name="Download every reader's outcome (CSV)").click()
        saved = download.value.path()
        rows_csv = list(csv.DictReader(io.StringIO(Path(saved).read_text(encoding="utf-8"))))
        assert {r["email"]: r["status"] for r in rows_csv} == {
            "r0@example.org": "sent",
            "r1@example.org": "failed",
            "r2@example.org": "deferred",
            "r3@example.org": "sent",
            "r4@example.org": "failed",
        }

        page.goto(f"{base}/editions/{edition.id}")
        page.get_by_role("link", name="send report").click()
        expect(page).to_have_url(f"{base}/editions/{edition.id}/report")
        page.close()
    app.close()


_UPLOAD = (
    "email,name,team\n"
    "ana@example.org,Ana,red\n"
    "not-an-address,Broken,blue\n"
    "ben@example.org,Ben,green\n"
    ",Nobody,none\n"
    "r0@example.org,Reader Zero again,red\n"
)


def test_subscribers_search_add_erase_and_import_with_rejects(
    browser: Browser, sqlite_url: str, tmp_path: Path
) -> None:
    settings = settings_for(sqlite_url, tmp_path)
    app = App(settings)
    draft_edition(app, readers=60)  # r0…r59 on "readers"
    upload = tmp_path / "people.csv"
    upload.write_text(_UPLOAD, encoding="utf-8")
    with serving(settings) as base:
        page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        page.goto(f"{base}/editions")
        page.get_by_role("link", name="subscribers").first.click()
        expect(page.locator("#lists")).to_contain_text("readers")
        assert_accessible(page, "subscriber-lists")
        page.get_by_role("link", name="readers").click()
        expect(page.locator('[data-status="subscribed"] strong')).to_have_text("60")
        expect(page.locator("#subscribers tbody tr")).to_have_count(50)
        page.get_by_role("link", name="next →").click()
        expect(page.locator("#subscribers tbody tr")).to_have_count(10)

        page.get_by_label("Address", exact=True).fill("olha@example.org")
        page.get_by_label("Name optional").fill("Olha <Kovalenko>")
        page.get_by_role("button", name="Add", exact=True).click()
        expect(page.get_by_role("status")).to_contain_text("olha@example.org added")
        page.get_by_label("Find by address or name").fill("kovalenko")
        page.get_by_role("button", name="Search").click()
        expect(page.locator("#subscribers tbody tr")).to_have_count(1)
        expect(page.locator("#subscribers .name")).to_have_text("Olha <Kovalenko>")
        assert_accessible(page, "subscriber-list")

        # Asked first: dismissed, nothing changes; accepted, the address is unsubscribed.
        unsubscribe = page.get_by_role("button", name="Unsubscribe olha@example.org")
        page.once("dialog", lambda dialog: dialog.dismiss())
        unsubscribe.click()
        expect(page.locator("#subscribers .status")).to_have_text("subscribed")
        page.once("dialog", lambda dialog: dialog.accept())
        unsubscribe.click()
        expect(page.get_by_role("status")).to_contain_text("olha@example.org is unsubscribed")
        page.get_by_label("Find by address or name").fill("olha")
        page.get_by_role("button", name="Search").click()
        page.get_by_role("button", name="Erase olha@example.org").click()
        expect(page.get_by_role("heading")).to_contain_text("Erase olha@example.org")
        assert_accessible(page, "subscriber-erase")
        list_id = app.store.subscribers.list_id("readers")
        assert app.store.subscribers.find(list_id, "olha@example.org") is not None  # asked only
        page.get_by_role("button", name="Erase for good").click()
        expect(page.get_by_role("status")).to_contain_text("olha@example.org erased")
        assert app.store.subscribers.find(list_id, "olha@example.org") is None

        page.get_by_label("File").set_input_files(str(upload))
        page.get_by_role("button", name="Import").click()
        expect(page.locator("#summary")).to_have_text(
            "people.csv: 5 rows, 2 new, 1 merged, 2 rejected."
        )
        rejects = page.locator("#rejects tbody tr")
        expect(rejects).to_have_count(2)
        expect(rejects.nth(0)).to_contain_text("3")
        expect(rejects.nth(0).locator(".reason").first).to_contain_text("not-an-address")
        expect(rejects.nth(1)).to_contain_text("5")
        assert_accessible(page, "subscriber-import")
        with page.expect_download() as download:
            page.locator("#rejects-download").click()
        assert download.value.suggested_filename == "people.rejects.csv"
        rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text("utf-8"))))
        assert rows[0] == ["line", "reason", "email", "name", "team"]
        assert [(row[0], row[2]) for row in rows[1:]] == [("3", "not-an-address"), ("5", "")]
        assert app.store.subscribers.find(list_id, "ana@example.org") is not None

        page.get_by_role("link", name="Back to the list").click()
        with page.expect_download() as exported:
            page.get_by_role("link", name="Download the list as CSV").click()
        listed = list(csv.DictReader(io.StringIO(Path(exported.value.path()).read_text("utf-8"))))
        assert len(listed) == 62 and {"ana@example.org", "ben@example.org"} <= {
            row["email"] for row in listed
        }
        statuses = {row["email"]: row["status"] for row in listed}
        assert statuses["r0@example.org"] == Status.SUBSCRIBED.value
        page.close()
    app.close()
