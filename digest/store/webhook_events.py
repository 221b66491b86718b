"""Provider events already applied, by their id: SendGrid delivers each event at least once
(it retries a batch until it gets a 2xx), so a second copy must change nothing. Signed posts'
single-use tokens (Mailgun's) are kept here too, under a prefix of their own."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import Engine, delete, select

from digest.store.tables import WebhookEventRow, utcnow
from digest.store.upsert import insert_for

_CHUNK = 500  # ids per query: well under every backend's limit on bound parameters


class WebhookEventRepository:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._dialect = engine.dialect.name

    def seen(self, event_ids: Collection[str]) -> set[str]:
        """Those of the ids already recorded as applied."""
        ids = sorted(set(event_ids))
        found: set[str] = set()
        with self.engine.begin() as connection:
            for start in range(0, len(ids), _CHUNK):
                query = select(WebhookEventRow.event_id).where(
                    WebhookEventRow.event_id.in_(ids[start : start + _CHUNK])
                )
                found.update(connection.execute(query).scalars())
        return found

    def record(self, event_id: str) -> None:
        """Record an event as applied (again is harmless)."""
        table = WebhookEventRow.__table__
        statement = (
            insert_for(self._dialect, table)  # type: ignore[arg-type]
            .values(event_id=event_id, applied_at=utcnow())
            .on_conflict_do_nothing(index_elements=["event_id"])
        )
        with self.engine.begin() as connection:
            connection.execute(statement)

    def claim(self, key: str) -> bool:
        """Record `key` (a signed post's single-use token) unless it is there already: True
        for the one caller that recorded it, whatever runs at the same time."""
        table = WebhookEventRow.__table__
        statement = (
            insert_for(self._dialect, table)  # type: ignore[arg-type]
            .values(event_id=key, applied_at=utcnow())
            .on_conflict_do_nothing(index_elements=["event_id"])
            # A row comes back only when this insert made it (rowcount is not reliable for
            # ON CONFLICT on every driver).
            .returning(WebhookEventRow.event_id)
        )
        with self.engine.begin() as connection:
            return connection.execute(statement).first() is not None

    def release(self, key: str) -> None:
        """Undo a claim whose post could not be applied, so that the provider's retry is."""
        with self.engine.begin() as connection:
            connection.execute(delete(WebhookEventRow).where(WebhookEventRow.event_id == key))

    def forget_before(self, when: datetime) -> int:
        """Drop ids applied before `when` (long after SendGrid stops retrying them)."""
        with self.engine.begin() as connection:
            result = connection.execute(
                delete(WebhookEventRow).where(WebhookEventRow.applied_at < when)
            )
        return int(result.rowcount or 0)
