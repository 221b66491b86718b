"""The preference page (/p/TOKEN) and the subscribe form's choices over real HTTP: the link in
every sent email opens the reader's own choices; GET only shows, POST saves and says what was
saved; none ticked, an unknown key or a reader who left are refused with the reason; a forged
link is a 404 page; the subscribe form's choice waits in the pending request and confirmation
keeps it; the archive's copy carries nobody's link."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from digest.app import App
from digest.config import Settings
from digest.render import render_web_copy
from digest.subscribers.model import Status, Subscriber
from tests.test_preferences import choosing
from tests.test_web_public import assert_page, confirm_link
from tests.web_support import draft_edition, plain_text_of, serving, settings_for

TITLE = "The Test Brief"
CHECKED = re.compile(
    r'<input type="(checkbox|radio)" name="(topic|frequency)" value="(\w+)" checked>'
)


def chooser_settings(database_url: str, tmp_path: Path, **newsletter: object) -> Settings:
    return settings_for(database_url, tmp_path, newsletters={"brief": choosing(**newsletter)})


def sent_links(tmp_path: Path) -> dict[str, tuple[str, str]]:
    """Each reader's (preference path, unsubscribe path) from the plain text of the .eml
    the outbox wrote for them."""
    links = {}
    for eml in sorted((tmp_path / "outbox").rglob("0*.eml")):
        text = plain_text_of(eml)
        to = re.search(r"^To: .*<([^>]+)>", eml.read_text(), re.MULTILINE)
        preferences = re.search(
            r"Choose your topics and how often: https://brief\.example\.org(/p/\S+)", text
        )
        unsubscribe = re.search(r"Unsubscribe: https://brief\.example\.org(/u/\S+)", text)
        assert to and preferences and unsubscribe, text[-600:]
        links[to.group(1)] = (preferences.group(1), unsubscribe.group(1))
    return links


def checked(page: str) -> set[str]:
    """The boxes and radio buttons the page shows chosen."""
    return {match.group(3) for match in CHECKED.finditer(page)}


def reader(app: App, email: str) -> Subscriber:
    found = app.store.subscribers.find(app.store.subscribers.list_id("readers"), email)
    assert found is not None
    return found


def test_the_link_in_each_email_opens_and_saves_the_readers_choices(
    database_url: str, tmp_path: Path
) -> None:
    settings = chooser_settings(database_url, tmp_path)
    app = App(settings)
    app.send(app.approve(draft_edition(app, readers=2)))
    links = sent_links(tmp_path)
    path, unsubscribe = links["r0@example.org"]
    # The same signed token opens both pages: one signature per reader.
    assert path.removeprefix("/p/") == unsubscribe.removeprefix("/u/")
    assert links["r1@example.org"][0] != path
    before = reader(app, "r0@example.org")
    with serving(settings) as base, httpx.Client(base_url=base, timeout=60) as client:
        shown = client.get(path)
        page = assert_page(
            shown,
            200,
            "Choose your topics and how often",
            "What The Test Brief sends to r0@example.org.",
            "All ticked: you get every topic, including any added later.",
            f'href="{unsubscribe}"',
            "The war",
            "Economy and sanctions",
            "Weekly, on Monday",
        )
        assert checked(page) == {"war", "economy", "culture", "weekly"}
        assert shown.headers["cache-control"] == "no-store"
        assert shown.headers["referrer-policy"] == "no-referrer"
        assert "set-cookie" not in shown.headers
        assert reader(app, "r0@example.org").updated_at == before.updated_at  # GET saves nothing

        saved = client.post(path, data={"topic": ["war", "culture"], "frequency": "daily"})
        page = assert_page(
            saved, 200, "Saved.", "Topics: The war, culture.", "How often: Every morning."
        )
        assert checked(page) == {"war", "culture", "daily"}
        assert "All ticked" not in page and "Tick every topic to get them all" in page
        assert saved.headers["cache-control"] == "no-store"
        stored = reader(app, "r0@example.org")
        assert (stored.topics, stored.frequency) == (["culture", "war"], "daily")
        assert checked(client.get(path).text) == {"war", "culture", "daily"}
        # The other reader's choice is theirs.
        other = reader(app, "r1@example.org")
        assert (other.topics, other.frequency) == ([], "")

        every = client.post(
            path, data={"topic": ["war", "economy", "culture"], "frequency": "weekly"}
        )
        assert_page(every, 200, "Topics: every topic, including any added later.")
        assert reader(app, "r0@example.org").topics == []

        client.post(path, data={"topic": "economy", "frequency": "daily"})
        none = client.post(path, data={"choosing": "1", "frequency": "weekly"})
        page = assert_page(
            none,
            422,
            "Topics: choose at least one.",
            "To receive nothing, unsubscribe instead.",
            f'<a href="{unsubscribe}">Unsubscribe</a>',
        )
        assert checked(page) == {"weekly"}  # what was sent is shown again
        unknown = client.post(path, data={"topic": ["war", "cooking<b>"], "frequency": "daily"})
        assert_page(unknown, 422, "Topics: “cooking&lt;b&gt;” is not one of the topics.")
        hourly = client.post(path, data={"topic": "war", "frequency": "hourly"})
        assert_page(hourly, 422, "How often: “hourly” is not one of the choices.")
        # Without the radio buttons (not our form) the reader keeps their frequency.
        kept = client.post(path, data={"topic": "culture"})
        assert_page(kept, 200, "How often: Every morning.")
    stored = reader(app, "r0@example.org")
    assert (stored.topics, stored.frequency, stored.status) == (
        ["culture"],
        "daily",
        Status.SUBSCRIBED,
    )
    app.close()


def test_a_forged_or_altered_preference_link_is_a_404_page(sqlite_url: str, tmp_path: Path) -> None:
    settings = chooser_settings(sqlite_url, tmp_path)
    app = App(settings)
    app.send(app.approve(draft_edition(app, readers=1)))
    [(path, _)] = sent_links(tmp_path).values()
    altered = path[:-1] + ("A" if path[-1] != "A" else "B")
    other_reader = re.sub(r"/p/1\.(\d+)\.", lambda m: f"/p/1.{int(m.group(1)) + 1}.", path)
    with serving(settings) as base, httpx.Client(base_url=base, timeout=60) as client:
        for bad in (altered, other_reader, "/p/garbage", "/p/1.1.1.x", "/p/" + "9" * 5000):
            for method in ("GET", "POST"):
                answer = client.request(method, bad, data={"topic": "war"})
                page = assert_page(answer, 404, TITLE, "This link to your choices does not work")
                assert ">Subscribe<" not in page
        assert_page(client.get("/p"), 404, "Page not found")
    stored = reader(app, "r0@example.org")
    assert stored.topics == [] and stored.status == Status.SUBSCRIBED
    app.close()


def test_without_topics_or_frequencies_there_is_nothing_to_choose(
    sqlite_url: str, tmp_path: Path
) -> None:
    settings = settings_for(sqlite_url, tmp_path)  # the plain test newsletter
    app = App(settings)
    app.send(app.approve(draft_edition(app, readers=1)))
    [eml] = sorted((tmp_path / "outbox").rglob("0*.eml"))
    text = plain_text_of(eml)
    assert "/p/" not in text and "Choose" not in text and "/p/" not in eml.read_text()
    unsubscribe = re.search(r"Unsubscribe: https://brief\.example\.org(/u/\S+)", text)
    assert unsubscribe is not None
    path = unsubscribe.group(1).replace("/u/", "/p/")
    with serving(settings) as base, httpx.Client(base_url=base, timeout=60) as client:
        for answer in (client.get(path), client.post(path, data={"topic": "war"})):
            page = assert_page(
                answer,
                200,
                "The Test Brief has nothing to choose: every reader gets every edition",
                f'<a href="{unsubscribe.group(1)}">Unsubscribe</a>',
            )
            assert "<form" not in page
    assert reader(app, "r0@example.org").topics == []
    app.close()


def test_a_reader_who_left_is_told_so_and_stays_unsubscribed(
    sqlite_url: str, tmp_path: Path
) -> None:
    settings = chooser_settings(sqlite_url, tmp_path)
    app = App(settings)
    app.send(app.approve(draft_edition(app, readers=1)))
    [(path, unsubscribe)] = sent_links(tmp_path).values()
    with serving(settings) as base, httpx.Client(base_url=base, timeout=60) as client:
        client.post(unsubscribe)
        page = assert_page(
            client.get(path), 200, "r0@example.org is not subscribed to The Test Brief (any more)"
        )
        assert "<form" not in page and 'href="/subscribe/readers"' in page
        refused = client.post(path, data={"topic": "war", "frequency": "daily"})
        assert_page(refused, 409, "is not subscribed")
    stored = reader(app, "r0@example.org")
    assert (stored.status, stored.topics, stored.frequency) == (Status.UNSUBSCRIBED, [], "")
    app.close()


def test_the_subscribe_form_offers_the_choices_and_confirmation_keeps_them(
    database_url: str, tmp_path: Path
) -> None:
    settings = chooser_settings(database_url, tmp_path)
    app = App(settings)
    with serving(settings) as base, httpx.Client(base_url=base, timeout=60) as client:
        form = assert_page(client.get("/subscribe/readers"), 200, "Topics", "How often")
        assert checked(form) == {"war", "economy", "culture", "weekly"}  # the default

        none = client.post(
            "/subscribe/readers",
            data={"email": "ana@example.org", "name": "Ana", "choosing": "1", "frequency": "daily"},
        )
        page = assert_page(none, 422, "Topics: choose at least one.", 'value="ana@example.org"')
        assert checked(page) == {"daily"}
        assert (
            app.store.subscribers.find(
                app.store.subscribers.ensure_list("readers"), "ana@example.org"
            )
            is None
        )

        asked = client.post(
            "/subscribe/readers",
            data={
                "email": "ana@example.org",
                "topic": ["economy", "war"],
                "frequency": "daily",
                "choosing": "1",
            },
        )
        assert_page(asked, 200, "check your inbox")
        pending = reader(app, "ana@example.org")
        assert (pending.status, pending.topics, pending.frequency) == (
            Status.PENDING,
            ["economy", "war"],
            "daily",
        )
        path, _ = confirm_link(tmp_path / "outbox")
        assert_page(
            client.get(path),
            200,
            "You chose:",
            "Topics: The war, Economy and sanctions.",
            "How often: Every morning.",
        )
        done = client.post(path)
        assert_page(done, 200, "Subscribed", "Every email has a link to change your topics")
        confirmed = reader(app, "ana@example.org")
        assert (confirmed.status, confirmed.topics, confirmed.frequency) == (
            Status.SUBSCRIBED,
            ["economy", "war"],
            "daily",
        )
        # The form cannot change a subscribed reader's choice: only their own link does.
        client.post(
            "/subscribe/readers",
            data={"email": "ana@example.org", "topic": "culture", "choosing": "1"},
        )
        assert reader(app, "ana@example.org").topics == ["economy", "war"]
        # A post without the form's fields (a script) asks for everything, the main frequency.
        client.post("/subscribe/readers", data={"email": "ben@example.org"})
        ben = reader(app, "ben@example.org")
        assert (ben.topics, ben.frequency) == ([], "")
        every = client.post(
            "/subscribe/readers",
            data={
                "email": "cy@example.org",
                "topic": ["war", "economy", "culture"],
                "frequency": "weekly",
                "choosing": "1",
            },
        )
        assert every.status_code == 200
        assert (reader(app, "cy@example.org").topics, reader(app, "cy@example.org").frequency) == (
            [],
            "weekly",
        )
        unknown = client.post(
            "/subscribe/readers",
            data={"email": "dan@example.org", "topic": "cooking", "choosing": "1"},
        )
        assert_page(unknown, 422, "Topics: “cooking” is not one of the topics.")
    app.close()


def test_the_archive_copy_carries_no_preference_link(sqlite_url: str, tmp_path: Path) -> None:
    settings = chooser_settings(sqlite_url, tmp_path)
    app = App(settings)
    edition = app.approve(draft_edition(app, readers=1))
    app.send(edition)
    with serving(settings) as base, httpx.Client(base_url=base, timeout=60) as client:
        copy = assert_page(client.get("/archive/brief/1"), 200, edition.subject)
    for personal in ("/p/", "/u/", "Choose your topics", "%%"):
        assert personal not in copy, personal
    # A custom template that ignores web_copy: the marker becomes the subscribe link.
    custom = tmp_path / "templates" / "partials"
    custom.mkdir(parents=True)
    (custom / "footer.mjml.j2").write_text(
        '<mj-section><mj-column><mj-text><a href="{{ placeholders.preferences_url }}">Choose'
        "</a></mj-text></mj-column></mj-section>",
        encoding="utf-8",
    )
    html = render_web_copy(
        app.store.get_edition(edition.id or 0), settings.newsletter("brief"), tmp_path / "templates"
    )
    assert '<a href="https://brief.example.org/subscribe/readers">Choose</a>' in html
    assert "%%" not in html
    app.close()


def test_the_preference_page_speaks_the_newsletters_language(
    sqlite_url: str, tmp_path: Path
) -> None:
    settings = chooser_settings(sqlite_url, tmp_path, title="Щоденний огляд", language="uk")
    app = App(settings)
    app.send(app.approve(draft_edition(app, readers=1)))
    [eml] = sorted((tmp_path / "outbox").rglob("0*.eml"))
    link = re.search(r"https://brief\.example\.org(/p/\S+)", plain_text_of(eml))
    assert link is not None
    with serving(settings) as base, httpx.Client(base_url=base, timeout=60) as client:
        page = assert_page(client.get(link.group(1)), 200, "Оберіть теми й частоту", "Як часто")
        assert '<html lang="uk">' in page
        none = client.post(link.group(1), data={"choosing": "1", "frequency": "daily"})
        assert_page(none, 422, "Теми: оберіть хоча б одну.", "краще відпишіться")
        saved = client.post(link.group(1), data={"topic": "war", "frequency": "daily"})
        assert_page(saved, 200, "Збережено.", "Теми: The war.")
        assert_page(client.get("/p/garbage"), 404, "Це посилання на ваш вибір не працює")
    app.close()


def test_the_editors_list_page_shows_each_readers_choice(sqlite_url: str, tmp_path: Path) -> None:
    settings = chooser_settings(sqlite_url, tmp_path)
    app = App(settings)
    app.add_subscriber("readers", "ana@example.org", topics="war;culture", frequency="daily")
    app.add_subscriber("readers", "ben@example.org")
    with serving(settings) as base, httpx.Client(base_url=base, timeout=60) as client:
        page = assert_page(client.get("/lists/readers"), 200, "Topics · how often")
    cells = re.findall(r'<td class="choices"[^>]*>([^<]*)</td>', page)
    assert cells == ["culture, war · daily", "every topic · weekly (main)"]
    app.close()
