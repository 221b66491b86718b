"""Sending an edition to its lists exactly once, in batches, resumable after any crash.

For each list: settle batches a previous run left unanswered (by policy), queue every
subscribed address that has no delivery yet, then repeatedly take the next pending recipients,
record the batch, hand it to the sender, and record the outcome. The whole send runs under a
lock, so a second or concurrent run finds nothing to do twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from digest.config import NewsletterConfig
from digest.edition import Edition, EditionStatus
from digest.errors import AlreadySent, DigestError
from digest.render import RenderedEmail
from digest.send import Batch, BatchRejected, OutcomeUnknown, Recipient, Sender, SendStopped
from digest.store import Store
from digest.store.deliveries import BatchOutcome, DeliveryStatus, QueuedDelivery
from digest.subscribers.model import Status
from digest.subscribers.tokens import UnsubscribeTokens

log = logging.getLogger("digest.send")
__all__ = ["AlreadySent", "SendReport", "check_sendable", "plan_send", "send_edition"]


@dataclass
class SendReport:
    edition_id: int
    provider: str
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    deferred: int = 0
    batches: int = 0
    queued: int = 0
    unknown_batches: list[int] = field(default_factory=list)
    resent_batches: list[int] = field(default_factory=list)
    remaining: int = 0
    finished: bool = False

    def summary(self) -> str:
        parts = [
            f"edition {self.edition_id}: {self.sent} sent via {self.provider} in "
            f"{self.batches} batches",
            f"{self.failed} failed",
            f"{self.skipped} skipped",
        ]
        if self.deferred:
            parts.append(f"{self.deferred} deferred to the next run")
        if self.unknown_batches:
            parts.append(f"unknown outcome, not resent: batches {self.unknown_batches}")
        if self.resent_batches:
            parts.append(f"unknown outcome, requeued: batches {self.resent_batches}")
        parts.append("complete" if self.finished else f"{self.remaining} still to send")
        return ", ".join(parts)


@dataclass
class SendPlan:
    """What a send would do, without doing it (`--dry-run`)."""

    edition_id: int
    lists: dict[str, int]
    already_delivered: int
    provider: str


ProgressCallback = Callable[[int], None]


def check_sendable(edition: Edition, newsletter: NewsletterConfig) -> None:
    allowed = {EditionStatus.APPROVED, EditionStatus.SENDING}
    if newsletter.mode == "automatic":
        allowed.add(EditionStatus.DRAFT)
    if edition.status == EditionStatus.SENT:
        raise AlreadySent(f"edition {edition.id} was sent already; nothing to do")
    if edition.status not in allowed:
        raise DigestError(
            f"edition {edition.id} is {edition.status.value}: approve it first "
            f"(digest approve {edition.id})"
        )


def send_edition(
    store: Store,
    edition: Edition,
    newsletter: NewsletterConfig,
    email: RenderedEmail,
    sender: Sender,
    tokens: UnsubscribeTokens,
    *,
    lists: list[str],
    resend_unknown: bool = False,
    limit: int | None = None,
    on_progress: ProgressCallback | None = None,
) -> SendReport:
    """Send under the edition's lock; raises LockBusy if another run holds it."""
    assert edition.id is not None
    check_sendable(edition, newsletter)
    campaign = _Campaign(store, newsletter, email, sender, tokens, resend_unknown, on_progress)
    with store.lock(f"send-edition-{edition.id}"):
        # Read again under the lock: another run may have finished meanwhile.
        edition = store.get_edition(edition.id)
        check_sendable(edition, newsletter)
        try:
            campaign.run(edition, lists, limit)
        except SendStopped:
            log.warning("stopped: %s", campaign.report.summary())
            raise
    log.info(campaign.report.summary())
    return campaign.report


def plan_send(store: Store, edition: Edition, lists: list[str], provider: str) -> SendPlan:
    """Counts for a dry run: who would be sent to, per list."""
    assert edition.id is not None
    counts = {}
    for name in lists:
        counts[name] = store.subscribers.count(store.subscribers.list_id(name), Status.SUBSCRIBED)
    delivered = store.deliveries.counts(edition.id)[DeliveryStatus.SENT]
    return SendPlan(edition.id, counts, delivered, provider)


class _Campaign:
    """One run of a send: the parts it uses, and the report it fills in."""

    def __init__(
        self,
        store: Store,
        newsletter: NewsletterConfig,
        email: RenderedEmail,
        sender: Sender,
        tokens: UnsubscribeTokens,
        resend_unknown: bool,
        on_progress: ProgressCallback | None,
    ) -> None:
        self.store, self.newsletter, self.email = store, newsletter, email
        self.sender, self.tokens, self.resend_unknown = sender, tokens, resend_unknown
        self.on_progress = on_progress
        self.report = SendReport(edition_id=0, provider=sender.name)

    def run(self, edition: Edition, lists: list[str], limit: int | None) -> None:
        assert edition.id is not None
        self.report.edition_id = edition.id
        store = self.store
        store.change_status(
            edition.id,
            EditionStatus.SENDING,
            [EditionStatus.APPROVED, EditionStatus.DRAFT, EditionStatus.SENDING],
        )
        list_ids = [store.subscribers.list_id(name) for name in lists]
        for list_id in list_ids:
            self._settle_cut_off(edition.id, list_id)
            store.deliveries.requeue_deferred(edition.id, list_id)
            self.report.queued += store.deliveries.enqueue_audience(edition.id, list_id)
        budget = limit
        for list_id in list_ids:
            budget = self._send_list(edition.id, list_id, budget)
            if budget == 0:
                break
        counts = store.deliveries.counts(edition.id, list_ids)
        self.report.remaining = sum(
            counts[status] for status in (DeliveryStatus.PENDING, DeliveryStatus.DEFERRED)
        )
        if self.report.remaining == 0:
            self.report.finished = True
            if set(lists) >= set(self.newsletter.lists):
                store.change_status(edition.id, EditionStatus.SENT, [EditionStatus.SENDING])

    def _settle_cut_off(self, edition_id: int, list_id: int) -> None:
        for batch_id in self.store.deliveries.cut_off_batches(edition_id, list_id):
            reason = "the run sending this batch stopped before recording the provider's answer"
            self._settle(batch_id, reason)

    def _settle(self, batch_id: int, reason: str) -> None:
        count = self.store.deliveries.settle_unknown(
            batch_id, resend=self.resend_unknown, reason=reason
        )
        if self.resend_unknown:
            self.report.resent_batches.append(batch_id)
            action = "requeued (unknown_batch_policy = resend)"
        else:
            self.report.unknown_batches.append(batch_id)
            action = "not resent (unknown_batch_policy = skip)"
        log.warning("batch %s (%s recipients) has an unknown outcome: %s", batch_id, count, action)

    def _send_list(self, edition_id: int, list_id: int, budget: int | None) -> int | None:
        """Send the list's queue in batches. While one request is in flight, a helper thread
        reads and prepares the next batch (reading and building have no side effects; the
        batch is recorded only just before its own request). A batch's outcome is recorded in
        the same transaction that opens the next one."""
        deliveries = self.store.deliveries
        unrecorded: BatchOutcome | None = None
        try:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="digest-prepare") as ahead:
                upcoming = ahead.submit(self._prepare, edition_id, list_id, budget, 0)
                while True:
                    prepared = upcoming.result()
                    if prepared is None:
                        break
                    batch, payload, gone, last_id = prepared
                    if gone:
                        deliveries.skip(gone, "no longer subscribed")
                        self.report.skipped += len(gone)
                    size = len(batch.recipients)
                    if budget is not None:
                        budget -= size
                    if not size:
                        upcoming = ahead.submit(self._prepare, edition_id, list_id, budget, last_id)
                        continue
                    batch_id = deliveries.open_batch(
                        edition_id,
                        list_id,
                        self.sender.name,
                        [r.delivery_id for r in batch.recipients],
                        closing=unrecorded,
                    )
                    unrecorded = None
                    upcoming = ahead.submit(self._prepare, edition_id, list_id, budget, last_id)
                    unrecorded = self._send_batch(replace(batch, id=batch_id), payload)
        finally:
            if unrecorded is not None:
                deliveries.close_batch(unrecorded)
        return budget

    def _prepare(
        self, edition_id: int, list_id: int, budget: int | None, after_id: int
    ) -> tuple[Batch, object, list[int], int] | None:
        """The batch after delivery `after_id`: the batch, its prepared request, the queued
        deliveries to skip, and the last delivery id it covers."""
        if budget is not None and budget <= 0:
            return None
        size = self.sender.max_batch if budget is None else min(self.sender.max_batch, budget)
        queued = self.store.deliveries.next_pending(edition_id, list_id, size, after_id)
        if not queued:
            return None
        gone = [q.delivery_id for q in queued if not q.subscribed]
        batch = Batch(
            edition_id=edition_id,
            newsletter=self.newsletter,
            email=self.email,
            recipients=[
                _recipient(q, list_id, self.newsletter, self.tokens) for q in queued if q.subscribed
            ],
        )
        payload = self.sender.prepare(batch) if batch.recipients else None
        return batch, payload, gone, queued[-1].delivery_id

    def _send_batch(self, batch: Batch, payload: object) -> BatchOutcome:
        """Send one recorded batch; returns its outcome for the caller to record."""
        deliveries = self.store.deliveries
        try:
            result = self.sender.send(batch, payload)
        except BatchRejected as error:
            deliveries.fail_batch(batch.id, str(error))
            raise
        except OutcomeUnknown as error:
            self._settle(batch.id, str(error))
            raise
        outcome = BatchOutcome(batch.id, result.provider_id, result.failures)
        count = len(batch.recipients)
        self.report.batches += 1
        self.report.failed += sum(1 for f in result.failures.values() if f.permanent)
        self.report.deferred += sum(1 for f in result.failures.values() if not f.permanent)
        self.report.sent += count - len(result.failures)
        if self.on_progress:
            self.on_progress(count)
        if result.stop_reason:
            deliveries.close_batch(outcome)
            raise SendStopped(result.stop_reason)
        return outcome


def unsubscribe_url(newsletter: NewsletterConfig, token: str) -> str:
    """The one-click unsubscribe page of digest's web app (`digest serve`, /u/TOKEN)."""
    return f"{newsletter.web_base}/u/{token}"


def _recipient(
    queued: QueuedDelivery, list_id: int, newsletter: NewsletterConfig, tokens: UnsubscribeTokens
) -> Recipient:
    token = tokens.make(queued.subscriber_id, list_id, queued.email_key)
    return Recipient(
        delivery_id=queued.delivery_id,
        subscriber_id=queued.subscriber_id,
        email=queued.email,
        name=queued.name,
        unsubscribe_url=unsubscribe_url(newsletter, token),
    )
