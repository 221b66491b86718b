"""Sends paused by the complaint and bounce guard, and their resumes: one row per pause, at
most one open per edition (a partial unique index: a second pause of a paused send is
refused by the database, whichever process tries)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Engine, RowMapping, insert, select, update
from sqlalchemy.exc import IntegrityError

from digest.send_guard import GuardCounts, SendPause, Verdict
from digest.store.tables import SendPauseRow, utcnow

_CHUNK = 500  # ids per query: well under every backend's limit on bound parameters
_TABLE = SendPauseRow.__table__


class SendPauseRepository:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def pause(self, edition_id: int, verdict: Verdict, at: datetime | None = None) -> SendPause:
        """Record the pause; when the edition is paused already, that pause is returned."""
        row = {
            "edition_id": edition_id,
            "paused_at": at or utcnow(),
            "kind": verdict.kind,
            "reason": verdict.reason(),
            "count": verdict.count,
            "out_of": verdict.out_of,
            "rate": verdict.rate,
            "threshold": verdict.threshold,
            "resumed_by": "",
        }
        try:
            with self.engine.begin() as connection:
                connection.execute(insert(SendPauseRow).values(**row))
        except IntegrityError:
            pass  # paused already (the open-pause index): that pause stands
        found = self.open_pause(edition_id)
        assert found is not None
        return found

    def open_pause(self, edition_id: int) -> SendPause | None:
        return self.open_pauses([edition_id]).get(edition_id)

    def open_pauses(self, edition_ids: Iterable[int]) -> dict[int, SendPause]:
        """The open pause of each of these editions that has one."""
        ids = sorted(set(edition_ids))
        found: dict[int, SendPause] = {}
        with self.engine.begin() as connection:
            for start in range(0, len(ids), _CHUNK):
                query = select(_TABLE).where(
                    _TABLE.c.edition_id.in_(ids[start : start + _CHUNK]),
                    _TABLE.c.resumed_at.is_(None),
                )
                for row in connection.execute(query).mappings():
                    pause = _pause(row)
                    found[pause.edition_id] = pause
        return found

    def latest(self, edition_id: int) -> SendPause | None:
        """The edition's last pause, open or resumed (None: never paused)."""
        query = (
            select(_TABLE)
            .where(_TABLE.c.edition_id == edition_id)
            .order_by(_TABLE.c.id.desc())
            .limit(1)
        )
        with self.engine.begin() as connection:
            row = connection.execute(query).mappings().first()
        return _pause(row) if row is not None else None

    def resume(
        self, edition_id: int, by: str, counts: GuardCounts, at: datetime | None = None
    ) -> SendPause | None:
        """Close the open pause (a conditional update: of two resumes at once, one does it),
        keeping who and when, and the counts now as the guard's baseline. None when the
        edition was not paused."""
        statement = (
            update(SendPauseRow)
            .where(SendPauseRow.edition_id == edition_id, SendPauseRow.resumed_at.is_(None))
            .values(
                resumed_at=at or utcnow(),
                resumed_by=by[:200],
                resumed_delivered=counts.delivered,
                resumed_complaints=counts.complaints,
                resumed_bounces=counts.bounces,
            )
        )
        with self.engine.begin() as connection:
            if connection.execute(statement).rowcount != 1:
                return None
        return self.latest(edition_id)

    def mark_notified(self, pause_id: int, at: datetime | None = None) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                update(SendPauseRow)
                .where(SendPauseRow.id == pause_id)
                .values(notified_at=at or utcnow())
            )


def _pause(values: RowMapping) -> SendPause:
    baseline = None
    if values["resumed_at"] is not None:
        baseline = GuardCounts(
            values["resumed_delivered"] or 0,
            values["resumed_complaints"] or 0,
            values["resumed_bounces"] or 0,
        )
    return SendPause(
        id=values["id"],
        edition_id=values["edition_id"],
        paused_at=values["paused_at"],
        kind=values["kind"],
        reason=values["reason"],
        count=values["count"],
        out_of=values["out_of"],
        rate=values["rate"],
        threshold=values["threshold"],
        notified_at=values["notified_at"],
        resumed_at=values["resumed_at"],
        resumed_by=values["resumed_by"] or "",
        baseline=baseline,
    )
