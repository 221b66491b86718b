"""The editor's page and the unsubscribe link in a real browser: Debian's chromium, driven by
Playwright (no browser download). Screenshots of the preview go to test-artifacts/."""

from __future__ import annotations

import email
import email.policy
import re
from pathlib import Path

from playwright.sync_api import Browser, expect

from digest.app import App
from tests.browser_support import ARTIFACTS
from tests.web_support import ROOT, draft_edition, serving, settings_for


def test_preview_edit_and_approve_in_the_browser(
    browser: Browser, sqlite_url: str, tmp_path: Path
) -> None:
    settings = settings_for(sqlite_url, tmp_path)
    app = App(settings)
    edition = draft_edition(app)
    article = edition.sections[0].items[0].article
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with serving(settings) as base:
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.goto(f"{base}/editions/{edition.id}")
        frame = page.locator("#preview")
        expect(frame).to_have_class(re.compile("desktop"))
        preview = page.frame_locator("#preview")
        expect(preview.get_by_text(article.title).first).to_be_visible()
        assert 650 <= (frame.bounding_box() or {"width": 0})["width"] <= 670
        page.screenshot(path=str(ARTIFACTS / "preview-desktop.png"), full_page=True)

        page.get_by_role("button", name="Phone").click()
        expect(frame).to_have_class(re.compile("phone"))
        assert (frame.bounding_box() or {"width": 0})["width"] == 375
        # Below 480 px the email is one column: the card fits the phone's width.
        inner = preview.locator("h3").first.bounding_box()
        assert inner is not None and inner["width"] < 375
        page.screenshot(path=str(ARTIFACTS / "preview-phone.png"), full_page=True)

        page.get_by_role("button", name="Plain text").click()
        expect(page.locator("#text")).to_be_visible()
        expect(page.locator("#text")).to_contain_text(article.title)
        page.get_by_role("button", name="Desktop").click()

        new_summary = "An editor rewrote this summary in the browser."
        page.get_by_label(f"Summary of {article.title}").fill(new_summary)
        # Saved on its own a second after typing stops: the preview follows.
        expect(page.locator(f"#f-item-{article.id}-summary-state")).to_have_text("Saved")
        expect(page.frame_locator("#preview").get_by_text(new_summary)).to_be_visible()
        assert app.store.get_edition(edition.id or 0).items[0].summary.text == new_summary

        page.get_by_role("button", name="Approve").click()
        expect(page.locator("#status")).to_have_text("approved")
        expect(page.locator("p.notice")).to_contain_text("Approved")
        page.close()
    assert (ARTIFACTS / "preview-phone.png").stat().st_size > 10_000
    app.close()


_PASTE_SCRIPT = """([html, text]) => {
  // What a browser's clipboard holds after copying a page selection: its HTML and its text.
  const data = new DataTransfer();
  if (html) data.setData("text/html", html);
  data.setData("text/plain", text);
  const area = document.querySelector("[data-paste]");
  area.focus();
  const paste = {clipboardData: data, bubbles: true, cancelable: true};
  area.dispatchEvent(new ClipboardEvent("paste", paste));
}"""
_STORY = (
    "Ferries between Odesa and Varna sailed again on Monday after a month of storms, the port "
    "said. Passengers queued from dawn. The operator said two more crossings a week would start "
    "in December, weather allowing, and that tickets bought for cancelled sailings stay valid."
)


def test_pasting_html_into_the_add_box_puts_the_article_in_the_draft(
    browser: Browser, sqlite_url: str, tmp_path: Path
) -> None:
    settings = settings_for(sqlite_url, tmp_path)
    app = App(settings)
    edition = draft_edition(app)
    headline = "Ferries sail again between Odesa and Varna"
    copied = (
        f"<html><head><title>{headline} – Harbour Post</title>"
        '<meta name="author" content="Olena Testenko"></head><body>'
        '<nav><a href="/">Home</a> <a href="/sport">Sport</a></nav>'
        f"<article><h1>{headline}</h1><p>{_STORY}</p><p>{_STORY.replace('Monday', 'Sunday')}</p>"
        f"<p>{_STORY.replace('two', 'three')}</p></article>"
        "<footer>By choosing I Accept, you consent to our use of cookies.</footer></body></html>"
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with serving(settings) as base:
        page = browser.new_page(viewport={"width": 1400, "height": 1300})
        # The email's logo is on a host that does not resolve here: refused at once, the
        # preview's frame finishes loading (and is painted) without waiting for it.
        page.route("https://brief.example.org/**", lambda route: route.abort())
        page.goto(f"{base}/editions/{edition.id}")
        # The plain text says something else: only the HTML may be what the server read.
        page.evaluate(_PASTE_SCRIPT, [copied, "Plain text the clipboard also had"])
        expect(page.get_by_role("status").first).to_contain_text("Added 1 article to this edition")
        item = page.locator(".item", has=page.locator(f'input[value="{headline}"]'))
        expect(item).to_have_count(1)
        # Back from the add, the page is at the new article.
        anchor = item.get_attribute("id") or "missing"
        assert page.url.endswith(f"#{anchor}")
        expect(item.get_by_label("Byline")).to_have_value("Olena Testenko")
        expect(page.frame_locator("#preview").get_by_text(headline).first).to_be_visible()

        # A refused date stays in its field with the reason, naming the field.
        item.get_by_label("Date").fill("next Tuesday")
        item.get_by_label("Date").blur()
        expect(item.locator(".field", has_text="Date").locator("[data-state]")).to_contain_text(
            "Not saved: Date: not a date"
        )
        # The fixed byline and source reach the preview.
        item.get_by_label("Date").fill("")
        item.get_by_label("Byline").fill("Olena Testenko and Ivan Example")
        item.get_by_label("Source").fill("Harbour Post")
        item.get_by_label("Source").blur()
        expect(page.locator("#save-state")).to_have_text("All changes saved")
        expect(page.frame_locator("#preview").get_by_text("Harbour Post").first).to_be_visible()
        # What the editor sees: the box, the article's fields, the preview.
        page.wait_for_load_state("load")
        page.screenshot(path=str(ARTIFACTS / "edition-guessed-fields.png"))
        page.locator("#add-articles").screenshot(path=str(ARTIFACTS / "add-box.png"))
        page.close()
    [added] = [
        i.article
        for i in app.store.get_edition(edition.id or 0).items
        if i.article.title == headline
    ]
    assert "Plain text the clipboard also had" not in added.text and "cookies" not in added.text
    assert added.author == "Olena Testenko and Ivan Example"
    assert (ARTIFACTS / "edition-guessed-fields.png").stat().st_size > 10_000
    app.close()


def test_pasting_plain_text_keeps_it_for_the_next_edition(
    browser: Browser, sqlite_url: str, tmp_path: Path
) -> None:
    settings = settings_for(sqlite_url, tmp_path)
    app = App(settings)
    headline = "Night trains to Lviv are full until January"
    text = f"{headline}\nBy Ivan Example\n\n{_STORY}\n\n{_STORY.replace('two', 'four')}\n"
    with serving(settings) as base:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"{base}/editions")
        page.evaluate(_PASTE_SCRIPT, ["", text])
        expect(page.get_by_role("status").first).to_contain_text("for the next edition")
        waiting = page.locator("#waiting .item", has_text=headline)
        expect(waiting.locator(".headline")).to_have_text(headline)
        expect(waiting.locator('[data-field="author"]')).to_have_text("by Ivan Example")
        page.screenshot(path=str(ARTIFACTS / "editions-add-box.png"), full_page=True)
        page.close()
    [stored] = app.store.articles_in_no_edition(5)
    assert stored.title == headline and stored.author == "Ivan Example"
    app.close()


def test_a_change_elsewhere_is_a_notice_and_a_template_change_refreshes_the_preview(
    browser: Browser, sqlite_url: str, tmp_path: Path
) -> None:
    settings = settings_for(sqlite_url, tmp_path)
    app = App(settings)
    edition = draft_edition(app)
    with serving(settings) as base:
        page = browser.new_page()
        page.goto(f"{base}/editions/{edition.id}")
        expect(page.locator("#inbox-subject")).to_have_text(edition.subject)
        page.evaluate("window.notReloaded = true")
        # A change made elsewhere (here through the store, as `digest edit` would): said, and
        # shown after the editor's reload, never by reloading over their typing.
        app.store.update_edition(edition.model_copy(update={"subject": "Changed elsewhere"}))
        expect(page.get_by_text("Changed in another window")).to_be_visible(timeout=5000)
        assert page.evaluate("window.notReloaded") is True
        expect(page.locator("#f-subject")).to_have_value(edition.subject)
        page.get_by_role("button", name="Reload").click()
        expect(page.locator("#inbox-subject")).to_have_text("Changed elsewhere")
        page.close()
    app.close()


def test_unsubscribe_link_from_a_sent_email(
    browser: Browser, sqlite_url: str, tmp_path: Path
) -> None:
    """Send through the outbox, follow the List-Unsubscribe link of one .eml in the browser,
    confirm, and the next send leaves that reader out."""
    settings = settings_for(sqlite_url, tmp_path)
    app = App(settings)
    first = app.approve(draft_edition(app, readers=3))
    app.send(first)
    sent = sorted((tmp_path / "outbox").rglob("0*.eml"))
    reader = _recipient(sent[1])
    link = re.search(r"List-Unsubscribe: <([^>]+)>", sent[1].read_text())
    assert link is not None
    path = link.group(1).removeprefix("https://brief.example.org")
    with serving(settings) as base:
        page = browser.new_page()
        page.goto(f"{base}{path}")
        expect(page.get_by_role("heading")).to_have_text("Unsubscribe?")
        page.get_by_role("button", name="Unsubscribe").click()
        expect(page.get_by_role("heading")).to_have_text("You are unsubscribed")
        page.close()
    app.add([str(ROOT / "examples/articles/kursk-deployment-pasted.txt")], tags=["new"])
    extra = tmp_path / "more.jsonl"
    extra.write_text('{"title": "A second week story here", "text": "More news today."}\n')
    app.add([str(extra)])
    second = app.approve(app.build(app.settings.newsletter("brief"), first.date))
    report = app.send(second)
    assert report.sent == 2
    later = tmp_path / "outbox" / "brief" / f"edition-{second.id}"
    assert reader not in [_recipient(p) for p in later.glob("*.eml")]
    app.close()


def _recipient(eml: Path) -> str:
    """The address a file of the outbox went to (its name holds only the delivery id)."""
    return str(email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)["To"])


def test_the_editions_list_fits_a_phone_with_a_long_draft_subject(
    browser: Browser, sqlite_url: str, tmp_path: Path
) -> None:
    from digest import editing

    settings = settings_for(sqlite_url, tmp_path)
    app = App(settings)
    draft = draft_edition(app)
    long = "A subject an editor wrote at length, " * 4 + "so that the draft's name is long"
    app.revise(draft, editing.with_fields(draft, long, draft.preheader, draft.intro))
    with serving(settings) as base:
        page = browser.new_page(viewport={"width": 390, "height": 844})
        page.goto(f"{base}/editions")
        expect(page.locator("select[name=edition]")).to_contain_text("A subject an editor")
        # Nothing sideways: the page is no wider than the phone.
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.close()
    app.close()
