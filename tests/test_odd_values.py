"""Odd values never stop an edition: line breaks in every field that reaches a header, commas
and quotes in names, internationalised addresses, NUL bytes, and a reader whose message cannot
be built. Sent to a real SMTP server (aiosmtpd), the outbox and the local SendGrid server; the
edition reaches everyone else, and the odd one is delivered correctly or recorded with why."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from digest.app import App
from digest.cli import app as cli
from digest.edition import EditionStatus
from digest.send import Batch
from digest.send.sendgrid_payload import build_payload, encoded, sendable
from digest.store.subscribers import NewSubscriber
from digest.store.tables import DeliveryRow, SubscriberRow
from tests.servers.sendgrid import running_sendgrid
from tests.servers.smtp import running_smtp
from tests.test_send import make_app

ODD_TITLE = "Sanctions widen\r\nBcc: victim@example.net\r\n\r\n<b>injected</b>"


def _article_with_odd_title(tmp_path: Path) -> Path:
    record = {
        "title": ODD_TITLE,
        "url": "https://news.example.org/sanctions-widen",
        "source": "Example\nNews",
        "author": "A. Writer\r\nX-Evil: 1",
        "published": "2026-11-23T08:00:00Z",
        "text": (
            "The European Union agreed a new package of sanctions on Monday. "
            "Ministers said the measures target shipping and banks. "
            "The package also names eleven companies accused of supplying drone parts. "
            "Officials expect the rules to take effect within a week."
        ),
    }
    path = tmp_path / "odd.jsonl"
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    return path


def _readers(app: App, names: dict[str, str]) -> int:
    list_id = app.store.subscribers.ensure_list("readers")
    app.store.subscribers.upsert(
        list_id, [NewSubscriber(email=email, name=name) for email, name in names.items()]
    )
    return list_id


def _force_name(app: App, email: str, name: str) -> None:
    """A name stored before intake cleaned names (an old database): sending must cope."""
    with app.store.engine.begin() as connection:
        connection.execute(
            update(SubscriberRow).where(SubscriberRow.email == email).values(name=name)
        )


READERS = {
    "plain@example.org": "Plain Reader",
    "comma@example.org": "Smith, John",
    "quote@example.org": 'Ann "The Reader" Lee',
    "idn-domain@приклад.укр": "Domain Reader",
    "андрій@приклад.укр": "Андрій",
}


def _edition(app: App, tmp_path: Path) -> int:
    report = app.add([str(_article_with_odd_title(tmp_path))])
    assert not report.errors
    app.add([str(Path(__file__).parents[1] / "examples/articles/sanctions.jsonl")])
    edition = app.build(app.settings.newsletter("brief"), date(2026, 11, 24))
    app.approve(edition)
    assert edition.id is not None
    return edition.id


def test_smtp_edition_reaches_everyone_despite_odd_values(
    database_url: str, tmp_path: Path
) -> None:
    with running_smtp(tmp_path) as server:
        app = make_app(
            database_url,
            tmp_path,
            **server.settings(),
        )
        edition_id = _edition(app, tmp_path)
        _readers(app, READERS)
        _force_name(app, "plain@example.org", "Plain\r\nBcc: someone@example.net\x07\u2028Reader")
        report = app.send(app.store.get_edition(edition_id), via="smtp")
        received = {r.rcpt_tos[0]: r for r in server.state.received}
    assert report.finished and report.failed == 0, report.summary()
    assert set(received) == {
        "plain@example.org",
        "comma@example.org",
        "quote@example.org",
        "idn-domain@xn--80aikifvh.xn--j1amh",  # the domain in its ASCII form
        "андрій@xn--80aikifvh.xn--j1amh",  # the local part over SMTPUTF8
    }
    for got in received.values():
        assert got.message["Bcc"] is None and "\n" not in got.message["Subject"]
        assert len(got.rcpt_tos) == 1
    plain = received["plain@example.org"].message["To"].addresses[0]
    assert plain.display_name == "Plain Bcc: someone@example.net Reader"
    comma = received["comma@example.org"].message["To"].addresses
    assert [(a.display_name, a.addr_spec) for a in comma] == [("Smith, John", "comma@example.org")]
    quote = received["quote@example.org"].message["To"].addresses[0]
    assert quote.display_name == 'Ann "The Reader" Lee'
    andriy = received["андрій@xn--80aikifvh.xn--j1amh"].message["To"].addresses[0]
    assert andriy.username == "андрій" and andriy.display_name == "Андрій"
    assert app.store.get_edition(edition_id).status == EditionStatus.SENT
    app.close()


def test_smtp_server_without_smtputf8_fails_only_that_reader(
    database_url: str, tmp_path: Path
) -> None:
    with running_smtp(tmp_path, smtputf8=False) as server:
        app = make_app(
            database_url,
            tmp_path,
            **server.settings(),
        )
        edition_id = _edition(app, tmp_path)
        _readers(app, READERS)
        report = app.send(app.store.get_edition(edition_id), via="smtp")
        taken = {r.rcpt_tos[0] for r in server.state.received}
    assert len(taken) == 4 and "андрій@xn--80aikifvh.xn--j1amh" not in taken
    assert report.finished and report.failed == 1
    with app.store.engine.begin() as connection:
        errors = [e for e in connection.execute(select(DeliveryRow.error)).scalars() if e]
    assert len(errors) == 1 and "does not offer SMTPUTF8" in errors[0]
    assert app.store.get_edition(edition_id).status == EditionStatus.SENT
    app.close()


def test_outbox_writes_every_odd_reader_and_records_an_unbuildable_one(
    database_url: str, tmp_path: Path
) -> None:
    app = make_app(database_url, tmp_path)
    edition_id = _edition(app, tmp_path)
    _readers(app, READERS)
    with app.store.engine.begin() as connection:  # an address no message can carry
        connection.execute(
            update(SubscriberRow)
            .where(SubscriberRow.email == "quote@example.org")
            .values(email="not an address")
        )
    report = app.send(app.store.get_edition(edition_id))
    files = list((tmp_path / "outbox").glob("brief/edition-*/*.eml"))
    assert len(files) == 4 and all("@" not in f.name for f in files)
    assert report.finished and report.failed == 1
    failed = app.store.deliveries.counts(edition_id)
    assert failed["failed"] == 1 and failed["sent"] == 4
    assert app.store.get_edition(edition_id).status == EditionStatus.SENT
    app.close()


def test_sendgrid_gets_quoted_names_ascii_domains_and_refuses_non_ascii_local_parts(
    database_url: str, tmp_path: Path
) -> None:
    with running_sendgrid() as (host, state):
        app = make_app(database_url, tmp_path, sendgrid_host=host, sendgrid_api_key=state.api_key)
        edition_id = _edition(app, tmp_path)
        _readers(app, READERS)
        report = app.send(app.store.get_edition(edition_id), via="sendgrid")
    assert report.finished and report.failed == 1, report.summary()
    (body,) = state.bodies
    to = {p["to"][0]["email"]: p["to"][0].get("name") for p in body["personalizations"]}
    assert to == {
        "plain@example.org": "Plain Reader",
        "comma@example.org": '"Smith, John"',
        "quote@example.org": 'Ann "The Reader" Lee',
        "idn-domain@xn--80aikifvh.xn--j1amh": "Domain Reader",
    }
    assert "\n" not in body["subject"] and "\r" not in body["subject"]
    app.close()


def test_sendgrid_payload_encodes_a_non_ascii_list_id(tmp_path: Path) -> None:
    from digest.render import RenderedEmail
    from digest.send import Batch, Recipient
    from tests.conftest import make_newsletter

    newsletter = make_newsletter(title="Щоденний огляд", lists=["readers"])
    email = RenderedEmail(subject="Тема", preheader="", html="<p>x</p>", text="x", mjml="")
    batch = Batch(
        edition_id=1,
        newsletter=newsletter,
        email=email,
        recipients=[Recipient(1, 1, "a@example.org", "A; B", "https://x.example/u/t")],
    )
    kept, refused = sendable(batch)
    payload = build_payload(kept)
    assert not refused
    assert payload["headers"]["List-Id"].startswith("=?utf-8?")
    assert payload["headers"]["List-Id"].endswith(f"<{newsletter.name}.brief.example.org>")
    assert payload["personalizations"][0]["to"][0]["name"] == '"A; B"'


def test_sendgrid_body_is_the_payload_as_utf8_json_with_its_content_type(
    database_url: str, tmp_path: Path
) -> None:
    """The body is encoded ahead (orjson) and posted as it is: the same JSON document the
    payload is, non-ASCII text as UTF-8, with the Content-Type the library's own post sets."""
    with running_sendgrid() as (host, state):
        app = make_app(database_url, tmp_path, sendgrid_host=host, sendgrid_api_key=state.api_key)
        edition_id = _edition(app, tmp_path)
        _readers(app, {"plain@example.org": "Андрій Шевченко", "quote@example.org": 'Ann "A" B'})
        report = app.send(app.store.get_edition(edition_id), via="sendgrid")
        assert report.sent == 2
        assert state.content_types == ["application/json"]
        names = {
            p["to"][0]["email"]: p["to"][0]["name"] for p in state.bodies[0]["personalizations"]
        }
        assert names == {"plain@example.org": "Андрій Шевченко", "quote@example.org": 'Ann "A" B'}
        app.close()


def test_sendgrid_body_encoding_matches_json_and_keeps_a_lone_surrogate_escaped() -> None:
    from digest.render import RenderedEmail
    from digest.send import Recipient
    from tests.conftest import make_newsletter

    newsletter = make_newsletter(title="Щоденний огляд", lists=["readers"])
    email = RenderedEmail(subject="Тема", preheader="", html="<p>я</p>", text="я", mjml="")
    readers = [
        Recipient(1, 1, "a@example.org", 'Олена "О" ✓', "https://x.example/u/t"),
        Recipient(2, 2, "b@example.org", "", "https://x.example/u/s"),
    ]
    payload = build_payload(Batch(1, newsletter, email, readers))
    body = encoded(payload)
    assert json.loads(body) == payload and "Олена".encode() in body
    # No UTF-8 text holds a lone surrogate; were one to reach the payload, it is written as
    # json.dumps always wrote it (escaped), not refused.
    odd = Recipient(3, 3, "c@example.org", "bad \ud800 name", "https://x.example/u/r")
    payload = build_payload(Batch(1, newsletter, email, [odd]))
    assert encoded(payload) == json.dumps(payload).encode()


def test_deferrals_end_after_the_configured_attempts(database_url: str, tmp_path: Path) -> None:
    with running_smtp(tmp_path) as server:
        server.state.defer.add("comma@example.org")
        app = make_app(
            database_url,
            tmp_path,
            **server.settings(),
            deferral_max_attempts=3,
            deferral_first_delay=timedelta(0),
        )
        edition_id = _edition(app, tmp_path)
        _readers(app, {"plain@example.org": "P", "comma@example.org": "C"})
        summaries = []
        for _ in range(3):
            report = app.send(app.store.get_edition(edition_id), via="smtp")
            summaries.append(report.summary())
    assert not summaries[0].endswith("complete") and "1 deferred" in summaries[0]
    assert "waiting" in summaries[1] or "still to send" in summaries[1]
    assert summaries[2].endswith("complete"), summaries
    counts = app.store.deliveries.counts(edition_id)
    assert counts["sent"] == 1 and counts["failed"] == 1 and counts["deferred"] == 0
    assert app.store.get_edition(edition_id).status == EditionStatus.SENT
    app.close()


def test_deferred_reader_waits_for_its_next_attempt(database_url: str, tmp_path: Path) -> None:
    with running_smtp(tmp_path) as server:
        server.state.defer.add("comma@example.org")
        app = make_app(
            database_url,
            tmp_path,
            **server.settings(),
        )
        edition_id = _edition(app, tmp_path)
        _readers(app, {"plain@example.org": "P", "comma@example.org": "C"})
        first = app.send(app.store.get_edition(edition_id), via="smtp")
        again = app.send(app.store.get_edition(edition_id), via="smtp")
        attempts = [r.rcpt_tos for r in server.state.received]
    assert first.waiting and again.waiting and "next attempt" in again.summary()
    assert attempts == [["plain@example.org"]]  # not retried before its time
    assert app.store.get_edition(edition_id).status == EditionStatus.SENDING
    app.close()


def test_cli_add_and_send_with_odd_name_through_the_real_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = Path(__file__).parents[1]
    (tmp_path / "digest.toml").write_text(
        (root / "digest.toml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DIGEST_SECRET_KEY", "test-secret-0123456789")
    runner = CliRunner()
    added = runner.invoke(
        cli,
        [
            "subscribers",
            "add",
            "odd@example.org",
            "--list",
            "readers",
            "--name",
            "Odd\r\nBcc: x@y.z",
        ],
    )
    assert added.exit_code == 0, added.output
    listed = runner.invoke(cli, ["subscribers", "list", "--list", "readers", "--json"])
    assert "Odd Bcc: x@y.z" in listed.output and "\\r" not in listed.output


def test_erasing_a_subscriber_leaves_no_trace_in_the_ledger_or_the_outbox(
    database_url: str, tmp_path: Path
) -> None:
    from sqlalchemy import select

    from digest.notify import send_notice
    from digest.store.tables import DeliveryRow

    app = make_app(database_url, tmp_path)
    edition_id = _edition(app, tmp_path)
    _readers(app, {"plain@example.org": "P", "comma@example.org": "C"})
    app.send(app.store.get_edition(edition_id))
    newsletter = app.settings.newsletter("brief")
    send_notice(app.sender(newsletter), newsletter, ["comma@example.org"], "Confirm", "Confirm")
    with app.store.engine.begin() as connection:  # a server's reply that quotes the address
        connection.execute(
            update(DeliveryRow).values(error="550 5.1.1 <comma@example.org>: User unknown")
        )
    assert len(list((tmp_path / "outbox").rglob("*.eml"))) == 3

    assert app.erase_subscriber("comma@example.org") == 1
    with app.store.engine.begin() as connection:
        errors = list(connection.execute(select(DeliveryRow.error)).scalars())
    assert len(errors) == 2 and errors.count(None) == 1  # only the erased reader's is gone
    left = [p.read_bytes() for p in (tmp_path / "outbox").rglob("*.eml")]
    assert len(left) == 1 and b"plain@example.org" in left[0]
    app.close()


def test_a_database_error_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    import sqlite3
    import subprocess
    import sys

    root = Path(__file__).parents[1]
    (tmp_path / "digest.toml").write_text(
        (root / "digest.toml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    env = {"PATH": "/usr/bin:/bin", "DIGEST_SECRET_KEY": "test-secret-0123456789"}
    digest = str(Path(sys.executable).parent / "digest")
    first = subprocess.run([digest, "articles", "list"], cwd=tmp_path, env=env)
    assert first.returncode == 0
    with sqlite3.connect(tmp_path / "digest.db") as connection:  # damaged behind our back
        connection.execute("DROP TABLE edition_items")
        connection.execute("DROP TABLE articles")
    result = subprocess.run(
        [digest, "articles", "list"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: database:"), result.stderr
    assert "no such table" in lines[0] and "SELECT" not in lines[0]


def test_outbox_files_keep_rfc_line_limits_and_erasure_takes_any_domain_form(
    database_url: str, tmp_path: Path
) -> None:
    import os
    import time

    app = make_app(database_url, tmp_path)
    edition_id = _edition(app, tmp_path)
    _readers(app, READERS)
    app.send(app.store.get_edition(edition_id))
    [folder] = (tmp_path / "outbox").glob("brief/edition-*")
    for path in folder.glob("*.eml"):
        head, body = path.read_bytes().split(b"\r\n\r\n", 1)
        assert max(len(line) for line in body.split(b"\r\n")) <= 78  # RFC 2045: QP at 76 + "="
        assert b"\r\nList-Unsubscribe: <https://" in head  # one line, never folded
    # A file half-written by a killed process, holding a reader's message.
    stale = folder / ".abc123.tmp"
    stale.write_bytes(b"To: Domain Reader <idn-domain@xn--80aikifvh.xn--j1amh>\r\n")
    # Erasure by the form a reader sees in the To header (the ASCII form of the domain).
    assert app.erase_subscriber("IDN-domain@xn--80aikifvh.xn--j1amh") == 1
    assert not stale.exists() and len(list(folder.glob("*.eml"))) == 4
    # Stale half-written files are swept when the edition is written again.
    other = folder / ".def456.tmp"
    other.write_bytes(b"partial")
    old = time.time() - 3600
    os.utime(other, (old, old))
    from digest.send.outbox import OutboxSender

    newsletter = app.settings.newsletter("brief")
    OutboxSender(tmp_path / "outbox").send(
        Batch(edition_id, newsletter, app.render(app.store.get_edition(edition_id)), [])
    )
    assert not other.exists()
    app.close()
