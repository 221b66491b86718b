"""The editor's "Add articles" box and the fix of what the intake guessed, over real HTTP:
URLs through the SSRF guard, uploads in every format `digest add` reads, a paste as HTML or
text, into a draft or kept for the next edition; and placing a late article in a section."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, date, datetime
from pathlib import Path

import httpx

from digest.app import App
from digest.articles import Article
from digest.edition import Edition, Item, Section, edition_copy, refreshed_copy
from digest.edition_copy import number_words
from digest.intake import load_upload
from digest.summarize import Summary
from digest.themes import BRIEF_TITLE, section_for
from digest.web.limits import ADD_MAX_BYTES
from tests.web_support import csrf_of, draft_edition, serving, settings_for

BODY = (
    "Harbour cranes at Odesa were working again on Tuesday after a week of repairs, port "
    "officials said. Grain ships waited outside the breakwater while engineers replaced cables. "
    "The port authority said three berths would reopen by the weekend and the rest next month."
)
PAGE = f"""<html><head><title>Cranes return to Odesa port – Harbour Post</title>
<meta name="author" content="Olena Testenko"></head><body>
<nav><a href="/">Home</a> <a href="/world">World</a></nav>
<article><h1>Cranes return to Odesa port</h1>
<p>{BODY}</p><p>{BODY.replace("Tuesday", "Wednesday")}</p><p>{BODY.replace("three", "four")}</p>
</article><footer>Terms of Use Privacy</footer></body></html>"""


def _page(client: httpx.Client, path: str) -> tuple[str, str]:
    page = client.get(path)
    assert page.status_code == 200
    return page.text, csrf_of(page.text)


def _errors(page: str) -> list[str]:
    return [
        html.unescape(line) for line in re.findall(r'<p class="error" role="alert">(.*?)</p>', page)
    ]


def _add(client: httpx.Client, csrf: str, edition: int = 0, **parts: object) -> str:
    """Post the Add box; the page it sends the editor back to."""
    files = parts.pop("files", None)
    answer = client.post(
        "/articles/add",
        data={"csrf": csrf, "edition": str(edition), **parts},
        files=files,  # type: ignore[arg-type]
    )
    assert answer.status_code == 303, answer.text
    return client.get(answer.headers["location"]).text


def test_urls_go_through_the_guard_and_paths_are_not_read(sqlite_url: str, tmp_path: Path) -> None:
    settings = settings_for(sqlite_url, tmp_path)
    app = App(settings)
    secret = tmp_path / "secret.txt"
    secret.write_text("Secret notes\n\nNot for the web page to read, ever, from this machine.\n")
    with serving(settings) as base, httpx.Client(base_url=base, timeout=60) as client:
        _, csrf = _page(client, "/editions")
        page = _add(client, csrf, urls=f"{base}/editions\n\n{secret}\n")
    errors = _errors(page)
    assert len(errors) == 2
    assert errors[0] == f"{secret}: not an http(s) URL"
    assert errors[1].startswith(f"{base}/editions: refused: resolves to 127.0.0.1 (loopback)")
    assert "fetch_allowed_networks" in errors[1]
    assert app.store.list_articles() == []
    app.close()


def test_uploads_into_the_draft_and_each_bad_file_named(database_url: str, tmp_path: Path) -> None:
    settings = settings_for(database_url, tmp_path)
    app = App(settings)
    edition = draft_edition(app)
    before = len(edition.items)
    markdown = f"---\ntitle: Ferry links to Varna resume\ntags: [shipping]\n---\n\n{BODY}\n"
    records = (
        json.dumps(
            {"title": "Grain corridor insurance falls", "text": BODY.replace("cranes", "rates")}
        )
        + "\n{not json\n"
    )
    with serving(settings) as base, httpx.Client(base_url=base, timeout=60) as client:
        _, csrf = _page(client, f"/editions/{edition.id}")
        page = _add(
            client,
            csrf,
            edition.id or 0,
            files=[
                ("files", ("ferry.md", markdown.encode(), "text/markdown")),
                ("files", ("more.jsonl", records.encode(), "application/jsonl")),
                ("files", ("scan.pdf", b"%PDF-1.7", "application/pdf")),
                ("files", ("latin.txt", "Caf\xe9 story\n\nText.".encode("latin-1"), "text/plain")),
            ],
        )
        preview = client.get(f"/editions/{edition.id}/preview").text
    errors = _errors(page)
    assert errors[0].startswith("more.jsonl:line 2: ")
    assert errors[1].startswith("scan.pdf: unsupported file type")
    assert errors[2] == "latin.txt: not UTF-8 text (byte 3)"
    assert len(errors) == 3
    assert "Added 2 articles to this edition: “" in page
    stored = app.store.get_edition(edition.id or 0)
    titles = [item.article.title for item in stored.items]
    assert len(titles) == before + 2
    assert {"Ferry links to Varna resume", "Grain corridor insurance falls"} <= set(titles)
    # Tagged "shipping" with no such section, and about Odesa's port and its grain ships: both
    # go beside the Black Sea grain story, as grouping would have put them.
    grain = next(s for s in stored.sections if any("Black Sea" in i.article.title for i in s.items))
    assert "Ferry links to Varna resume" in [item.article.title for item in grain.items]
    assert BRIEF_TITLE not in [section.title for section in stored.sections]
    assert all(item.summary.text for item in stored.items)
    assert "Ferry links to Varna resume" in preview and "Grain corridor insurance falls" in preview
    # The intro was the built one, so it counts the new stories.
    theme = app.settings.newsletter(stored.newsletter).theme
    assert stored.intro == edition_copy(stored, theme).intro
    assert f"{number_words(before + 2)} stories in all" in stored.intro.lower()
    app.close()


def test_a_paste_as_html_or_text_kept_for_the_next_edition(sqlite_url: str, tmp_path: Path) -> None:
    settings = settings_for(sqlite_url, tmp_path)
    app = App(settings)
    with serving(settings) as base, httpx.Client(base_url=base, timeout=60) as client:
        listing, csrf = _page(client, "/editions")
        assert 'id="add-articles"' in listing and "none: keep for the next edition" in listing
        page = _add(
            client,
            csrf,
            paste_kind="html",
            files=[("clipboard", ("paste.html", PAGE.encode(), "text/html"))],
        )
        assert "Added 1 article for the next edition: “Cranes return to Odesa port” (" in page
        # Without the page's script, the textarea's text comes as `paste`.
        text = f"Night trains to Lviv are full\nBy: Ivan Example\n\n{BODY}\n\n{BODY}\n"
        second = _add(client, csrf, paste=text)
        again = _add(client, csrf, paste=text)
    assert (
        "Added 1 article for the next edition: “Night trains to Lviv are full” "
        "(by Ivan Example · no date found)." in second
    )
    assert "Added 0 articles for the next edition. 1 already stored." in again
    [from_text, from_html] = app.store.articles_in_no_edition(10)
    assert from_html.title == "Cranes return to Odesa port"
    assert "Home" not in from_html.text and "Terms of Use" not in from_html.text
    assert from_text.title == "Night trains to Lviv are full"
    # What the intake guessed is on the list, each with its form.
    waiting = second.split('id="waiting"', 1)[1]
    assert waiting.index("Night trains to Lviv are full") < waiting.index("Cranes return to Odesa")
    assert f'action="/articles/{from_html.id}"' in waiting
    assert f"{from_html.word_count} words" in waiting
    app.close()


def test_nothing_to_add_and_body_caps(sqlite_url: str, tmp_path: Path) -> None:
    settings = settings_for(sqlite_url, tmp_path)
    app = App(settings)
    big = json.dumps({"title": "A long record", "text": "word " * 300_000})  # 1.5 MB
    with serving(settings) as base, httpx.Client(base_url=base, timeout=60) as client:
        _, csrf = _page(client, "/editions")
        assert _errors(_add(client, csrf)) == [
            "Nothing to add: give URLs, paste a page or choose files."
        ]
        # Over the 1 MB of other forms, within the box's own cap.
        assert "Added 1 article" in _add(
            client, csrf, files=[("files", ("big.jsonl", big.encode(), "application/jsonl"))]
        )
        over = client.post(
            "/articles/add",
            data={"csrf": csrf},
            files=[("files", ("huge.txt", b"x" * (ADD_MAX_BYTES + 1), "text/plain"))],
        )
        assert over.status_code == 413
        no_csrf = client.post("/articles/add", data={"urls": "https://example.org/"})
        assert no_csrf.status_code == 403
    assert [article.title for article in app.store.list_articles()] == ["A long record"]
    app.close()


def test_fixing_what_the_intake_guessed(database_url: str, tmp_path: Path) -> None:
    settings = settings_for(database_url, tmp_path)
    app = App(settings)
    edition = draft_edition(app)
    top = edition.top_story.article
    other = edition.items[1].article
    assert edition.subject.startswith(top.title[:20])
    with serving(settings) as base, httpx.Client(base_url=base, timeout=60) as client:
        page, csrf = _page(client, f"/editions/{edition.id}")
        assert f'data-key="article:{top.id}:published"' in page
        assert f"{top.word_count} words" in page

        def post(name: str, value: str) -> httpx.Response:
            """One field of the article saved as the editor's page saves it."""
            key = f"article:{top.id}:{name}"
            now = app.store.get_edition(edition.id or 0)
            stored = next(a for i in now.items for a in i.articles if a.id == top.id)
            base = getattr(stored, "title" if name == "title" else name) or ""
            return client.post(
                f"/editions/{edition.id}/field",
                json={"key": key, "value": value, "base": str(base), "version": now.version},
                headers={"X-CSRF-Token": csrf},
            )

        def refused(name: str, value: str) -> str:
            answer = post(name, value)
            assert answer.status_code == 422, answer.text
            return str(answer.json()["error"])

        assert refused("published", "next Tuesday") == (
            "Date: not a date: write 2026-11-24, or 2026-11-24T07:30+01:00 with a time"
        )
        assert refused("url", "javascript:alert(1)") == "Link: must be an http(s) URL"
        assert refused("url", other.url or "https://example.org/") == (
            f"Link: article {other.id} already has this URL"
        )
        assert refused("title", "  ") == "Headline: String should have at least 1 character"
        assert app.store.get_article(top.id or 0) == top  # nothing changed by the refusals
        for name, value in [
            ("title", "Fixed <b>headline</b> from the editor"),
            ("author", "Cora Neas"),
            ("source", "Harbour Post"),
            ("published", "2026-11-23T18:30+01:00"),
            ("url", "https://harbour.example.org/fixed"),
        ]:
            answer = post(name, value)
            assert answer.status_code == 200, answer.text
        assert answer.json()["value"] == "https://harbour.example.org/fixed"
        saved = client.get(f"/editions/{edition.id}").text
        assert 'value="Fixed &lt;b&gt;headline&lt;/b&gt; from the editor"' in saved
        assert 'value="Cora Neas"' in saved and 'value="2026-11-23T17:30+00:00"' in saved
        preview = client.get(f"/editions/{edition.id}/preview").text
    fixed = app.store.get_article(top.id or 0)
    assert fixed.author == "Cora Neas" and fixed.source == "Harbour Post"
    assert fixed.published == datetime(2026, 11, 23, 17, 30, tzinfo=UTC)
    assert fixed.text == top.text
    assert "Fixed &lt;b&gt;headline&lt;/b&gt; from the editor" in preview
    assert "Harbour Post" in preview
    # The built subject followed the headline; blank fields are "not known".
    assert app.store.get_edition(edition.id or 0).subject.startswith("Fixed <b>headline</b>")
    cleared = app.update_article(top.id or 0, author="", published="")
    assert cleared.author is None and cleared.published is None
    app.close()


def test_a_fix_reopens_an_approved_edition_none_once_sent_and_the_editors_subject_is_kept(
    sqlite_url: str, tmp_path: Path
) -> None:
    settings = settings_for(sqlite_url, tmp_path)
    app = App(settings)
    edition = draft_edition(app)
    assert edition.id is not None
    app.store.update_edition(edition.model_copy(update={"subject": "The editor's own subject"}))
    top = edition.top_story.article
    app.update_article(top.id or 0, title="A better headline")
    kept = app.store.get_edition(edition.id)
    assert kept.subject == "The editor's own subject"
    assert kept.intro != edition.intro and "A better headline" in kept.intro
    app.approve(kept)
    with serving(settings) as base, httpx.Client(base_url=base, timeout=60) as client:
        _, csrf = _page(client, "/editions")
        # Editing an approved edition puts it back to draft, noted, to be approved again.
        answer = client.post(f"/articles/{top.id}", data={"csrf": csrf, "title": "Still in time"})
        reopened_page = client.get(answer.headers["location"]).text
        reopened = app.store.get_edition(edition.id)
        assert reopened.status.value == "draft" and reopened.reopened is not None
        assert app.store.get_article(top.id or 0).title == "Still in time"
        app.send(app.approve(reopened))
        answer = client.post(f"/articles/{top.id}", data={"csrf": csrf, "title": "Too late"})
        page = client.get(answer.headers["location"]).text
        late = _add(
            client,
            csrf,
            edition.id,
            paste=f"Night buses to Kherson are running again\nBy: Ivan Example\n\n{BODY}\n",
        )
    assert not _errors(reopened_page)
    assert _errors(page) == [
        f"Article {top.id} not saved: article {top.id} is in edition {edition.id}, which is "
        "sent: only articles of drafts can be changed"
    ]
    assert app.store.get_article(top.id or 0).title == "Still in time"
    assert _errors(late)[0] == (
        f"edition {edition.id} is sent: only a draft or an approved edition takes more articles "
        "(they are stored for the next edition)"
    )
    assert [a.title for a in app.store.articles_in_no_edition(5)] == [
        "Night buses to Kherson are running again"
    ]
    app.close()


def _article(number: int, title: str, text: str, tags: list[str] | None = None) -> Article:
    return Article(id=number, title=title, text=text, tags=tags or [])


def test_a_late_article_goes_where_the_sections_would_put_it() -> None:
    drones = [
        _article(1, "Drone strikes hit Kharkiv power plant", "Drones struck the power plant."),
        _article(2, "Kharkiv power cuts after drone strikes", "Power cuts followed drone strikes."),
    ]
    sanctions = [_article(3, "New sanctions on Russian oil", "The EU agreed sanctions on oil.")]
    sections = [("Kharkiv", drones), ("Oil", sanctions), (BRIEF_TITLE, [_article(4, "x", "y")])]
    close = _article(5, "Drone strikes on Kharkiv again", "More drone strikes on Kharkiv power.")
    tagged = _article(6, "Tanker seized", "A tanker was seized.", tags=["oil"])
    far = _article(7, "Chess final in Oslo", "A chess final was played in Oslo.")
    assert section_for(close, sections) == 0
    assert section_for(tagged, sections) == 1
    assert section_for(far, sections) is None


def test_refreshed_copy_follows_headlines_only_where_built() -> None:
    summary = Summary(text="A summary.", method="extractive")
    items = [
        Item(article=_article(n, f"Story number {n} told", "Text."), summary=summary)
        for n in (1, 2, 3)
    ]
    shape = Edition(
        newsletter="brief",
        number=1,
        date=date(2026, 11, 24),
        subject="x",
        sections=[Section(title="Stories", items=items[:2])],
    )
    copy = edition_copy(shape, "war")
    built = shape.model_copy(
        update={"subject": copy.subject, "preheader": copy.preheader, "intro": copy.intro}
    )
    longer = built.model_copy(update={"sections": [Section(title="Stories", items=items)]})
    refreshed = refreshed_copy(built, longer, "war")
    assert refreshed.intro == edition_copy(longer, "war").intro != built.intro
    assert "three stories" in refreshed.intro
    own = built.model_copy(update={"subject": "Mine"})
    mine_longer = longer.model_copy(update={"subject": "Mine"})
    assert refreshed_copy(own, mine_longer, "war").subject == "Mine"


def test_an_upload_is_read_as_the_file_it_names() -> None:
    intake = load_upload("notes.md", f"# A heading here\n\n{BODY}\n".encode())
    assert [a.title for a in intake.articles] == ["A heading here"] and not intake.errors
    [refused] = load_upload("x.docx", b"PK").errors
    assert str(refused).startswith("x.docx: unsupported file type")
