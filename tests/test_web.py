"""The web app over real HTTP: editor login and CSRF, edits, one-click unsubscribe (RFC 8058),
double opt-in, the archive, and SendGrid's signed event webhook."""

from __future__ import annotations

import html
import json
import re
import secrets
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import time_machine

from digest.app import App
from digest.subscribers.model import Status
from tests.web_support import (
    csrf_of,
    draft_edition,
    plain_text_of,
    serving,
    settings_for,
    signed,
    webhook_key,
)


def test_editor_pages_edit_and_approve(database_url: str, tmp_path: Path) -> None:
    settings = settings_for(database_url, tmp_path)
    app = App(settings)
    edition = draft_edition(app)
    first = edition.sections[0].items[0].article
    with serving(settings) as base, httpx.Client(base_url=base, timeout=60) as client:
        listing = client.get("/editions")
        assert listing.status_code == 200 and edition.subject in listing.text
        page = client.get(f"/editions/{edition.id}")
        assert page.status_code == 200 and "Email preview" in page.text
        assert "HTML size:" in page.text
        csrf = csrf_of(page.text)
        # Without the CSRF token, nothing changes.
        refused = client.post(f"/editions/{edition.id}/fields", data={"subject": "Hacked"})
        assert refused.status_code == 403
        assert app.store.get_edition(edition.id or 0).subject == edition.subject
        saved = client.post(
            f"/editions/{edition.id}/items/{first.id}/summary",
            data={"csrf": csrf, "text": "A summary written by the editor."},
        )
        assert saved.status_code == 303
        preview = client.get(f"/editions/{edition.id}/preview")
        assert "A summary written by the editor." in preview.text
        assert "%%" not in preview.text
        dark = client.get(f"/editions/{edition.id}/preview", params={"dark": "true"})
        assert "@media all" in dark.text
        client.post(f"/editions/{edition.id}/items/{first.id}/remove", data={"csrf": csrf})
        stored = app.store.get_edition(edition.id or 0)
        assert first.id not in [i.article.id for i in stored.items]
        client.post(
            f"/editions/{edition.id}/fields",
            data={"csrf": csrf, "subject": "Edited subject", "preheader": "Pre", "intro": "Intro"},
        )
        assert app.store.get_edition(edition.id or 0).subject == "Edited subject"
        approved = client.post(
            f"/editions/{edition.id}/approve", data={"csrf": csrf, "send_at": "2026-12-01T07:00"}
        )
        assert (
            approved.status_code == 303
            and "Approved" in client.get(approved.headers["location"]).text
        )
        assert app.store.get_edition(edition.id or 0).status == "approved"
        # Editing an approved edition puts it back to draft, and its page says so.
        reopened = client.post(
            f"/editions/{edition.id}/fields", data={"csrf": csrf, "subject": "After approval"}
        )
        stored = app.store.get_edition(edition.id or 0)
        assert stored.status == "draft" and stored.subject == "After approval"
        note = client.get(reopened.headers["location"]).text
        assert "Edited after approval: approve again to send." in note
    app.close()


def _said(page: str) -> list[str]:
    """The page's notices and errors, as it shows them."""
    return [
        html.unescape(text).strip()
        for text in re.findall(
            r'<p class="(?:notice|error)" role="(?:status|alert)">([^<]*)</p>', page
        )
    ]


def test_notices_are_said_once_and_no_link_can_carry_one(sqlite_url: str, tmp_path: Path) -> None:
    settings = settings_for(sqlite_url, tmp_path)
    app = App(settings)
    edition = draft_edition(app)
    app.store.subscribers.ensure_list("readers")
    page_path = f"/editions/{edition.id}"
    with serving(settings) as base, httpx.Client(base_url=base, timeout=60) as client:
        csrf = csrf_of(client.get(page_path).text)
        sent = client.post(f"{page_path}/test", data={"csrf": csrf, "address": "me@example.org"})
        assert sent.status_code == 303 and sent.headers["location"] == page_path
        assert _said(client.get(page_path).text) == ["Test copy sent to me@example.org."]
        assert _said(client.get(page_path).text) == []  # a reload does not say it again
        refused = client.post(f"{page_path}/test", data={"csrf": csrf, "address": "nobody"})
        assert "?" not in refused.headers["location"]
        [error] = _said(client.get(page_path).text)
        assert error.startswith("Test not sent:")
        # A crafted link says nothing, on the editions, an edition's and a list's page.
        crafted = {
            "notice": "Approved: send your password to evil.example",
            "error": "Log in again",
        }
        for path in ("/editions", page_path, "/lists/readers"):
            assert _said(client.get(path, params=crafted).text) == []
        added = client.post("/lists/readers/add", data={"csrf": csrf, "email": "new@example.org"})
        assert added.headers["location"] == "/lists/readers"
        assert _said(client.get("/lists/readers").text) == ["new@example.org added: subscribed."]
        assert _said(client.get("/lists/readers").text) == []
        # Many problems at once: as many as a cookie holds, then how many more.
        many = "\n".join(f"/etc/{secrets.token_urlsafe(180)}" for _ in range(20))
        answer = client.post("/articles/add", data={"csrf": csrf, "edition": "0", "urls": many})
        assert len(answer.headers["set-cookie"]) < 4096
        lines = _said(client.get("/editions").text)
        assert 1 < len(lines) < 20 and re.fullmatch(r"… and \d+ more problems", lines[-1])
        assert int(lines[-1].split()[2]) + len(lines) - 1 == 20
    app.close()


def test_login_required_off_loopback(sqlite_url: str, tmp_path: Path) -> None:
    from digest.web.security import hash_password

    settings = settings_for(
        sqlite_url,
        tmp_path,
        editor_password_hash=hash_password("correct horse", iterations=1000),
        web_behind_tls_proxy=True,
    )
    with (
        serving(settings, host="0.0.0.0") as base,
        httpx.Client(base_url=base, timeout=60) as client,
    ):
        assert client.get("/editions", follow_redirects=False).headers["location"] == "/login"
        login = client.get("/login")
        set_cookie = login.headers["set-cookie"].lower()
        assert (
            "httponly" in set_cookie and "secure" in set_cookie and "samesite=strict" in set_cookie
        )
        csrf = csrf_of(login.text)
        # httpx will not send a Secure cookie over http: carry it by hand, as a browser on
        # https would.
        cookie = login.cookies.get("digest_session") or ""
        headers = {"Cookie": f"digest_session={cookie}"}
        no_csrf = client.post("/login", data={"secret": "correct horse"}, headers=headers)
        assert no_csrf.status_code == 403
        wrong = client.post("/login", data={"secret": "wrong", "csrf": csrf}, headers=headers)
        assert wrong.status_code == 401
        right = client.post(
            "/login",
            data={"secret": "correct horse", "csrf": csrf},
            headers=headers,
            follow_redirects=False,
        )
        assert right.status_code == 303
        session = right.cookies.get("digest_session") or ""
        page = client.get("/editions", headers={"Cookie": f"digest_session={session}"})
        assert page.status_code == 200 and "editions" in page.text
        forged = session[:-3] + ("AAA" if not session.endswith("AAA") else "BBB")
        assert (
            client.get(
                "/editions", headers={"Cookie": f"digest_session={forged}"}, follow_redirects=False
            ).status_code
            == 303
        )


def test_one_click_unsubscribe_and_forgery(database_url: str, tmp_path: Path) -> None:
    settings = settings_for(database_url, tmp_path)
    app = App(settings)
    edition = app.approve(draft_edition(app))
    app.send(edition)
    eml = sorted((tmp_path / "outbox").rglob("0*.eml"))[0].read_text()
    url = re.search(r"List-Unsubscribe: <([^>]+)>", eml)
    assert url is not None
    path = url.group(1).removeprefix("https://brief.example.org")
    with serving(settings) as base, httpx.Client(base_url=base, timeout=60) as client:
        page = client.get(path)
        assert page.status_code == 200 and "Unsubscribe?" in page.text
        assert app.store.subscribers.stats()["readers"]["unsubscribed"] == 0  # GET changes nothing
        for _ in range(2):  # idempotent
            done = client.post(path, data={"List-Unsubscribe": "One-Click"})
            assert done.status_code == 200 and "You are unsubscribed" in done.text
            assert "set-cookie" not in done.headers
        assert app.store.subscribers.stats()["readers"]["unsubscribed"] == 1
        token = path.rsplit("/", 1)[1]
        subscriber, list_id = token.split(".")[1], token.split(".")[2]
        other = token.replace(f"1.{subscriber}.{list_id}.", f"1.{int(subscriber) + 1}.{list_id}.")
        for forged in (token[:-1] + ("A" if token[-1] != "A" else "B"), other, "garbage"):
            assert (
                client.post(f"/u/{forged}", data={"List-Unsubscribe": "One-Click"}).status_code
                == 404
            )
            assert client.get(f"/u/{forged}").status_code == 404
        assert app.store.subscribers.stats()["readers"]["unsubscribed"] == 1
    app.close()


def test_double_opt_in_and_expiry(sqlite_url: str, tmp_path: Path) -> None:
    settings = settings_for(sqlite_url, tmp_path, subscribe_limit_per_hour=3)
    app = App(settings)
    with serving(settings) as base, httpx.Client(base_url=base, timeout=60) as client:
        assert client.get("/subscribe/nope").status_code == 404
        form = client.get("/subscribe/readers")
        assert form.status_code == 200 and "Subscribe" in form.text
        bad = client.post("/subscribe/readers", data={"email": "not-an-address"})
        assert bad.status_code == 422
        asked = client.post("/subscribe/readers", data={"email": "New@Example.org", "name": "Nu"})
        assert asked.status_code == 200 and "check your inbox" in asked.text
        list_id = app.store.subscribers.list_id("readers")
        pending = app.store.subscribers.find(list_id, "new@example.org")
        assert pending is not None and pending.status == Status.PENDING
        [mail] = (tmp_path / "outbox").rglob("notice-*.eml")
        link = re.search(r"https://brief\.example\.org(/confirm/\S+)", plain_text_of(mail))
        assert link is not None
        confirm_path = link.group(1)
        assert client.get(confirm_path).status_code == 200  # a page, not yet a subscription
        assert app.store.subscribers.find(list_id, "new@example.org").status == Status.PENDING  # type: ignore[union-attr]
        with time_machine.travel(datetime.now(UTC) + timedelta(days=3)):
            assert client.post(confirm_path).status_code == 410  # expired after 2 days
        assert app.store.subscribers.find(list_id, "new@example.org").status == Status.PENDING  # type: ignore[union-attr]
        done = client.post(confirm_path)
        assert done.status_code == 200 and "now receives" in done.text
        confirmed = app.store.subscribers.find(list_id, "new@example.org")
        assert confirmed is not None and confirmed.status == Status.SUBSCRIBED
        assert confirmed.consent_at is not None and "double opt-in" in confirmed.consent_origin
        assert client.post(confirm_path[:-2] + "xx").status_code == 404
        # Rate limits: the same client may ask 3 times an hour.
        answers = [
            client.post("/subscribe/readers", data={"email": f"x{n}@example.org"}).status_code
            for n in range(3)
        ]
        assert answers == [200, 200, 429]
    app.close()


def test_archive_and_its_feed(sqlite_url: str, tmp_path: Path) -> None:
    settings = settings_for(sqlite_url, tmp_path)
    app = App(settings)
    edition = app.approve(draft_edition(app))
    with serving(settings) as base, httpx.Client(base_url=base, timeout=60) as client:
        assert edition.subject not in client.get("/archive/brief").text  # not sent yet
        app.send(edition)
        listing = client.get("/archive/brief")
        assert edition.subject in listing.text
        page = client.get("/archive/brief/1")
        assert page.status_code == 200 and edition.subject in page.text and "%%" not in page.text
        feed = client.get("/archive/brief/feed.xml")
        assert feed.headers["content-type"].startswith("application/rss+xml")
        assert "https://brief.example.org/archive/brief/1" in feed.text
        assert client.get("/archive/brief/2").status_code == 404
    app.close()


def test_sendgrid_webhook_signature_and_events(database_url: str, tmp_path: Path) -> None:
    key, public = webhook_key()
    settings = settings_for(database_url, tmp_path, sendgrid_webhook_public_key=public)
    app = App(settings)
    draft_edition(app, readers=4)
    list_id = app.store.subscribers.list_id("readers")
    r0 = app.store.subscribers.find(list_id, "r0@example.org")
    assert r0 is not None
    now = int(time.time())
    events = [
        {
            "email": "r0@example.org",
            "event": "bounce",
            "subscriber_id": str(r0.id),
            "timestamp": now,
            "sg_event_id": "e1",
        },
        {"email": "r1@example.org", "event": "spamreport", "timestamp": now + 1},
        {"email": "r2@example.org", "event": "unsubscribe", "timestamp": now + 2},
        {"email": "r3@example.org", "event": "delivered", "timestamp": now + 3},
    ]
    body = json.dumps(events).encode()
    headers = signed(key, body, str(now))
    with serving(settings) as base, httpx.Client(base_url=base, timeout=60) as client:
        changed = body.replace(b"bounce", b"bounc3")
        assert (
            client.post("/webhooks/sendgrid", content=changed, headers=headers).status_code == 403
        )
        assert (
            client.post(
                "/webhooks/sendgrid",
                content=body,
                headers={**headers, "X-Twilio-Email-Event-Webhook-Timestamp": str(now + 1)},
            ).status_code
            == 403
        )
        assert client.post("/webhooks/sendgrid", content=body).status_code == 403
        assert {s.email: s.status for s in app.store.subscribers.iterate(list_id)} == {
            f"r{n}@example.org": Status.SUBSCRIBED for n in range(4)
        }
        first = client.post("/webhooks/sendgrid", content=body, headers=headers)
        assert first.status_code == 200 and first.json() == {"received": 4, "changed": 3}
        replay = client.post("/webhooks/sendgrid", content=body, headers=headers)
        assert replay.json() == {"received": 4, "changed": 0}
    statuses = {s.email: s.status for s in app.store.subscribers.iterate(list_id)}
    assert statuses == {
        "r0@example.org": Status.BOUNCED,
        "r1@example.org": Status.COMPLAINED,
        "r2@example.org": Status.UNSUBSCRIBED,
        "r3@example.org": Status.SUBSCRIBED,
    }
    app.close()


@pytest.mark.parametrize("path", ["/editions", "/editions/1", "/editions/1/preview"])
def test_editor_pages_are_not_in_the_public_schema(
    sqlite_url: str, tmp_path: Path, path: str
) -> None:
    settings = settings_for(sqlite_url, tmp_path)
    with serving(settings) as base, httpx.Client(base_url=base, timeout=60) as client:
        schema = client.get("/openapi.json").json()
        assert path not in schema["paths"] and "/u/{token}" in schema["paths"]


def test_subscribe_form_folds_odd_names_and_takes_international_addresses(
    sqlite_url: str, tmp_path: Path
) -> None:
    settings = settings_for(sqlite_url, tmp_path)
    app = App(settings)
    with serving(settings) as base, httpx.Client(base_url=base, timeout=60) as client:
        odd = client.post(
            "/subscribe/readers",
            data={"email": "андрій@приклад.укр", "name": "Андрій\r\nBcc: victim@example.net"},
        )
        assert odd.status_code == 200 and "check your inbox" in odd.text
    list_id = app.store.subscribers.list_id("readers")
    pending = app.store.subscribers.find(list_id, "андрій@приклад.укр")
    assert pending is not None and pending.name == "Андрій Bcc: victim@example.net"
    [mail] = (tmp_path / "outbox").rglob("notice-*.eml")
    text = mail.read_bytes().decode("utf-8")
    headers = text.split("\r\n\r\n", 1)[0]
    assert "\nBcc:" not in headers and "андрій@xn--80aikifvh.xn--j1amh" in headers
    app.close()


def test_field_saves_merge_other_fields_and_refuse_a_stale_one(
    database_url: str, tmp_path: Path
) -> None:
    """The editor page's JSON saves: the CSRF token in a header, a version on each save; a
    change elsewhere to another field is merged, one to the same field is a 409 with its
    value, and a change of structure on an old version is refused."""
    settings = settings_for(database_url, tmp_path)
    app = App(settings)
    edition = draft_edition(app)
    assert edition.id is not None and edition.version == 1
    first = edition.items[0].article.id
    with serving(settings) as base, httpx.Client(base_url=base, timeout=60) as client:
        csrf = csrf_of(client.get(f"/editions/{edition.id}").text)
        save = {"key": "subject", "value": "Mine", "base": edition.subject, "version": 1}
        assert client.post(f"/editions/{edition.id}/field", json=save).status_code == 403
        headers = {"X-CSRF-Token": csrf}
        saved = client.post(f"/editions/{edition.id}/field", json=save, headers=headers)
        assert saved.status_code == 200 and saved.json()["version"] == 2
        # Elsewhere (the CLI, another tab) the intro changes: version 3.
        app.edit_field(edition.id, "intro", "Their intro.", base=edition.intro, version=2)
        # A summary saved on version 2 is merged: the intro stays theirs.
        key = f"item:{first}:summary"
        text = edition.items[0].summary.text
        merged = client.post(
            f"/editions/{edition.id}/field",
            json={"key": key, "value": "My summary.", "base": text, "version": 2},
            headers=headers,
        )
        assert merged.status_code == 200 and merged.json()["version"] == 4
        assert merged.json()["was"] == 3  # made on a newer version than the page's: merged
        # What the page compares with its own copy to say what changed elsewhere.
        stored_fields = client.get(f"/editions/{edition.id}/fields").json()
        assert stored_fields["version"] == 4 and stored_fields["status"] == "draft"
        assert stored_fields["fields"]["intro"] == "Their intro."
        assert stored_fields["fields"][key] == "My summary."
        assert stored_fields["layout"][0][0] == first
        # A summary regenerated on an old version is refused like any change of structure.
        regenerate = {"op": "regenerate", "article": first, "version": 3}
        refused = client.post(f"/editions/{edition.id}/arrange", json=regenerate, headers=headers)
        assert refused.status_code == 409
        # The subject saved on version 2 again, but it changed since: a conflict.
        app.edit_field(edition.id, "subject", "Theirs", base="Mine", version=4)
        conflict = client.post(
            f"/editions/{edition.id}/field",
            json={"key": "subject", "value": "Mine again", "base": "Mine", "version": 4},
            headers=headers,
        )
        assert conflict.status_code == 409
        assert conflict.json()["current"] == "Theirs" and conflict.json()["version"] == 5
        bad = client.post(
            f"/editions/{edition.id}/field",
            json={"key": "subject", "value": "x" * 201, "base": "Theirs", "version": 5},
            headers=headers,
        )
        assert bad.status_code == 422 and bad.json()["error"] == "Subject: at most 200 characters"
        unknown = client.post(
            f"/editions/{edition.id}/field",
            json={"key": "status", "value": "sent", "base": "", "version": 5},
            headers=headers,
        )
        assert unknown.status_code == 422 and "not a field" in unknown.json()["error"]
        switch = {"key": f"item:{first}:image", "value": "maybe", "base": "true", "version": 5}
        odd = client.post(f"/editions/{edition.id}/field", json=switch, headers=headers)
        assert odd.status_code == 422 and odd.json()["error"] == "Picture: true or false"
        stale = client.post(
            f"/editions/{edition.id}/arrange",
            json={"op": "remove", "article": first, "version": 4},
            headers=headers,
        )
        assert stale.status_code == 409 and "another window" in stale.json()["error"]
        removed = client.post(
            f"/editions/{edition.id}/arrange",
            json={"op": "remove", "article": first, "version": 5},
            headers=headers,
        )
        assert removed.status_code == 200
        assert f'data-action="restore" data-article="{first}"' in removed.json()["removed"]
        assert f'id="article-{first}"' not in removed.json()["sections"]
    stored = app.store.get_edition(edition.id)
    assert (stored.subject, stored.intro, stored.version) == ("Theirs", "Their intro.", 6)
    assert first not in stored.article_ids
    [taken] = stored.removed
    assert (taken.item.article.id, taken.item.summary.text) == (first, "My summary.")
    app.close()


def test_a_story_deleted_in_digest_edit_is_offered_back_on_the_page(
    sqlite_url: str, tmp_path: Path
) -> None:
    from digest.editing import apply_yaml, edition_to_yaml, restored

    settings = settings_for(sqlite_url, tmp_path)
    app = App(settings)
    edition = draft_edition(app)
    gone = edition.sections[1].items[0]
    lines = edition_to_yaml(edition).splitlines(keepends=True)
    start = lines.index(f"  - article: {gone.article.id}\n")
    end = next(n for n in range(start + 1, len(lines)) if lines[n].startswith(("  - ", "- ")))
    text = "".join(lines[:start] + lines[end:])
    saved = app.revise(edition, apply_yaml(edition, text, app.store, "edit.yaml"))
    assert [r.item.article.id for r in app.store.get_edition(edition.id or 0).removed] == [
        gone.article.id
    ]
    with serving(settings) as base, httpx.Client(base_url=base, timeout=60) as client:
        page = client.get(f"/editions/{edition.id}").text
        assert f'data-action="restore" data-article="{gone.article.id}"' in page
    back = restored(saved, gone.article.id or 0)
    assert back.sections[1].items[0] == gone and back.removed == []
    app.close()


def test_removed_stories_are_kept_with_the_edition_until_it_is_sent(
    database_url: str, tmp_path: Path
) -> None:
    """A removed story is stored with the edition: every page load offers it back, the
    restore takes nothing but its id (the summary, other reports and place are the
    server's), and once the edition is sent nothing is kept."""
    settings = settings_for(database_url, tmp_path)
    app = App(settings)
    edition = draft_edition(app)
    assert edition.id is not None
    section = edition.sections[0]
    gone = section.items[1]
    other = edition.sections[-1].items[-1]
    with serving(settings) as base, httpx.Client(base_url=base, timeout=60) as client:
        page = f"/editions/{edition.id}"
        headers = {"X-CSRF-Token": csrf_of(client.get(page).text)}

        def arrange(**change: object) -> httpx.Response:
            version = app.store.get_edition(edition.id or 0).version
            body = {"version": version, **change}
            return client.post(f"{page}/arrange", json=body, headers=headers)

        assert arrange(op="remove", article=gone.article.id).status_code == 200
        assert arrange(op="remove", article=other.article.id).status_code == 200
        # A new page (a reload, another window) offers both back, the latest first.
        shown = client.get(page).text
        offers = re.findall(r'data-action="restore" data-article="(\d+)"', shown)
        assert offers == [str(other.article.id), str(gone.article.id)]
        assert html.escape(gone.article.title, quote=False) in shown
        # Only what was removed can be restored; a story of the edition cannot come twice.
        kept = section.items[0].article.id
        refused = arrange(op="restore", article=kept)
        assert (
            refused.status_code == 422
            and "not among the stories removed" in (refused.json()["error"])
        )
        back = arrange(op="restore", article=gone.article.id)
        assert back.status_code == 200
        assert f'data-article="{gone.article.id}"' not in back.json()["removed"]
        restored = app.store.get_edition(edition.id)
        assert restored.sections[0].items[1] == gone  # its summary and reports, in its place
        assert [r.item.article.id for r in restored.removed] == [other.article.id]
    # Sent, the edition keeps no removed stories (they are free for the next edition anyway).
    app.send(app.approve(restored))
    sent = app.store.get_edition(edition.id)
    assert sent.status == "sent" and sent.removed == []
    assert other.article.id in {a.id for a in app.store.articles_in_no_edition(50)}
    app.close()
