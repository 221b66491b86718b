"""What `digest run` did for each scheduled time: one row per newsletter, time and action, so
that every action happens once, and a crashed one is resumed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from digest.store.tables import ScheduleRunRow, utcnow

# Outcomes after which a scheduled action is not tried again.
FINAL = frozenset({"done", "skipped", "not_approved", "cancelled"})


@dataclass(frozen=True)
class ScheduleRun:
    newsletter: str
    slot: datetime
    action: str
    status: str
    edition_id: int | None
    detail: str
    updated_at: datetime


class ScheduleRepository:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get(self, newsletter: str, slot: datetime, action: str) -> ScheduleRun | None:
        with self.engine.begin() as connection:
            row = connection.execute(
                select(ScheduleRunRow.__table__).where(
                    ScheduleRunRow.newsletter == newsletter,
                    ScheduleRunRow.slot == slot,
                    ScheduleRunRow.action == action,
                )
            ).first()
        return _run(row) if row is not None else None

    def record(
        self,
        newsletter: str,
        slot: datetime,
        action: str,
        status: str,
        edition_id: int | None = None,
        detail: str = "",
    ) -> None:
        values = {
            "status": status,
            "edition_id": edition_id,
            "detail": detail,
            "updated_at": utcnow(),
        }
        key = (
            (ScheduleRunRow.newsletter == newsletter)
            & (ScheduleRunRow.slot == slot)
            & (ScheduleRunRow.action == action)
        )
        with self.engine.begin() as connection:
            if connection.execute(update(ScheduleRunRow).where(key).values(**values)).rowcount:
                return
        try:
            with self.engine.begin() as connection:
                connection.execute(
                    insert(ScheduleRunRow).values(
                        newsletter=newsletter, slot=slot, action=action, **values
                    )
                )
        except IntegrityError:
            with self.engine.begin() as connection:
                connection.execute(update(ScheduleRunRow).where(key).values(**values))

    def latest(self, newsletter: str, limit: int = 1) -> list[ScheduleRun]:
        table = ScheduleRunRow.__table__
        with self.engine.begin() as connection:
            rows = connection.execute(
                select(table)
                .where(table.c.newsletter == newsletter)
                .order_by(table.c.updated_at.desc(), table.c.id.desc())
                .limit(limit)
            ).all()
        return [_run(row) for row in rows]


def _run(row: object) -> ScheduleRun:
    mapping = row._mapping  # type: ignore[attr-defined]
    slot = mapping["slot"]
    return ScheduleRun(
        newsletter=mapping["newsletter"],
        slot=slot,
        action=mapping["action"],
        status=mapping["status"],
        edition_id=mapping["edition_id"],
        detail=mapping["detail"],
        updated_at=mapping["updated_at"],
    )
