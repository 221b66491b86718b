"""Sending an edition to its lists exactly once, in batches, resumable after any crash.

For each list: settle batches a previous run left unanswered, queue every subscribed address
that has no delivery yet, then repeatedly take the next pending recipients, record the batch,
hand it to the sender, and record the outcome.

On SQLite the whole send runs under the edition's lock: one worker, and a concurrent run finds
it busy. On PostgreSQL the work is shared: the set-up (status, settling what dead runs left,
queueing readers, variants, an A/B test's start) runs under the edition's lock, taken briefly;
then any number of workers (`digest send --workers N`, `digest run` on several hosts) claim
batches (digest.store.claims: `FOR UPDATE SKIP LOCKED`, still recorded before each request).
A worker out of work takes the lock again to take over dead workers' batches (their advisory
lock is free), decide an A/B test, and, if nothing is pending and no batch is open, mark the
edition sent: whichever worker sees it last, once.

A batch left unanswered is sent again when the sender is idempotent (the outbox); waits for the
provider's events when it reports them (SendGrid), for `unknown_settle_wait`; otherwise (and
after that wait) `unknown_batch_policy` decides. The edition is "sent" once every reader has an
outcome: sent, failed, skipped, or unknown (reported, with the command that resends them).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy.exc import SQLAlchemyError

from digest.click_tokens import ClickTokens
from digest.config import NewsletterConfig
from digest.edition import Edition, EditionStatus
from digest.errors import AlreadySent, DigestError
from digest.faults import fault_point
from digest.render import RenderedEmail
from digest.send import (
    Batch,
    BatchRejected,
    OutcomeUnknown,
    Recipient,
    Sender,
    SendStopped,
    batch_size,
)
from digest.send_guard import SendGuard, SendPause, Verdict
from digest.store import Store
from digest.store.claims import Worker
from digest.store.deliveries import (
    Audience,
    BatchOutcome,
    DeliveryStatus,
    QueuedDelivery,
    RetryPolicy,
)
from digest.subject_test import SubjectTest
from digest.subscribers.model import Status
from digest.subscribers.tokens import UnsubscribeTokens
from digest.variants import edition_for, variant_key

log = logging.getLogger("digest.send")
__all__ = ["AlreadySent", "SendReport", "check_sendable", "plan_send", "send_edition"]

# How long a shared send's worker waits for the edition's lock, held briefly by another's
# set-up or finish (on SQLite the lock is held for the whole send: busy at once).
LOCK_WAIT = 30.0
# What a call of send_edition does on PostgreSQL: everything, the set-up alone (the parent of
# `--workers N`), or the work alone (its workers, after that set-up).
Phase = Literal["all", "setup", "work"]


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
    # Copies of the edition rendered by this run (one per variant and subject line, never one
    # per reader), and how many readers each was queued for.
    renders: int = 0
    variants: dict[str, int] = field(default_factory=dict)
    # An A/B subject test waiting for its winner: when it is chosen, and how many wait.
    test_until: datetime | None = None
    held: int = 0
    winner: str = ""
    # The complaint and bounce guard paused the send (by this run, or before it).
    paused: SendPause | None = None
    # A shared send (PostgreSQL): the workers whose reports this one sums (0: this process
    # alone), and the readers in batches other live workers still have open.
    workers: int = 0
    in_flight: int = 0

    @property
    def waiting(self) -> bool:
        """Nothing left to send now: only deferred readers, events, a subject test's winner
        or other workers' open batches to wait for."""
        if self.finished or self.paused is not None:
            return False
        pending = self.totals.get(DeliveryStatus.PENDING, 0)
        return self.test_until is not None or pending <= self.in_flight

    def add(self, other: SendReport) -> None:
        """Sum a worker's report into this one (its ledger figures are the caller's to read)."""
        self.sent += other.sent
        self.failed += other.failed
        self.skipped += other.skipped
        self.batches += other.batches
        self.queued += other.queued
        self.renders += other.renders
        self.resent_batches += other.resent_batches
        for variant, count in other.variants.items():
            self.variants[variant] = self.variants.get(variant, 0) + count
        self.winner = self.winner or other.winner

    def summary(self) -> str:
        totals = self.totals
        by = f" by {self.workers} workers" if self.workers > 1 else ""
        parts = [
            f"edition {self.edition_id}: {self.sent} sent via {self.provider} in "
            f"{self.batches} batches{by}",
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
        if self.renders:
            parts.append(
                f"{self.renders} more {'copy' if self.renders == 1 else 'copies'} of the "
                "edition rendered by this run (readers' topics, subject lines tested)"
            )
        if self.winner:
            parts.append(f"subject test won by {self.winner!r}")
        if self.test_until is not None:
            parts.append(
                f"subject test: {self.held} readers wait for the winning subject line, chosen "
                f"at {self.test_until:%Y-%m-%d %H:%M} UTC"
            )
        if self.in_flight and not self.finished:
            parts.append(f"{self.in_flight} in batches other workers are sending")
        if self.finished:
            parts.append("complete")
        elif self.paused is not None:
            parts.append(f"paused with {self.remaining} still to send")
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
# The email for one variant key and subject line (digest.variants), None when that copy holds
# nothing: the App renders it from the edition.
VariantRenderer = Callable[[str, int], RenderedEmail | None]
# An edition's distinct human clicks per subject line (1-based), for an A/B test's winner.
SubjectClicks = Callable[[int], Mapping[int, int]]
NOTHING_IN_TOPICS = "nothing in the reader's topics this time"


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


def check_subject_test(edition: Edition, newsletter: NewsletterConfig) -> None:
    """An A/B test of subject lines is chosen by readers' clicks: refused without them."""
    if edition.subject_tests and not newsletter.track_clicks:
        raise DigestError(
            f"edition {edition.id} tests {len(edition.subject_tests)} subject lines, but "
            f"newsletter {newsletter.name} does not track clicks: its winner is chosen by "
            "readers' clicks (set track_clicks = true, or remove subject_tests)"
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
    audience: Audience | None = None,
    variants: VariantRenderer | None = None,
    subject_clicks: SubjectClicks | None = None,
    click_tokens: ClickTokens | None = None,
    guard: SendGuard | None = None,
    phase: Phase = "all",
    lock_wait: float = LOCK_WAIT,
) -> SendReport:
    """Send under the edition's lock (SQLite: raises LockBusy if another run holds it), or as
    one of the workers sharing the send (PostgreSQL; `phase` says which part this call does).
    `email` is the whole edition's; `variants` renders the others (readers following some
    topics, or with stories sent before), `audience` is who chose the edition's frequency.
    With the newsletter's track_clicks, `click_tokens` signs each reader's click redirect. The
    `guard` is asked before each batch whether complaints or bounces call for a pause; a
    paused edition sends nothing until it is resumed (`report.paused` says why)."""
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
    campaign.audience, campaign.variants = audience, variants
    campaign.subject_clicks = subject_clicks
    campaign.guard = guard
    edition_id, name = edition.id, f"send-edition-{edition.id}"
    try:
        if not store.shares_work:
            with store.lock(name):
                # Read again under the lock: another run may have finished meanwhile.
                edition = store.get_edition(edition.id)
                check_sendable(edition, newsletter)
                campaign.run(edition, lists, limit)
        else:
            if phase != "work":
                with store.lock(name, lock_wait):
                    edition = store.get_edition(edition_id)
                    check_sendable(edition, newsletter)
                    campaign.set_up(edition, lists)
            if phase != "setup":
                with store.claims.worker() as worker:
                    campaign.work(
                        edition, lists, limit, worker, lambda: store.lock(name, lock_wait)
                    )
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
        self.audience: Audience | None = None
        self.variants: VariantRenderer | None = None
        self.subject_clicks: SubjectClicks | None = None
        self.test: SubjectTest | None = None
        self.guard: SendGuard | None = None
        # A shared send's worker (PostgreSQL), None for the one worker of SQLite.
        self.worker: Worker | None = None
        self._emails: dict[tuple[str, int], RenderedEmail | None] = {("", 0): email}
        # The last batch's outcome, recorded with the opening of the next batch.
        self._unrecorded: BatchOutcome | None = None

    def _email_for(self, variant: str, subject_index: int) -> RenderedEmail | None:
        """Each copy rendered once per run, whatever the number of its readers."""
        key = (variant, subject_index)
        if key not in self._emails:
            if self.variants is None:
                raise DigestError(f"no renderer for variant {variant!r}")
            self._emails[key] = self.variants(variant, subject_index)
            if self._emails[key] is not None:  # a copy with nothing in it is not rendered
                self.report.renders += 1
        return self._emails[key]

    @property
    def resends(self) -> bool:
        """Readers of unknown outcome are sent again: by policy, or because sending twice
        through an idempotent sender cannot make a second copy."""
        return self.resend_unknown or self.sender.idempotent

    def run(self, edition: Edition, lists: list[str], limit: int | None) -> None:
        """The whole send, by this process alone (SQLite)."""
        assert edition.id is not None
        list_ids, now = self.set_up(edition, lists)
        if self.report.paused is not None:
            return
        budget = limit
        try:
            budget = self._send_lists(edition.id, list_ids, budget)
            if self.test is not None and self._decide_test(edition, list_ids, now):
                budget = self._send_lists(edition.id, list_ids, budget)
        except _Paused as pause:
            # The batch in flight was recorded as usual (the lists' `finally`); the rest wait.
            self.report.paused = self.store.send_pauses.pause(edition.id, pause.verdict)
            log.warning("edition %s: %s", edition.id, self.report.paused.line())
        finally:
            self._tally(edition.id, list_ids)
        self._finish(edition.id, lists)

    def set_up(self, edition: Edition, lists: list[str]) -> tuple[list[int], datetime]:
        """Before any batch (under the edition's lock): the status, what earlier runs left,
        the audience queued, variants, an A/B test's start. Run again by each run and each
        joining host, it does only what is left to do."""
        assert edition.id is not None
        self.report.edition_id = edition.id
        store = self.store
        list_ids = [store.subscribers.list_id(name) for name in lists]
        if self._paused_before(edition.id, list_ids):
            return list_ids, datetime.now(UTC)
        store.change_status(
            edition.id,
            EditionStatus.SENDING,
            [EditionStatus.APPROVED, EditionStatus.DRAFT, EditionStatus.SENDING],
        )
        now = datetime.now(UTC)
        for list_id in list_ids:
            self._settle_cut_off(edition.id, list_id)
            self._settle_awaiting(edition.id, list_id, now)
            store.deliveries.requeue_deferred(edition.id, list_id, now)
            self.report.queued += store.deliveries.enqueue_audience(
                edition.id, list_id, self.audience, topics=bool(self.newsletter.topics)
            )
        self._leave_out_sent(edition)
        self.test = self._start_test(edition, list_ids)
        return list_ids, now

    def work(
        self,
        edition: Edition,
        lists: list[str],
        limit: int | None,
        worker: Worker,
        edition_lock: Callable[[], AbstractContextManager[None]],
    ) -> None:
        """One worker of a shared send (PostgreSQL), after the set-up: claim and send batches
        until none is left, then, under the edition's lock, take over what dead workers left
        open (and send it), decide an A/B test, and mark the edition sent if this worker is
        the last. A worker that stops early leaves its claimed batches to the others."""
        assert edition.id is not None
        self.report.edition_id = edition.id
        self.worker = worker
        list_ids = [self.store.subscribers.list_id(name) for name in lists]
        if self._paused_before(edition.id, list_ids):
            return
        self.test = self._load_test(edition)
        budget = limit
        idle = 0  # passes in a row that sent, skipped and settled nothing
        try:
            while True:
                before = (self.report.batches, self.report.skipped)
                budget = self._send_lists(edition.id, list_ids, budget)
                with edition_lock():
                    now = datetime.now(UTC)
                    settled = 0
                    for list_id in list_ids:
                        settled += self._settle_cut_off(edition.id, list_id)
                        settled += self._settle_awaiting(edition.id, list_id, now)
                    self.test = self._load_test(edition)
                    decided = (
                        budget != 0
                        and self.test is not None
                        and self._decide_test(edition, list_ids, now)
                    )
                    done = (self.report.batches, self.report.skipped)
                    moved = settled or decided or before != done
                    idle = 0 if moved else idle + 1
                    if budget != 0 and idle < 2 and self._claimable(edition.id, list_ids):
                        continue  # released or decided readers: send them too
                    self._tally(edition.id, list_ids)
                    self._finish(edition.id, lists)
                    return
        except _Paused as pause:
            # The batch in flight was recorded as usual (the lists' `finally`); batches this
            # worker claimed but did not start go back to the queue when it ends.
            self.report.paused = self.store.send_pauses.pause(edition.id, pause.verdict)
            log.warning("edition %s: %s", edition.id, self.report.paused.line())
            self._tally(edition.id, list_ids)
        except BaseException:
            with suppress(SQLAlchemyError):  # the figures, if the database still answers
                self._tally(edition.id, list_ids)
            raise

    def _paused_before(self, edition_id: int, list_ids: list[int]) -> bool:
        """A send the guard paused sends nothing until an editor resumes it."""
        paused = self.store.send_pauses.open_pause(edition_id)
        if paused is None:
            return False
        self.report.paused = paused
        self._tally(edition_id, list_ids)
        return True

    def _finish(self, edition_id: int, lists: list[str]) -> None:
        if self.report.finished and set(lists) >= set(self.newsletter.lists):
            self.store.change_status(edition_id, EditionStatus.SENT, [EditionStatus.SENDING])

    def _claimable(self, edition_id: int, list_ids: list[int]) -> bool:
        """Readers no worker holds that may be sent now (not waiting for a test's winner)."""
        deliveries = self.store.deliveries
        return any(
            not self._waits_for_winner(variant, index)
            for list_id in list_ids
            for variant, index in deliveries.pending_variants(edition_id, list_id, unclaimed=True)
        )

    def _load_test(self, edition: Edition) -> SubjectTest | None:
        """An A/B test's state as the set-up stored it (a joining worker changes nothing)."""
        assert edition.id is not None
        if not edition.subject_tests:
            return None
        state = self.store.subject_test_state(edition.id)
        return None if state is None else SubjectTest.from_json(edition.subject_tests, state)

    def _send_lists(self, edition_id: int, list_ids: list[int], budget: int | None) -> int | None:
        for list_id in list_ids:
            budget = self._send_list(edition_id, list_id, budget)
            if budget == 0:
                break
        return budget

    def _start_test(self, edition: Edition, list_ids: list[int]) -> SubjectTest | None:
        """An A/B subject test's state, stored before any test line is sent; while its test
        copies go out, readers who joined meanwhile are split the same way."""
        assert edition.id is not None
        if not edition.subject_tests:
            return None
        state = self.store.subject_test_state(edition.id)
        if state is None:
            test = SubjectTest(
                tuple(edition.subject_tests),
                self.newsletter.subject_test_share,
                self.newsletter.subject_test_wait,
            )
            self.store.save_subject_test_state(edition.id, test.as_json())
        else:
            test = SubjectTest.from_json(edition.subject_tests, state)
        deliveries = self.store.deliveries
        self.test = test  # (whether a copy carries the lines reads it)
        if test.tests_sent_at is None:
            for list_id in list_ids:
                tested = self._carrying_lines(edition, list_id)
                deliveries.assign_subject_lines(
                    edition.id, list_id, len(test.lines), test.buckets, tested
                )
        elif test.winner is not None:
            self._give_winner(edition, list_ids, test.winner)
        return test

    def _carrying_lines(self, edition: Edition, list_id: int) -> list[str]:
        """The queued variants whose copy carries the test's lines (it holds the edition's lead
        story, which the lines are about): only their readers are tested, or wait."""
        variants = {v for v, _ in self.store.deliveries.pending_variants(edition.id or 0, list_id)}
        return sorted(v for v in variants if self._carries_lines(v))

    def _carries_lines(self, variant: str) -> bool:
        email = self._email_for(variant, 1)
        return email is not None and self.test is not None and email.subject == self.test.lines[0]

    def _waits_for_winner(self, variant: str, subject_index: int) -> bool:
        """A reader of a copy that carries the lines, with no line yet, while the test runs."""
        if self.test is None or self.test.winner is not None or subject_index:
            return False
        return self._carries_lines(variant)

    def _give_winner(self, edition: Edition, list_ids: list[int], winner: int) -> None:
        for list_id in list_ids:
            self.store.deliveries.give_winner(
                edition.id or 0, winner, self._carrying_lines(edition, list_id)
            )

    def _decide_test(self, edition: Edition, list_ids: list[int], now: datetime) -> bool:
        """After the test copies: start the wait, and once it is over choose the winner by
        readers' clicks and give it to everyone waiting. True when the rest may go now."""
        assert edition.id is not None and self.test is not None
        test, deliveries = self.test, self.store.deliveries
        if test.winner is not None:
            return False
        queued = [deliveries.pending_variants(edition.id, list_id) for list_id in list_ids]
        if any(index > 0 for pending in queued for _, index in pending):
            return False  # test copies still to send (the budget ran out, or a failure)
        if test.tests_sent_at is None:
            test = test.sent(now)
            self.store.save_subject_test_state(edition.id, test.as_json())
        decides_at = test.decides_at()
        assert decides_at is not None
        if now < decides_at:
            self.test = test
            self.report.test_until = decides_at
            self.report.held = sum(count for pending in queued for count in pending.values())
            return False
        if self.subject_clicks is None:
            raise DigestError("an A/B subject test needs click figures to choose its winner")
        test = test.decided(self.subject_clicks(edition.id))
        assert test.winner is not None
        self.store.save_subject_test_state(edition.id, test.as_json())
        self.test = test
        fault_point("after-winner")
        self._give_winner(edition, list_ids, test.winner)
        self.report.winner = test.lines[test.winner - 1]
        log.info(
            "edition %s: subject test decided by clicks %s: %r",
            edition.id,
            list(test.clicks),
            self.report.winner,
        )
        return True

    def _leave_out_sent(self, edition: Edition) -> None:
        """Readers an earlier edition of the newsletter already brought some of these stories
        (their copy of it held them) get a copy without them (their variant names them)."""
        assert edition.id is not None
        ids = {article.id for item in edition.items for article in item.articles if article.id}
        deliveries = self.store.deliveries
        earlier = deliveries.sent_before(edition.id, self.newsletter.name, ids)
        if not earlier:
            return
        held: dict[tuple[int, str], set[int]] = {}
        left: dict[int, set[int]] = {}
        for copy in earlier:
            key = (copy.edition_id, copy.variant)
            if key not in held:
                held[key] = self._held_by(copy.edition_id, copy.variant)
            sent = copy.articles & held[key]
            if sent:
                left.setdefault(copy.delivery_id, set()).update(sent)
        by_stories: dict[str, list[int]] = {}
        for delivery_id, articles in left.items():
            by_stories.setdefault(variant_key("", articles), []).append(delivery_id)
        for suffix, delivery_ids in by_stories.items():
            deliveries.leave_out(suffix, sorted(delivery_ids))

    def _held_by(self, edition_id: int, variant: str) -> set[int]:
        """The articles a variant's copy of an earlier edition held."""
        shown = edition_for(self.store.get_edition(edition_id), self.newsletter, variant)
        if shown is None:
            return set()
        return {a.id for item in shown.items for a in item.articles if a.id is not None}

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
        if self.worker is not None:  # readers other live workers are sending: not ours to wait for
            self.report.in_flight = self.store.claims.in_flight(edition_id, list_ids)

    def _settle_cut_off(self, edition_id: int, list_id: int) -> int:
        """Batches a dead run (or, sharing the send, a dead worker) left open; returns how
        many were settled."""
        released: list[int] = []
        if self.store.shares_work:
            released, cut_off = self.store.claims.cut_off(edition_id, list_id)
            if released:  # claimed, never requested: simply back in the queue
                count = self.store.claims.release(released)
                log.info("batches %s (%s readers) of a stopped worker: requeued", released, count)
        else:
            cut_off = self.store.deliveries.cut_off_batches(edition_id, list_id)
        reason = "the run sending this batch stopped before recording the provider's answer"
        for batch_id in cut_off:
            self._settle(batch_id, reason)
        return len(released) + len(cut_off)

    def _settle_awaiting(self, edition_id: int, list_id: int, now: datetime) -> int:
        """Batches whose wait for events is over: the readers no event accounted for follow
        the policy. Returns how many were settled."""
        deliveries = self.store.deliveries
        settled = 0
        for batch_id, since in deliveries.awaiting_batches(edition_id, list_id):
            if self.settle_wait and since is not None and now - since < self.settle_wait:
                continue
            settled += 1
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
        return settled

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
        """Send the list's queue, one copy of the edition (variant and subject line) after
        another, in batches of that copy's readers. A batch's outcome is recorded in the
        transaction that opens the next one, the next copy's first included."""
        pending = self.store.deliveries.pending_variants(edition_id, list_id)
        try:
            for (variant, subject_index), count in sorted(pending.items()):
                if self._waits_for_winner(variant, subject_index):
                    continue
                self.report.variants[variant] = self.report.variants.get(variant, 0) + count
                email = self._email_for(variant, subject_index)
                if email is None:
                    skipped = self.store.deliveries.skip_variant(
                        edition_id, list_id, variant, NOTHING_IN_TOPICS
                    )
                    self.report.skipped += skipped
                    continue
                copy = _Copy(edition_id, list_id, variant, subject_index, email)
                if self.worker is None:
                    budget = self._send_copy(copy, budget)
                else:
                    budget = self._send_claimed(copy, budget, self.worker)
                if budget == 0:
                    break
        finally:
            if self._unrecorded is not None:
                self.store.deliveries.close_batch(self._unrecorded)
                self._unrecorded = None
        return budget

    def _send_copy(self, copy: _Copy, budget: int | None) -> int | None:
        """Send one copy's queue in batches; the last batch's outcome is left in
        `_unrecorded`, for the next batch to record (or the list's end). While one request is
        in flight, a helper thread reads and prepares the next batch (reading and building
        have no side effects; the batch is recorded only just before its own request)."""
        deliveries = self.store.deliveries
        with (
            _request_thread_first(),
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="digest-prepare") as ahead,
        ):
            upcoming = ahead.submit(self._prepare, copy, budget, 0)
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
                    upcoming = ahead.submit(self._prepare, copy, budget, last_id)
                    continue
                self._watch()
                batch_id = deliveries.open_batch(
                    copy.edition_id,
                    copy.list_id,
                    self.sender.name,
                    [r.delivery_id for r in batch.recipients],
                    closing=self._unrecorded,
                    variant=copy.variant,
                    subject_index=copy.subject_index,
                )
                if self._unrecorded is not None:
                    self._unrecorded = None
                    fault_point("after-record")
                fault_point("after-claim")
                upcoming = ahead.submit(self._prepare, copy, budget, last_id)
                self._unrecorded = self._send_batch(replace(batch, id=batch_id), payload)
                fault_point("after-request")
        return budget

    def _watch(self) -> None:
        """Before each batch: the guard's verdict on the complaints and bounces so far (it
        reads the counts at most every pause_check_interval, and at the run's first batch)."""
        if self.guard is None:
            return
        verdict = self.guard.check()
        if verdict is not None:
            raise _Paused(verdict)

    def _send_claimed(self, copy: _Copy, budget: int | None, worker: Worker) -> int | None:
        """`_send_copy` for one of the workers sharing a send: batches are claimed (by the
        helper thread, while the request before is in flight), then started, in the
        transaction that records the previous outcome, just before their request."""
        claims = self.store.claims
        with (
            _request_thread_first(),
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="digest-claim") as ahead,
        ):
            upcoming = ahead.submit(self._claim, copy, budget, worker)
            while True:
                claimed = upcoming.result()
                if claimed is None:
                    break
                batch, payload, skipped = claimed
                self.report.skipped += skipped
                if budget is not None:
                    budget -= len(batch.recipients)
                self._watch()
                claims.start(worker, batch.id, self._unrecorded)
                if self._unrecorded is not None:
                    self._unrecorded = None
                    fault_point("after-record")
                fault_point("after-claim")
                upcoming = ahead.submit(self._claim, copy, budget, worker)
                self._unrecorded = self._send_batch(batch, payload)
                fault_point("after-request")
        return budget

    def _claim(
        self, copy: _Copy, budget: int | None, worker: Worker
    ) -> tuple[Batch, object, int] | None:
        """The next batch this worker claims: the batch, its prepared request, and how many
        readers were skipped (no longer subscribed)."""
        if budget is not None and budget <= 0:
            return None
        size = self.sender.max_batch if budget is None else min(self.sender.max_batch, budget)
        claimed = self.store.claims.claim(
            worker,
            copy.edition_id,
            copy.list_id,
            self.sender.name,
            size,
            copy.variant,
            copy.subject_index,
        )
        if claimed is None:
            return None
        list_id, newsletter, tokens = copy.list_id, self.newsletter, self.tokens
        batch = Batch(
            id=claimed.batch_id,
            edition_id=copy.edition_id,
            newsletter=newsletter,
            email=copy.email,
            recipients=_recipients(
                claimed.queued, list_id, newsletter, tokens, copy.edition_id, self.click_tokens
            ),
        )
        return batch, self.sender.prepare(batch), claimed.skipped

    def _prepare(
        self, copy: _Copy, budget: int | None, after_id: int
    ) -> tuple[Batch, object, list[int], int] | None:
        """The batch after delivery `after_id`: the batch, its prepared request, the queued
        deliveries to skip, and the last delivery id it covers."""
        if budget is not None and budget <= 0:
            return None
        largest = batch_size(self.sender, copy.email, self.newsletter)
        size = largest if budget is None else min(largest, budget)
        queued = self.store.deliveries.next_pending(
            copy.edition_id, copy.list_id, size, after_id, copy.variant, copy.subject_index
        )
        if not queued:
            return None
        gone = [q.delivery_id for q in queued if not q.subscribed]
        list_id, newsletter, tokens = copy.list_id, self.newsletter, self.tokens
        batch = Batch(
            edition_id=copy.edition_id,
            newsletter=newsletter,
            email=copy.email,
            recipients=_recipients(
                queued, list_id, newsletter, tokens, copy.edition_id, self.click_tokens
            ),
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


class _Paused(Exception):
    """The guard's verdict ends the run's sending (caught in `_Campaign.run`)."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.reason())
        self.verdict = verdict


# How long the preparing thread may hold the GIL while the request's thread waits for it.
_SWITCH_INTERVAL = 0.0005


@contextmanager
def _request_thread_first() -> Iterator[None]:
    """While a batch is prepared beside the request in flight, the request's thread gets the
    GIL back within half a millisecond instead of Python's 5 ms: it takes it again after
    every database statement and socket call, and each wait beside a thread that is busy
    building the next batch would otherwise add up to 5 ms to the request."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(min(before, _SWITCH_INTERVAL))
    try:
        yield
    finally:
        sys.setswitchinterval(before)


@dataclass(frozen=True)
class _Copy:
    """One copy of an edition being sent to one list: its variant, subject line and email."""

    edition_id: int
    list_id: int
    variant: str
    subject_index: int
    email: RenderedEmail


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
    return _click_prefix(newsletter) + tokens.make(delivery_id, edition_id)


def _click_prefix(newsletter: NewsletterConfig) -> str:
    return f"{newsletter.web_base}/c/"


def _recipients(
    queued: list[QueuedDelivery],
    list_id: int,
    newsletter: NewsletterConfig,
    tokens: UnsubscribeTokens,
    edition_id: int = 0,
    click_tokens: ClickTokens | None = None,
) -> list[Recipient]:
    """The batch's subscribed readers with their signed links. One tight loop, the links'
    prefixes made once per batch: at a million readers a send, every call per reader counts."""
    unsubscribe, preferences = unsubscribe_url(newsletter, ""), preferences_url(newsletter, "")
    make = tokens.make
    clicks = click_tokens if newsletter.track_clicks else None  # one more HMAC per reader
    click_prefix = _click_prefix(newsletter)
    readers = []
    for q in queued:
        if not q.subscribed:
            continue
        token = make(q.subscriber_id, list_id, q.email_key)
        readers.append(
            Recipient(
                q.delivery_id,
                q.subscriber_id,
                q.email,
                q.name,
                unsubscribe + token,
                preferences + token,
                click_prefix + clicks.make(q.delivery_id, edition_id) if clicks else "",
            )
        )
    return readers
