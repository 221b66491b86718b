"""POST /webhooks/ses on a running `digest serve`: SES's events through SNS, signed with a test
key whose certificate an https server on 127.0.0.1 serves (standing in for SNS's hosts, through
the `[ses] sns_hosts` and `sns_ca_file` settings). Events suppress and settle as SendGrid's do;
forged, stale, replayed, off-topic and off-host messages are refused, and nothing is fetched
from a URL off the SNS hosts."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from digest.app import App
from digest.config import Settings
from digest.send import OutcomeUnknown
from digest.store.subscribers import NewSubscriber
from digest.subscribers.model import Status
from digest.web.ses_events import events_of
from tests.servers.ses import SesState, running_ses, ses_environment
from tests.sns_support import (
    TOPIC,
    CertHost,
    notification,
    serving_https,
    ses_event,
    signed,
    signing_certificate,
)
from tests.test_send import approved_edition, make_app, subscribe
from tests.web_support import serving


@dataclass
class World:
    app: App
    settings: Settings
    edition_id: int
    ses: SesState
    sns: CertHost
    key: rsa.RSAPrivateKey
    client: httpx.Client

    def tags(self, address: str) -> dict[str, str]:
        for body in self.ses.taken:
            if body["Destination"]["ToAddresses"] == [address]:
                return {t["Name"]: t["Value"] for t in body["EmailTags"]}
        raise AssertionError(f"SES took nothing for {address}")

    def post(self, message: dict[str, Any]) -> httpx.Response:
        return self.client.post(
            "/webhooks/ses",
            content=json.dumps(message),
            headers={"Content-Type": "text/plain; charset=UTF-8", "x-amz-sns-message-type": "x"},
        )

    def event(self, kind: str, address: str, **extra: Any) -> dict[str, str]:
        return notification(
            self.key, ses_event(kind, address, self.tags(address), **extra), self.sns.cert_url
        )

    def status(self, address: str) -> Status:
        found = self.app.store.subscribers.find(
            self.app.store.subscribers.list_id("readers"), address
        )
        assert found is not None
        return found.status

    def delivery(self, address: str) -> str:
        outcomes = self.app.store.deliveries.outcomes(self.edition_id)
        return next(o.status for o in outcomes if o.email == address)


@pytest.fixture
def world(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    for name, value in ses_environment("").items():
        if not name.startswith("DIGEST_"):
            monkeypatch.setenv(name, value)
    key, certificate = signing_certificate()
    with running_ses() as (url, ses), serving_https(tmp_path, certificate) as sns:
        app = make_app(
            database_url,
            tmp_path,
            unknown_settle_wait=timedelta(hours=1),
            ses={
                "region": "eu-west-1",
                "endpoint_url": url,
                "configuration_set": "digest-events",
                "sns_topic_arns": [TOPIC],
                "sns_hosts": re.escape(sns.authority),
                "sns_ca_file": str(sns.ca_file),
                "webhook_max_bytes": 20_000,
            },
        )
        edition = approved_edition(app)
        subscribe(app, 5)
        ses.faults.extend(["", "", "vanish"])  # reader2's answer is lost: unknown
        with pytest.raises(OutcomeUnknown, match="no answer came"):
            app.send(edition, via="ses")
        assert edition.id is not None
        app.send(app.store.get_edition(edition.id), via="ses")  # the two readers left
        with serving(app.settings) as base, httpx.Client(base_url=base, timeout=30) as client:
            yield World(app, app.settings, edition.id, ses, sns, key, client)
        app.close()


def test_events_suppress_settle_and_count_like_sendgrids(world: World) -> None:
    assert world.delivery("reader2@example.org") == "unknown"
    answer = world.post(world.event("Delivery", "reader2@example.org"))
    assert answer.status_code == 200, answer.text
    assert world.delivery("reader2@example.org") == "sent"

    answer = world.post(world.event("Bounce", "reader0@example.org"))
    assert answer.json() == {"received": 1, "changed": 1}
    assert world.status("reader0@example.org") == Status.BOUNCED
    assert world.delivery("reader0@example.org") == "failed"

    # A transient bounce is SES still trying: nobody is suppressed.
    world.post(world.event("Bounce", "reader1@example.org", bounce_type="Transient"))
    assert world.status("reader1@example.org") == Status.SUBSCRIBED
    assert world.delivery("reader1@example.org") == "sent"

    # SignatureVersion 1 (SHA1) is taken too.
    complaint = ses_event("Complaint", "reader1@example.org", world.tags("reader1@example.org"))
    answer = world.post(notification(world.key, complaint, world.sns.cert_url, version="1"))
    assert answer.status_code == 200, answer.text
    assert world.status("reader1@example.org") == Status.COMPLAINED

    # A Reject is about the message: the delivery fails, the address is not marked bounced.
    world.post(world.event("Send", "reader4@example.org"))
    world.post(world.event("Reject", "reader4@example.org"))
    assert world.delivery("reader4@example.org") == "failed"
    assert world.status("reader4@example.org") == Status.SUBSCRIBED

    counts = world.app.store.delivery_events.counts(world.edition_id)
    assert counts == {"delivered": 1, "bounced": 2, "complained": 1, "unsubscribed": 0}
    # The certificate was fetched once, and kept.
    assert world.sns.hits.count("/SimpleNotificationService-0123456789abcdef.pem") == 1


def test_forged_stale_replayed_and_off_topic_messages_are_refused(
    world: World, tmp_path: Path
) -> None:
    address = "reader3@example.org"
    good = world.event("Bounce", address)

    forged = {**good, "Message": good["Message"].replace("Permanent", "Transient")}
    assert world.post(forged).status_code == 403
    swapped = {**good, "Signature": world.event("Bounce", address)["Signature"]}
    assert world.post(swapped).status_code == 403

    other_topic = "arn:aws:sns:eu-west-1:123456789012:someone-else"
    hits = len(world.sns.hits)
    off_topic = notification(
        world.key,
        ses_event("Bounce", address, world.tags(address)),
        world.sns.cert_url,
        topic=other_topic,
    )
    answer = world.post(off_topic)
    assert answer.status_code == 403 and "topic not allowed" in answer.text
    stale = notification(
        world.key,
        ses_event("Bounce", address, world.tags(address)),
        world.sns.cert_url,
        timestamp=datetime.now(UTC) - timedelta(hours=2),
    )
    assert world.post(stale).status_code == 403
    assert len(world.sns.hits) == hits  # refused before anything was fetched
    assert world.status(address) == Status.SUBSCRIBED

    assert world.post(good).status_code == 200
    assert world.status(address) == Status.BOUNCED
    # The same MessageId again (signed afresh: SNS retries keep it) changes nothing.
    world.app.store.subscribers.set_status(
        world.app.store.subscribers.find(
            world.app.store.subscribers.list_id("readers"), address
        ).id,  # type: ignore[union-attr]
        Status.SUBSCRIBED,
    )
    again = notification(
        world.key,
        ses_event("Bounce", address, world.tags(address)),
        world.sns.cert_url,
        message_id=good["MessageId"],
    )
    answer = world.post(again)
    assert answer.status_code == 200 and answer.json()["changed"] == 0
    assert world.status(address) == Status.SUBSCRIBED


def test_certificate_urls_off_the_sns_hosts_are_never_fetched(world: World, tmp_path: Path) -> None:
    address = "reader3@example.org"
    event = ses_event("Complaint", address, world.tags(address))
    hostile_dir = tmp_path / "hostile"
    hostile_dir.mkdir()
    with serving_https(hostile_dir, world.sns.certificate, "hostile") as hostile:
        port = world.sns.authority.split(":")[1]
        for url in (
            hostile.cert_url,  # another host (here: another port)
            world.sns.cert_url.replace("https://", "http://"),  # not https
            f"https://{world.sns.authority}@{hostile.authority}/x.pem",  # user-info trick
            f"https://{hostile.authority}/?u=https://{world.sns.authority}/c.pem",
            f"https://127.0.0.1:{port}/../../etc/passwd",  # not a certificate's path
        ):
            answer = world.post(notification(world.key, event, url))
            assert answer.status_code == 403, url
            assert "SigningCertURL" in answer.text, answer.text
        assert hostile.hits == []
    assert world.status(address) == Status.SUBSCRIBED


def test_subscription_is_confirmed_only_for_an_allowed_topic_on_the_sns_hosts(
    world: World, tmp_path: Path
) -> None:
    def confirmation(topic: str, subscribe_url: str) -> dict[str, str]:
        fields = {
            "Type": "SubscriptionConfirmation",
            "MessageId": "c0ffee00-0000-4000-8000-000000000001",
            "Token": "abc123",
            "TopicArn": topic,
            "Message": "You have chosen to subscribe to the topic.",
            "SubscribeURL": subscribe_url,
            "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        }
        return signed(world.key, fields, world.sns.cert_url)

    other = "arn:aws:sns:eu-west-1:123456789012:someone-else"
    assert world.post(confirmation(other, world.sns.subscribe_url(other))).status_code == 403
    hostile_dir = tmp_path / "hostile"
    hostile_dir.mkdir()
    with serving_https(hostile_dir, world.sns.certificate, "hostile") as hostile:
        answer = world.post(confirmation(TOPIC, hostile.subscribe_url()))
        assert answer.status_code == 403 and hostile.hits == []
    confirms = [h for h in world.sns.hits if "ConfirmSubscription" in h]
    assert confirms == []
    answer = world.post(confirmation(TOPIC, world.sns.subscribe_url()))
    assert answer.status_code == 200, answer.text
    assert [h for h in world.sns.hits if "ConfirmSubscription" in h] == [
        world.sns.subscribe_url().split(world.sns.authority)[1]
    ]


def test_bodies_over_the_cap_and_non_sns_posts_are_refused(world: World) -> None:
    big = world.event("Delivery", "reader0@example.org")
    big["Message"] = big["Message"] + " " * 30_000
    assert world.post(big).status_code == 413
    assert world.post({"Type": "Nonsense"}).status_code == 400
    answer = world.client.post("/webhooks/ses", content=b"not json")
    assert answer.status_code == 400


def test_without_topics_configured_the_endpoint_refuses_everything(
    sqlite_url: str, tmp_path: Path
) -> None:
    app = make_app(sqlite_url, tmp_path)
    with serving(app.settings) as base:
        answer = httpx.post(f"{base}/webhooks/ses", content=b"{}")
    assert answer.status_code == 503 and "sns_topic_arns" in answer.text
    app.close()


@pytest.mark.parametrize(
    ("kind", "extra", "expected"),
    [
        ("Bounce", {"bounce_type": "Permanent"}, "bounce"),
        ("Bounce", {"bounce_type": "Transient"}, "deferred"),
        ("Bounce", {"bounce_type": "Undetermined"}, "deferred"),
        ("Complaint", {}, "spamreport"),
        ("Delivery", {}, "delivered"),
        ("Send", {}, "processed"),
        ("Reject", {}, "blocked"),
    ],
)
def test_ses_events_map_onto_sendgrids_kinds(
    kind: str, extra: dict[str, str], expected: str
) -> None:
    tags = {"delivery_id": "12", "subscriber_id": "7", "edition_id": "3"}
    event = ses_event(kind, "reader@example.org", tags, **extra)  # type: ignore[arg-type]
    (found,) = events_of(event, "m-1")
    assert (found.kind, found.email, found.event_id) == (expected, "reader@example.org", "sns:m-1")
    assert (found.delivery_id, found.subscriber_id, found.edition_id) == (12, 7, 3)
    assert found.timestamp is not None and found.message_id == event["mail"]["messageId"]
    # An identity's notifications (notificationType, no tags) read the same, naming no delivery.
    event["notificationType"] = event.pop("eventType")
    event["mail"]["tags"] = {"delivery_id": ["not-ours"]}
    (plain,) = events_of(event, "m-2")
    assert plain.kind == expected and plain.delivery_id is None


def test_a_bounce_reported_for_an_idn_address_in_ascii_suppresses_its_reader(
    sqlite_url: str, tmp_path: Path
) -> None:
    app = make_app(sqlite_url, tmp_path)
    list_id = app.store.subscribers.ensure_list("readers")
    app.store.subscribers.upsert(list_id, [NewSubscriber(email="ana@bücher.example", name="")])
    found = app.store.subscribers.find(list_id, "ana@bücher.example")
    assert found is not None
    tags = {"subscriber_id": str(found.id), "delivery_id": "1", "edition_id": "1"}
    # SES names the address as it was sent: the domain in its ASCII form.
    event = ses_event("Bounce", "ana@xn--bcher-kva.example", tags)
    assert app.provider_events(events_of(event, "m-idn")) == 1
    assert app.store.subscribers.get(found.id).status == Status.BOUNCED
    app.close()
