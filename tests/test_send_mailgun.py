"""Sending through Mailgun: `digest send` (the real CLI, in its own process) against a local
server speaking Mailgun's Messages API (tests/servers/mailgun.py), which checks every request
and expands each reader's message as Mailgun would. Each reader's message is read back and its
fields asserted; retries, bad requests, a wrong key, a dropped connection and an email too big
for 1000 readers a call; SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import update

from digest.app import App
from digest.config import load_settings
from digest.render import RenderedEmail
from digest.send import Batch, BatchRejected, Recipient
from digest.send.mailgun import MailgunSender
from digest.send.mailgun_payload import MAX_REQUEST_BYTES
from digest.store.subscribers import NewSubscriber
from digest.store.tables import SubscriberRow
from digest.subscribers.tokens import UnsubscribeTokens
from tests.conftest import cli_environment, environment, make_newsletter
from tests.servers.mailgun import Fault, MailgunState, running_mailgun
from tests.test_send import ROOT, SECRET

DIGEST = str(Path(sys.executable).parent / "digest")
CONFIG = """
[mailgun]
domain = "mg.example.org"

[newsletters.brief]
title = "The Test Brief"
theme = "Russia's war in Ukraine and its allies"
from_name = "Test Brief, Kyiv desk"
from_address = "brief@example.org"
reply_to = "editors@example.org"
postal_address = "1 Test Street, Testville"
base_url = "https://brief.example.org"
lists = ["readers"]
sender = "mailgun"
"""
# Readers whose names or addresses are odd; one address Mailgun cannot take.
ODD = {
    "comma@example.org": "Smith, John",
    "quote@example.org": 'Ann "The Reader" Lee',
    "idn-domain@приклад.укр": "Domain Reader",
    "андрій@приклад.укр": "Андрій",
    "marker@example.org": "%recipient.email% and %%email%%",
    "broken@example.org": "Broken Address",
}
HOSTILE_TITLE = "Leak test %recipient.email% in a headline"


def mailgun_env(
    tmp_path: Path, database_url: str, state: MailgunState, host: str, **extra: str
) -> dict[str, str]:
    return cli_environment(
        tmp_path,
        CONFIG,
        database_url,
        SECRET,
        MAILGUN_API_KEY=state.api_key,
        DIGEST_MAILGUN__HOST=host,
        **extra,
    )


def prepare(env: dict[str, str], tmp_path: Path, readers: int, odd: bool = False) -> int:
    """An approved edition and `readers` plain readers (and the odd ones): its id."""
    with environment(env):
        app = App(load_settings())
        sources = [str(ROOT / "examples/articles/sanctions.jsonl")]
        if odd:
            hostile = tmp_path / "hostile.jsonl"
            record = {
                "title": HOSTILE_TITLE,
                "url": "https://news.example.org/leak",
                "source": "Example News",
                "published": "2026-11-23T08:00:00Z",
                "text": "Sanctions on Russia's shadow fleet widen again this week. " * 8,
            }
            hostile.write_text(json.dumps(record) + "\n", encoding="utf-8")
            sources.append(str(hostile))
        app.add(sources)
        edition = app.build(app.settings.newsletter("brief"), date(2026, 11, 24))
        app.approve(edition)
        list_id = app.store.subscribers.ensure_list("readers")
        people = [
            NewSubscriber(email=f"reader{n}@example.org", name=f"Reader {n}")
            for n in range(readers)
        ]
        if odd:
            people += [NewSubscriber(email=e, name=n) for e, n in ODD.items()]
        app.store.subscribers.upsert(list_id, people)
        if odd:
            with app.store.engine.begin() as connection:  # stored before intake checked it
                connection.execute(
                    update(SubscriberRow)
                    .where(SubscriberRow.email == "broken@example.org")
                    .values(email="not an address")
                )
        app.close()
    assert edition.id is not None
    return edition.id


def digest(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DIGEST, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def deliveries(env: dict[str, str], cwd: Path, edition_id: int) -> dict[str, dict[str, object]]:
    done = digest(env, cwd, "deliveries", str(edition_id), "--json")
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    return {str(row["email"]): row for row in rows}


def subscriber_ids(env: dict[str, str]) -> dict[str, int]:
    with environment(env):
        app = App(load_settings())
        list_id = app.store.subscribers.list_id("readers")
        ids = {s.email: s.id for s in app.store.subscribers.iterate(list_id)}
        app.close()
    return ids


def test_each_reader_gets_their_own_message_with_their_fields(
    database_url: str, tmp_path: Path
) -> None:
    readers = 1005  # two calls: 1000, then the rest
    with running_mailgun() as (host, state):
        env = mailgun_env(tmp_path, database_url, state, host)
        edition_id = prepare(env, tmp_path, readers, odd=True)
        done = digest(env, tmp_path, "send", str(edition_id), "--yes", "--now")
        assert done.returncode == 0, done.stderr
        assert "complete" in done.stdout
        ledger = deliveries(env, tmp_path, edition_id)
        ids = subscriber_ids(env)
    taken = readers + len(ODD) - 1
    assert state.statuses == [200, 200] and sorted(state.request_recipients) == [10, 1000]
    assert len(state.messages) == taken and set(state.recipients.values()) == {1}
    tokens = UnsubscribeTokens(SECRET)
    for message in state.messages:
        row = ledger[message.address]
        assert row["status"] == "sent"
        # Our ids came back as user variables: what webhooks will carry.
        assert message.user_variables == {
            "edition_id": str(edition_id),
            "subscriber_id": str(ids[message.address]),
            "delivery_id": str(row["delivery_id"]),
        }
        unsubscribe = message.headers["List-Unsubscribe"]
        assert unsubscribe.startswith("<https://brief.example.org/u/") and unsubscribe[-1] == ">"
        token = unsubscribe[1:-1].rsplit("/", 1)[1]
        assert tokens.read(token).subscriber_id == ids[message.address]
        assert message.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert message.headers["List-Id"] == "The Test Brief <brief.brief.example.org>"
        assert message.headers["Reply-To"] == "editors@example.org"
        assert message.options == {
            "tag": "brief",
            "tracking": "no",
            "tracking-clicks": "no",
            "tracking-opens": "no",
        }
        assert message.sender == '"Test Brief, Kyiv desk" <brief@example.org>'
        assert message.subject and "%recipient" not in message.subject
        for part in (message.text, message.html):
            assert "%%" not in part and "%recipient.unsubscribe" not in part
            assert f"/u/{token}" in part  # the footer's unsubscribe link is the reader's own
    by_address = {m.address: m for m in state.messages}
    plain = by_address["reader7@example.org"]
    assert plain.name == "Reader 7" and "Reader 7" in plain.text and "Reader 7" in plain.html
    assert by_address["comma@example.org"].name == "Smith, John"
    assert by_address["quote@example.org"].name == 'Ann "The Reader" Lee'
    # Internationalised addresses go as stored: Mailgun converts IDN domains and speaks
    # SMTPUTF8 itself.
    assert by_address["андрій@приклад.укр"].name == "Андрій"
    assert "idn-domain@приклад.укр" in by_address
    # Neither a reader's name nor a headline can fill in someone's variables.
    marker = by_address["marker@example.org"]
    assert "%recipient.email% and %\u2060%email%\u2060%" in marker.text
    assert marker.name == "%\u2060recipient.email% and %%email%%"  # in To: inert
    for message in state.messages:
        assert "marker@example.org" not in message.text or message is marker
        assert "Leak test %\u2060recipient.email% in a headline" in message.text
    broken = ledger["not an address"]
    assert broken["status"] == "failed" and "Mailgun cannot take it" in str(broken["error"])


def test_429_and_5xx_are_retried_honouring_retry_after_and_deliver_once(
    database_url: str, tmp_path: Path
) -> None:
    with running_mailgun(keep_messages=False) as (host, state):
        env = mailgun_env(tmp_path, database_url, state, host)
        edition_id = prepare(env, tmp_path, 1500)
        state.faults.extend([Fault("429", seconds=1), Fault("500"), Fault("503")])
        done = digest(env, tmp_path, "send", str(edition_id), "--yes", "--now")
    assert done.returncode == 0, done.stderr
    assert state.statuses == [429, 500, 503, 200, 200]
    assert len(state.recipients) == 1500 and set(state.recipients.values()) == {1}


def test_batch_size_sets_the_recipients_a_call_and_past_1000_is_refused(
    sqlite_url: str, tmp_path: Path
) -> None:
    with running_mailgun(keep_messages=False) as (host, state):
        env = mailgun_env(tmp_path, sqlite_url, state, host, DIGEST_MAILGUN__BATCH_SIZE="40")
        edition_id = prepare(env, tmp_path, 100)
        done = digest(env, tmp_path, "send", str(edition_id), "--yes", "--now")
        assert done.returncode == 0, done.stderr
        assert "100 sent via mailgun in 3 batches" in done.stdout
        assert state.request_recipients == [40, 40, 20]
        env["DIGEST_MAILGUN__BATCH_SIZE"] = "1001"
        refused = digest(env, tmp_path, "send", str(edition_id), "--yes", "--now")
    assert refused.returncode != 0
    assert "mailgun.batch_size" in refused.stderr and "1000" in refused.stderr


def test_a_bad_request_stops_with_mailguns_message_and_a_rerun_completes(
    database_url: str, tmp_path: Path
) -> None:
    with running_mailgun(keep_messages=False) as (host, state):
        env = mailgun_env(tmp_path, database_url, state, host)
        edition_id = prepare(env, tmp_path, 1200)
        state.faults.append(Fault("none"))  # the first call is taken
        state.faults.append(Fault("400", message="from parameter is not a valid address"))
        done = digest(env, tmp_path, "send", str(edition_id), "--yes", "--now")
        assert done.returncode == 1
        line = done.stderr.strip().splitlines()[-1]
        assert "rejected the request (400): from parameter is not a valid address" in line
        assert len(state.recipients) == 1000
        again = digest(env, tmp_path, "send", str(edition_id), "--yes", "--now")
    assert again.returncode == 0, again.stderr
    assert "complete" in again.stdout
    assert len(state.recipients) == 1200 and set(state.recipients.values()) == {1}


def test_a_wrong_key_stops_at_once(sqlite_url: str, tmp_path: Path) -> None:
    with running_mailgun(keep_messages=False) as (host, state):
        env = mailgun_env(tmp_path, sqlite_url, state, host)
        env["MAILGUN_API_KEY"] = "key-wrong"
        edition_id = prepare(env, tmp_path, 10)
        done = digest(env, tmp_path, "send", str(edition_id), "--yes", "--now")
        ledger = deliveries(env, tmp_path, edition_id)
    assert done.returncode == 1
    assert "Mailgun refused the API key (401): Forbidden" in done.stderr
    assert "MAILGUN_API_KEY" in done.stderr and "key-wrong" not in done.stderr
    assert state.statuses == [401] and not state.recipients
    assert {row["status"] for row in ledger.values()} == {"pending"}


def test_retries_exhausted_stop_the_send_and_a_rerun_completes(
    sqlite_url: str, tmp_path: Path
) -> None:
    with running_mailgun(keep_messages=False) as (host, state):
        env = mailgun_env(tmp_path, sqlite_url, state, host, DIGEST_SEND_MAX_ATTEMPTS="3")
        edition_id = prepare(env, tmp_path, 20)
        state.faults.extend([Fault("500")] * 3)
        done = digest(env, tmp_path, "send", str(edition_id), "--yes", "--now")
        assert done.returncode == 1
        assert "Mailgun still failing after 3 attempts (500: Internal server error)" in done.stderr
        again = digest(env, tmp_path, "send", str(edition_id), "--yes", "--now")
    assert again.returncode == 0, again.stderr
    assert len(state.recipients) == 20 and set(state.recipients.values()) == {1}


@pytest.mark.parametrize("policy", ["skip", "resend"])
def test_a_dropped_connection_is_an_unknown_batch_settled_by_policy(
    sqlite_url: str, tmp_path: Path, policy: str
) -> None:
    with running_mailgun(keep_messages=False) as (host, state):
        env = mailgun_env(
            tmp_path,
            sqlite_url,
            state,
            host,
            DIGEST_UNKNOWN_BATCH_POLICY=policy,
            DIGEST_UNKNOWN_SETTLE_WAIT="PT0S",  # no events will come: the policy decides
        )
        edition_id = prepare(env, tmp_path, 1500)
        state.faults.extend([Fault("none"), Fault("lost")])
        done = digest(env, tmp_path, "send", str(edition_id), "--yes", "--now")
        assert done.returncode == 1
        assert "Mailgun connection lost before an answer" in done.stderr
        again = digest(env, tmp_path, "send", str(edition_id), "--yes", "--now")
        ledger = deliveries(env, tmp_path, edition_id)
    assert again.returncode == 0, again.stderr
    counts = [row["status"] for row in ledger.values()]
    # The server took the call whose answer was lost: every reader has the edition.
    assert len(state.recipients) == 1500
    if policy == "skip":  # never a second copy; the 500 are reported unknown
        assert counts.count("unknown") == 500 and set(state.recipients.values()) == {1}
    else:  # never a miss: the 500 are sent again
        assert counts.count("sent") == 1500
        assert sorted(state.recipients.values()).count(2) == 500


def test_a_connection_dropped_before_the_call_was_taken_is_retried_by_the_next_run(
    sqlite_url: str, tmp_path: Path
) -> None:
    with running_mailgun(keep_messages=False) as (host, state):
        env = mailgun_env(
            tmp_path,
            sqlite_url,
            state,
            host,
            DIGEST_UNKNOWN_BATCH_POLICY="resend",
            DIGEST_UNKNOWN_SETTLE_WAIT="PT0S",  # no events will come
        )
        edition_id = prepare(env, tmp_path, 30)
        state.faults.append(Fault("drop"))
        done = digest(env, tmp_path, "send", str(edition_id), "--yes", "--now")
        assert done.returncode == 1 and "connection lost" in done.stderr
        again = digest(env, tmp_path, "send", str(edition_id), "--yes", "--now")
    assert again.returncode == 0, again.stderr
    assert len(state.recipients) == 30 and set(state.recipients.values()) == {1}


def test_an_email_too_big_for_1000_readers_a_call_is_split_under_25_mb(tmp_path: Path) -> None:
    """A batch whose email leaves room for fewer than 1000 readers' variables under the 25 MB
    limit goes in several calls, each of which the server takes."""
    newsletter = make_newsletter(lists=["readers"])
    # Room for about 300 readers' variables a call.
    html = "<p>" + "x" * (MAX_REQUEST_BYTES - 200 * 1024) + "</p>"
    email = RenderedEmail(subject="Big", preheader="", html=html, text="Big.", mjml="")
    recipients = [
        Recipient(n, n, f"reader{n}@example.org", f"Reader {n}", f"https://b.example.org/u/{n}")
        for n in range(1000)
    ]
    with running_mailgun(keep_messages=False) as (host, state):
        sender = MailgunSender(state.api_key, state.domain, host, retry_delay=0.01)
        batch = Batch(edition_id=1, newsletter=newsletter, email=email, recipients=recipients)
        result = sender.send(batch, sender.prepare(batch))
        sender.close()
    assert not result.failures and not result.unknown
    assert len(state.request_recipients) >= 2 and sum(state.request_recipients) == 1000
    assert set(state.statuses) == {200} and len(state.recipients) == 1000
    whole = RenderedEmail(subject="Huge", preheader="", html="x" * 27_000_000, text="", mjml="")
    with pytest.raises(BatchRejected, match="over Mailgun's 25 MB message limit"):
        sender.prepare(Batch(1, newsletter, whole, recipients[:1]))


def test_config_masks_the_mailgun_keys(sqlite_url: str, tmp_path: Path) -> None:
    with running_mailgun() as (host, state):
        env = mailgun_env(
            tmp_path,
            sqlite_url,
            state,
            host,
            MAILGUN_WEBHOOK_SIGNING_KEY="signing-key-secret",
            DIGEST_MAILGUN__REGION="eu",
        )
        done = digest(env, tmp_path, "config")
    assert done.returncode == 0, done.stderr
    assert state.api_key not in done.stdout and "signing-key-secret" not in done.stdout
    assert "**********" in done.stdout and "mg.example.org" in done.stdout
