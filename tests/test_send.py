"""Sending an edition: SendGrid (a local server speaking its wire format, driven by the real
library), SMTP (aiosmtpd) and the outbox; exactly once through faults and reruns."""

from __future__ import annotations

import email
from collections.abc import Iterator
from datetime import date, timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from digest.app import App
from digest.config import Settings
from digest.edition import Edition, EditionStatus
from digest.errors import DigestError
from digest.send import BatchRejected, OutcomeUnknown
from digest.send.campaign import AlreadySent
from digest.store.subscribers import NewSubscriber
from digest.subscribers.model import Status
from digest.subscribers.tokens import InvalidToken
from tests.conftest import make_newsletter
from tests.servers.sendgrid import Fault, SendGridState, running_sendgrid
from tests.servers.smtp import SmtpServer, running_smtp

ROOT = Path(__file__).resolve().parent.parent
SECRET = "test-secret-0123456789"


@pytest.fixture
def sendgrid() -> Iterator[tuple[str, SendGridState]]:
    with running_sendgrid() as server:
        yield server


def make_app(database_url: str, tmp_path: Path, **overrides: object) -> App:
    newsletter = make_newsletter(lists=["readers"])
    values: dict[str, object] = {
        "database_url": database_url,
        "newsletters": {"brief": newsletter},
        "secret_key": SECRET,
        "outbox_dir": tmp_path / "outbox",
        "send_retry_delay": 0.01,
        # First sends to example.org, which has no DNS: the doctor's own tests check it.
        "first_send_check": False,
    }
    values.update(overrides)
    return App(Settings.model_validate(values))


def smtp_app(server: SmtpServer, database_url: str, tmp_path: Path, **overrides: object) -> App:
    """An app whose SMTP sender points at the test server (and trusts its certificate)."""
    return make_app(
        database_url,
        tmp_path,
        smtp_host=server.host,
        smtp_port=server.port,
        smtp_ca_file=server.ca_file,
        **overrides,
    )


def approved_edition(app: App) -> Edition:
    app.add([str(ROOT / "examples/articles/sanctions.jsonl")])
    edition = app.build(app.settings.newsletter("brief"), date(2026, 11, 24))
    return app.approve(edition)


def subscribe(app: App, count: int, list_name: str = "readers", start: int = 0) -> int:
    list_id = app.store.subscribers.ensure_list(list_name)
    app.store.subscribers.upsert(
        list_id,
        [
            NewSubscriber(email=f"reader{n}@example.org", name=f"Reader {n}")
            for n in range(start, start + count)
        ],
    )
    return list_id


def test_sendgrid_2500_in_three_valid_requests_exactly_once(
    database_url: str, tmp_path: Path, sendgrid: tuple[str, SendGridState]
) -> None:
    host, state = sendgrid
    app = make_app(database_url, tmp_path, sendgrid_host=host, sendgrid_api_key=state.api_key)
    edition = approved_edition(app)
    list_id = subscribe(app, 2500)
    # Two who left and one who bounced must get nothing.
    for n, status in (
        (3, Status.UNSUBSCRIBED),
        (1500, Status.UNSUBSCRIBED),
        (2499, Status.BOUNCED),
    ):
        found = app.store.subscribers.find(list_id, f"reader{n}@example.org")
        assert found is not None
        app.store.subscribers.set_status(found.id, status)

    report = app.send(edition, via="sendgrid")
    assert report.sent == 2497 and report.batches == 3 and report.finished
    assert state.statuses == [202, 202, 202]
    assert [len(b["personalizations"]) for b in state.bodies] == [1000, 1000, 497]
    assert len(state.recipients) == 2497 and set(state.recipients.values()) == {1}
    for gone in ("reader3@example.org", "reader1500@example.org", "reader2499@example.org"):
        assert gone not in state.recipients
    assert app.store.get_edition(edition.id or 0).status == EditionStatus.SENT

    body = state.bodies[0]
    assert body["categories"] == ["brief"] and body["subject"] == edition.subject
    assert "%%unsubscribe_url%%" in body["content"][1]["value"]
    first = body["personalizations"][0]
    assert first["to"] == [{"email": "reader0@example.org", "name": "Reader 0"}]
    assert first["substitutions"]["%%name%%"] == "Reader 0"
    url = first["substitutions"]["%%unsubscribe_url%%"]
    assert url.startswith("https://brief.example.org/u/")
    # Per reader: the unsubscribe link; for all readers of the request: one-click and List-Id.
    assert first["headers"] == {"List-Unsubscribe": f"<{url}>"}
    assert body["headers"] == {
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "List-Id": "The Test Brief <brief.brief.example.org>",
    }
    assert set(first["custom_args"]) == {"edition_id", "subscriber_id", "delivery_id"}
    assert all(isinstance(v, str) for v in first["custom_args"].values())
    # SendGrid's own open pixel, link wrapping and footer stay off, whatever the account says.
    tracking = body["tracking_settings"]
    assert tracking["open_tracking"] == {"enable": False}
    assert tracking["click_tracking"]["enable"] is False
    assert tracking["subscription_tracking"] == {"enable": False}

    # A second run finds nothing to do and sends nothing.
    with pytest.raises(AlreadySent):
        app.send(app.store.get_edition(edition.id or 0), via="sendgrid")
    assert len(state.statuses) == 3


def test_the_unsubscribe_link_works_and_is_honoured_at_once(
    sqlite_url: str, tmp_path: Path, sendgrid: tuple[str, SendGridState]
) -> None:
    host, state = sendgrid
    app = make_app(sqlite_url, tmp_path, sendgrid_host=host, sendgrid_api_key=state.api_key)
    edition = approved_edition(app)
    subscribe(app, 3)
    app.send(edition, via="sendgrid", limit=1)
    token = state.bodies[0]["personalizations"][0]["substitutions"]["%%unsubscribe_url%%"]
    token = token.rsplit("/", 1)[1]
    with pytest.raises(InvalidToken):
        app.unsubscribe(token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    assert app.unsubscribe(token).status == Status.UNSUBSCRIBED
    assert app.unsubscribe(token).status == Status.UNSUBSCRIBED  # idempotent
    # Already queued for this edition, but no longer subscribed: skipped, not sent.
    report = app.send(app.store.get_edition(edition.id or 0), via="sendgrid")
    assert report.sent == 2 and report.skipped == 0
    assert sorted(state.recipients) == [
        "reader0@example.org",
        "reader1@example.org",
        "reader2@example.org",
    ]


def test_faults_429_and_500_are_retried_and_deliver_once(
    database_url: str, tmp_path: Path, sendgrid: tuple[str, SendGridState]
) -> None:
    host, state = sendgrid
    app = make_app(database_url, tmp_path, sendgrid_host=host, sendgrid_api_key=state.api_key)
    edition = approved_edition(app)
    subscribe(app, 1500)
    state.faults.extend([Fault("429", seconds=1), Fault("500"), Fault("500")])
    report = app.send(edition, via="sendgrid")
    assert report.sent == 1500
    assert state.statuses == [429, 500, 500, 202, 202]
    assert len(state.recipients) == 1500 and set(state.recipients.values()) == {1}


def test_400_stops_with_sendgrids_message_and_a_rerun_completes(
    database_url: str, tmp_path: Path, sendgrid: tuple[str, SendGridState]
) -> None:
    host, state = sendgrid
    app = make_app(database_url, tmp_path, sendgrid_host=host, sendgrid_api_key=state.api_key)
    edition = approved_edition(app)
    subscribe(app, 1200)
    app.send(edition, via="sendgrid", limit=1000)
    state.faults.append(
        Fault("400", message="The from email does not contain a valid address.", field="from.email")
    )
    with pytest.raises(
        BatchRejected,
        match=r"rejected the request \(400\): The from email does "
        r"not contain a valid address. \(field from.email\)",
    ):
        app.send(app.store.get_edition(edition.id or 0), via="sendgrid")
    assert app.store.deliveries.counts(edition.id or 0)["pending"] == 200
    report = app.send(app.store.get_edition(edition.id or 0), via="sendgrid")
    assert report.sent == 200 and report.finished
    assert len(state.recipients) == 1200 and set(state.recipients.values()) == {1}


def test_wrong_key_stops_at_once(
    sqlite_url: str, tmp_path: Path, sendgrid: tuple[str, SendGridState]
) -> None:
    host, state = sendgrid
    app = make_app(sqlite_url, tmp_path, sendgrid_host=host, sendgrid_api_key="SG.wrong")
    edition = approved_edition(app)
    subscribe(app, 10)
    with pytest.raises(BatchRejected, match=r"refused the API key \(401\).*SENDGRID_API_KEY"):
        app.send(edition, via="sendgrid")
    assert state.statuses == [401] and not state.recipients
    assert app.store.deliveries.counts(edition.id or 0)["pending"] == 10


@pytest.mark.parametrize("policy", ["skip", "resend"])
def test_dropped_connection_is_an_unknown_batch_settled_by_policy(
    sqlite_url: str, tmp_path: Path, sendgrid: tuple[str, SendGridState], policy: str
) -> None:
    host, state = sendgrid
    app = make_app(
        sqlite_url,
        tmp_path,
        sendgrid_host=host,
        sendgrid_api_key=state.api_key,
        unknown_batch_policy=policy,
        unknown_settle_wait=timedelta(0),  # no events will come: the policy decides at once
    )
    edition = approved_edition(app)
    subscribe(app, 1500)
    app.send(edition, via="sendgrid", limit=1000)
    state.faults.append(Fault("drop"))
    with pytest.raises(OutcomeUnknown, match=r"connection lost|failed after it was sent"):
        app.send(app.store.get_edition(edition.id or 0), via="sendgrid")
    report = app.send(app.store.get_edition(edition.id or 0), via="sendgrid")
    counts = app.store.deliveries.counts(edition.id or 0)
    if policy == "skip":
        assert counts["unknown"] == 500 and report.sent == 0 and len(state.recipients) == 1000
    else:
        assert counts["sent"] == 1500 and report.sent == 500
        assert len(state.recipients) == 1500 and set(state.recipients.values()) == {1}


def test_draft_is_not_sent(sqlite_url: str, tmp_path: Path) -> None:
    app = make_app(sqlite_url, tmp_path)
    app.add([str(ROOT / "examples/articles/sanctions.jsonl")])
    edition = app.build(app.settings.newsletter("brief"), date(2026, 11, 24))
    subscribe(app, 2)
    with pytest.raises(DigestError, match="is draft: approve it first"):
        app.send(edition)


def _parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def _check_message(message: EmailMessage, to: str, name: str) -> None:
    assert message.get_content_type() == "multipart/alternative"
    text, html = message.iter_parts()
    assert text.get_content_type() == "text/plain" and html.get_content_type() == "text/html"
    assert f"Hello {name}," in text.get_content()
    assert "%%" not in text.get_content() and "%%" not in html.get_content()
    assert f"sent to {to}" in html.get_content()
    unsubscribe = message["List-Unsubscribe"]
    assert unsubscribe.startswith("<https://brief.example.org/u/")
    assert unsubscribe.strip("<>") in text.get_content()
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["To"].addresses[0].addr_spec == to
    assert message["From"].addresses[0].addr_spec == "brief@example.org"
    assert message["Message-ID"] and message["Date"]


def test_outbox_writes_one_parsable_file_per_recipient(sqlite_url: str, tmp_path: Path) -> None:
    app = make_app(sqlite_url, tmp_path)
    edition = approved_edition(app)
    subscribe(app, 3)
    report = app.send(edition)
    assert report.sent == 3 and report.provider == "outbox"
    files = sorted((tmp_path / "outbox" / "brief" / f"edition-{edition.id}").glob("*.eml"))
    assert len(files) == 3 and not list(files[0].parent.glob(".*.tmp"))
    for number, path in enumerate(files):
        _check_message(_parse(path.read_bytes()), f"reader{number}@example.org", f"Reader {number}")


def test_smtp_starttls_login_refusal_and_reconnect(sqlite_url: str, tmp_path: Path) -> None:
    with running_smtp(tmp_path, security="starttls", user="digest", password="pw") as server:
        app = smtp_app(
            server,
            sqlite_url,
            tmp_path,
            smtp_security="starttls",
            smtp_username="digest",
            smtp_password="pw",
        )
        edition = approved_edition(app)
        subscribe(app, 5)
        server.state.refuse.add("reader2@example.org")
        server.state.drop_after = 3  # the fourth message gets 421 and a closed connection
        report = app.send(edition, via="smtp")
        assert server.state.dropped == 1
        received = {r.rcpt_tos[0]: r for r in server.state.received}
        assert sorted(received) == [
            "reader0@example.org",
            "reader1@example.org",
            "reader3@example.org",
            "reader4@example.org",
        ]
        assert report.sent == 4 and report.failed == 1
        for address, item in received.items():
            assert item.mail_from == "brief@example.org"
            number = address.removeprefix("reader").split("@")[0]
            _check_message(item.message, address, f"Reader {number}")
        counts = app.store.deliveries.counts(edition.id or 0)
        assert counts["failed"] == 1 and counts["sent"] == 4


def test_smtp_implicit_tls(sqlite_url: str, tmp_path: Path) -> None:
    with running_smtp(tmp_path, security="tls") as server:
        app = smtp_app(server, sqlite_url, tmp_path, smtp_security="tls")
        edition = approved_edition(app)
        subscribe(app, 2)
        assert app.send(edition, via="smtp").sent == 2
        assert len(server.state.received) == 2


def test_smtp_bad_login_is_a_clear_error(sqlite_url: str, tmp_path: Path) -> None:
    with running_smtp(tmp_path, security="starttls", user="digest", password="pw") as server:
        app = smtp_app(server, sqlite_url, tmp_path, smtp_username="digest", smtp_password="wrong")
        edition = approved_edition(app)
        subscribe(app, 2)
        with pytest.raises(BatchRejected, match="login refused"):
            app.send(edition, via="smtp")
        assert app.store.deliveries.counts(edition.id or 0)["pending"] == 2
        assert "wrong" not in str(app.settings.masked())


def test_test_send_records_nothing(sqlite_url: str, tmp_path: Path) -> None:
    with running_smtp(tmp_path) as server:
        app = smtp_app(server, sqlite_url, tmp_path, smtp_security="none")
        edition = approved_edition(app)
        app.test_send(edition, "editor@example.org", via="smtp")
        [received] = server.state.received
        assert received.message["Subject"] == f"[TEST] {edition.subject}"
        assert received.message["X-Digest-Test"] == "yes"
        assert app.store.deliveries.counts(edition.id or 0) == {
            s: 0 for s in ("pending", "sent", "failed", "skipped", "unknown", "deferred")
        }
