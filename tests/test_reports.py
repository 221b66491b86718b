"""The send report and the subscriber lists as use cases (SQLite and PostgreSQL): a real send
through aiosmtpd refusing and deferring readers, then SendGrid-shaped events, then the report;
and `digest report --json` in-process."""

from __future__ import annotations

import csv
import io
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from digest.app import App
from digest.cli import app as cli
from digest.delivery_report import write_csv
from digest.edition import Edition
from digest.errors import FieldError, NotFoundError
from digest.subscribers.model import Status
from digest.web.sendgrid_events import parse_events
from tests.servers.smtp import SmtpServer, running_smtp
from tests.test_send import ROOT, approved_edition, smtp_app, subscribe


def _events(app: App, edition: Edition, *events: tuple[str, str, str]) -> int:
    """Post (kind, address, reason) events as SendGrid's webhook body carries them, with the
    custom_args our messages carry."""
    assert edition.id is not None
    ids = {o.email: o.delivery_id for o in app.store.deliveries.outcomes(edition.id)}
    people = {s.email: s.id for s in app.store.subscribers.iterate(1)}
    body = [
        {
            "event": kind,
            "email": address,
            "timestamp": int(datetime.now(UTC).timestamp()),
            "sg_event_id": f"{kind}-{address}",
            "reason": reason,
            "edition_id": str(edition.id),
            "delivery_id": str(ids[address]),
            "subscriber_id": str(people[address]),
        }
        for kind, address, reason in events
    ]
    return app.provider_events(parse_events(json.dumps(body).encode()))


def _sent_with_failures(
    server: SmtpServer, database_url: str, tmp_path: Path
) -> tuple[App, Edition]:
    app = smtp_app(server, database_url, tmp_path, smtp_security="none")
    edition = approved_edition(app)
    subscribe(app, 5)
    server.state.refuse.add("reader1@example.org")
    server.state.defer.add("reader2@example.org")
    app.send(edition, via="smtp")
    return app, app.store.get_edition(edition.id or 0)


def test_the_report_counts_the_ledger_and_the_providers_events(
    database_url: str, tmp_path: Path
) -> None:
    with running_smtp(tmp_path) as server:
        app, edition = _sent_with_failures(server, database_url, tmp_path)
    before = app.delivery_report(edition).counts()
    assert (before["sent"], before["failed"], before["deferred"]) == (3, 1, 1)
    assert before["delivered"] == before["bounced"] == 0

    events = [
        ("delivered", "reader0@example.org", ""),
        ("delivered", "reader3@example.org", ""),
        ("bounce", "reader4@example.org", "550 mailbox full for good"),
        ("spamreport", "reader3@example.org", ""),
        ("unsubscribe", "reader0@example.org", ""),
    ]
    _events(app, edition, *events)
    _events(app, edition, *events)  # SendGrid posts again: nothing counts twice
    report = app.delivery_report(edition)
    counts = report.counts()
    assert counts["sent"] == 2 and counts["failed"] == 2 and counts["deferred"] == 1
    assert counts["delivered"] == 2 and counts["bounced"] == 1
    assert counts["complained"] == 1 and counts["unsubscribed"] == 1
    assert report.total == 5 and not report.settle_unknown
    assert report.next_attempt_at is not None and report.next_attempt_at > datetime.now(UTC)
    why = {o.email: (o.status, o.error) for o in report.failures}
    assert set(why) == {"reader1@example.org", "reader2@example.org", "reader4@example.org"}
    assert why["reader1@example.org"][0] == "failed" and "550" in why["reader1@example.org"][1]
    assert why["reader2@example.org"][0] == "deferred"
    assert why["reader4@example.org"] == ("failed", "bounce: 550 mailbox full for good")
    data = report.as_json()
    assert data["counts"] == counts and len(data["failures"]) == 3
    assert data["next_attempt_at"] == report.next_attempt_at.isoformat(timespec="seconds")


def test_leaving_by_the_emails_own_link_counts_as_unsubscribed(
    database_url: str, tmp_path: Path
) -> None:
    with running_smtp(tmp_path) as server:
        app, edition = _sent_with_failures(server, database_url, tmp_path)
    app.unsubscribe_address("readers", "reader3@example.org")
    app.unsubscribe_address("readers", "reader2@example.org")  # deferred: never got it
    assert app.delivery_report(edition).counts()["unsubscribed"] == 1


def test_unknown_readers_are_reported_with_how_to_settle_them(
    database_url: str, tmp_path: Path
) -> None:
    with running_smtp(tmp_path) as server:
        app = smtp_app(server, database_url, tmp_path, smtp_security="none")
        edition = approved_edition(app)
        subscribe(app, 4)
        server.state.vanish_after = 2  # the third message: taken, then the link is lost
        app.send(edition, via="smtp")
    report = app.delivery_report(app.store.get_edition(edition.id or 0))
    assert report.counts()["unknown"] == 1
    assert f"digest send {edition.id} --resend-unknown" in report.settle_unknown
    assert [o.status for o in report.failures] == ["unknown"]
    app.resend_unknown(edition)
    after = app.delivery_report(app.store.get_edition(edition.id or 0)).counts()
    assert after["unknown"] == 0 and after["pending"] == 1


def test_the_csv_has_every_reader_and_no_formula(sqlite_url: str, tmp_path: Path) -> None:
    with running_smtp(tmp_path) as server:
        app, edition = _sent_with_failures(server, sqlite_url, tmp_path)
    _events(app, edition, ("bounce", "reader4@example.org", '=HYPERLINK("http://x")'))
    out = io.StringIO()
    assert write_csv(app.delivery_outcomes(edition), out) == 5
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [row["email"] for row in rows] == [f"reader{n}@example.org" for n in range(5)]
    assert rows[4]["reason"] == 'bounce: =HYPERLINK("http://x")'  # not at the cell's start
    assert rows[1]["status"] == "failed" and rows[2]["next_attempt_at"]
    assert rows[0]["reason"] == "" and rows[0]["sent_at"]


def test_digest_report_json(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running_smtp(tmp_path) as server:
        _, edition = _sent_with_failures(server, sqlite_url, tmp_path)
        config = ROOT / "digest.toml"  # another newsletter: the report needs none
        for key in [k for k in os.environ if k.startswith("DIGEST_")]:
            monkeypatch.delenv(key)
        monkeypatch.setenv("DIGEST_DATABASE_URL", sqlite_url)
        result = CliRunner().invoke(cli, ["--config", str(config), "report", "latest", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["edition"] == edition.id and data["readers"] == 5
    assert data["counts"]["failed"] == 1 and data["counts"]["deferred"] == 1
    assert data["counts"]["sent"] == 3 and data["next_attempt_at"]
    failed = [f for f in data["failures"] if f["status"] == "failed"]
    assert failed[0]["email"] == "reader1@example.org" and "550" in failed[0]["reason"]
    text = CliRunner().invoke(cli, ["--config", str(config), "report", str(edition.id)])
    assert "1 failed" in text.output and "next attempt" in text.output


def test_subscriber_lists_search_add_unsubscribe_erase_and_import(
    database_url: str, tmp_path: Path
) -> None:
    from tests.test_send import make_app

    app = make_app(database_url, tmp_path)
    assert app.subscriber_lists()["readers"]["subscribed"] == 0  # named by the newsletter
    subscribe(app, 120)
    app.add_subscriber("readers", "Olha@Example.org", "Olha Kovalenko")
    page, total = app.find_subscribers("readers", "", page=3, per_page=50)
    assert total == 121 and len(page) == 21
    found, total = app.find_subscribers("readers", "KOVAL")
    assert total == 1 and found[0].email == "Olha@example.org"
    found, total = app.find_subscribers("readers", "reader1")  # reader1, reader10…, reader100…
    assert total == 31
    assert app.find_subscribers("readers", "100%")[1] == 0  # % is a character, not a wildcard
    with pytest.raises(FieldError, match="email"):
        app.add_subscriber("readers", "not-an-address")
    with pytest.raises(NotFoundError):
        app.find_subscribers("readrs")
    assert app.unsubscribe_address("readers", "reader5@example.org").status == Status.UNSUBSCRIBED
    _, created = app.add_subscriber("readers", "reader5@example.org")
    assert not created and app.subscriber_lists()["readers"]["unsubscribed"] == 1
    assert app.erase_subscriber("olha@example.org", "readers") == 1
    assert app.find_subscribers("readers", "olha")[1] == 0

    upload = "email,name\nnew@example.org,New\nbroken,B\n\nreader5@example.org,Back\n,Nobody\n"
    report, rejects = app.import_subscribers("readers", "../../people.csv", upload.encode())
    assert (report.rows, report.new, report.rejected) == (4, 1, 2)
    rows = list(csv.reader(io.StringIO(rejects.decode())))
    assert rows[0][:2] == ["line", "reason"]
    assert [row[0] for row in rows[1:]] == ["3", "6"]
    assert "broken" in rows[1][1]
    assert app.find_subscribers("readers", "reader5@")[0][0].status == Status.UNSUBSCRIBED


def test_list_posts_need_the_csrf_token_and_erase_asks_first(
    sqlite_url: str, tmp_path: Path
) -> None:
    import httpx

    from tests.web_support import csrf_of, draft_edition, serving, settings_for

    settings = settings_for(sqlite_url, tmp_path)
    app = App(settings)
    draft_edition(app, readers=2)
    list_id = app.store.subscribers.list_id("readers")
    with serving(settings) as base, httpx.Client(base_url=base, timeout=60) as client:
        page = client.get("/lists/readers")
        assert page.status_code == 200 and "r1@example.org" in page.text
        token = csrf_of(page.text)
        for path, form in [
            ("/lists/readers/add", {"email": "x@example.org"}),
            ("/lists/readers/unsubscribe", {"email": "r0@example.org"}),
            ("/lists/readers/erase", {"email": "r0@example.org", "confirmed": "yes"}),
        ]:
            assert client.post(path, data=form).status_code == 403
            assert client.post(path, data={**form, "csrf": "forged"}).status_code == 403
        refused = client.post(
            "/lists/import", data={"list": "readers"}, files={"file": ("a.csv", b"email\n")}
        )
        assert refused.status_code == 403
        asked = client.post("/lists/readers/erase", data={"email": "r1@example.org", "csrf": token})
        assert asked.status_code == 200 and "Erase for good" in asked.text
        assert app.store.subscribers.find(list_id, "r1@example.org") is not None
        bad = client.post(
            "/lists/readers/add", data={"email": "no-at-sign", "csrf": token}, follow_redirects=True
        )
        assert "email: " in bad.text and app.find_subscribers("readers", "no-at-sign")[1] == 0
        headerless = client.post(
            "/lists/import",
            data={"list": "readers", "csrf": token},
            files={"file": ("people.csv", b"name\nAna\n")},
            follow_redirects=True,
        )
        assert "people.csv:1: the header has no &#39;email&#39; column" in headerless.text
        assert client.get("/lists/nosuch").status_code == 404
        assert client.get("/editions/999/report").status_code == 404
        assert client.get("/editions/999/report.csv").status_code == 404
    app.close()
