"""Clicks on the email's links as the redirect records them, and each edition's salt for the
keys that tell one message's clicks apart (digest.clicks)."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import ColumnElement, Connection, Engine, insert, select, update

from digest.clicks import Click
from digest.store.tables import BatchRow, ClickRow, ClickSaltRow, DeliveryRow
from digest.store.upsert import insert_for


class ClickedDelivery(NamedTuple):
    """What a click needs of its delivery: its edition, when it went out (when its batch was
    handed over, if the answer is not recorded yet) and the subject line it carried."""

    edition_id: int
    delivered_at: datetime | None
    subject_index: int


class NewClick(NamedTuple):
    edition_id: int
    article_id: int
    clicked_at: datetime
    reason: str
    reader_key: str | None
    subject_index: int
    delivery_id: int | None  # only with the newsletter's per_reader_stats


class ClickRepository:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._dialect = engine.dialect.name

    def delivery(self, delivery_id: int) -> ClickedDelivery | None:
        query = (
            select(
                DeliveryRow.edition_id,
                DeliveryRow.sent_at,
                BatchRow.created_at,
                DeliveryRow.subject_index,
            )
            .outerjoin(BatchRow, BatchRow.id == DeliveryRow.batch_id)
            .where(DeliveryRow.id == delivery_id)
        )
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None:
            return None
        edition_id, sent_at, batch_at, subject_index = row
        return ClickedDelivery(edition_id, sent_at or batch_at, subject_index)

    def salt(self, edition_id: int, now: datetime, lifetime: timedelta) -> str | None:
        """The edition's salt, made on its first click; None once it was forgotten (counting
        for the edition is closed), which happens here when its lifetime is over. Two
        processes making it at once agree on one."""
        table = ClickSaltRow.__table__
        with self.engine.begin() as connection:
            row = connection.execute(
                select(ClickSaltRow.salt, ClickSaltRow.created_at).where(
                    ClickSaltRow.edition_id == edition_id
                )
            ).first()
            if row is None:
                connection.execute(
                    insert_for(self._dialect, table)  # type: ignore[arg-type]
                    .values(edition_id=edition_id, salt=secrets.token_hex(32), created_at=now)
                    .on_conflict_do_nothing(index_elements=["edition_id"])
                )
                row = connection.execute(
                    select(ClickSaltRow.salt, ClickSaltRow.created_at).where(
                        ClickSaltRow.edition_id == edition_id
                    )
                ).one()
            salt, created_at = row
            if salt is not None and now - created_at >= lifetime:
                self._forget(connection, ClickSaltRow.edition_id == edition_id, now)
                return None
            return str(salt) if salt is not None else None

    def record(self, click: NewClick) -> None:
        with self.engine.begin() as connection:
            connection.execute(insert(ClickRow).values(**click._asdict()))

    def clicks(self, edition_id: int) -> list[Click]:
        """The edition's clicks in the order they came."""
        query = (
            select(
                ClickRow.article_id,
                ClickRow.clicked_at,
                ClickRow.reason,
                ClickRow.reader_key,
                ClickRow.subject_index,
            )
            .where(ClickRow.edition_id == edition_id)
            .order_by(ClickRow.clicked_at, ClickRow.id)
        )
        with self.engine.connect() as connection:
            return [
                Click(article, clicked_at, reason, key, subject)
                for article, clicked_at, reason, key, subject in connection.execute(query)
            ]

    def forget_salts(self, now: datetime, lifetime: timedelta) -> int:
        """Forget every salt older than `lifetime`: the keys made with it can no longer be
        linked to a delivery. Returns how many editions were closed."""
        with self.engine.begin() as connection:
            return self._forget(connection, ClickSaltRow.created_at <= now - lifetime, now)

    @staticmethod
    def _forget(connection: Connection, which: ColumnElement[bool], now: datetime) -> int:
        result = connection.execute(
            update(ClickSaltRow)
            .where(which, ClickSaltRow.salt.is_not(None))
            .values(salt=None, forgotten_at=now)
        )
        return int(result.rowcount or 0)
