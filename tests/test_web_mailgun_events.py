"""Mailgun's webhooks through a running `digest serve` (its own process): events shaped as
Mailgun's published payloads, signed as Mailgun signs them (HMAC-SHA256 with the webhook
signing key over timestamp + token), for mail `digest send` sent through the local Mailgun
server. Bounces and complaints suppress, a temporary failure does not, events settle
deliveries of unknown outcome and count in the send report; forged, stale, replayed and
malformed posts are refused with one line and change nothing. SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from digest.app import App
from digest.config import load_settings
from digest.subscribers.model import Status
from tests.conftest import environment
from tests.servers.mailgun import Fault, running_mailgun
from tests.servers.smtp import free_port
from tests.test_send_mailgun import DIGEST, deliveries, digest, mailgun_env, prepare

SIGNING_KEY = "mailgun-signing-key-0123456789abcdef"


@contextmanager
def digest_serve(env: dict[str, str], cwd: Path) -> Iterator[str]:
    """`digest serve` on a free port of 127.0.0.1, until the block ends: its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [DIGEST, "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert process.poll() is None, process.communicate()[1]
                assert time.monotonic() < deadline, "digest serve did not start"
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.communicate(timeout=20)


def signature(timestamp: int | None = None, token: str | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    token = token or secrets.token_hex(25)  # 50 characters, as Mailgun's
    digest_ = hmac.new(SIGNING_KEY.encode(), (stamp + token).encode(), hashlib.sha256)
    return {"timestamp": stamp, "token": token, "signature": digest_.hexdigest()}


def event_data(
    kind: str, recipient: str, variables: dict[str, str], **extra: Any
) -> dict[str, Any]:
    """One event as Mailgun's webhook payloads show them (fields digest does not read too)."""
    return {
        "event": kind,
        "id": uuid.uuid4().hex[:22],
        "timestamp": time.time(),
        "log-level": "error" if kind == "failed" else "info",
        "recipient": recipient,
        "recipient-domain": recipient.rsplit("@", 1)[-1],
        "flags": {"is-authenticated": True, "is-test-mode": False},
        "envelope": {"sender": "brief@mg.example.org", "transport": "smtp", "targets": recipient},
        "message": {"headers": {"message-id": "20261201.abc@mg.example.org"}, "size": 4000},
        "tags": ["brief"],
        "user-variables": variables,
        **extra,
    }


def failed(severity: str, code: int, message: str) -> dict[str, Any]:
    return {
        "severity": severity,
        "reason": "bounce" if severity == "permanent" else "generic",
        "delivery-status": {
            "attempt-no": 1,
            "code": code,
            "message": message,
            "description": "",
            "tls": True,
        },
    }


def post(client: httpx.Client, sign: dict[str, str], data: dict[str, Any]) -> httpx.Response:
    return client.post("/webhooks/mailgun", json={"signature": sign, "event-data": data})


def test_events_suppress_settle_unknown_deliveries_and_count(
    database_url: str, tmp_path: Path
) -> None:
    with running_mailgun(keep_messages=False) as (host, state):
        env = mailgun_env(
            tmp_path, database_url, state, host, MAILGUN_WEBHOOK_SIGNING_KEY=SIGNING_KEY
        )
        edition_id = prepare(env, tmp_path, 10)
        state.faults.append(Fault("lost"))  # Mailgun took the call; its answer never came
        done = digest(env, tmp_path, "send", str(edition_id), "--yes", "--now")
        assert done.returncode == 1 and "connection lost" in done.stderr
    assert {row["status"] for row in deliveries(env, tmp_path, edition_id).values()} == {"unknown"}
    taken = {address: variables for address, variables, _ in state.taken}
    plan = {
        "reader0@example.org": ("failed", failed("permanent", 550, "5.1.1 No such user")),
        "reader1@example.org": ("complained", {}),
        "reader2@example.org": ("failed", failed("temporary", 421, "4.7.0 Try again later")),
        "reader3@example.org": ("delivered", {}),
        "reader4@example.org": ("accepted", {}),
        "reader5@example.org": ("unsubscribed", {}),
        "reader6@example.org": ("rejected", {"reject": {"reason": "suppressed"}}),
    }
    with digest_serve(env, tmp_path) as base, httpx.Client(base_url=base, timeout=30) as client:
        for address, (kind, extra) in plan.items():
            answer = post(client, signature(), event_data(kind, address, taken[address], **extra))
            assert answer.status_code == 200, answer.text
    ledger = deliveries(env, tmp_path, edition_id)
    with environment(env):
        app = App(load_settings())
        list_id = app.store.subscribers.list_id("readers")
        statuses = {s.email: s.status for s in app.store.subscribers.iterate(list_id)}
        events = app.store.delivery_events.counts(edition_id)
        app.close()
    assert statuses["reader0@example.org"] == Status.BOUNCED
    assert statuses["reader1@example.org"] == Status.COMPLAINED
    assert statuses["reader2@example.org"] == Status.SUBSCRIBED  # a deferral stops nothing
    assert statuses["reader5@example.org"] == Status.UNSUBSCRIBED
    assert statuses["reader6@example.org"] == Status.BOUNCED
    assert statuses["reader3@example.org"] == statuses["reader9@example.org"] == Status.SUBSCRIBED
    assert ledger["reader0@example.org"]["status"] == "failed"
    assert "bounce 550 5.1.1 No such user" in str(ledger["reader0@example.org"]["error"])
    assert ledger["reader6@example.org"]["status"] == "failed"
    for n in (1, 2, 3, 4, 5):  # proof that Mailgun took it: settled as sent
        assert ledger[f"reader{n}@example.org"]["status"] == "sent"
    assert [ledger[f"reader{n}@example.org"]["status"] for n in (7, 8, 9)] == ["unknown"] * 3
    # The report's counts: the bounce and the rejection as bounced; no deferral counts.
    assert events == {"delivered": 1, "bounced": 2, "complained": 1, "unsubscribed": 1}


def test_forged_stale_replayed_and_malformed_posts_change_nothing(
    database_url: str, tmp_path: Path
) -> None:
    with running_mailgun(keep_messages=False) as (host, state):
        env = mailgun_env(
            tmp_path, database_url, state, host, MAILGUN_WEBHOOK_SIGNING_KEY=SIGNING_KEY
        )
        edition_id = prepare(env, tmp_path, 3)
        done = digest(env, tmp_path, "send", str(edition_id), "--yes", "--now")
        assert done.returncode == 0, done.stderr
    address = "reader0@example.org"
    variables = {a: v for a, v, _ in state.taken}[address]
    bounce = event_data("failed", address, variables, **failed("permanent", 550, "no user"))
    with digest_serve(env, tmp_path) as base, httpx.Client(base_url=base, timeout=30) as client:
        forged = {**signature(), "signature": "0" * 64}
        assert _refused(post(client, forged, bounce), 403, "bad signature")
        other_key = hmac.new(b"another key", b"x", hashlib.sha256).hexdigest()
        assert _refused(post(client, {**signature(), "signature": other_key}, bounce), 403)
        stale = signature(timestamp=int(time.time()) - 3600)
        assert _refused(post(client, stale, bounce), 403, "too old")
        future = signature(timestamp=int(time.time()) + 3600)
        assert _refused(post(client, future, bounce), 403, "in the future")
        assert _refused(post(client, {}, bounce), 403, "timestamp")
        no_token = {**signature(), "token": ""}
        assert _refused(post(client, no_token, bounce), 403, "token")
        unsigned = client.post("/webhooks/mailgun", json={"event-data": bounce})
        assert _refused(unsigned, 403, "not signed")
        assert _counts(env, edition_id) == ({}, Status.SUBSCRIBED)

        # A delivered event, then a token used again (the same post, or another event under
        # it): refused without effect, 406 so that Mailgun does not retry it.
        sign = signature()
        delivered = event_data("delivered", address, variables)
        assert post(client, sign, delivered).json() == {"received": 1, "changed": 0}
        assert _refused(post(client, sign, delivered), 406, "token is used")
        assert _refused(post(client, sign, bounce), 406, "token is used")
        # The same event again under a fresh signature (Mailgun's retry, or a replay): its id
        # was applied already.
        assert post(client, signature(), delivered).json() == {"received": 1, "changed": 0}
        assert _counts(env, edition_id) == ({"delivered": 1}, Status.SUBSCRIBED)

        for body, reason in [
            (b"{not json", "not JSON"),
            (b"[1, 2]", "expected an object"),
            (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
        ]:
            answer = client.post(
                "/webhooks/mailgun", content=body, headers={"Content-Type": "application/json"}
            )
            assert _refused(answer, 400, reason)
        assert _refused(post(client, signature(), {"id": "x1", "recipient": address}), 400, "event")
        assert _refused(post(client, signature(), {"event": "delivered"}), 400, '"id"')
        big = client.post(
            "/webhooks/mailgun",
            content=b" " * 1_000_001,
            headers={"Content-Type": "application/json"},
        )
        assert big.status_code == 413
        # An event kind digest has no use for is taken and ignored.
        stored = event_data("stored", address, variables)
        assert post(client, signature(), stored).json() == {"received": 0, "changed": 0}
        assert _counts(env, edition_id) == ({"delivered": 1}, Status.SUBSCRIBED)

        # The genuine bounce, at last, suppresses.
        answer = post(client, signature(), bounce)
        assert answer.json() == {"received": 1, "changed": 1}
    assert _counts(env, edition_id) == ({"delivered": 1, "bounced": 1}, Status.BOUNCED)


def test_without_a_signing_key_the_webhook_is_unavailable(sqlite_url: str, tmp_path: Path) -> None:
    with running_mailgun(keep_messages=False) as (host, state):
        env = mailgun_env(tmp_path, sqlite_url, state, host)
        env.pop("MAILGUN_WEBHOOK_SIGNING_KEY", None)
        with digest_serve(env, tmp_path) as base, httpx.Client(base_url=base, timeout=60) as client:
            answer = post(client, signature(), event_data("delivered", "a@example.org", {}))
    assert _refused(answer, 503, "webhook_signing_key is not set")


def _refused(answer: httpx.Response, status: int, reason: str = "") -> bool:
    """The answer has this status and a one-line reason saying so."""
    assert answer.status_code == status, answer.text
    detail = answer.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and reason in detail, detail
    return True


def _counts(env: dict[str, str], edition_id: int) -> tuple[dict[str, int], Status]:
    """The edition's event counts (those not zero), and the first reader's status."""
    with environment(env):
        app = App(load_settings())
        events = {k: v for k, v in app.store.delivery_events.counts(edition_id).items() if v}
        list_id = app.store.subscribers.list_id("readers")
        first = app.store.subscribers.find(list_id, "reader0@example.org")
        app.close()
    assert first is not None
    return events, first.status
