"""Sending: the Sender protocol, the values a sender takes and returns, and how a send stops.

A Batch is one edition, rendered once, for up to `max_batch` recipients of one list. Sending
has two steps: `prepare` builds the request without side effects (so the campaign can prepare
the next batch while the current request is in flight), `send` makes it and says, per
recipient, what failed; or raises when the provider did not take the batch (BatchRejected) or
when nobody can tell whether it did (OutcomeUnknown).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, NamedTuple, Protocol, runtime_checkable

from digest.config import NewsletterConfig
from digest.errors import DigestError
from digest.render import RenderedEmail
from digest.store.deliveries import Failure


class Recipient(NamedTuple):
    """One reader of a batch (a tuple: a million of them are made per send)."""

    delivery_id: int
    subscriber_id: int
    email: str
    name: str
    unsubscribe_url: str
    preferences_url: str = ""
    # The reader's signed click-redirect prefix, when the newsletter tracks clicks.
    click_base: str = ""


@dataclass(frozen=True)
class Batch:
    edition_id: int
    newsletter: NewsletterConfig
    email: RenderedEmail
    recipients: list[Recipient]
    # "edition" to subscribers; "test" a copy for an editor; "notice" a message to editors.
    purpose: Literal["edition", "test", "notice"] = "edition"
    id: int = 0  # the store's batch id, once the batch is recorded

    @property
    def subject(self) -> str:
        return f"[TEST] {self.email.subject}" if self.purpose == "test" else self.email.subject


@dataclass
class BatchResult:
    provider_id: str | None = None
    failures: dict[int, Failure] = field(default_factory=dict)
    # Recipients whose message may or may not have been taken (the link broke after the
    # message went out), with the reason: one message at most for SMTP.
    unknown: dict[int, str] = field(default_factory=dict)
    # Set when the sender had to stop part-way (e.g. the SMTP login was refused): the batch is
    # recorded, then the send stops with this reason.
    stop_reason: str | None = None


class SendStopped(DigestError):
    """The send stopped; what was recorded stays recorded, and a rerun continues."""


class BatchRejected(SendStopped):
    """The provider certainly did not take the batch (bad key, bad request, gave up retrying)."""


class OutcomeUnknown(SendStopped):
    """The request went out but no answer came back: the provider may or may not have it."""


class Sender(Protocol):
    name: str
    max_batch: int
    # Sending a batch twice has no effect beyond the first time (the outbox: same file
    # names), so a batch of unknown outcome is always sent again, whatever the policy.
    idempotent: bool
    # The provider reports what became of each message (SendGrid's Event Webhook), so a batch
    # of unknown outcome waits for its events before the policy decides.
    reports_events: bool

    def prepare(self, batch: Batch) -> object:
        """Whatever `send` needs, built ahead; must have no side effects."""
        ...

    def send(self, batch: Batch, prepared: object) -> BatchResult: ...

    def close(self) -> None: ...


@runtime_checkable
class SizesBatches(Protocol):
    """A sender whose request has a size limit as well as a count (Postmark: 50 MB a call):
    it says how many readers of a copy one batch may hold."""

    def batch_size(self, email: RenderedEmail, newsletter: NewsletterConfig) -> int: ...


def batch_size(sender: Sender, email: RenderedEmail, newsletter: NewsletterConfig) -> int:
    """How many readers the campaign puts in one batch of this copy: one batch, one request."""
    if isinstance(sender, SizesBatches):
        return max(1, min(sender.max_batch, sender.batch_size(email, newsletter)))
    return sender.max_batch
