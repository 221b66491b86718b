"""Click tracking in a real browser (Debian's chromium): a reader's link from a sent .eml,
clicked on a page standing in for their webmail, lands on the article (the article's site,
stood in for by Playwright, is told nothing of where the reader came from); then the reading
figures on the send report and on the edition's page, checked with axe-core and photographed
at 1280 and 390 px."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from playwright.sync_api import Browser, Route, expect

from digest.app import App
from tests.browser_support import assert_accessible
from tests.conftest import make_newsletter
from tests.test_web_clicks import part_of
from tests.web_support import draft_edition, serving, settings_for

# A desktop Chrome's agent: headless chromium names itself HeadlessChrome, which scanners do.
CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


def test_a_click_from_a_webmail_page_reaches_the_article_and_shows_in_the_figures(
    browser: Browser, sqlite_url: str, tmp_path: Path
) -> None:
    newsletter = make_newsletter(lists=["readers"], track_clicks=True)
    # No wait after delivery: the browser clicks at once, as a scanner would, but is a person.
    settings = settings_for(
        sqlite_url,
        tmp_path,
        newsletters={"brief": newsletter},
        click_scanner_delay=timedelta(0),
    )
    app = App(settings)
    edition = app.approve(draft_edition(app, readers=2))
    app.send(edition)
    assert edition.id is not None
    eml = sorted((tmp_path / "outbox").rglob("*.eml"))[0]
    paths = re.findall(r'href="https://brief\.example\.org(/c/[^"]+)"', part_of(eml, "html"))
    lead = edition.top_story.article
    path = next(p for p in paths if p.endswith(f"/{lead.id}"))
    arrived: list[dict[str, str]] = []

    def article_site(route: Route) -> None:
        arrived.append(route.request.headers)
        route.fulfill(status=200, content_type="text/html", body="<title>The article</title>")

    with serving(settings) as base:
        page = browser.new_page(user_agent=CHROME, viewport={"width": 1280, "height": 900})
        page.route(
            "http://webmail.example/inbox",
            lambda route: route.fulfill(
                content_type="text/html",
                body=f'<title>Inbox</title><a id="story" href="{base}{path}">{lead.title}</a>',
            ),
        )
        page.route(
            re.compile(r"https://(daily|news|defence|eu)\.example\.(com|org|net)/.*"), article_site
        )
        page.goto("http://webmail.example/inbox")
        page.click("#story")
        expect(page).to_have_title("The article")
        assert page.url == lead.url
        assert len(arrived) == 1 and "referer" not in arrived[0]
        assert not page.context.cookies()

        page.goto(f"{base}/editions/{edition.id}/report")
        figures = page.locator("#clicks")
        expect(figures.get_by_role("heading", name="Reading figures")).to_be_visible()
        expect(page.locator("#clicks-readers")).to_have_text("1")
        expect(figures.locator(f'td[data-article="{lead.id}"]')).to_have_text("1")
        expect(figures.locator('td[data-section="0"]')).to_have_text("1")
        expect(figures.locator('[data-reason="burst"] strong')).to_have_text("0")
        assert_accessible(page, "send-report-clicks")

        page.goto(f"{base}/editions/{edition.id}")
        expect(page.locator("#clicks-readers")).to_have_text("1")
        assert_accessible(page, "edition-clicks")
        page.close()
    app.close()
