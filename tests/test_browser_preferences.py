"""A reader's choices in a real browser (Debian's chromium): the preference link taken from an
email that `digest send` wrote to the outbox, topics and frequency changed and saved, the
store holding the new choice; a forged link's 404 page; the subscribe form's choices through
confirmation. Each page checked by axe-core and photographed at desktop and phone widths."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from typer.testing import CliRunner

from digest.app import App
from digest.cli import app as cli
from digest.config import Settings, load_settings
from digest.subscribers.model import Status, Subscriber
from tests.browser_support import assert_accessible
from tests.web_support import plain_text_of, serving

ROOT = Path(__file__).resolve().parent.parent
SECRET = "browser-preferences-secret-0123"
TITLE = "The Ukraine Brief"
# The example newsletter (digest.toml), with choices for its readers.
CHOICES = """
[newsletters.ukraine.topics.frontline]
label = "The front line"
tags = ["frontline"]
[newsletters.ukraine.topics.allies]
label = "Allies and aid"
query = ["Patriot", "allies"]
[newsletters.ukraine.topics.sanctions]
label = "Sanctions and the shadow fleet"
sections = ["Shadow Fleet"]
[newsletters.ukraine.frequencies.weekly]
label = "Weekly, on Monday morning"
schedule = "0 7 * * MON"
[newsletters.ukraine.frequencies.daily]
label = "Every morning"
schedule = "0 7 * * *"
lookback = "P1D"
"""
PEOPLE = (
    "email,name,topics,frequency\nolena@example.org,Olena,,\nmarko@example.org,Marko,allies,daily\n"
)


# Two stories after the first edition: one for the front line, one for allies and aid.
NEWS = (
    '{"title": "Brigade holds the line near Pokrovsk after a night of assaults", '
    '"url": "https://news.example.org/front/pokrovsk", "source": "Example Front", '
    '"published": "2026-11-25T05:00:00Z", "tags": ["frontline"], "text": "The brigade '
    "held its positions near Pokrovsk after a night of assaults, its commander said, and "
    'troops repaired trenches before dawn as shelling went on along the road."}\n'
    '{"title": "Germany sends another Patriot battery to Ukraine", '
    '"url": "https://news.example.org/aid/patriot", "source": "Example Aid", '
    '"published": "2026-11-25T06:00:00Z", "text": "Germany said it would send another '
    "Patriot battery to Ukraine this winter, its defence minister told reporters, and "
    'training for the crews has begun at a base in the west of the country."}\n'
)


def copy_to(edition_folder: Path, name: str) -> str:
    """The plain text of the email the reader got in this edition ("" for none)."""
    for eml in sorted(edition_folder.glob("0*.eml")):
        if f"<{name}@example.org>" in eml.read_text():
            return plain_text_of(eml)
    return ""


@pytest.fixture
def workdir(example_workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example config with choices, an edition sent by `digest send` to two readers."""
    with (example_workdir / "digest.toml").open("a", encoding="utf-8") as config:
        config.write(CHOICES)
    monkeypatch.setenv("DIGEST_SECRET_KEY", SECRET)
    people = example_workdir / "people.csv"
    people.write_text(PEOPLE, encoding="utf-8")
    for args in (
        ["add", str(ROOT / "examples/articles")],
        ["build", "--date", "2026-11-24"],
        ["approve", "latest"],
        ["subscribers", "import", str(people), "--list", "readers"],
        ["send", "latest", "--yes", "--now"],
    ):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, f"digest {' '.join(args)}: {result.output}"
    return example_workdir


def settings() -> Settings:
    return load_settings(Path("digest.toml"))


def preference_path(outbox: Path, address: str) -> str:
    """The preference link of the reader's email, as the outbox wrote it."""
    for eml in sorted(outbox.rglob("0*.eml")):
        if f"<{address}>" not in eml.read_text():
            continue
        link = re.search(
            r"Choose your topics and how often: https://brief\.example\.org(/p/\S+)",
            plain_text_of(eml),
        )
        assert link is not None
        return link.group(1)
    raise AssertionError(f"no email to {address}")


def stored(address: str) -> Subscriber:
    app = App(settings())
    try:
        found = app.store.subscribers.find(app.store.subscribers.list_id("readers"), address)
    finally:
        app.close()
    assert found is not None
    return found


def _checked(page: Page, label: str) -> None:
    expect(page.get_by_label(label)).to_be_checked()


def test_a_reader_changes_topics_and_frequency_from_the_link_in_their_email(
    browser: Browser, workdir: Path
) -> None:
    path = preference_path(workdir / "outbox", "olena@example.org")
    with serving(settings()) as base:
        page = browser.new_page()
        page.goto(f"{base}{path}")
        expect(page.get_by_role("heading", level=1)).to_have_text(
            "Choose your topics and how often"
        )
        expect(
            page.get_by_text("All ticked: you get every topic, including any added later.")
        ).to_be_visible()
        for label in ("The front line", "Allies and aid", "Sanctions and the shadow fleet"):
            _checked(page, label)
        _checked(page, "Weekly, on Monday morning")
        assert_accessible(page, "public-preferences")

        # Nothing ticked is refused, and says how to leave instead.
        for label in ("The front line", "Allies and aid", "Sanctions and the shadow fleet"):
            page.get_by_label(label).uncheck()
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("alert")).to_contain_text("Topics: choose at least one.")
        expect(page.get_by_role("alert").get_by_role("link", name="Unsubscribe")).to_be_visible()
        assert_accessible(page, "public-preferences-error")
        assert stored("olena@example.org").topics == []

        page.get_by_label("The front line").check()
        page.get_by_label("Sanctions and the shadow fleet").check()
        page.get_by_label("Every morning").check()
        page.get_by_role("button", name="Save").click()
        status = page.get_by_role("status")
        expect(status).to_contain_text("Saved.")
        expect(status).to_contain_text("Topics: The front line, Sanctions and the shadow fleet.")
        expect(status).to_contain_text("How often: Every morning.")
        _checked(page, "Every morning")
        expect(page.get_by_label("Allies and aid")).not_to_be_checked()
        assert_accessible(page, "public-preferences-saved")
        page.close()
    olena = stored("olena@example.org")
    assert (olena.topics, olena.frequency, olena.status) == (
        ["frontline", "sanctions"],
        "daily",
        Status.SUBSCRIBED,
    )
    marko = stored("marko@example.org")  # imported with his choice, untouched
    assert (marko.topics, marko.frequency) == (["allies"], "daily")

    # The next edition follows: Olena now gets the daily edition, only her topics, and none
    # of the stories the weekly one brought her; Marko his.
    news = workdir / "news.jsonl"
    news.write_text(NEWS, encoding="utf-8")
    for args in (
        ["add", str(news)],
        ["build", "--date", "2026-11-25", "--frequency", "daily"],
        ["approve", "latest"],
        ["send", "latest", "--yes", "--now"],
    ):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, f"digest {' '.join(args)}: {result.output}"
    daily = sorted((workdir / "outbox" / "ukraine").glob("edition-*"))[-1]
    olena_copy, marko_copy = (copy_to(daily, a) for a in ("olena", "marko"))
    assert "Brigade holds the line" in olena_copy and "Patriot" not in olena_copy
    # The daily edition's Shadow Fleet stories are in her topics, but the weekly one brought
    # them to her already.
    app = App(settings())
    try:
        sections = {s.title: s for s in app.edition("latest").sections}
    finally:
        app.close()
    fleet = [item.article.title for item in sections["Shadow Fleet"].items]
    assert fleet and not any(title[:40] in olena_copy for title in fleet)

    # The editor's send report lists the copies, one per topic set, with their readers.
    app = App(settings())
    try:
        daily_id = app.edition("latest").id
    finally:
        app.close()
    with serving(settings()) as base:
        page = browser.new_page()
        page.goto(f"{base}/editions/{daily_id}/report")
        copies = page.locator("#copies tbody tr")
        expect(copies).to_have_count(2)
        expect(page.locator("#copies")).to_contain_text("Allies and aid")
        expect(page.locator("#copies")).to_contain_text("The front line, Sanctions and the shadow")
        assert_accessible(page, "send-report-copies")
        page.close()
    assert "Patriot battery" in marko_copy and "Brigade holds the line" not in marko_copy


def test_a_forged_preference_link_in_the_browser(browser: Browser, workdir: Path) -> None:
    path = preference_path(workdir / "outbox", "olena@example.org")
    forged = path[:-2] + ("AA" if not path.endswith("AA") else "BB")
    with serving(settings()) as base:
        page = browser.new_page()
        answer = page.goto(f"{base}{forged}")
        assert answer is not None and answer.status == 404
        expect(page.get_by_role("heading", level=1)).to_have_text(
            "This link to your choices does not work"
        )
        expect(page.locator(".code")).to_contain_text("404")
        expect(page.get_by_role("link", name="Subscribe")).to_have_count(0)
        assert_accessible(page, "public-error-preferences")
        page.close()


def test_the_subscribe_form_with_choices_through_confirmation(
    browser: Browser, workdir: Path
) -> None:
    with serving(settings()) as base:
        page = browser.new_page()
        page.goto(f"{base}/subscribe/readers")
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Subscribe to {TITLE}")
        _checked(page, "The front line")
        _checked(page, "Weekly, on Monday morning")
        assert_accessible(page, "public-subscribe-choices")
        page.get_by_label("Email").fill("iryna@example.org")
        page.get_by_label("Name (optional)").fill("Iryna")
        page.get_by_label("The front line").uncheck()
        page.get_by_label("Every morning").check()
        page.get_by_role("button", name="Subscribe").click()
        expect(page.get_by_text("check your inbox")).to_be_visible()
        pending = stored("iryna@example.org")
        assert (pending.status, pending.topics, pending.frequency) == (
            Status.PENDING,
            ["allies", "sanctions"],
            "daily",
        )

        [notice] = sorted((workdir / "outbox").rglob("notice-*.eml"))
        link = re.search(r"https://brief\.example\.org(/confirm/\S+)", plain_text_of(notice))
        assert link is not None
        page.goto(f"{base}{link.group(1)}")
        expect(
            page.get_by_text("Topics: Allies and aid, Sanctions and the shadow fleet.")
        ).to_be_visible()
        expect(page.get_by_text("How often: Every morning.")).to_be_visible()
        assert_accessible(page, "public-confirm-choices")
        page.get_by_role("button", name="Confirm").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Subscribed")
        assert_accessible(page, "public-confirmed-choices")
        page.close()
    confirmed = stored("iryna@example.org")
    assert (confirmed.status, confirmed.topics, confirmed.frequency) == (
        Status.SUBSCRIBED,
        ["allies", "sanctions"],
        "daily",
    )
