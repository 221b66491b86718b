"""The delivery ledger: who must get an edition, which request carried it, what came of it.

A batch is a range of queued deliveries (in id order). It is recorded (status "sending") before
its request is made, and closed when the answer is in: then its deliveries become "sent" (or
failed, or deferred). A batch still "sending" when a run starts was cut off between the two:
its outcome is unknown, and the caller's policy decides between skipping and resending it, or,
for a provider that reports events, waits for them first. Deliveries stay "pending" while their
batch is in flight, so recording a batch costs one row. (When workers share a send on
PostgreSQL, digest.store.claims also marks a claimed batch's deliveries with it: claims of
several workers interleave in id order, so the range alone would not say whose they are.)

Every delivery ends with an outcome a person can read: sent, failed (with the reason), skipped,
unknown (with the reason), or deferred (with the time of its next attempt, until the retry
policy gives up and records it failed).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Engine,
    Integer,
    String,
    and_,
    cast,
    exists,
    func,
    insert,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.orm import aliased

from digest.edition_state import EditionDeliveries
from digest.store.tables import (
    BatchRow,
    DeliveryRow,
    EditionRow,
    ItemRow,
    SubscriberRow,
    utcnow,
)
from digest.subscribers.model import Status


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"
    UNKNOWN = "unknown"
    # Refused for now (a 4xx from the server, or not reached when the send stopped): tried
    # again on the next run, not in this one.
    DEFERRED = "deferred"


class BatchStatus(StrEnum):
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNKNOWN = "unknown"  # cut off, skipped by policy: its readers may or may not have it
    ABANDONED = "abandoned"  # cut off, its readers put back in the queue by policy
    # Cut off, waiting for the provider's events to say which readers it took.
    AWAITING = "awaiting"
    # Shared sends (PostgreSQL, digest.store.claims): taken by a worker, its request not
    # begun (it turns "sending" just before); a dead worker's is given back to the queue.
    CLAIMED = "claimed"
    RELEASED = "released"


class QueuedDelivery(NamedTuple):
    """A queued delivery with its subscriber (a tuple: a million of them are made per send)."""

    delivery_id: int
    subscriber_id: int
    email: str
    name: str
    email_key: str
    subscribed: bool


@dataclass(frozen=True)
class Failure:
    """A recipient the provider refused; permanent ones are not retried."""

    reason: str
    permanent: bool


@dataclass(frozen=True)
class RetryPolicy:
    """How temporary refusals are retried: the delay doubles from `first_delay` (capped by what
    is left of `max_age`); after `max_attempts` refusals, or past `max_age`, the delivery is
    recorded failed."""

    max_attempts: int = 5
    max_age: timedelta = timedelta(hours=24)
    first_delay: timedelta = timedelta(minutes=5)

    def next_attempt(self, attempts: int, first: datetime, now: datetime) -> datetime | None:
        """When to try again after `attempts` refusals, or None to give up."""
        if attempts >= self.max_attempts or now - first >= self.max_age:
            return None
        delay = self.first_delay * (1 << max(attempts - 1, 0))
        return min(now + delay, first + self.max_age)


@dataclass(frozen=True)
class BatchOutcome:
    """What the provider said of a batch, to be recorded."""

    batch_id: int
    provider_id: str | None
    failures: dict[int, Failure]
    # Recipients whose message may or may not have been taken (a link lost after the data
    # went out), with the reason; `resend` says whether the policy sends them again.
    unknown: dict[int, str] = field(default_factory=dict)
    resend_unknown: bool = False
    retry: RetryPolicy = field(default_factory=RetryPolicy)


# Event Webhook events that prove the provider took the message, and those that say it failed.
TAKEN_EVENTS = frozenset(
    {"processed", "delivered", "deferred", "open", "click", "spamreport", "unsubscribe"}
)
FAILED_EVENTS = frozenset({"dropped", "bounce", "blocked"})


class DeliveryOutcome(NamedTuple):
    """One reader's outcome for an edition, as an operator reads it."""

    delivery_id: int
    email: str  # empty once the subscriber was erased
    status: str
    error: str
    attempts: int
    next_attempt_at: datetime | None
    sent_at: datetime | None


class EarlierCopy(NamedTuple):
    """A copy of an earlier edition a queued reader was sent, and which of the queued
    edition's articles that edition held."""

    delivery_id: int  # the queued delivery
    edition_id: int  # the earlier edition
    variant: str  # the copy of it the reader got
    articles: frozenset[int]


class VariantCount(NamedTuple):
    """How many readers of one variant and subject line are in each delivery status."""

    variant: str
    subject_index: int
    statuses: dict[str, int]

    @property
    def readers(self) -> int:
        return sum(self.statuses.values())


@dataclass(frozen=True)
class Audience:
    """Who of a list gets an edition of one frequency: those who chose it, and, for the main
    frequency, also those who chose none (or one no longer offered)."""

    frequency: str
    main: bool
    offered: tuple[str, ...]

    def condition(self, column: ColumnElement[str]) -> ColumnElement[bool]:
        if self.main:
            others = [name for name in self.offered if name != self.frequency]
            return column.not_in(others) if others else true()
        return column == self.frequency


class DeliveryRepository:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # The batches this process opened and has not closed yet, with what their rows say of
        # them: closing one then needs no query (it sits between one request and the next).
        self._opened: dict[int, tuple[str, ColumnElement[bool]]] = {}

    @staticmethod
    def _pending_in(connection: Connection, batch_id: int) -> ColumnElement[bool]:
        """The still-pending deliveries of a batch's range (through the queue index)."""
        return DeliveryRepository._batch_range(connection, batch_id)[1]

    @staticmethod
    def _batch_range(connection: Connection, batch_id: int) -> tuple[str, ColumnElement[bool]]:
        """(provider, condition for the batch's still-pending deliveries). A batch claimed by
        one of several workers (worker_id) holds the deliveries marked with it, within its
        range: other workers' claims may interleave with its own."""
        row = connection.execute(
            select(
                BatchRow.provider,
                BatchRow.edition_id,
                BatchRow.list_id,
                BatchRow.variant,
                BatchRow.subject_index,
                BatchRow.first_delivery_id,
                BatchRow.last_delivery_id,
                BatchRow.worker_id,
            ).where(BatchRow.id == batch_id)
        ).one()
        provider, edition_id, list_id, variant, subject_index, first, last, worker = row
        condition = _pending_range(edition_id, list_id, variant, subject_index, first, last)
        if worker is not None:
            condition = and_(condition, DeliveryRow.batch_id == batch_id)
        return provider, condition

    def enqueue_audience(
        self,
        edition_id: int,
        list_id: int,
        audience: Audience | None = None,
        topics: bool = False,
    ) -> int:
        """Queue every subscribed address of the list that has no delivery of this edition yet
        (from this list or, for the same address, from another), and, with `audience`, chose
        the edition's frequency. With `topics` (the newsletter offers some), each delivery's
        variant starts as the reader's topics; else everyone gets the whole edition."""
        subscriber = SubscriberRow.__table__.c
        delivery = DeliveryRow.__table__.c
        conditions = [
            subscriber.list_id == list_id,
            subscriber.status == Status.SUBSCRIBED.value,
        ]
        if audience is not None:
            conditions.append(audience.condition(subscriber.frequency))
        with self.engine.begin() as connection:
            queued_before = connection.execute(
                select(DeliveryRow.id)
                .where(DeliveryRow.edition_id == edition_id, DeliveryRow.list_id == list_id)
                .limit(1)
            ).first()
            if queued_before is not None:
                # A rerun: only addresses that joined since (the first run skips this check,
                # a cost per subscriber).
                conditions.append(
                    ~exists().where(
                        delivery.edition_id == edition_id, delivery.subscriber_id == subscriber.id
                    )
                )
            other_lists = connection.execute(
                select(func.count())
                .select_from(DeliveryRow)
                .where(DeliveryRow.edition_id == edition_id, DeliveryRow.list_id != list_id)
            ).scalar()
            if other_lists:
                other = aliased(SubscriberRow)
                conditions.append(
                    ~exists()
                    .where(delivery.edition_id == edition_id)
                    .where(delivery.subscriber_id == other.id)
                    .where(other.email_key == subscriber.email_key)
                )
            source = select(
                literal(edition_id, Integer).label("edition_id"),
                subscriber.list_id,
                subscriber.id,
                literal(DeliveryStatus.PENDING.value, String).label("status"),
                subscriber.topics if topics else literal("", String).label("variant"),
            ).where(and_(*conditions))
            result = connection.execute(
                insert(DeliveryRow).from_select(
                    ["edition_id", "list_id", "subscriber_id", "status", "variant"], source
                )
            )
            return int(result.rowcount or 0)

    def sent_before(
        self, edition_id: int, newsletter: str, article_ids: Collection[int]
    ) -> list[EarlierCopy]:
        """For each pending delivery of the edition whose reader an earlier edition of the
        newsletter holding some of `article_ids` was sent to: that edition, the variant the
        reader got, and those articles (whether that copy held them is the caller's to say).
        Only editions holding one of these articles are read, a handful at most."""
        if not article_ids:
            return []
        now = aliased(DeliveryRow)
        query = (
            select(now.id, DeliveryRow.edition_id, DeliveryRow.variant, ItemRow.article_id)
            .select_from(ItemRow)
            .join(EditionRow, EditionRow.id == ItemRow.edition_id)
            .join(
                DeliveryRow,
                and_(
                    DeliveryRow.edition_id == ItemRow.edition_id,
                    DeliveryRow.status == DeliveryStatus.SENT.value,
                ),
            )
            .join(
                now,
                and_(
                    now.edition_id == edition_id,
                    now.subscriber_id == DeliveryRow.subscriber_id,
                    now.status == DeliveryStatus.PENDING.value,
                ),
            )
            .where(
                ItemRow.article_id.in_(list(article_ids)),
                ItemRow.edition_id != edition_id,
                EditionRow.newsletter == newsletter,
            )
        )
        found: dict[tuple[int, int, str], set[int]] = {}
        with self.engine.begin() as connection:
            for delivery_id, earlier, variant, article_id in connection.execute(query):
                found.setdefault((int(delivery_id), int(earlier), variant), set()).add(
                    int(article_id)
                )
        return [
            EarlierCopy(delivery_id, earlier, variant, frozenset(articles))
            for (delivery_id, earlier, variant), articles in found.items()
        ]

    def leave_out(self, suffix: str, delivery_ids: Sequence[int]) -> None:
        """These pending deliveries' copy leaves out stories sent before: their variant (the
        reader's topics) gets `suffix` (digest.variants), once, before any is sent."""
        with self.engine.begin() as connection:
            for start in range(0, len(delivery_ids), 500):
                connection.execute(
                    update(DeliveryRow)
                    .where(
                        DeliveryRow.id.in_(list(delivery_ids[start : start + 500])),
                        DeliveryRow.status == DeliveryStatus.PENDING.value,
                        DeliveryRow.batch_id.is_(None),
                        ~DeliveryRow.variant.contains("|"),
                    )
                    .values(variant=DeliveryRow.variant + suffix)
                )

    def assign_subject_lines(
        self, edition_id: int, list_id: int, lines: int, buckets: int, variants: Sequence[str]
    ) -> int:
        """An A/B test: the queued readers whose delivery hashes below `buckets` (of
        digest.subject_test.HASH_BUCKETS), and on a short list the next lowest too until each
        line has a reader, get the test lines in turn; the others wait for the winner. Only
        readers not yet assigned are, so a run cut off and run again assigns nobody twice."""
        from digest.subject_test import HASH_BUCKETS, HASH_MULTIPLIER

        # 64-bit arithmetic: the product outgrows PostgreSQL's 32-bit integer.
        spread = (cast(DeliveryRow.id, BigInteger) * literal(HASH_MULTIPLIER, BigInteger)) % (
            HASH_BUCKETS
        )
        mine = and_(DeliveryRow.edition_id == edition_id, DeliveryRow.list_id == list_id)
        waiting = and_(
            mine,
            DeliveryRow.status == DeliveryStatus.PENDING.value,
            DeliveryRow.subject_index == 0,
            DeliveryRow.variant.in_(list(variants)),  # copies that carry the lines
        )
        in_order = select(DeliveryRow.id).where(waiting).order_by(spread, DeliveryRow.id)
        with self.engine.begin() as connection:
            tested = connection.execute(
                select(func.count())
                .select_from(DeliveryRow)
                .where(mine, DeliveryRow.subject_index > 0)
            ).scalar_one()
            chosen = list(connection.execute(in_order.where(spread < buckets)).scalars())
            short = lines - tested - len(chosen)
            if short > 0:
                more = in_order.where(spread >= buckets).limit(short)
                chosen += connection.execute(more).scalars()
            for line in range(lines):
                # Each line in turn, after those assigned before: an even split.
                ids = chosen[(line - tested) % lines :: lines]
                for start in range(0, len(ids), 500):
                    connection.execute(
                        update(DeliveryRow)
                        .where(DeliveryRow.id.in_(ids[start : start + 500]))
                        .values(subject_index=line + 1)
                    )
        return len(chosen)

    def give_winner(self, edition_id: int, winner: int, variants: Sequence[str]) -> int:
        """The test is decided: every reader still waiting gets the winning line, recorded as
        its negative (-N: line N as the winner, to the rest; N: line N in the test)."""
        return self._update_queued(
            edition_id,
            [DeliveryRow.subject_index == 0, DeliveryRow.variant.in_(list(variants))],
            subject_index=-winner,
        )

    def pending_variants(
        self, edition_id: int, list_id: int, unclaimed: bool = False
    ) -> dict[tuple[str, int], int]:
        """The queue by (variant, subject line): how many readers wait for each (with
        `unclaimed`, only those no worker's batch holds: PostgreSQL's shared sends)."""
        query = (
            select(DeliveryRow.variant, DeliveryRow.subject_index, func.count())
            .where(
                DeliveryRow.edition_id == edition_id,
                DeliveryRow.list_id == list_id,
                DeliveryRow.status == DeliveryStatus.PENDING.value,
            )
            .group_by(DeliveryRow.variant, DeliveryRow.subject_index)
        )
        if unclaimed:
            query = query.where(DeliveryRow.batch_id.is_(None))
        with self.engine.begin() as connection:
            return {
                (variant, int(index)): int(count)
                for variant, index, count in connection.execute(query)
            }

    def skip_variant(self, edition_id: int, list_id: int, variant: str, reason: str) -> int:
        """Readers whose copy holds nothing this time: skipped, with the reason."""
        return self._update_queued(
            edition_id,
            [DeliveryRow.list_id == list_id, DeliveryRow.variant == variant],
            status=DeliveryStatus.SKIPPED.value,
            error=reason,
        )

    def _update_queued(
        self, edition_id: int, conditions: list[ColumnElement[bool]], **values: object
    ) -> int:
        """Change the edition's queued (pending) deliveries that meet `conditions`."""
        with self.engine.begin() as connection:
            result = connection.execute(
                update(DeliveryRow)
                .where(
                    DeliveryRow.edition_id == edition_id,
                    DeliveryRow.status == DeliveryStatus.PENDING.value,
                    *conditions,
                )
                .values(**values)
            )
            return int(result.rowcount or 0)

    def by_variant(self, edition_id: int) -> list[VariantCount]:
        """The edition's ledger by variant and subject line, for the send report."""
        query = (
            select(DeliveryRow.variant, DeliveryRow.subject_index, DeliveryRow.status, func.count())
            .where(DeliveryRow.edition_id == edition_id)
            .group_by(DeliveryRow.variant, DeliveryRow.subject_index, DeliveryRow.status)
        )
        counts: dict[tuple[str, int], dict[str, int]] = {}
        with self.engine.begin() as connection:
            for variant, index, status, count in connection.execute(query):
                counts.setdefault((variant, int(index)), {})[status] = int(count)
        return [
            VariantCount(variant, index, statuses)
            for (variant, index), statuses in sorted(counts.items())
        ]

    def cut_off_batches(self, edition_id: int, list_id: int) -> list[int]:
        with self.engine.begin() as connection:
            return list(
                connection.execute(
                    select(BatchRow.id).where(
                        BatchRow.edition_id == edition_id,
                        BatchRow.list_id == list_id,
                        BatchRow.status == BatchStatus.SENDING.value,
                    )
                ).scalars()
            )

    def settle_unknown(
        self, batch_id: int, resend: bool, reason: str, awaiting_events: bool = False
    ) -> int:
        """Decide a batch of unknown outcome: leave its readers in the queue (resend), or mark
        them unknown so they are not sent to again (skip); with `awaiting_events`, unknown
        until the provider's events say otherwise (`apply_event`) or `settle_awaiting`
        decides. Returns how many it held."""
        if resend:
            status = BatchStatus.ABANDONED
        else:
            status = BatchStatus.AWAITING if awaiting_events else BatchStatus.UNKNOWN
        with self.engine.begin() as connection:
            connection.execute(
                update(BatchRow)
                .where(BatchRow.id == batch_id)
                .values(status=status.value, error=reason, finished_at=utcnow())
            )
            in_batch = self._pending_in(connection, batch_id)
            if resend:
                # Back in the queue: unmarked, for a claimed batch's deliveries (a no-op for
                # the others, which were never marked).
                return int(
                    connection.execute(
                        update(DeliveryRow).where(in_batch).values(batch_id=None)
                    ).rowcount
                    or 0
                )
            result = connection.execute(
                update(DeliveryRow)
                .where(in_batch)
                .values(status=DeliveryStatus.UNKNOWN.value, batch_id=batch_id, error=reason)
            )
            return int(result.rowcount or 0)

    def requeue_deferred(self, edition_id: int, list_id: int, now: datetime) -> int:
        """At the start of a run: give temporarily refused recipients whose time has come
        another try."""
        with self.engine.begin() as connection:
            result = connection.execute(
                update(DeliveryRow)
                .where(
                    DeliveryRow.edition_id == edition_id,
                    DeliveryRow.list_id == list_id,
                    DeliveryRow.status == DeliveryStatus.DEFERRED.value,
                    (DeliveryRow.next_attempt_at.is_(None)) | (DeliveryRow.next_attempt_at <= now),
                )
                .values(status=DeliveryStatus.PENDING.value, batch_id=None)
            )
            return int(result.rowcount or 0)

    def next_attempt(self, edition_id: int, list_ids: Iterable[int]) -> datetime | None:
        """The earliest time a deferred delivery of the edition is due again."""
        with self.engine.begin() as connection:
            found: datetime | None = connection.execute(
                select(func.min(DeliveryRow.next_attempt_at)).where(
                    DeliveryRow.edition_id == edition_id,
                    DeliveryRow.list_id.in_(list(list_ids)),
                    DeliveryRow.status == DeliveryStatus.DEFERRED.value,
                )
            ).scalar()
        return found

    def awaiting_batches(self, edition_id: int, list_id: int) -> list[tuple[int, datetime | None]]:
        """Batches waiting for events: (id, since when)."""
        with self.engine.begin() as connection:
            rows = connection.execute(
                select(BatchRow.id, BatchRow.finished_at).where(
                    BatchRow.edition_id == edition_id,
                    BatchRow.list_id == list_id,
                    BatchRow.status == BatchStatus.AWAITING.value,
                )
            ).all()
        return [(int(batch_id), since) for batch_id, since in rows]

    def settle_awaiting(self, batch_id: int, resend: bool) -> tuple[int, bool]:
        """The wait is over: readers no event accounted for follow the policy, except when
        the provider's events for this edition did arrive, yet none named this batch: then it
        never reached the provider (which reports every message it takes), and it is sent.
        Returns how many were still unknown, and whether they were put back in the queue."""
        with self.engine.begin() as connection:
            still = and_(
                DeliveryRow.batch_id == batch_id,
                DeliveryRow.status == DeliveryStatus.UNKNOWN.value,
            )
            count = int(
                connection.execute(
                    select(func.count()).select_from(DeliveryRow).where(still)
                ).scalar_one()
            )
            named = connection.execute(
                select(DeliveryRow.id)
                .where(
                    DeliveryRow.batch_id == batch_id,
                    DeliveryRow.status.in_(
                        [DeliveryStatus.SENT.value, DeliveryStatus.FAILED.value]
                    ),
                )
                .limit(1)
            ).first()
            seen = connection.execute(
                select(BatchRow.events_seen_at).where(BatchRow.id == batch_id)
            ).scalar()
            requeue = resend or (named is None and seen is not None)
            if requeue:
                connection.execute(
                    update(DeliveryRow)
                    .where(still)
                    .values(status=DeliveryStatus.PENDING.value, batch_id=None)
                )
            connection.execute(
                update(BatchRow)
                .where(BatchRow.id == batch_id)
                .values(status=(BatchStatus.ABANDONED if requeue else BatchStatus.UNKNOWN).value)
            )
            return count, requeue

    def apply_event(self, delivery_id: int, edition_id: int, event: str, reason: str = "") -> bool:
        """A provider's event about one delivery: proof that the message was taken (or that it
        failed) settles a delivery whose outcome was not known yet. Returns whether it changed."""
        if event in TAKEN_EVENTS:
            values: dict[str, object] = {
                "status": DeliveryStatus.SENT.value,
                "error": None,
                "sent_at": utcnow(),
            }
            unsettled = [DeliveryStatus.PENDING.value, DeliveryStatus.UNKNOWN.value]
        elif event in FAILED_EVENTS:
            values = {
                "status": DeliveryStatus.FAILED.value,
                "error": f"{event}: {reason}".rstrip(": "),
            }
            unsettled = [
                DeliveryStatus.PENDING.value,
                DeliveryStatus.UNKNOWN.value,
                DeliveryStatus.SENT.value,
            ]
        else:
            return False
        with self.engine.begin() as connection:
            result = connection.execute(
                update(DeliveryRow)
                .where(
                    DeliveryRow.id == delivery_id,
                    DeliveryRow.edition_id == edition_id,
                    DeliveryRow.status.in_(unsettled),
                )
                .values(**values)
            )
            known = connection.execute(
                select(DeliveryRow.id).where(
                    DeliveryRow.id == delivery_id, DeliveryRow.edition_id == edition_id
                )
            ).first()
            if known is not None:
                # Events for this edition arrive: batches whose outcome is open learn that
                # the webhook works (see settle_awaiting).
                connection.execute(
                    update(BatchRow)
                    .where(
                        BatchRow.edition_id == edition_id,
                        BatchRow.status.in_(
                            [BatchStatus.AWAITING.value, BatchStatus.SENDING.value]
                        ),
                        BatchRow.events_seen_at.is_(None),  # once: events come by the thousand
                    )
                    .values(events_seen_at=utcnow())
                )
            return bool(result.rowcount)

    def resend_unknown(self, edition_id: int) -> int:
        """An operator's decision: readers of unknown outcome are sent the edition again."""
        with self.engine.begin() as connection:
            result = connection.execute(
                update(DeliveryRow)
                .where(
                    DeliveryRow.edition_id == edition_id,
                    DeliveryRow.status == DeliveryStatus.UNKNOWN.value,
                )
                .values(status=DeliveryStatus.PENDING.value, batch_id=None)
            )
            return int(result.rowcount or 0)

    def forget(self, subscriber_ids: Sequence[int]) -> list[int]:
        """Erasure: provider replies quote the address, so the deliveries of these subscribers
        lose their error text. Returns their ids (for the outbox files to delete)."""
        if not subscriber_ids:
            return []
        with self.engine.begin() as connection:
            ids = list(
                connection.execute(
                    select(DeliveryRow.id).where(DeliveryRow.subscriber_id.in_(subscriber_ids))
                ).scalars()
            )
            connection.execute(
                update(DeliveryRow)
                .where(DeliveryRow.subscriber_id.in_(subscriber_ids))
                .values(error=None)
            )
        return ids

    def next_pending(
        self,
        edition_id: int,
        list_id: int,
        limit: int,
        after_id: int = 0,
        variant: str = "",
        subject_index: int = 0,
    ) -> list[QueuedDelivery]:
        """The next queued deliveries of one variant and subject line in id order, after
        `after_id` (the end of the batch in flight, whose deliveries are still pending)."""
        query = (
            select(
                DeliveryRow.id,
                DeliveryRow.subscriber_id,
                SubscriberRow.email,
                SubscriberRow.name,
                SubscriberRow.email_key,
                SubscriberRow.status,
            )
            .join(SubscriberRow, SubscriberRow.id == DeliveryRow.subscriber_id, isouter=True)
            .where(
                DeliveryRow.edition_id == edition_id,
                DeliveryRow.list_id == list_id,
                DeliveryRow.status == DeliveryStatus.PENDING.value,
                DeliveryRow.variant == variant,
                DeliveryRow.subject_index == subject_index,
                DeliveryRow.id > after_id,
            )
            .order_by(DeliveryRow.id)
            .limit(limit)
        )
        subscribed = Status.SUBSCRIBED.value
        with self.engine.begin() as connection:
            rows = connection.execute(query).all()
        # Erased or no longer subscribed since the send began: honoured at once.
        return [
            QueuedDelivery(
                delivery, subscriber or 0, email or "", name or "", key or "", status == subscribed
            )
            for delivery, subscriber, email, name, key, status in rows
        ]

    def skip(self, delivery_ids: Sequence[int], reason: str) -> None:
        if not delivery_ids:
            return
        with self.engine.begin() as connection:
            connection.execute(
                update(DeliveryRow)
                .where(DeliveryRow.id.in_(delivery_ids))
                .values(status=DeliveryStatus.SKIPPED.value, error=reason)
            )

    def open_batch(
        self,
        edition_id: int,
        list_id: int,
        provider: str,
        delivery_ids: Sequence[int],
        closing: BatchOutcome | None = None,
        variant: str = "",
        subject_index: int = 0,
    ) -> int:
        """Record the batch before its request is made (the point of no return).

        `delivery_ids` are consecutive pending deliveries of the queue (as next_pending returns
        them, less any skipped since), so the batch is stored as their id range. `closing`, the
        outcome of the batch before, is recorded in the same transaction.
        """
        first, last = min(delivery_ids), max(delivery_ids)
        with self.engine.begin() as connection:
            if closing is not None:
                self._close(connection, closing)
            batch_id = connection.execute(
                insert(BatchRow)
                .values(
                    edition_id=edition_id,
                    list_id=list_id,
                    provider=provider,
                    status=BatchStatus.SENDING.value,
                    variant=variant,
                    subject_index=subject_index,
                    size=len(delivery_ids),
                    first_delivery_id=first,
                    last_delivery_id=last,
                    created_at=utcnow(),
                )
                .returning(BatchRow.id)
            ).scalar_one()
        condition = _pending_range(edition_id, list_id, variant, subject_index, first, last)
        self._opened[int(batch_id)] = (provider, condition)
        return int(batch_id)

    def close_batch(self, outcome: BatchOutcome) -> None:
        """The provider took the batch: its deliveries are sent, except refused recipients."""
        with self.engine.begin() as connection:
            self._close(connection, outcome)

    def record_outcome(self, connection: Connection, outcome: BatchOutcome) -> None:
        """Close a batch within the caller's transaction (digest.store.claims)."""
        self._close(connection, outcome)

    def pending_in(self, connection: Connection, batch_id: int) -> ColumnElement[bool]:
        """The condition for a batch's still-pending deliveries (digest.store.claims)."""
        return self._pending_in(connection, batch_id)

    def _close(self, connection: Connection, outcome: BatchOutcome) -> None:
        now = utcnow()
        permanent = {d: f for d, f in outcome.failures.items() if f.permanent}
        temporary = {d: f for d, f in outcome.failures.items() if not f.permanent}
        for delivery_id, failure in permanent.items():
            connection.execute(
                update(DeliveryRow)
                .where(DeliveryRow.id == delivery_id)
                .values(
                    status=DeliveryStatus.FAILED.value,
                    batch_id=outcome.batch_id,
                    error=failure.reason,
                    next_attempt_at=None,
                )
            )
        if temporary:
            self._defer(connection, outcome, temporary, now)
        for delivery_id, reason in outcome.unknown.items():
            connection.execute(
                update(DeliveryRow)
                .where(DeliveryRow.id == delivery_id)
                .values(
                    # Resent by the next run; else left unknown, never sent twice.
                    status=(
                        DeliveryStatus.PENDING if outcome.resend_unknown else DeliveryStatus.UNKNOWN
                    ).value,
                    batch_id=None if outcome.resend_unknown else outcome.batch_id,
                    error=reason,
                )
            )
        opened = self._opened.pop(outcome.batch_id, None)
        provider, in_batch = opened or self._batch_range(connection, outcome.batch_id)
        taken = in_batch
        if outcome.unknown and outcome.resend_unknown:
            # Put back in the queue, but not taken by this batch.
            taken = and_(in_batch, DeliveryRow.id.not_in(list(outcome.unknown)))
        connection.execute(
            update(DeliveryRow)
            .where(taken)
            .values(
                status=DeliveryStatus.SENT.value,
                batch_id=outcome.batch_id,
                provider=provider,
                provider_id=outcome.provider_id,
                sent_at=now,
                error=None,
                next_attempt_at=None,
            )
        )
        connection.execute(
            update(BatchRow)
            .where(BatchRow.id == outcome.batch_id)
            .values(status=BatchStatus.SENT.value, provider_id=outcome.provider_id, finished_at=now)
        )

    @staticmethod
    def _defer(
        connection: Connection,
        outcome: BatchOutcome,
        failures: dict[int, Failure],
        now: datetime,
    ) -> None:
        """Temporary refusals: try again later, with backoff, until the policy gives up."""
        rows = connection.execute(
            select(DeliveryRow.id, DeliveryRow.attempts, DeliveryRow.first_deferred_at).where(
                DeliveryRow.id.in_(list(failures))
            )
        ).all()
        for delivery_id, attempts, first in rows:
            attempts = (attempts or 0) + 1
            first = first or now
            failure = failures[delivery_id]
            retry_at = outcome.retry.next_attempt(attempts, first, now)
            if retry_at is None:
                status, error = (
                    DeliveryStatus.FAILED,
                    (
                        f"gave up after {attempts} temporary refusals over "
                        f"{_duration(now - first)}: {failure.reason}"
                    ),
                )
            else:
                status, error = DeliveryStatus.DEFERRED, failure.reason
            connection.execute(
                update(DeliveryRow)
                .where(DeliveryRow.id == delivery_id)
                .values(
                    status=status.value,
                    batch_id=outcome.batch_id,
                    error=error,
                    attempts=attempts,
                    first_deferred_at=first,
                    next_attempt_at=retry_at,
                )
            )

    def fail_batch(self, batch_id: int, error: str) -> None:
        """The provider certainly did not take the batch: its readers stay in the queue."""
        with self.engine.begin() as connection:
            connection.execute(
                update(DeliveryRow)
                .where(self._pending_in(connection, batch_id), DeliveryRow.batch_id.is_not(None))
                .values(batch_id=None)
            )
            connection.execute(
                update(BatchRow)
                .where(BatchRow.id == batch_id)
                .values(status=BatchStatus.FAILED.value, error=error, finished_at=utcnow())
            )

    def outcomes(
        self, edition_id: int, statuses: Sequence[str] | None = None, limit: int | None = None
    ) -> list[DeliveryOutcome]:
        """Each reader's outcome, in delivery order (optionally only some statuses)."""
        query = (
            select(
                DeliveryRow.id,
                SubscriberRow.email,
                DeliveryRow.status,
                DeliveryRow.error,
                DeliveryRow.attempts,
                DeliveryRow.next_attempt_at,
                DeliveryRow.sent_at,
            )
            .join(SubscriberRow, SubscriberRow.id == DeliveryRow.subscriber_id, isouter=True)
            .where(DeliveryRow.edition_id == edition_id)
            .order_by(DeliveryRow.id)
            .limit(limit)
        )
        if statuses:
            query = query.where(DeliveryRow.status.in_(list(statuses)))
        with self.engine.begin() as connection:
            rows = connection.execute(query).all()
        return [
            DeliveryOutcome(row[0], row[1] or "", row[2], row[3] or "", row[4] or 0, row[5], row[6])
            for row in rows
        ]

    def counts(self, edition_id: int, list_ids: Iterable[int] | None = None) -> dict[str, int]:
        query = (
            select(DeliveryRow.status, func.count())
            .where(DeliveryRow.edition_id == edition_id)
            .group_by(DeliveryRow.status)
        )
        if list_ids is not None:
            query = query.where(DeliveryRow.list_id.in_(list(list_ids)))
        with self.engine.begin() as connection:
            found = {status: int(count) for status, count in connection.execute(query)}
        return {status.value: found.get(status.value, 0) for status in DeliveryStatus}

    def by_edition(self, edition_ids: Iterable[int]) -> dict[int, EditionDeliveries]:
        """Each edition's ledger in brief (one query for a whole list); editions with no
        delivery are left out."""
        wanted = list(edition_ids)
        if not wanted:
            return {}
        query = (
            select(
                DeliveryRow.edition_id,
                DeliveryRow.status,
                func.count(),
                func.max(DeliveryRow.sent_at),
            )
            .where(DeliveryRow.edition_id.in_(wanted))
            .group_by(DeliveryRow.edition_id, DeliveryRow.status)
        )
        counts: dict[int, dict[str, int]] = {}
        last: dict[int, datetime | None] = {}
        with self.engine.begin() as connection:
            for edition_id, status, count, sent_at in connection.execute(query):
                counts.setdefault(edition_id, {})[status] = int(count)
                if sent_at is not None:
                    sent_at = _aware(sent_at)
                    before = last.get(edition_id)
                    last[edition_id] = sent_at if before is None else max(before, sent_at)
        return {key: EditionDeliveries(value, last.get(key)) for key, value in counts.items()}


def _aware(moment: datetime) -> datetime:
    """In UTC, whatever an aggregate's result processing gave back."""
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _duration(span: timedelta) -> str:
    hours, rest = divmod(int(span.total_seconds()), 3600)
    return f"{hours} h {rest // 60} min" if hours else f"{rest // 60} min"


def _pending_range(
    edition_id: int, list_id: int, variant: str, subject_index: int, first: int, last: int
) -> ColumnElement[bool]:
    """A batch's still-pending deliveries: those of its copy in its id range (the queue
    index's order)."""
    return and_(
        DeliveryRow.edition_id == edition_id,
        DeliveryRow.list_id == list_id,
        DeliveryRow.status == DeliveryStatus.PENDING.value,
        DeliveryRow.variant == variant,
        DeliveryRow.subject_index == subject_index,
        DeliveryRow.id.between(first, last),
    )
