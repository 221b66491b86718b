"""Events from the email provider about mail we sent (SendGrid's Event Webhook) as typed values,
and what each means for the reader's subscription."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from digest.errors import DigestError, NotFoundError
from digest.store.subscribers import SubscriberRepository
from digest.subscribers.model import SUPPRESSED, Status, Subscriber

log = logging.getLogger("digest.events")

# Event → the status it gives the subscriber; events not listed change no subscription.
STATUS_FOR_EVENT = {
    "bounce": Status.BOUNCED,
    "dropped": Status.BOUNCED,
    "spamreport": Status.COMPLAINED,
    "unsubscribe": Status.UNSUBSCRIBED,
    "group_unsubscribe": Status.UNSUBSCRIBED,
}
# A status never gives way to a milder one (a complaint stays a complaint).
_SEVERITY = {Status.UNSUBSCRIBED: 1, Status.BOUNCED: 2, Status.COMPLAINED: 3}


class ReplayedPost(DigestError):
    """A signed webhook post whose single-use token was seen before: a replay, or the
    provider's retry of a post already applied."""


@dataclass(frozen=True)
class ProviderEvent:
    """One event, signature already checked. The ids come from the `custom_args` each message
    carried (None for mail we did not send that way)."""

    kind: str  # "processed", "delivered", "dropped", "bounce", "spamreport", "unsubscribe"…
    email: str
    timestamp: datetime | None = None  # when it happened, by the provider's clock
    event_id: str | None = None  # the provider's id of this event (sg_event_id)
    subscriber_id: int | None = None
    delivery_id: int | None = None
    edition_id: int | None = None
    reason: str = ""  # a bounce's or drop's reason, as the provider words it
    message_id: str = ""  # the provider's message id (sg_message_id)


def apply_to_subscribers(repository: SubscriberRepository, event: ProviderEvent) -> int:
    """Bounces, drops, complaints and unsubscribes stop mail to the address; returns how many
    subscriptions changed. An event from before a subscriber's latest consent (a confirmed
    re-subscription) is history, not news: it changes nothing."""
    status = STATUS_FOR_EVENT.get(event.kind)
    if status is None or not event.email:
        return 0
    changed = 0
    for subscriber in _targets(repository, event, status):
        if _predates_consent(event, subscriber):
            log.info(
                "%s: %s of %s ignored: older than the consent given on %s",
                event.email,
                event.kind,
                event.timestamp,
                subscriber.consent_at,
            )
            continue
        current = _SEVERITY.get(subscriber.status, 0) if subscriber.status in SUPPRESSED else 0
        if _SEVERITY[status] > current:
            repository.set_status(subscriber.id, status)
            changed += 1
            log.info("%s: %s on %s (%s)", event.email, status.value, subscriber.list, event.kind)
    return changed


def _targets(
    repository: SubscriberRepository, event: ProviderEvent, status: Status
) -> list[Subscriber]:
    """The subscription the message went to; for a bad address or a complaint, every list the
    address is on."""
    targets: list[Subscriber] = []
    if event.subscriber_id is not None:
        try:
            found = repository.get(event.subscriber_id)
        except NotFoundError:
            found = None
        if found is not None and found.email.casefold() == event.email.casefold():
            targets.append(found)
    if not targets or status != Status.UNSUBSCRIBED:
        for name in repository.list_names():
            other = repository.find(repository.list_id(name), event.email)
            if other is not None and all(other.id != t.id for t in targets):
                targets.append(other)
    return targets


def _predates_consent(event: ProviderEvent, subscriber: Subscriber) -> bool:
    if event.timestamp is None or subscriber.consent_at is None:
        return False
    # Event times are whole seconds: one in the same second as the consent counts.
    return event.timestamp < subscriber.consent_at.replace(microsecond=0)
