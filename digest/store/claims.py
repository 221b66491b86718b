"""Workers that share a send on PostgreSQL: who is alive, and which batch each one claims.

A worker is a row of `send_workers` and a session-level advisory lock on its id, held on a
connection of its own for as long as it works. The server drops the lock when that session
ends, however the process ended (SIGKILL and a host lost included), so "the owner's lock is
free" is the proof that an open batch was cut off, and a live worker's batch is never taken
for a dead one's.

A worker claims a batch in one transaction: the next pending deliveries of one copy of the
edition (variant, subject line) that no batch holds, `FOR UPDATE SKIP LOCKED`, marked with
the new batch, which is recorded "claimed" with the worker's id. Two workers never get the same
reader: a row another worker is claiming is skipped, and one it claimed is marked. Just before
its request the batch turns "sending", in the transaction that records the previous batch's
outcome (as on SQLite): a claimed batch whose worker died was never requested, and is simply
given back to the queue; a sending one follows the policy for a batch cut off.

Both transactions first check that this worker still holds its lock, so a worker whose session
was lost (and whose batches others may already be taking over) stops instead of sending.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, and_, delete, insert, select, text, update
from sqlalchemy.exc import SQLAlchemyError

from digest.errors import DigestError
from digest.store.deliveries import (
    BatchOutcome,
    BatchStatus,
    DeliveryRepository,
    DeliveryStatus,
    QueuedDelivery,
)
from digest.store.tables import BatchRow, DeliveryRow, WorkerRow, utcnow
from digest.subscribers.model import Status

# The first key of the workers' two-key advisory locks ("dgwr"): two-key locks are apart from
# the one-key locks of digest.store.locks, whatever the numbers.
LOCK_CLASS = 0x64677772
_HELD = """EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory'
    AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
    AND l.classid = CAST(:lock_class AS oid) AND l.objsubid = 2 AND l.granted
    AND l.objid = CAST({worker} AS oid){pid})"""
GONE_REASON = "no longer subscribed"
# The next pending deliveries of one copy that no batch holds, skipping rows another worker is
# claiming (SKIP LOCKED), marked with the batch, returned with their subscribers.
_CLAIM = text(
    """UPDATE deliveries AS d SET batch_id = :batch_id
    FROM (
        SELECT id, subscriber_id FROM deliveries
        WHERE edition_id = :edition_id AND list_id = :list_id AND status = :pending
            AND variant = :variant AND subject_index = :subject_index AND batch_id IS NULL
        ORDER BY id LIMIT :limit
        FOR UPDATE SKIP LOCKED
    ) AS picked
    LEFT JOIN subscribers AS s ON s.id = picked.subscriber_id
    WHERE d.id = picked.id
    RETURNING d.id, picked.subscriber_id, s.email, s.name, s.email_key, s.status"""
)


class WorkerLost(DigestError):
    """This worker's database session (and with it its lock) is gone: the others may be taking
    its batches over, so it must not send another."""


@dataclass(frozen=True)
class Worker:
    """This process as a worker: its id, and the server process that holds its lock."""

    id: int
    backend_pid: int


@dataclass(frozen=True)
class Claimed:
    """A batch claimed: its id, its readers (still subscribed), and how many were skipped."""

    batch_id: int
    queued: list[QueuedDelivery]
    skipped: int


class BatchClaims:
    def __init__(self, engine: Engine, deliveries: DeliveryRepository) -> None:
        self.engine, self.deliveries = engine, deliveries

    @contextmanager
    def worker(self) -> Iterator[Worker]:
        """Be a worker for the block: a row, and its lock held on a connection kept open."""
        with self.engine.begin() as connection:
            worker_id = connection.execute(
                insert(WorkerRow)
                .values(host=socket.gethostname()[:255], pid=os.getpid(), started_at=utcnow())
                .returning(WorkerRow.id)
            ).scalar_one()
        with self.engine.connect() as session:
            key = {"lock_class": LOCK_CLASS, "worker": worker_id}
            session.execute(text("SELECT pg_advisory_lock(:lock_class, :worker)"), key)
            pid = int(session.execute(text("SELECT pg_backend_pid()")).scalar_one())
            session.commit()
            worker = Worker(int(worker_id), pid)
            try:
                yield worker
            finally:
                self.release_own(worker)
                with suppress(SQLAlchemyError):  # a session already lost holds nothing
                    session.execute(text("SELECT pg_advisory_unlock(:lock_class, :worker)"), key)
                    session.commit()

    def claim(
        self,
        worker: Worker,
        edition_id: int,
        list_id: int,
        provider: str,
        limit: int,
        variant: str = "",
        subject_index: int = 0,
    ) -> Claimed | None:
        """Claim the next pending readers of one copy, up to `limit`; None when none is left
        unclaimed. Readers no longer subscribed are skipped in the same transaction.

        The batch's row first (its deliveries name it), then one statement picks and marks
        its deliveries and returns them with their subscribers: no list of a thousand ids
        goes back and forth (sent as parameters, it cost more than the rest of the claim)."""
        values = {
            "edition_id": edition_id,
            "list_id": list_id,
            "pending": DeliveryStatus.PENDING.value,
            "variant": variant,
            "subject_index": subject_index,
            "limit": limit,
        }
        subscribed, skipped = Status.SUBSCRIBED.value, 0
        with self.engine.begin() as connection:
            self._check_alive(connection, worker)
            while True:
                batch_id = int(
                    connection.execute(
                        insert(BatchRow)
                        .values(
                            edition_id=edition_id,
                            list_id=list_id,
                            provider=provider,
                            status=BatchStatus.CLAIMED.value,
                            variant=variant,
                            subject_index=subject_index,
                            size=0,
                            first_delivery_id=0,
                            last_delivery_id=0,
                            created_at=utcnow(),
                            worker_id=worker.id,
                        )
                        .returning(BatchRow.id)
                    ).scalar_one()
                )
                rows = connection.execute(_CLAIM, {**values, "batch_id": batch_id}).all()
                if not rows:  # nothing to claim: no batch either
                    connection.execute(delete(BatchRow).where(BatchRow.id == batch_id))
                    return None
                queued = sorted(
                    QueuedDelivery(
                        d, s or 0, email or "", name or "", key or "", status == subscribed
                    )
                    for d, s, email, name, key, status in rows
                )
                gone = [q.delivery_id for q in queued if not q.subscribed]
                if gone:  # erased or unsubscribed since the send began: honoured at once
                    connection.execute(
                        update(DeliveryRow)
                        .where(DeliveryRow.id.in_(gone))
                        .values(status=DeliveryStatus.SKIPPED.value, error=GONE_REASON)
                    )
                    skipped += len(gone)
                queued = [q for q in queued if q.subscribed]
                ids = [q.delivery_id for q in queued]
                connection.execute(
                    update(BatchRow)
                    .where(BatchRow.id == batch_id)
                    .values(
                        size=len(ids),
                        first_delivery_id=min(ids, default=0),
                        last_delivery_id=max(ids, default=0),
                        **({} if ids else {"status": BatchStatus.RELEASED.value}),
                    )
                )
                if queued:
                    return Claimed(batch_id, queued, skipped)

    def start(self, worker: Worker, batch_id: int, closing: BatchOutcome | None) -> None:
        """The point of no return: the claimed batch is "sending", recorded with the outcome
        of the batch before it, while this worker is known to be alive."""
        with self.engine.begin() as connection:
            self._check_alive(connection, worker)
            if closing is not None:
                self.deliveries.record_outcome(connection, closing)
            started = connection.execute(
                update(BatchRow)
                .where(
                    BatchRow.id == batch_id,
                    BatchRow.status == BatchStatus.CLAIMED.value,
                    BatchRow.worker_id == worker.id,
                )
                .values(status=BatchStatus.SENDING.value, created_at=utcnow())
            ).rowcount
            if not started:
                raise WorkerLost(f"batch {batch_id} is no longer this worker's: not sent")

    def cut_off(self, edition_id: int, list_id: int) -> tuple[list[int], list[int]]:
        """The open batches of dead workers (their lock is free), or of a run from before
        workers: (claimed, never requested; sending, of unknown outcome)."""
        query = text(
            "SELECT id, status FROM send_batches b WHERE edition_id = :edition_id"
            " AND list_id = :list_id AND status IN (:claimed, :sending)"
            f" AND (worker_id IS NULL OR NOT {_HELD.format(worker='b.worker_id', pid='')})"
            " ORDER BY id"
        )
        with self.engine.begin() as connection:
            rows = connection.execute(
                query,
                {
                    "edition_id": edition_id,
                    "list_id": list_id,
                    "claimed": BatchStatus.CLAIMED.value,
                    "sending": BatchStatus.SENDING.value,
                    "lock_class": LOCK_CLASS,
                },
            ).all()
        claimed = [int(i) for i, status in rows if status == BatchStatus.CLAIMED.value]
        sending = [int(i) for i, status in rows if status == BatchStatus.SENDING.value]
        return claimed, sending

    def in_flight(self, edition_id: int, list_ids: Sequence[int]) -> int:
        """Readers in the batches live workers have open (claimed or sending)."""
        query = text(
            "SELECT COALESCE(SUM(size), 0) FROM send_batches b WHERE edition_id = :edition_id"
            " AND list_id = ANY(:list_ids) AND status IN (:claimed, :sending)"
            f" AND worker_id IS NOT NULL AND {_HELD.format(worker='b.worker_id', pid='')}"
        )
        with self.engine.begin() as connection:
            return int(
                connection.execute(
                    query,
                    {
                        "edition_id": edition_id,
                        "list_ids": list(list_ids),
                        "claimed": BatchStatus.CLAIMED.value,
                        "sending": BatchStatus.SENDING.value,
                        "lock_class": LOCK_CLASS,
                    },
                ).scalar_one()
            )

    def release(self, batch_ids: Sequence[int]) -> int:
        """Claimed batches never requested: their readers go back to the queue."""
        count = 0
        with self.engine.begin() as connection:
            for batch_id in batch_ids:
                count += self._release(connection, batch_id)
        return count

    def release_own(self, worker: Worker) -> int:
        """As a worker stops: the batches it claimed and will not send go back to the queue."""
        with self.engine.begin() as connection:
            mine = connection.execute(
                select(BatchRow.id).where(
                    BatchRow.worker_id == worker.id, BatchRow.status == BatchStatus.CLAIMED.value
                )
            ).scalars()
            return sum(self._release(connection, batch_id) for batch_id in list(mine))

    def _release(self, connection: Connection, batch_id: int) -> int:
        in_batch = self.deliveries.pending_in(connection, batch_id)
        count = connection.execute(update(DeliveryRow).where(in_batch).values(batch_id=None))
        connection.execute(
            update(BatchRow)
            .where(and_(BatchRow.id == batch_id, BatchRow.status == BatchStatus.CLAIMED.value))
            .values(status=BatchStatus.RELEASED.value, finished_at=utcnow())
        )
        return int(count.rowcount or 0)

    @staticmethod
    def _check_alive(connection: Connection, worker: Worker) -> None:
        held = connection.execute(
            text("SELECT " + _HELD.format(worker=":worker", pid=" AND l.pid = :pid")),
            {"lock_class": LOCK_CLASS, "worker": worker.id, "pid": worker.backend_pid},
        ).scalar_one()
        if not held:
            raise WorkerLost(
                f"send worker {worker.id} lost its database session: it stops, and the other "
                "workers (or the next run) take its batches over"
            )
