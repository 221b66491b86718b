"""What `digest run` did for each scheduled time: one row per newsletter, time and action.

An action is claimed before its effect (a conditional write: exactly one affected row means
this run owns it, as healthchecks claims a report) and its outcome recorded after, so a run
killed in between leaves a claimed row that the next tick resumes. A build links its edition
to the claimed row in the transaction that creates the edition (`link_edition`): a draft is
never left without its slot.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from digest.run_plan import CLAIMED, SlotKey, SlotRun
from digest.store.tables import ScheduleRunRow, utcnow

__all__ = ["ScheduleRepository", "link_edition"]


class ScheduleRepository:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get(self, newsletter: str, slot: datetime, action: str) -> SlotRun | None:
        with self.engine.begin() as connection:
            row = connection.execute(
                select(ScheduleRunRow.__table__).where(_key(SlotKey(newsletter, slot, action)))
            ).first()
        return _run(row) if row is not None else None

    def since(self, newsletter: str, since: datetime) -> list[SlotRun]:
        """The rows of this newsletter's scheduled times at or after `since`."""
        table = ScheduleRunRow.__table__
        with self.engine.begin() as connection:
            rows = connection.execute(
                select(table)
                .where(table.c.newsletter == newsletter, table.c.slot >= since)
                .order_by(table.c.slot, table.c.id)
            ).all()
        return [_run(row) for row in rows]

    def claim(self, key: SlotKey, seen: SlotRun | None, edition_id: int | None = None) -> bool:
        """Take the action for this run if its row is still as `seen` (absent, or with the same
        status and time); False if another run got there first."""
        values: dict[str, object] = {"status": CLAIMED, "updated_at": utcnow()}
        if edition_id is not None:
            values["edition_id"] = edition_id
        if seen is None:
            try:
                with self.engine.begin() as connection:
                    connection.execute(
                        insert(ScheduleRunRow).values(
                            newsletter=key.newsletter,
                            slot=key.slot,
                            action=key.action,
                            detail="",
                            **values,
                        )
                    )
            except IntegrityError:
                return False
            return True
        with self.engine.begin() as connection:
            result = connection.execute(
                update(ScheduleRunRow)
                .where(
                    _key(key),
                    ScheduleRunRow.status == seen.status,
                    ScheduleRunRow.updated_at == seen.updated_at,
                )
                .values(**values)
            )
        return result.rowcount == 1

    def record(
        self,
        newsletter: str,
        slot: datetime,
        action: str,
        status: str,
        edition_id: int | None = None,
        detail: str = "",
    ) -> None:
        """The outcome of an action (it need not have been claimed)."""
        values = {
            "status": status,
            "edition_id": edition_id,
            "detail": detail,
            "updated_at": utcnow(),
        }
        key = _key(SlotKey(newsletter, slot, action))
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

    def mark(self, key: SlotKey, status: str, detail: str) -> None:
        """A claimed action's new status (failed: tried again next tick), keeping the edition
        it names: a build that made its edition and then failed must not lose it."""
        with self.engine.begin() as connection:
            connection.execute(
                update(ScheduleRunRow)
                .where(_key(key))
                .values(status=status, detail=detail, updated_at=utcnow())
            )

    def latest(self, newsletter: str, limit: int = 1) -> list[SlotRun]:
        table = ScheduleRunRow.__table__
        with self.engine.begin() as connection:
            rows = connection.execute(
                select(table)
                .where(table.c.newsletter == newsletter)
                .order_by(table.c.updated_at.desc(), table.c.id.desc())
                .limit(limit)
            ).all()
        return [_run(row) for row in rows]


def link_edition(transaction: Session | Connection, key: SlotKey, edition_id: int) -> bool:
    """Within the transaction that creates an edition: name it on its claimed slot row. False
    (roll the edition back) if the row is no longer claimed."""
    result = transaction.execute(
        update(ScheduleRunRow)
        .where(_key(key), ScheduleRunRow.status == CLAIMED)
        .values(edition_id=edition_id, updated_at=utcnow())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _key(key: SlotKey) -> ColumnElement[bool]:
    return (
        (ScheduleRunRow.newsletter == key.newsletter)
        & (ScheduleRunRow.slot == key.slot)
        & (ScheduleRunRow.action == key.action)
    )


def _run(row: object) -> SlotRun:
    mapping = row._mapping  # type: ignore[attr-defined]
    return SlotRun(
        newsletter=mapping["newsletter"],
        slot=mapping["slot"],
        action=mapping["action"],
        status=mapping["status"],
        edition_id=mapping["edition_id"],
        detail=mapping["detail"],
        updated_at=mapping["updated_at"],
    )
