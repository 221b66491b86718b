"""Sending an edition to its lists exactly once, in batches, resumable after any crash.

For each list: settle batches a previous run left unanswered, queue every subscribed address
that has no delivery yet, then repeatedly take the next pending recipients, record the batch,
hand it to the sender, and record the outcome. The whole send runs under a lock, so a second or
concurrent run finds nothing to do twice.

A batch left unanswered is sent again when the sender is idempotent (the outbox); waits for the
provider's events when it reports them (SendGrid), for `unknown_settle_wait`; otherwise (and
after that wait) `unknown_batch_policy` decides. The edition is "sent" once every reader has an
outcome: sent, failed, skipped, or unknown (reported, with the command that resends them).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from digest.click_tokens import ClickTokens
from digest.config import NewsletterConfig
from digest.edition import Edition, EditionStatus
from digest.errors import AlreadySent, DigestError
from digest.faults import fault_point
from digest.render import RenderedEmail
from digest.send import Batch, BatchRejected, OutcomeUnknown, Recipient, Sender, SendStopped
from digest.store import Store
from digest.store.deliveries import BatchOutcome, DeliveryStatus, QueuedDelivery, RetryPolicy
from digest.subscribers.model import Status
from digest.subscribers.tokens import UnsubscribeTokens

log = logging.getLogger("digest.send")
__all__ = ["AlreadySent", "SendReport", "check_sendable", "plan_send", "send_edition"]


@dataclass
class SendReport:
    edition_id: int
    provider: str
    sent: int = 0  # by this run
    failed: int = 0
    skipped: int = 0
    batches: int = 0
    queued: int = 0
    resent_batches: list[int] = field(default_factory=list)
    awaiting_batches: list[int] = field(default_factory=list)
    remaining: int = 0
    finished: bool = False
    # The edition's ledger when the run ended, by delivery status.
    totals: dict[str, int] = field(default_factory=dict)
    next_attempt: datetime | None = None

    @property
    def waiting(self) -> bool:
        """Nothing left to send now: only deferred readers (or events) to wait for."""
        return not self.finished and self.totals.get(DeliveryStatus.PENDING, 0) == 0

    def summary(self) -> str:
        totals = self.totals
        parts = [
            f"edition {self.edition_id}: {self.sent} sent via {self.provider} in "
            f"{self.batches} batches",
            f"{self.failed} failed",
            f"{self.skipped} skipped",
        ]
        if totals:
            failed = totals.get(DeliveryStatus.FAILED, 0)
            why = f" (`digest deliveries {self.edition_id} --status failed` says why)"
            parts.append(
                f"in all {totals.get(DeliveryStatus.SENT, 0)} sent, {failed} failed"
                + (why if failed else "")
            )
        deferred = totals.get(DeliveryStatus.DEFERRED, 0)
        if deferred:
            when = (
                f", next attempt {self.next_attempt:%Y-%m-%d %H:%M} UTC"
                if self.next_attempt
                else ""
            )
            parts.append(f"{deferred} deferred{when}")
        if self.resent_batches:
            parts.append(f"unknown outcome, requeued: batches {self.resent_batches}")
        unknown = totals.get(DeliveryStatus.UNKNOWN, 0)
        if self.awaiting_batches:
            parts.append(
                f"{unknown} of unknown outcome in batches {self.awaiting_batches}, waiting for "
                "the provider's events"
            )
        elif unknown:
            parts.append(
                f"{unknown} of unknown outcome, not resent (unknown_batch_policy = skip; "
                f"`digest send {self.edition_id} --resend-unknown` sends them again)"
            )
        if self.finished:
            parts.append("complete")
        elif self.waiting:
            parts.append("waiting")
        else:
            parts.append(f"{self.remaining} still to send")
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
    retry: RetryPolicy | None = None,
    settle_wait: timedelta = timedelta(hours=1),
    limit: int | None = None,
    on_progress: ProgressCallback | None = None,
    click_tokens: ClickTokens | None = None,
) -> SendReport:
    """Send under the edition's lock; raises LockBusy if another run holds it. With the
    newsletter's track_clicks, `click_tokens` signs each reader's click redirect."""
    assert edition.id is not None
    check_sendable(edition, newsletter)
    if newsletter.track_clicks and click_tokens is None:
        raise DigestError(f"newsletter {newsletter.name} tracks clicks: no click tokens given")
    campaign = _Campaign(
        store,
        newsletter,
        email,
        sender,
        tokens,
        resend_unknown,
        on_progress,
        retry or RetryPolicy(),
        settle_wait,
        click_tokens,
    )
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
        retry: RetryPolicy,
        settle_wait: timedelta,
        click_tokens: ClickTokens | None = None,
    ) -> None:
        self.store, self.newsletter, self.email = store, newsletter, email
        self.click_tokens = click_tokens
        self.sender, self.tokens, self.resend_unknown = sender, tokens, resend_unknown
        self.on_progress = on_progress
        self.retry, self.settle_wait = retry, settle_wait
        self.report = SendReport(edition_id=0, provider=sender.name)

    @property
    def resends(self) -> bool:
        """Readers of unknown outcome are sent again: by policy, or because sending twice
        through an idempotent sender cannot make a second copy."""
        return self.resend_unknown or self.sender.idempotent

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
        now = datetime.now(UTC)
        for list_id in list_ids:
            self._settle_cut_off(edition.id, list_id)
            self._settle_awaiting(edition.id, list_id, now)
            store.deliveries.requeue_deferred(edition.id, list_id, now)
            self.report.queued += store.deliveries.enqueue_audience(edition.id, list_id)
        budget = limit
        try:
            for list_id in list_ids:
                budget = self._send_list(edition.id, list_id, budget)
                if budget == 0:
                    break
        finally:
            self._tally(edition.id, list_ids)
        if self.report.finished and set(lists) >= set(self.newsletter.lists):
            store.change_status(edition.id, EditionStatus.SENT, [EditionStatus.SENDING])

    def _tally(self, edition_id: int, list_ids: list[int]) -> None:
        """The edition's ledger as the run ends: what is left, and whether it is finished."""
        deliveries = self.store.deliveries
        counts = deliveries.counts(edition_id, list_ids)
        self.report.totals = counts
        self.report.remaining = counts[DeliveryStatus.PENDING] + counts[DeliveryStatus.DEFERRED]
        self.report.next_attempt = deliveries.next_attempt(edition_id, list_ids)
        awaiting = [
            batch
            for list_id in list_ids
            for batch, _ in deliveries.awaiting_batches(edition_id, list_id)
        ]
        self.report.awaiting_batches = awaiting
        self.report.finished = self.report.remaining == 0 and not awaiting

    def _settle_cut_off(self, edition_id: int, list_id: int) -> None:
        for batch_id in self.store.deliveries.cut_off_batches(edition_id, list_id):
            reason = "the run sending this batch stopped before recording the provider's answer"
            self._settle(batch_id, reason)

    def _settle_awaiting(self, edition_id: int, list_id: int, now: datetime) -> None:
        """Batches whose wait for events is over: the readers no event accounted for follow
        the policy."""
        deliveries = self.store.deliveries
        for batch_id, since in deliveries.awaiting_batches(edition_id, list_id):
            if self.settle_wait and since is not None and now - since < self.settle_wait:
                continue
            count, requeued = deliveries.settle_awaiting(batch_id, resend=self.resend_unknown)
            if requeued:
                self.report.resent_batches.append(batch_id)
            log.warning(
                "batch %s: %s readers still unknown after waiting %s for events: %s",
                batch_id,
                count,
                self.settle_wait,
                "requeued" if requeued else "not resent",
            )

    def _settle(self, batch_id: int, reason: str) -> None:
        deliveries = self.store.deliveries
        if self.sender.reports_events:
            count = deliveries.settle_unknown(batch_id, False, reason, awaiting_events=True)
            log.warning(
                "batch %s (%s recipients) has an unknown outcome: waiting up to %s for the "
                "provider's events",
                batch_id,
                count,
                self.settle_wait,
            )
            return
        count = deliveries.settle_unknown(batch_id, resend=self.resends, reason=reason)
        if self.sender.idempotent:
            # Nothing unknown about it: written again, to the same files.
            log.info("batch %s (%s recipients) was cut off: written again", batch_id, count)
            return
        if self.resends:
            self.report.resent_batches.append(batch_id)
            action = "requeued (unknown_batch_policy = resend)"
        else:
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
                    if unrecorded is not None:
                        fault_point("after-record")
                    unrecorded = None
                    fault_point("after-claim")
                    upcoming = ahead.submit(self._prepare, edition_id, list_id, budget, last_id)
                    unrecorded = self._send_batch(replace(batch, id=batch_id), payload)
                    fault_point("after-request")
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
                _recipient(q, list_id, self.newsletter, self.tokens, edition_id, self.click_tokens)
                for q in queued
                if q.subscribed
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
        except Exception as error:
            # A fault of ours, or of a library, mid-batch: nobody can say what went out.
            reason = f"{self.sender.name} failed mid-batch ({type(error).__name__}: {error})"
            log.error("batch %s: %s", batch.id, reason)
            self._settle(batch.id, reason)
            raise SendStopped(reason) from None
        outcome = BatchOutcome(
            batch.id, result.provider_id, result.failures, result.unknown, self.resends, self.retry
        )
        count = len(batch.recipients)
        self.report.batches += 1
        self.report.failed += sum(1 for f in result.failures.values() if f.permanent)
        self.report.sent += count - len(result.failures) - len(result.unknown)
        for delivery_id, reason in result.unknown.items():
            log.warning("delivery %s has an unknown outcome: %s", delivery_id, reason)
        if self.on_progress:
            self.on_progress(count)
        if result.stop_reason:
            deliveries.close_batch(outcome)
            raise SendStopped(result.stop_reason)
        return outcome


def unsubscribe_url(newsletter: NewsletterConfig, token: str) -> str:
    """The one-click unsubscribe page of digest's web app (`digest serve`, /u/TOKEN)."""
    return f"{newsletter.web_base}/u/{token}"


def preferences_url(newsletter: NewsletterConfig, token: str) -> str:
    """The reader's preference page (`digest serve`, /p/TOKEN): the unsubscribe token opens
    it, so each reader costs one signature."""
    return f"{newsletter.web_base}/p/{token}"


def click_base(
    newsletter: NewsletterConfig, tokens: ClickTokens, delivery_id: int, edition_id: int
) -> str:
    """A reader's click-redirect prefix (`digest serve`, /c/TOKEN): their article links are
    this and "/ARTICLE_ID"."""
    return f"{newsletter.web_base}/c/{tokens.make(delivery_id, edition_id)}"


def _recipient(
    queued: QueuedDelivery,
    list_id: int,
    newsletter: NewsletterConfig,
    tokens: UnsubscribeTokens,
    edition_id: int = 0,
    click_tokens: ClickTokens | None = None,
) -> Recipient:
    token = tokens.make(queued.subscriber_id, list_id, queued.email_key)
    clicks = ""
    if newsletter.track_clicks and click_tokens is not None:  # one more HMAC per reader
        clicks = click_base(newsletter, click_tokens, queued.delivery_id, edition_id)
    return Recipient(
        delivery_id=queued.delivery_id,
        subscriber_id=queued.subscriber_id,
        email=queued.email,
        name=queued.name,
        unsubscribe_url=unsubscribe_url(newsletter, token),
        preferences_url=preferences_url(newsletter, token),
        click_base=clicks,
    )
