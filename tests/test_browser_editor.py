"""The edition editor in Debian's chromium: every field saves on its own without losing the
others, changes made elsewhere show a notice and never wipe typing, a field saved in two
places shows both, drag and drop and the keyboard rearrange the edition, headlines and links
are edited in place, and articles come in by URL."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from playwright.sync_api import Browser, Dialog, Page, expect
from playwright.sync_api import Error as PlaywrightError

from digest import editing
from digest.app import App
from digest.edition import Edition
from tests.browser_support import assert_accessible, screenshots, text_contrast
from tests.conftest import ROOT
from tests.web_support import draft_edition, serving, settings_for


def _open(browser: Browser, base: str, edition: Edition, width: int = 1400) -> Page:
    page = browser.new_page(viewport={"width": width, "height": 1000})
    # The email's logo is on a host that does not resolve here: refused at once.
    page.route("https://brief.example.org/**", lambda route: route.abort())
    page.goto(f"{base}/editions/{edition.id}")
    page.evaluate("window.notReloaded = true")
    return page


def _summary(page: Page, article: int) -> str:
    return f"#f-item-{article}-summary"


def _saved(page: Page, selector: str) -> None:
    expect(page.locator(f"{selector}-state")).to_have_text("Saved")


def _all_saved(page: Page) -> None:
    expect(page.locator("#save-state")).to_have_text("All changes saved")


def test_each_field_saves_on_its_own_and_keeps_the_others(
    browser: Browser, sqlite_url: str, tmp_path: Path
) -> None:
    settings = settings_for(sqlite_url, tmp_path)
    app = App(settings)
    edition = draft_edition(app)
    first, second = (item.article.id or 0 for item in edition.items[:2])
    with serving(settings) as base:
        page = _open(browser, base, edition)
        # Two summaries and the subject typed (leaving a field saves it at once, a pause of a
        # second too), then the first: each is saved without touching the others.
        page.locator(_summary(page, second)).fill("The second summary, typed first.")
        page.locator("#f-subject").fill("A subject the editor wrote")
        expect(page.locator("#f-subject-state")).to_have_text("Not saved yet")
        page.locator(_summary(page, first)).fill("The first summary, saved on leaving it.")
        page.locator(_summary(page, first)).blur()
        scrolled = page.evaluate("window.scrollY")  # the saves keep it
        _saved(page, _summary(page, first))
        # The others are still as typed, and then saved too.
        expect(page.locator(_summary(page, second))).to_have_value(
            "The second summary, typed first."
        )
        expect(page.locator("#f-subject")).to_have_value("A subject the editor wrote")
        _saved(page, _summary(page, second))
        _saved(page, "#f-subject")
        _all_saved(page)
        expect(page.locator("#inbox-subject")).to_have_text("A subject the editor wrote")
        expect(
            page.frame_locator("#preview").get_by_text("The second summary, typed first.")
        ).to_be_visible()
        assert page.evaluate("window.notReloaded") is True
        # No jump to the top: at most a lint line more above (the subject's finding).
        assert abs(page.evaluate("window.scrollY") - scrolled) <= 40
        # A refused value is kept in its field with the reason, and nothing is stored.
        page.locator("#f-subject").fill(" ")
        page.locator("#f-subject").blur()
        expect(page.locator("#f-subject-state")).to_have_text(
            "Not saved: the subject must not be empty"
        )
        expect(page.locator("#save-state")).to_contain_text("Not saved: 1 field")
        left = page.evaluate("() => dispatchEvent(new Event('beforeunload', {cancelable: true}))")
        assert left is False  # leaving now is asked about
        page.close()
    stored = app.store.get_edition(edition.id or 0)
    summaries = {item.article.id: item.summary.text for item in stored.items}
    assert summaries[first] == "The first summary, saved on leaving it."
    assert summaries[second] == "The second summary, typed first."
    assert stored.subject == "A subject the editor wrote"
    app.close()


def test_a_change_elsewhere_shows_a_notice_and_leaves_the_typing(
    browser: Browser, sqlite_url: str, tmp_path: Path
) -> None:
    settings = settings_for(sqlite_url, tmp_path)
    app = App(settings)
    edition = draft_edition(app)
    first, second = (item.article.id or 0 for item in edition.items[:2])
    theirs = "Their subject, typed in the other window"
    with serving(settings) as base:
        page = _open(browser, base, edition)
        typing = page.locator(_summary(page, first))
        typing.fill("")
        typing.press_sequentially("Half a sentence the editor is")
        # Meanwhile another window saves the subject and another story's summary.
        other = _open(browser, base, edition)
        other.locator("#f-subject").fill(theirs)
        other.locator(_summary(other, second)).fill("Their summary of the second story.")
        other.locator(_summary(other, second)).blur()
        _all_saved(other)
        other.close()
        # The notice names what changed, in this page's words: no text of theirs is shown
        # outside the preview, and no field changes.
        notice = page.locator("#elsewhere")
        expect(notice).to_be_visible(timeout=5000)
        expect(notice).to_contain_text(
            "Changed in another window: the subject and the summary of “"
            + edition.items[1].article.title[:20]
        )
        screenshots(page, "editor-changed-elsewhere")
        for part in page.locator("#editor > :not(.layout), .layout > section:first-child").all():
            assert theirs not in part.inner_text() and "Their summary" not in part.inner_text()
        expect(page.locator("#inbox-subject")).to_have_text(edition.subject)
        expect(page.locator("#f-subject")).to_have_value(edition.subject)
        expect(typing).to_have_value("Half a sentence the editor is")
        typing.press_sequentially(" still typing.")
        typing.blur()
        _saved(page, _summary(page, first))
        # The merged save brings none of their words onto this page either.
        expect(page.locator("#inbox-subject")).to_have_text(edition.subject)
        expect(page.locator("#f-subject")).to_have_value(edition.subject)
        # The editor's own subject, typed on the old one: both shown, neither overwritten.
        page.locator("#f-subject").fill("My own subject")
        expect(page.locator("#inbox-subject")).to_have_text("My own subject")
        page.locator("#f-subject").blur()
        expect(page.locator("#f-subject-state")).to_have_text(
            "Not saved: changed in another window meanwhile"
        )
        expect(page.locator("#f-subject")).to_have_value("My own subject")
        field = page.locator("#fields .field", has=page.locator("#f-subject"))
        field.get_by_role("button", name="Keep mine").click()
        _saved(page, "#f-subject")
        assert page.evaluate("window.notReloaded") is True
        page.get_by_role("button", name="Reload").click()
        expect(page.locator(_summary(page, second))).to_have_value(
            "Their summary of the second story."
        )
        expect(page.locator("#elsewhere")).to_be_hidden()
        page.close()
    stored = app.store.get_edition(edition.id or 0)
    assert stored.subject == "My own subject"
    assert stored.items[0].summary.text == "Half a sentence the editor is still typing."
    app.close()


def test_the_same_field_saved_in_two_windows_is_a_conflict(
    browser: Browser, sqlite_url: str, tmp_path: Path
) -> None:
    settings = settings_for(sqlite_url, tmp_path)
    app = App(settings)
    edition = draft_edition(app)
    first = edition.items[0].article.id or 0
    with serving(settings) as base:
        one = _open(browser, base, edition)
        other = _open(browser, base, edition)
        other.locator(_summary(other, first)).fill("Theirs: saved first in the other window.")
        other.locator(_summary(other, first)).blur()
        _saved(other, _summary(other, first))
        one.locator(_summary(one, first)).fill("Mine: typed on the stale copy.")
        one.locator(_summary(one, first)).blur()
        field = one.locator(f"#article-{first} .field", has=one.locator(_summary(one, first)))
        expect(field.get_by_role("alert")).to_contain_text(
            "Theirs: saved first in the other window."
        )
        expect(one.locator(f"{_summary(one, first)}-state")).to_have_text(
            "Not saved: changed in another window meanwhile"
        )
        expect(one.locator(_summary(one, first))).to_have_value("Mine: typed on the stale copy.")
        expect(one.locator("#elsewhere")).to_be_visible()
        screenshots(one, "editor-conflict")
        # Nothing was overwritten silently.
        assert app.store.get_edition(edition.id or 0).items[0].summary.text.startswith("Theirs")
        field.get_by_role("button", name="Keep mine").click()
        _saved(one, _summary(one, first))
        expect(field.get_by_role("alert")).to_have_count(0)
        one.close()
        other.close()
    assert app.store.get_edition(edition.id or 0).items[0].summary.text == (
        "Mine: typed on the stale copy."
    )
    app.close()


def _section_of(edition: Edition, article: int) -> int:
    for index, section in enumerate(edition.sections):
        if article in [item.article.id for item in section.items]:
            return index
    raise AssertionError(f"article {article} is in no section")


def _preview_headings(page: Page, before: str, after: str) -> list[str]:
    """The preview's headings once `before` is shown above `after` (the preview reloads after
    each save: it is read again until it shows the change, for up to five seconds)."""
    preview = page.frame_locator("#preview")
    headings: list[str] = []
    for _attempt in range(50):
        try:
            headings = [t.strip() for t in preview.locator("h2, h3").all_text_contents()]
        except PlaywrightError:  # read while it reloads
            headings = []
        if (
            before in headings
            and after in headings
            and (headings.index(before) < headings.index(after))
        ):
            return headings
        page.wait_for_timeout(100)
    raise AssertionError(f"the preview never showed {before!r} above {after!r}: {headings}")


def _summaries(app: App, edition: Edition) -> dict[int | None, str]:
    return {i.article.id: i.summary.text for i in app.store.get_edition(edition.id or 0).items}


def test_on_a_phone_stories_fold_and_the_preview_is_one_tap_away(
    browser: Browser, sqlite_url: str, tmp_path: Path
) -> None:
    settings = settings_for(sqlite_url, tmp_path)
    app = App(settings)
    edition = draft_edition(app)
    first = edition.items[0].article.id or 0
    with serving(settings) as base:
        page = _open(browser, base, edition, width=390)
        page.set_viewport_size({"width": 390, "height": 844})
        # Every story folded to its headline, the Add box closed: the whole edition is a
        # few screens, not a column of every field.
        expect(page.locator(".item-body:visible")).to_have_count(0)
        expect(page.locator(".item")).to_have_count(len(edition.items))
        expect(page.locator("#add-box")).not_to_have_attribute("open", "")
        height = page.evaluate("document.documentElement.scrollHeight")
        assert height < 3200, height
        assert_accessible(page, "edition-phone")
        page.set_viewport_size({"width": 390, "height": 844})
        # The preview is one tap away from anywhere: the switch stays at the top.
        page.evaluate("scrollTo(0, document.documentElement.scrollHeight)")
        scrolled = page.evaluate("scrollY")
        switch = page.get_by_role("button", name="Preview", exact=True)
        box = switch.bounding_box()
        assert box is not None and 0 <= box["y"] < 100
        switch.click()
        expect(switch).to_have_attribute("aria-pressed", "true")
        frame = page.locator("#preview")
        expect(frame).to_be_in_viewport()
        expect(page.locator(".edit-pane")).to_be_hidden()
        expect(
            page.frame_locator("#preview").get_by_text(edition.subject[:20]).first
        ).to_be_visible()
        screenshots(page, "edition-phone-preview")
        page.set_viewport_size({"width": 390, "height": 844})
        # Back to editing where it was left.
        page.get_by_role("button", name="Edit", exact=True).click()
        expect(frame).to_be_hidden()
        assert abs(page.evaluate("scrollY") - scrolled) < 5
        # A story opens to every field, and saves as any field does.
        fold = page.locator(f"#article-{first} button.fold")
        expect(fold).to_have_attribute("aria-expanded", "false")
        fold.click()
        expect(fold).to_have_attribute("aria-expanded", "true")
        summary = page.locator(_summary(page, first))
        expect(summary).to_be_visible()
        summary.fill("Written on a phone.")
        fold.click()  # folding it away leaves the field, which saves
        _saved(page, _summary(page, first))
        _all_saved(page)
        expect(summary).to_be_hidden()
        # A field with a problem is not folded away: the reason shows.
        page.get_by_role("button", name="Open all stories").click()
        link = f"#f-article-{first}-url"
        page.locator(f"#article-{first} .meta-more > summary").click()
        page.locator(link).fill("not a link")
        page.get_by_role("button", name="Fold all stories").click()
        expect(page.locator(f"{link}-state")).to_contain_text("Not saved: Link:")
        expect(page.locator(link)).to_be_visible()
        page.close()
    assert app.store.get_edition(edition.id or 0).items[0].summary.text == "Written on a phone."
    app.close()


def test_drag_and_keyboard_rearrange_and_the_preview_follows(
    browser: Browser, sqlite_url: str, tmp_path: Path
) -> None:
    settings = settings_for(sqlite_url, tmp_path)
    app = App(settings)
    edition = draft_edition(app)
    assert len(edition.sections) >= 3
    summaries = _summaries(app, edition)
    moving = edition.sections[0].items[-1].article
    target = edition.sections[1]
    with serving(settings) as base:
        # A desktop window: the story and where it goes are both in view, as an editor sees
        # them scrolled there (nothing is made taller to fit).
        page = _open(browser, base, edition)
        page.locator(f"#article-{moving.id}").evaluate("e => e.scrollIntoView()")
        page.evaluate("scrollBy(0, -60)")  # below the bar that stays at the top
        handle = page.locator(f"#article-{moving.id} .handle")
        onto = page.locator(f"#article-{target.items[0].article.id}")
        start, end = handle.bounding_box(), onto.bounding_box()
        assert start is not None and end is not None
        assert end["y"] + end["height"] / 2 < 1000  # in view
        # A real mouse drag: pressed on the handle, moved in steps, let go over the story
        # (on its summary).
        page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
        page.mouse.down()
        page.mouse.move(end["x"] + end["width"] / 2, end["y"] + end["height"] / 3, steps=20)
        page.mouse.up()
        _all_saved(page)
        stored = app.store.get_edition(edition.id or 0)
        assert _section_of(stored, moving.id or 0) == 1
        expect(page.locator(f'.section[data-section="1"] #article-{moving.id}')).to_have_count(1)
        # In the preview the story now sits under the second section's heading.
        headings = _preview_headings(page, target.title, moving.title)
        if len(stored.sections) > 2:
            assert headings.index(moving.title) < headings.index(stored.sections[2].title)

        # Playwright's drag_to, from the last section to the first, with the stories folded
        # to their headlines so that the whole edition is in view.
        page.get_by_role("button", name="Fold all stories").click()
        expect(page.locator(".item-body:visible")).to_have_count(0)
        page.locator("#sections").evaluate("e => e.scrollIntoView()")
        page.evaluate("scrollBy(0, -60)")
        last = stored.sections[-1].items[0].article
        lead = stored.sections[0].items[0].article
        page.locator(f"#article-{last.id} .handle").drag_to(page.locator(f"#article-{lead.id}"))
        _all_saved(page)
        stored = app.store.get_edition(edition.id or 0)
        assert _section_of(stored, last.id or 0) == 0
        _preview_headings(page, stored.sections[0].title, last.title)
        # What is folded stays folded when the sections come back from the server.
        expect(page.locator(".item-body:visible")).to_have_count(0)
        screenshots(page, "editor-folded")
        page.get_by_role("button", name="Open all stories").click()
        # No field took the drag's text, and nothing but the order changed.
        assert _summaries(app, edition) == summaries

        # The keyboard: "Up" moves the story above its neighbour, and focus stays on it.
        below = stored.sections[1].items[1].article
        page.locator(f"#article-{below.id} [data-action=up]").focus()
        page.keyboard.press("Enter")
        _all_saved(page)
        focused = page.evaluate("document.activeElement.closest('.item').dataset.article")
        assert focused == str(below.id)
        reordered = app.store.get_edition(edition.id or 0).sections[1].items
        position = [item.article.id for item in reordered].index(below.id)
        assert (
            position == [item.article.id for item in stored.sections[1].items].index(below.id) - 1
        )
        # To another section with the keyboard: its section chosen, then Move.
        chooser = page.locator(f"#article-{below.id} [data-move-to]")
        chooser.focus()
        chooser.select_option(index=2)
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")
        _all_saved(page)
        assert _section_of(app.store.get_edition(edition.id or 0), below.id or 0) == 2
        # And a section moved down with its button.
        first_title = stored.sections[0].title
        page.locator('.section[data-section="0"] [data-action=section-down]').click()
        _all_saved(page)
        assert app.store.get_edition(edition.id or 0).sections[1].title == first_title
        assert page.evaluate("window.notReloaded") is True
        page.close()
    assert _summaries(app, edition) == summaries
    app.close()


def test_headline_link_and_section_title_edited_in_place(
    browser: Browser, sqlite_url: str, tmp_path: Path
) -> None:
    settings = settings_for(sqlite_url, tmp_path)
    app = App(settings)
    edition = draft_edition(app)
    top = edition.top_story.article
    with serving(settings) as base:
        page = _open(browser, base, edition)
        page.locator("#f-section-0-title").fill("From the front line")
        page.locator("#f-section-0-title").blur()
        _saved(page, "#f-section-0-title")
        headline = f"#f-article-{top.id}-title"
        page.locator(headline).fill("A headline <i>the editor</i> wrote")
        page.locator(headline).blur()
        _saved(page, headline)
        link = f"#f-article-{top.id}-url"
        more = page.locator(f"#article-{top.id} .meta-more")
        expect(more).to_contain_text("https://daily.example.com/war/")  # what it has, folded
        more.get_by_text("Byline, source, date, link").click()
        page.locator(link).fill("javascript:alert(1)")
        page.locator(link).blur()
        expect(page.locator(f"{link}-state")).to_have_text(
            "Not saved: Link: must be an http(s) URL"
        )
        page.locator(link).fill("https://harbour.example.org/the-story")
        page.locator(link).blur()
        _saved(page, link)
        preview = page.frame_locator("#preview")
        expect(preview.get_by_text("From the front line").first).to_be_visible()
        expect(preview.get_by_text("A headline <i>the editor</i> wrote").first).to_be_visible()
        expect(
            preview.locator('a[href="https://harbour.example.org/the-story"]').first
        ).to_be_attached()
        page.close()
    fixed = app.store.get_article(top.id or 0)
    assert fixed.title == "A headline <i>the editor</i> wrote"
    assert fixed.url == "https://harbour.example.org/the-story"
    stored = app.store.get_edition(edition.id or 0)
    assert stored.sections[0].title == "From the front line"
    assert stored.subject.startswith("A headline")  # the built subject follows the lead
    app.close()


def test_remove_restore_split_merge_and_regenerate(
    browser: Browser, sqlite_url: str, tmp_path: Path
) -> None:
    settings = settings_for(sqlite_url, tmp_path)
    app = App(settings)
    edition = draft_edition(app)
    first = edition.sections[0]
    assert len(first.items) >= 3
    gone = first.items[1]
    with serving(settings) as base:
        page = _open(browser, base, edition)
        page.locator(f"#article-{gone.article.id} [data-action=remove]").click()
        _all_saved(page)
        expect(page.locator(f"#article-{gone.article.id}")).to_have_count(0)
        assert gone.article.id not in app.store.get_edition(edition.id or 0).article_ids
        restore = f"Restore “{gone.article.title}”"
        expect(page.get_by_role("button", name=restore)).to_be_focused()
        # The edition keeps it: after a reload, and in another window, it is offered back.
        page.reload()
        expect(page.get_by_role("heading", name="Removed — restore")).to_be_visible()
        expect(page.get_by_role("button", name=restore)).to_be_visible()
        screenshots(page, "editor-removed")
        other = _open(browser, base, edition)
        other.get_by_role("button", name=restore).click()
        _all_saved(other)
        expect(other.locator(_summary(other, gone.article.id or 0))).to_have_value(
            gone.summary.text
        )
        expect(other.locator("#removed")).to_be_hidden()
        other.close()
        restored = app.store.get_edition(edition.id or 0)
        assert restored.sections[0].items[1] == gone
        assert restored.removed == []
        expect(page.locator("#elsewhere")).to_be_visible(timeout=5000)
        page.get_by_role("button", name="Reload").click()
        expect(page.locator(_summary(page, gone.article.id or 0))).to_have_value(gone.summary.text)
        expect(page.get_by_role("button", name=restore)).to_have_count(0)

        # Split: the ticked stories become a new section right after. Nothing ticked, or no
        # title, is said beside the button, the panel kept open with what was typed.
        section = page.locator('.section[data-section="0"]')
        section.get_by_text("Merge or split this section").click()
        section.get_by_placeholder("Title of the new section").fill("Also today")
        section.get_by_role("button", name="Split").click()
        expect(section.get_by_role("alert")).to_contain_text("Tick the stories")
        expect(section.get_by_placeholder("Title of the new section")).to_have_value("Also today")
        ticked = [item.article.id for item in first.items[1:3]]
        for article in ticked:
            page.locator(f"#article-{article} [data-tick]").check()
        section.get_by_placeholder("Title of the new section").fill(" ")
        section.get_by_role("button", name="Split").click()
        expect(section.get_by_role("alert")).to_contain_text("Name the new section")
        assert len(app.store.get_edition(edition.id or 0).sections) == len(edition.sections)
        section.get_by_placeholder("Title of the new section").fill("Also today")
        section.get_by_role("button", name="Split").click()
        _all_saved(page)
        split = app.store.get_edition(edition.id or 0)
        assert split.sections[1].title == "Also today"
        assert [item.article.id for item in split.sections[1].items] == ticked
        # Merge it back into the first section.
        again = page.locator('.section[data-section="1"]')
        again.get_by_text("Merge or split this section").click()
        again.get_by_label("Merge into").select_option(index=0)
        again.get_by_role("button", name="Merge").click()
        _all_saved(page)
        merged = app.store.get_edition(edition.id or 0)
        assert len(merged.sections) == len(edition.sections)
        assert [item.article.id for item in merged.sections[0].items][-2:] == ticked

        # Regenerate: the build's summariser again, so the built summary comes back.
        top = merged.sections[0].items[0]
        page.locator(_summary(page, top.article.id or 0)).fill("An editor's own words.")
        page.locator(_summary(page, top.article.id or 0)).blur()
        _saved(page, _summary(page, top.article.id or 0))
        # Asked first: dismissed, the editor's words stay; accepted, the new summary comes.
        regenerate = page.locator(f"#article-{top.article.id} [data-action=regenerate]")
        asked: list[str] = []

        def dismiss(dialog: Dialog) -> None:
            asked.append(dialog.message)
            dialog.dismiss()

        page.once("dialog", dismiss)
        regenerate.click()
        expect(page.locator(_summary(page, top.article.id or 0))).to_have_value(
            "An editor's own words."
        )
        assert asked and "are lost" in asked[0]
        page.once("dialog", lambda dialog: dialog.accept())
        regenerate.click()
        _all_saved(page)
        built = app.summarize_one(edition.newsletter, top.article).text
        expect(page.locator(_summary(page, top.article.id or 0))).to_have_value(built)
        page.close()
    assert app.store.get_edition(edition.id or 0).sections[0].items[0].summary.text == built
    app.close()


def test_a_storys_picture_is_switched_off_and_on_and_the_preview_follows(
    browser: Browser, sqlite_url: str, tmp_path: Path
) -> None:
    settings = settings_for(sqlite_url, tmp_path)
    app = App(settings)
    picture = "https://images.example.net/tanker.jpg"
    records = [
        json.loads(line)
        for line in (ROOT / "examples/articles/sanctions.jsonl").read_text().splitlines()
        if line.strip()
    ]
    records[0].update(image_url=picture, image_width=1200, image_height=630)
    (tmp_path / "pictured.jsonl").write_text(json.dumps(records[0]))
    app.add([str(tmp_path / "pictured.jsonl")])
    edition = draft_edition(app)
    pictured = next(item for item in edition.items if item.article.image_url == picture)
    plain = next(item for item in edition.items if not item.article.image_url)
    switch = f"#f-item-{pictured.article.id}-image"
    with serving(settings) as base:
        page = _open(browser, base, edition)
        page.route("https://images.example.net/**", lambda route: route.abort())
        box = page.get_by_role("checkbox", name=f"Show picture: {pictured.article.title}")
        expect(box).to_be_checked()
        expect(page.locator(f"#f-item-{plain.article.id}-image")).to_have_count(0)
        preview = page.frame_locator("#preview")
        expect(preview.locator(f'img.thumb[src="{picture}"]')).to_have_count(1)
        box.uncheck()
        _saved(page, switch)
        expect(preview.locator("img.thumb")).to_have_count(0)
        stored = app.store.get_edition(edition.id or 0)
        assert [i.show_image for i in stored.items if i.article.id == pictured.article.id] == [
            False
        ]
        page.reload()
        expect(box).not_to_be_checked()
        screenshots(page, "editor-picture-switch")
        box.check()
        _saved(page, switch)
        expect(preview.locator(f'img.thumb[src="{picture}"]')).to_have_count(1)
        page.close()
    assert all(item.show_image for item in app.store.get_edition(edition.id or 0).items)
    app.close()


_PAGE = b"""<html><head><title>Night ferries return to the Danube - River Post</title>
<meta name="author" content="Ivan Example"></head><body><article>
<h1>Night ferries return to the Danube</h1>
<p>Night ferries between Izmail and the Romanian bank sailed again on Friday after a month
without crossings, the port authority said. Drivers queued for hours before the first boat.</p>
<p>The operator said two more ferries would join the route in December, weather allowing, and
that tickets bought for cancelled sailings stay valid until spring.</p>
<p>Local officials said the crossings matter for trade and families on both banks.</p>
</article></body></html>"""


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(_PAGE)))
        self.end_headers()
        self.wfile.write(_PAGE)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def _news_site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_an_article_added_by_url_lands_in_the_draft_and_the_page_is_accessible(
    browser: Browser, sqlite_url: str, tmp_path: Path
) -> None:
    # The news site is on loopback: allowed here as an intranet feed would be.
    settings = settings_for(sqlite_url, tmp_path, fetch_allowed_networks=["127.0.0.1"])
    app = App(settings)
    edition = draft_edition(app)
    with serving(settings) as base, _news_site() as site:
        page = _open(browser, base, edition)
        assert_accessible(page, "edition")
        # The dark preview too: its text, links and the masthead (here the logo's alt text:
        # the logo does not load, which axe-core does not look at) read at WCAG AA.
        page.get_by_role("button", name="Dark").click()
        page.wait_for_function(
            """() => { const frame = document.getElementById("preview");
                       return frame.contentWindow.location.search === "?dark=true"
                           && frame.contentDocument.readyState === "complete"; }"""
        )
        dark = page.frame(url=lambda url: url.endswith("/preview?dark=true"))
        assert dark is not None
        assert_accessible(page, "edition-dark-preview", within=dark)
        assert text_contrast(dark.locator(".masthead img")) >= 4.5
        page.get_by_role("button", name="Desktop").click()
        # Typed and not yet saved when Add is pressed: saved before the page moves on.
        first = edition.items[0].article.id or 0
        page.get_by_label("URLs").fill(f"{site}/danube-ferries")
        page.locator(_summary(page, first)).fill("Typed just before adding.")
        page.get_by_role("button", name="Add").click()
        expect(page.get_by_role("status").first).to_contain_text("Added 1 article")
        item = page.locator(
            ".item", has=page.locator('input[value="Night ferries return to the Danube"]')
        )
        expect(item).to_have_count(1)
        article = item.get_attribute("data-article")
        expect(page.locator(f"#f-article-{article}-author")).to_have_value("Ivan Example")
        expect(
            page.frame_locator("#preview").get_by_text("Night ferries return to the Danube").first
        ).to_be_visible()
        page.close()
    stored = app.store.get_edition(edition.id or 0)
    assert "Night ferries return to the Danube" in [i.article.title for i in stored.items]
    assert stored.items[0].summary.text == "Typed just before adding."
    app.close()


def test_without_javascript_save_all_saves_every_changed_field(
    browser: Browser, sqlite_url: str, tmp_path: Path
) -> None:
    settings = settings_for(sqlite_url, tmp_path)
    app = App(settings)
    edition = draft_edition(app)
    first = edition.items[0].article.id or 0
    with serving(settings) as base:
        context = browser.new_context(
            java_script_enabled=False, viewport={"width": 1280, "height": 900}
        )
        page = context.new_page()
        page.goto(f"{base}/editions/{edition.id}")
        page.get_by_label("Subject").fill("A subject typed without JavaScript")
        page.locator(_summary(page, first)).fill("A summary typed without JavaScript.")
        # Another window changes the intro meanwhile: merged, not lost.
        app.revise(
            app.store.get_edition(edition.id or 0),
            editing.with_fields(
                app.store.get_edition(edition.id or 0),
                edition.subject,
                edition.preheader,
                "An intro from another window.",
            ),
        )
        page.get_by_role("button", name="Save all").click()
        expect(page.get_by_role("status").first).to_contain_text("Saved 2 changes")
        stored = app.store.get_edition(edition.id or 0)
        assert stored.subject == "A subject typed without JavaScript"
        assert stored.items[0].summary.text == "A summary typed without JavaScript."
        assert stored.intro == "An intro from another window."
        expect(page.get_by_label("Subject")).to_have_value("A subject typed without JavaScript")
        context.close()
    app.close()
