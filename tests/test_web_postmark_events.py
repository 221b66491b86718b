"""POST /webhooks/postmark on a running `digest serve` (uvicorn): Postmark's events, as its
webhook documentation shows them, settle deliveries of unknown outcome and feed the same
suppression rules as SendGrid's; without the basic-auth credentials, stale, replayed or
malformed posts change nothing."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from digest.app import App
from digest.config import Settings
from digest.edition import Edition
from digest.send import OutcomeUnknown
from digest.subscribers.model import Status
from tests.servers.postmark import Fault, PostmarkState, Taken, running_postmark
from tests.test_send import approved_edition, subscribe
from tests.test_send_postmark import postmark_app
from tests.web_support import serving

USER, PASSWORD = "postmark-hooks", "a-long-webhook-password-0123"


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}", "Content-Type": "application/json"}


AUTH = basic(USER, PASSWORD)


def _iso(when: datetime | None = None) -> str:
    # Postmark writes seven digits of a second and an offset.
    return (when or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")


def delivery(taken: Taken, when: datetime | None = None) -> dict[str, Any]:
    return {
        "RecordType": "Delivery",
        "ServerID": 23,
        "MessageStream": "broadcast",
        "MessageID": taken.message_id,
        "Recipient": taken.to,
        "Tag": "brief",
        "DeliveredAt": _iso(when),
        "Details": "Test delivery webhook details",
        "Metadata": taken.metadata,
    }


def bounce(
    taken: Taken,
    kind: str = "HardBounce",
    bounce_id: int = 42,
    inactive: bool = True,
    when: datetime | None = None,
) -> dict[str, Any]:
    return {
        "RecordType": "SpamComplaint" if kind == "SpamComplaint" else "Bounce",
        "ID": bounce_id,
        "Type": kind,
        "TypeCode": {"HardBounce": 1, "Transient": 2, "SpamComplaint": 512}.get(kind, 4096),
        "Name": kind,
        "Tag": "brief",
        "MessageID": taken.message_id,
        "ServerID": 23,
        "MessageStream": "broadcast",
        "Description": "The server was unable to deliver your message.",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist",
        "Email": taken.to,
        "From": "brief@example.org",
        "BouncedAt": _iso(when),
        "DumpAvailable": False,
        "Inactive": inactive,
        "CanActivate": True,
        "Subject": "The brief",
        "Metadata": taken.metadata,
    }


def subscription_change(taken: Taken, reason: str, suppress: bool = True) -> dict[str, Any]:
    return {
        "RecordType": "SubscriptionChange",
        "MessageID": taken.message_id,
        "ServerID": 23,
        "MessageStream": "broadcast",
        "ChangedAt": _iso(),
        "Recipient": taken.to,
        "Origin": "Recipient",
        "SuppressSending": suppress,
        "SuppressionReason": reason,
        "Tag": "brief",
        "Metadata": taken.metadata,
    }


class Sent:
    """An edition sent through the local Postmark server whose answer never came (a read
    timeout after it took the call): every delivery is of unknown outcome, waiting for events."""

    def __init__(self, app: App, edition: Edition, state: PostmarkState) -> None:
        self.app, self.edition, self.state = app, edition, state

    def taken(self, number: int) -> Taken:
        return next(t for t in self.state.taken if t.to == f"reader{number}@example.org")

    def status_of(self, number: int) -> Status:
        list_id = self.app.store.subscribers.list_id("readers")
        found = self.app.store.subscribers.find(list_id, f"reader{number}@example.org")
        assert found is not None
        return found.status

    def delivery_status(self, number: int) -> str:
        outcomes = self.app.store.deliveries.outcomes(self.edition.id or 0)
        return next(o.status for o in outcomes if o.email == f"reader{number}@example.org")


@pytest.fixture
def sent(database_url: str, tmp_path: Path) -> Iterator[Sent]:
    with running_postmark() as (host, state):
        app = postmark_app(
            database_url,
            tmp_path,
            host,
            state.token,
            send_timeout=0.5,
            postmark={"webhook_username": USER, "webhook_password": PASSWORD},
        )
        edition = approved_edition(app)
        subscribe(app, 8)
        state.faults.append(Fault("slow", seconds=1.5))
        with pytest.raises(OutcomeUnknown, match="ReadTimeout"):
            app.send(edition, via="postmark")
        assert len(state.taken) == 8
        assert app.store.deliveries.counts(edition.id or 0)["unknown"] == 8
        yield Sent(app, edition, state)
        app.close()


def _post(base: str, event: object, headers: dict[str, str] = AUTH) -> httpx.Response:
    body = event if isinstance(event, bytes) else json.dumps(event).encode()
    return httpx.post(f"{base}/webhooks/postmark", content=body, headers=headers, timeout=30)


def test_events_settle_deliveries_and_suppress_addresses(sent: Sent) -> None:
    app = sent.app
    with serving(app.settings) as base:
        answers = [
            _post(base, delivery(sent.taken(0))),
            _post(base, bounce(sent.taken(1))),
            _post(base, bounce(sent.taken(2), "SpamComplaint", bounce_id=43)),
            _post(base, bounce(sent.taken(3), "Transient", bounce_id=44, inactive=False)),
            _post(base, subscription_change(sent.taken(4), "ManualSuppression")),
            _post(base, subscription_change(sent.taken(5), "HardBounce")),
            _post(base, bounce(sent.taken(6), "BadEmailAddress", bounce_id=45)),
        ]
    assert [a.status_code for a in answers] == [200] * 7, [a.text for a in answers]
    assert [a.json()["changed"] for a in answers] == [0, 1, 1, 0, 1, 1, 1]
    assert [sent.status_of(n) for n in range(8)] == [
        Status.SUBSCRIBED,
        Status.BOUNCED,
        Status.COMPLAINED,
        Status.SUBSCRIBED,  # a soft bounce suppresses nothing
        Status.UNSUBSCRIBED,
        Status.BOUNCED,
        Status.BOUNCED,
        Status.SUBSCRIBED,
    ]
    # A delivery, a complaint, a soft bounce settle their unknown deliveries as taken; a hard
    # bounce as failed; the rest stay unknown (the SubscriptionChange echo names no delivery).
    assert [sent.delivery_status(n) for n in range(8)] == [
        "sent",
        "failed",
        "sent",
        "sent",
        "sent",
        "unknown",
        "failed",
        "unknown",
    ]
    counts = app.store.delivery_events.counts(sent.edition.id or 0)
    assert counts["delivered"] == 1 and counts["bounced"] == 2 and counts["complained"] == 1
    assert counts["unsubscribed"] == 1


def test_a_replayed_event_changes_nothing(sent: Sent) -> None:
    event = bounce(sent.taken(1))
    with serving(sent.app.settings) as base:
        first = _post(base, event)
        sent.app.store.subscribers.set_status(
            sent.app.store.subscribers.find(
                sent.app.store.subscribers.list_id("readers"), "reader1@example.org"
            ).id,  # type: ignore[union-attr]
            Status.SUBSCRIBED,  # (as if a confirmed re-subscription had come in between)
        )
        again = _post(base, event)
        # The same record posted again with another key order and spacing: the same event.
        reordered = json.dumps(dict(reversed(list(event.items())))).encode()
        third = _post(base, reordered)
    assert first.json()["changed"] == 1
    assert again.status_code == 200 and again.json()["changed"] == 0
    assert third.status_code == 200 and third.json()["changed"] == 0
    assert sent.status_of(1) == Status.SUBSCRIBED
    assert sent.app.store.delivery_events.counts(sent.edition.id or 0)["bounced"] == 1


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Content-Type": "application/json"}, 401),
        (basic(USER, "wrong-password"), 401),
        (basic("someone", PASSWORD), 401),
        ({"Authorization": "Bearer " + PASSWORD}, 401),
        ({"Authorization": "Basic !!!not-base64"}, 401),
    ],
)
def test_posts_without_the_credentials_are_refused(
    sent: Sent, headers: dict[str, str], status: int
) -> None:
    with serving(sent.app.settings) as base:
        answer = _post(base, bounce(sent.taken(1)), headers)
    assert answer.status_code == status
    assert answer.headers["WWW-Authenticate"].startswith("Basic")
    assert sent.status_of(1) == Status.SUBSCRIBED and sent.delivery_status(1) == "unknown"


def test_unconfigured_credentials_and_foreign_networks_are_refused(sent: Sent) -> None:
    settings = sent.app.settings

    def with_postmark(**values: object) -> Settings:
        return settings.model_copy(update={"postmark": settings.postmark.model_copy(update=values)})

    unset = with_postmark(webhook_password=SecretStr(""))
    elsewhere = with_postmark(webhook_networks=["10.0.0.0/8"])
    allowed = with_postmark(webhook_networks=["127.0.0.1"])
    with serving(unset) as base:
        assert _post(base, bounce(sent.taken(1))).status_code == 503
    with serving(elsewhere) as base:
        answer = _post(base, bounce(sent.taken(1)))
        assert answer.status_code == 403 and "webhook_networks" in answer.json()["detail"]
    assert sent.status_of(1) == Status.SUBSCRIBED
    with serving(allowed) as base:
        assert _post(base, bounce(sent.taken(1))).status_code == 200
    assert sent.status_of(1) == Status.BOUNCED


def test_stale_and_future_events_are_refused(sent: Sent) -> None:
    now = datetime.now(UTC)
    with serving(sent.app.settings) as base:
        old = _post(base, bounce(sent.taken(1), when=now - timedelta(days=2)))
        future = _post(base, delivery(sent.taken(2), when=now + timedelta(days=2)))
        recent = _post(base, delivery(sent.taken(3), when=now - timedelta(hours=11)))
    assert old.status_code == 403 and "webhook_tolerance" in old.json()["detail"]
    assert future.status_code == 403
    assert recent.status_code == 200  # a retry half a day later still counts
    assert sent.status_of(1) == Status.SUBSCRIBED and sent.delivery_status(2) == "unknown"
    assert sent.delivery_status(3) == "sent"


def test_malformed_bodies_get_a_one_line_400(sent: Sent) -> None:
    good = bounce(sent.taken(1))
    bodies: list[tuple[object, str]] = [
        (b"{not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        ([good], "expected one Postmark event"),
        ({**good, "RecordType": "Inbound"}, "RecordType 'Inbound' is not one of"),
        ({k: v for k, v in good.items() if k != "BouncedAt"}, "BouncedAt is missing"),
        ({**good, "BouncedAt": "yesterday"}, "BouncedAt is missing or not an ISO 8601 time"),
        ({**good, "MessageID": 7}, "MessageID is missing"),
        ({k: v for k, v in good.items() if k != "Email"}, "no recipient address"),
    ]
    with serving(sent.app.settings) as base:
        for body, words in bodies:
            answer = _post(base, body)
            assert answer.status_code == 400, (body, answer.text)
            detail = answer.json()["detail"]
            assert words in detail and "\n" not in detail
    assert sent.status_of(1) == Status.SUBSCRIBED


def test_bodies_over_the_cap_are_refused_before_reading(sent: Sent) -> None:
    settings = sent.app.settings
    capped = settings.model_copy(
        update={"postmark": settings.postmark.model_copy(update={"webhook_max_bytes": 10_000})}
    )
    event = {**bounce(sent.taken(1)), "Details": "x" * 20_000}
    with serving(capped) as base:
        assert _post(base, event).status_code == 413
    assert sent.status_of(1) == Status.SUBSCRIBED


def test_a_reactivation_resubscribes_nobody(sent: Sent) -> None:
    with serving(sent.app.settings) as base:
        assert _post(base, bounce(sent.taken(1))).json()["changed"] == 1
        answer = _post(base, subscription_change(sent.taken(1), "HardBounce", suppress=False))
    assert answer.status_code == 200 and answer.json() == {
        "received": 1,
        "changed": 0,
        "ignored": 1,
    }
    assert sent.status_of(1) == Status.BOUNCED
