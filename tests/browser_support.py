"""A real browser for the web tests: Debian's chromium driven by Playwright (no browser
download), screenshots in test-artifacts/, and accessibility checks with axe-core (installed
from the npm registry by scripts/services, injected into the page under test)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Frame, Locator, Page, sync_playwright

from digest.colours import contrast
from tests.conftest import IN_CI, ROOT

CHROMIUM = os.environ.get("DIGEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("DIGEST_TEST_ARTIFACTS", ROOT / "test-artifacts"))
AXE = Path(
    os.environ.get(
        "DIGEST_AXE", ROOT / ".cache" / "node" / "node_modules" / "axe-core" / "axe.min.js"
    )
)
WIDTHS = {"desktop": 1280, "phone": 390}


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail(f"{CHROMIUM} is missing: CI must install Debian's chromium")
        pytest.skip(f"{CHROMIUM} is not installed")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield launched
        launched.close()


def screenshots(page: Page, name: str) -> list[Path]:
    """The page as it is now, full length, at desktop and phone widths, taken from its top
    (what stays in view, such as the editor's bar, is drawn where it is when scrolled; the
    viewport and the scroll are put back afterwards)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    before = page.viewport_size
    scrolled = page.evaluate("[scrollX, scrollY]")
    taken = []
    for label, width in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": 900})
        page.evaluate("scrollTo(0, 0)")
        path = ARTIFACTS / f"{name}-{label}.png"
        page.screenshot(path=str(path), full_page=True)
        taken.append(path)
    if before:
        page.set_viewport_size(before)
    page.evaluate("([x, y]) => scrollTo(x, y)", scrolled)
    return taken


def serious_violations(page: Page | Frame) -> list[str]:
    """axe-core's serious and critical findings on the page (or in one frame of it, such as
    the editor's preview) as it is now, one line each."""
    if not AXE.exists():
        if IN_CI:
            pytest.fail(f"{AXE} is missing: scripts/services installs axe-core")
        pytest.skip(f"axe-core is not installed ({AXE})")
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ['violations']});
            return result.violations
                .filter(v => v.impact === 'serious' || v.impact === 'critical')
                .map(v => ({id: v.id, impact: v.impact, help: v.help,
                            where: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
        }"""
    )
    return [f"{v['impact']}: {v['id']} ({v['help']}) at {json.dumps(v['where'])}" for v in found]


def assert_accessible(page: Page, name: str, within: Frame | None = None) -> None:
    """No serious or critical axe-core violation (in the page, or `within` one of its
    frames), and screenshots of the page at both widths."""
    screenshots(page, name)
    problems = serious_violations(within or page)
    assert not problems, f"{name}: " + "; ".join(problems)


# The colour an element's text is drawn in, and the first opaque background behind it.
_COLOURS = """e => {
    let behind = e, background = "rgb(255, 255, 255)";
    while (behind) {
        const colour = getComputedStyle(behind).backgroundColor;
        if (colour && colour !== "transparent" && !colour.endsWith(", 0)")) {
            background = colour;
            break;
        }
        behind = behind.parentElement;
    }
    return [getComputedStyle(e).color, background];
}"""


def _channels(css: str) -> tuple[int, int, int]:
    parts = css[css.index("(") + 1 : css.rindex(")")].split(",")
    red, green, blue = (round(float(part)) for part in parts[:3])
    return red, green, blue


def text_contrast(element: Locator) -> float:
    """WCAG's contrast of the element's text colour on what is behind it (for what axe-core
    does not look at, such as an image's alt text)."""
    text, background = element.evaluate(_COLOURS)
    return contrast(_channels(text), _channels(background))
