"""The provider's events per delivery (delivered, bounced, complained, unsubscribed), kept
for the send report: the ledger says what we handed over, these say what became of it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, and_, func, literal, or_, select

from digest.send_guard import COMPLAINT, DELIVERED, GUARDED_KINDS, HARD_BOUNCE, GuardCounts
from digest.store.tables import (
    DeliveryEventCountRow,
    DeliveryEventRow,
    DeliveryRow,
    SubscriberRow,
    utcnow,
)
from digest.store.upsert import insert_for
from digest.subscribers.model import Status

# What the report counts, and the provider's event kinds that count for each.
REPORTED_KINDS = {
    "delivered": ("delivered",),
    "bounced": ("bounce", "dropped", "blocked"),
    "complained": ("spamreport",),
    "unsubscribed": ("unsubscribe", "group_unsubscribe"),
}
_KEPT = frozenset(kind for kinds in REPORTED_KINDS.values() for kind in kinds)


class DeliveryEventRepository:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._dialect = engine.dialect.name

    def record(
        self,
        delivery_id: int,
        edition_id: int,
        kind: str,
        reason: str = "",
        occurred_at: datetime | None = None,
    ) -> bool:
        """Keep one event of a kind the report counts, once per delivery and kind; an event
        naming no delivery of that edition (an old or foreign id) is not kept."""
        if kind not in _KEPT:
            return False
        table = DeliveryEventRow.__table__
        source = select(
            DeliveryRow.id,
            DeliveryRow.edition_id,
            literal(kind),
            literal(reason[:500]),
            literal(occurred_at, DeliveryEventRow.occurred_at.type),
            literal(utcnow(), DeliveryEventRow.recorded_at.type),
        ).where(DeliveryRow.id == delivery_id, DeliveryRow.edition_id == edition_id)
        statement = (
            insert_for(self._dialect, table)  # type: ignore[arg-type]
            .from_select(
                ["delivery_id", "edition_id", "kind", "reason", "occurred_at", "recorded_at"],
                source,
            )
            .on_conflict_do_nothing(index_elements=["delivery_id", "kind"])
        )
        with self.engine.begin() as connection:
            result = connection.execute(statement)
            if result.rowcount:  # kept: one more of its kind, in the same transaction
                connection.execute(self._counted(edition_id, kind))
        return bool(result.rowcount)

    def _counted(self, edition_id: int, kind: str) -> Any:
        table = DeliveryEventCountRow.__table__
        statement = insert_for(self._dialect, table).values(  # type: ignore[arg-type]
            edition_id=edition_id, kind=kind, count=1
        )
        return statement.on_conflict_do_update(
            index_elements=["edition_id", "kind"],
            set_={"count": DeliveryEventCountRow.count + 1},
        )

    def counts(self, edition_id: int) -> dict[str, int]:
        """Readers of the edition per reported outcome. Unsubscribed also counts readers who
        left by the email's own link (no provider event) after it was sent to them."""
        counts: dict[str, int] = {}
        with self.engine.begin() as connection:
            for name, kinds in REPORTED_KINDS.items():
                evented = (
                    select(DeliveryEventRow.delivery_id)
                    .where(
                        DeliveryEventRow.edition_id == edition_id,
                        DeliveryEventRow.kind.in_(kinds),
                    )
                    .scalar_subquery()
                )
                condition: ColumnElement[bool] = DeliveryRow.id.in_(evented)
                query = select(func.count(DeliveryRow.id)).where(
                    DeliveryRow.edition_id == edition_id
                )
                if name == "unsubscribed":
                    left = and_(
                        SubscriberRow.status == Status.UNSUBSCRIBED.value,
                        DeliveryRow.sent_at.is_not(None),
                        SubscriberRow.updated_at >= DeliveryRow.sent_at,
                    )
                    query = query.outerjoin(
                        SubscriberRow, SubscriberRow.id == DeliveryRow.subscriber_id
                    )
                    condition = or_(condition, left)
                counts[name] = int(connection.execute(query.where(condition)).scalar_one())
        return counts

    def guard_counts(self, edition_id: int) -> GuardCounts:
        """What the complaint and bounce guard weighs: readers delivered, who complained, who
        hard-bounced (each once per kind), from the counts kept as events are recorded (three
        rows, however large the send)."""
        query = select(DeliveryEventCountRow.kind, DeliveryEventCountRow.count).where(
            DeliveryEventCountRow.edition_id == edition_id,
            DeliveryEventCountRow.kind.in_(GUARDED_KINDS),
        )
        with self.engine.begin() as connection:
            counts = {kind: int(count) for kind, count in connection.execute(query)}
        return GuardCounts(
            counts.get(DELIVERED, 0), counts.get(COMPLAINT, 0), counts.get(HARD_BOUNCE, 0)
        )
