"""The delivery ledger: who must get an edition, which request carried it, what came of it.

A batch is recorded (status "sending") before its request is made and closed when the answer
is in. A batch still "sending" when a run starts was cut off between the two: its outcome is
unknown, and the caller's policy decides between skipping and resending it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Engine, Integer, String, and_, exists, func, insert, literal, select, update
from sqlalchemy.orm import aliased

from digest.store.tables import BatchRow, DeliveryRow, SubscriberRow, utcnow
from digest.subscribers.model import Status


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"
    UNKNOWN = "unknown"


class BatchStatus(StrEnum):
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNKNOWN = "unknown"  # cut off, skipped by policy: its readers may or may not have it
    ABANDONED = "abandoned"  # cut off, its readers put back in the queue by policy


@dataclass(frozen=True)
class QueuedDelivery:
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


class DeliveryRepository:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def enqueue_audience(self, edition_id: int, list_id: int) -> int:
        """Queue every subscribed address of the list that has no delivery of this edition yet
        (from this list or, for the same address, from another)."""
        subscriber = SubscriberRow.__table__.c
        delivery = DeliveryRow.__table__.c
        conditions = [
            subscriber.list_id == list_id,
            subscriber.status == Status.SUBSCRIBED.value,
            ~exists().where(
                delivery.edition_id == edition_id, delivery.subscriber_id == subscriber.id
            ),
        ]
        with self.engine.begin() as connection:
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
            ).where(and_(*conditions))
            result = connection.execute(
                insert(DeliveryRow).from_select(
                    ["edition_id", "list_id", "subscriber_id", "status"], source
                )
            )
            return int(result.rowcount or 0)

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

    def settle_unknown(self, batch_id: int, resend: bool, reason: str) -> int:
        """Decide a batch of unknown outcome: put its readers back in the queue, or mark them
        unknown so they are not sent to again. Returns how many deliveries it held."""
        with self.engine.begin() as connection:
            connection.execute(
                update(BatchRow)
                .where(BatchRow.id == batch_id)
                .values(
                    status=(BatchStatus.ABANDONED if resend else BatchStatus.UNKNOWN).value,
                    error=reason,
                    finished_at=utcnow(),
                )
            )
            if resend:
                values = {"status": DeliveryStatus.PENDING.value, "batch_id": None}
            else:
                values = {"status": DeliveryStatus.UNKNOWN.value, "error": reason}
            result = connection.execute(
                update(DeliveryRow)
                .where(
                    DeliveryRow.batch_id == batch_id,
                    DeliveryRow.status == DeliveryStatus.SENDING.value,
                )
                .values(**values)
            )
            return int(result.rowcount or 0)

    def next_pending(self, edition_id: int, list_id: int, limit: int) -> list[QueuedDelivery]:
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
            )
            .order_by(DeliveryRow.id)
            .limit(limit)
        )
        with self.engine.begin() as connection:
            return [
                QueuedDelivery(
                    delivery_id=row[0],
                    subscriber_id=row[1] or 0,
                    email=row[2] or "",
                    name=row[3] or "",
                    email_key=row[4] or "",
                    # Erased or no longer subscribed since the send began: honoured at once.
                    subscribed=row[5] == Status.SUBSCRIBED.value,
                )
                for row in connection.execute(query)
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
        self, edition_id: int, list_id: int, provider: str, delivery_ids: Sequence[int]
    ) -> int:
        """Record the batch before its request is made (the point of no return)."""
        with self.engine.begin() as connection:
            batch_id = connection.execute(
                insert(BatchRow)
                .values(
                    edition_id=edition_id,
                    list_id=list_id,
                    provider=provider,
                    status=BatchStatus.SENDING.value,
                    size=len(delivery_ids),
                    created_at=utcnow(),
                )
                .returning(BatchRow.id)
            ).scalar_one()
            connection.execute(
                update(DeliveryRow)
                .where(
                    DeliveryRow.id.in_(delivery_ids),
                    DeliveryRow.status == DeliveryStatus.PENDING.value,
                )
                .values(status=DeliveryStatus.SENDING.value, batch_id=batch_id, provider=provider)
            )
            return int(batch_id)

    def close_batch(
        self, batch_id: int, provider_id: str | None, failures: dict[int, Failure]
    ) -> None:
        """The provider took the batch: its deliveries are sent, except refused recipients."""
        now = utcnow()
        with self.engine.begin() as connection:
            for delivery_id, failure in failures.items():
                connection.execute(
                    update(DeliveryRow)
                    .where(DeliveryRow.id == delivery_id)
                    .values(
                        status=(
                            DeliveryStatus.FAILED if failure.permanent else DeliveryStatus.PENDING
                        ).value,
                        batch_id=None if not failure.permanent else batch_id,
                        error=failure.reason,
                    )
                )
            connection.execute(
                update(DeliveryRow)
                .where(
                    DeliveryRow.batch_id == batch_id,
                    DeliveryRow.status == DeliveryStatus.SENDING.value,
                )
                .values(status=DeliveryStatus.SENT.value, provider_id=provider_id, sent_at=now)
            )
            connection.execute(
                update(BatchRow)
                .where(BatchRow.id == batch_id)
                .values(status=BatchStatus.SENT.value, provider_id=provider_id, finished_at=now)
            )

    def fail_batch(self, batch_id: int, error: str) -> None:
        """The provider certainly did not take the batch: its readers go back in the queue."""
        with self.engine.begin() as connection:
            connection.execute(
                update(BatchRow)
                .where(BatchRow.id == batch_id)
                .values(status=BatchStatus.FAILED.value, error=error, finished_at=utcnow())
            )
            connection.execute(
                update(DeliveryRow)
                .where(
                    DeliveryRow.batch_id == batch_id,
                    DeliveryRow.status == DeliveryStatus.SENDING.value,
                )
                .values(status=DeliveryStatus.PENDING.value, batch_id=None)
            )

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
