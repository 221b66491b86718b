"""The email in chromium, with images on and off: what it asks the network for, and how the
masthead and thumbnails look (screenshots at 1280 and 390 px in test-artifacts/)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Request, Route

from digest.render import placeholders
from tests.browser_support import screenshots, serious_violations, text_contrast
from tests.test_email import PICTURE, make_app, pictured_edition

# A stand-in for the logo and the article picture (chromium draws SVG in an img).
_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="630">'
    '<rect width="1200" height="630" fill="#7a9cc6"/>'
    '<circle cx="600" cy="315" r="200" fill="#ffd500"/></svg>'
)
_LOGO = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="200" height="48">'
    '<rect width="200" height="48" fill="#0057b7"/>'
    '<text x="12" y="32" font-size="22" fill="#fff" font-family="sans-serif">BRIEF</text></svg>'
)


def _recording(requested: list[tuple[str, str]]) -> Callable[[Request], None]:
    def record(request: Request) -> None:
        requested.append((request.resource_type, request.url))

    return record


def _answering(images: bool) -> Callable[[Route], None]:
    """Images on: the pictures are served; off, as a mail client does it: every request is
    refused. (A handler of one parameter: Playwright passes a second, the request, to two.)"""

    def answer(route: Route) -> None:
        if not images or route.request.resource_type != "image":
            route.abort()
        elif "logo" in route.request.url:
            route.fulfill(status=200, content_type="image/svg+xml", body=_LOGO)
        else:
            route.fulfill(status=200, content_type="image/svg+xml", body=_SVG)

    return answer


def test_email_in_chromium_images_on_and_off(
    browser: Browser, sqlite_url: str, tmp_path: Path
) -> None:
    app = make_app(sqlite_url, tmp_path, logo_width=200, logo_height=48)
    html = placeholders.fill(
        app.render(pictured_edition(app, tmp_path)).html,
        placeholders.sample_values("https://brief.example.org"),
    )
    for mode in ("on", "off"):
        page = browser.new_page()
        requested: list[tuple[str, str]] = []
        page.on("request", _recording(requested))

        page.route("**/*", _answering(images=mode == "on"))
        page.set_content(html, wait_until="load")
        screenshots(page, f"email-images-{mode}")
        outside = [(kind, url) for kind, url in requested if not url.startswith("about:")]
        # The pictures are all the email asks for: no font, stylesheet, script or frame.
        assert sorted(outside) == [
            ("image", "https://brief.example.org/logo.png"),
            ("image", PICTURE),
        ]
        # The masthead reads either way: the logo's alt text is the title, in a sized box.
        logo = page.locator(".masthead img")
        assert logo.get_attribute("alt") == "The Test Brief"
        box = logo.bounding_box()
        assert box is not None and round(box["width"]) == 200 and round(box["height"]) == 48
        thumb = page.locator("img.thumb")
        box = thumb.bounding_box()
        assert box is not None and round(box["width"]) == 120 and round(box["height"]) == 63
        page.set_viewport_size({"width": 390, "height": 900})
        box = thumb.bounding_box()
        assert box is not None and round(box["width"]) == 88  # smaller on a phone
        page.close()


def test_text_masthead_in_chromium(browser: Browser, sqlite_url: str, tmp_path: Path) -> None:
    app = make_app(sqlite_url, tmp_path, logo_url=None, accent_color="#0057b7")
    html = placeholders.fill(
        app.render(pictured_edition(app, tmp_path)).html,
        placeholders.sample_values("https://brief.example.org"),
    )
    page = browser.new_page()
    page.route("**/*", _answering(images=True))
    page.set_content(html, wait_until="load")
    title = page.locator(".masthead a")
    assert title.inner_text().strip() == "The Test Brief"
    style = title.evaluate("e => [getComputedStyle(e).color, getComputedStyle(e).fontSize]")
    assert style == ["rgb(0, 87, 183)", "26px"]
    screenshots(page, "email-text-masthead")
    page.close()


# The example configuration's navy, a pale yellow, and the default blue.
@pytest.mark.parametrize("accent", ["#0057b7", "#f5c400", "#1f6feb"])
def test_masthead_and_links_read_at_aa_in_light_and_dark(
    browser: Browser, tmp_path: Path, accent: str
) -> None:
    for logo in (True, False):
        folder = tmp_path / f"logo-{logo}"
        folder.mkdir()
        app = make_app(
            f"sqlite:///{folder / 'digest.db'}",
            folder,
            accent_color=accent,
            **({} if logo else {"logo_url": None}),
        )
        html = placeholders.fill(
            app.render(pictured_edition(app, folder)).html,
            placeholders.sample_values("https://brief.example.org"),
        )
        for scheme in ("light", "dark"):
            page = browser.new_page(color_scheme=scheme)
            page.route("**/*", _answering(images=False))  # the logo's alt text shows
            page.set_content(html, wait_until="load")
            masthead = page.locator(".masthead img" if logo else ".masthead a")
            where = f"{accent}, {'logo' if logo else 'text masthead'}, {scheme}"
            assert text_contrast(masthead) >= 4.5, where
            for link in page.locator("a").all():
                assert text_contrast(link) >= 4.5, f"{where}: {link.inner_text()}"
            assert serious_violations(page) == [], where
            if accent == "#0057b7" and not logo:
                screenshots(page, f"email-masthead-{scheme}")
            page.close()
        app.close()
