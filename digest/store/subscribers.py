"""Lists and subscribers in the store: bulk upsert for imports, and the single-address changes
(add, unsubscribe, erase) that must never resubscribe someone who left."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    Engine,
    bindparam,
    case,
    delete,
    func,
    literal_column,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from digest.errors import NotFoundError
from digest.store.tables import ListRow, SubscriberRow, utcnow
from digest.store.upsert import insert_for, json_merge
from digest.subscribers.model import Status, Subscriber, address_key, display_name
from digest.subscribers.rows import PreparedSubscriber


@dataclass
class NewSubscriber:
    """One validated row of an import or one `subscribers add`."""

    email: str
    name: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    status: Status = Status.SUBSCRIBED
    source: str = ""
    consent_at: datetime | None = None
    consent_origin: str = ""

    def __post_init__(self) -> None:
        # `subscribers add --name`, the subscribe form: one line, as an import makes it.
        self.name = display_name(self.name)


_UPSERT_COLUMNS = (
    "list_id",
    "email",
    "email_key",
    "name",
    "fields",
    "status",
    "source",
    "consent_at",
    "consent_origin",
    "created_at",
    "updated_at",
)


class SubscriberRepository:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._dialect = engine.dialect.name

    # Lists

    def ensure_list(self, name: str) -> int:
        for _attempt in range(2):
            with self._sessions.begin() as session:
                found = session.scalar(select(ListRow.id).where(ListRow.name == name))
                if found is not None:
                    return found
            try:
                with self._sessions.begin() as session:
                    row = ListRow(name=name)
                    session.add(row)
                    session.flush()
                    return row.id
            except IntegrityError:
                continue  # created concurrently: read it on the next pass
        raise NotFoundError(f"could not create list {name!r}")

    def list_id(self, name: str) -> int:
        with self._sessions.begin() as session:
            found = session.scalar(select(ListRow.id).where(ListRow.name == name))
        if found is None:
            raise NotFoundError(f"no subscriber list named {name!r}")
        return found

    def list_names(self) -> list[str]:
        with self._sessions.begin() as session:
            return list(session.scalars(select(ListRow.name).order_by(ListRow.name)))

    # Bulk

    def upsert(self, list_id: int, people: Sequence[NewSubscriber]) -> None:
        """Insert new addresses and merge known ones: name and fields are updated, a pending
        address takes the new status, and any other status (above all unsubscribed, bounced,
        complained) is kept."""
        self.upsert_prepared(
            list_id,
            [
                PreparedSubscriber(
                    person.email,
                    address_key(person.email),
                    person.name,
                    json.dumps(person.fields, ensure_ascii=False),
                    person.status.value,
                    person.source,
                    person.consent_at,
                    person.consent_origin,
                )
                for person in people
            ],
        )

    def upsert_prepared(self, list_id: int, people: Sequence[PreparedSubscriber]) -> None:
        """`upsert` for rows already in stored form (as import workers make them). The
        statement is compiled once and run with the driver's executemany on plain tuples, so a
        million-row import spends its time in the database, not in per-row processing."""
        if not people:
            return
        sql, positional = self._upsert_statement()
        as_stored = self._datetime_processor()
        now = as_stored(utcnow())
        rows = [
            (
                list_id,
                email,
                key,
                name,
                fields,
                status,
                source,
                as_stored(consent) if consent else now,
                origin,
                now,
                now,
            )
            for email, key, name, fields, status, source, consent, origin in people
        ]
        parameters: list[Any] = (
            rows if positional else [dict(zip(_UPSERT_COLUMNS, row, strict=True)) for row in rows]
        )
        with self.engine.begin() as connection:
            connection.exec_driver_sql(sql, parameters)

    @cache  # noqa: B019 - one repository per engine, for the life of the process
    def _upsert_statement(self) -> tuple[str, bool]:
        """(SQL, whether its parameters are positional, in _UPSERT_COLUMNS order)."""
        table = SubscriberRow.__table__
        # A new reader's choices (topics, frequency) are the defaults, given as constants: a
        # column with a Python-side default left out would become one more parameter, out of
        # _UPSERT_COLUMNS' order.
        constants: dict[str, Any] = {
            "topics": literal_column("''"),
            "frequency": literal_column("''"),
        }
        statement = insert_for(self._dialect, table).values(  # type: ignore[arg-type]
            {**{name: bindparam(name) for name in _UPSERT_COLUMNS}, **constants}
        )
        excluded = statement.excluded
        statement = statement.on_conflict_do_update(
            index_elements=["list_id", "email_key"],
            set_={
                "name": case(
                    (excluded.name != literal_column("''"), excluded.name), else_=table.c.name
                ),
                "fields": json_merge(self._dialect, table.c.fields, excluded.fields),
                "status": case(
                    (
                        table.c.status == literal_column(f"'{Status.PENDING.value}'"),
                        excluded.status,
                    ),
                    else_=table.c.status,
                ),
                "consent_at": func.coalesce(table.c.consent_at, excluded.consent_at),
                "consent_origin": case(
                    (table.c.consent_origin == literal_column("''"), excluded.consent_origin),
                    else_=table.c.consent_origin,
                ),
                "updated_at": excluded.updated_at,
            },
        )
        compiled = statement.compile(dialect=self.engine.dialect)
        order = getattr(compiled, "positiontup", None)
        if order is not None and tuple(order) != _UPSERT_COLUMNS:
            raise RuntimeError(f"unexpected parameter order {order}")
        return str(compiled), order is not None

    @cache  # noqa: B019
    def _datetime_processor(self) -> Callable[[datetime], Any]:
        """How the driver wants a datetime: an aware datetime for psycopg, text for SQLite."""
        dialect = self.engine.dialect
        column_type = SubscriberRow.__table__.c.created_at.type
        processor = column_type.dialect_impl(dialect).bind_processor(dialect)
        return processor or (lambda value: value)

    def count(self, list_id: int, status: Status | None = None) -> int:
        query = (
            select(func.count()).select_from(SubscriberRow).where(SubscriberRow.list_id == list_id)
        )
        if status is not None:
            query = query.where(SubscriberRow.status == status.value)
        with self._sessions.begin() as session:
            return int(session.scalar(query) or 0)

    def stats(self) -> dict[str, dict[str, int]]:
        query = (
            select(ListRow.name, SubscriberRow.status, func.count(SubscriberRow.id))
            .join(SubscriberRow, SubscriberRow.list_id == ListRow.id, isouter=True)
            .group_by(ListRow.name, SubscriberRow.status)
            .order_by(ListRow.name)
        )
        result: dict[str, dict[str, int]] = {}
        with self._sessions.begin() as session:
            for name, status, count in session.execute(query):
                counts = result.setdefault(name, {s.value: 0 for s in Status})
                if status is not None:
                    counts[status] = count
        return result

    def iterate(
        self, list_id: int, status: Status | None = None, chunk: int = 2000
    ) -> Iterator[Subscriber]:
        """Every subscriber of a list in id order, read in chunks (bounded memory)."""
        name = self._list_name(list_id)
        last = 0
        while True:
            query = (
                select(SubscriberRow)
                .where(SubscriberRow.list_id == list_id, SubscriberRow.id > last)
                .order_by(SubscriberRow.id)
                .limit(chunk)
            )
            if status is not None:
                query = query.where(SubscriberRow.status == status.value)
            with self._sessions.begin() as session:
                rows = list(session.scalars(query))
            if not rows:
                return
            for row in rows:
                yield _subscriber(row, name)
            last = rows[-1].id

    # One address

    def find(self, list_id: int, email: str) -> Subscriber | None:
        with self._sessions.begin() as session:
            row = session.scalar(
                select(SubscriberRow).where(
                    SubscriberRow.list_id == list_id,
                    SubscriberRow.email_key == address_key(email),
                )
            )
            return _subscriber(row, self._list_name(list_id, session)) if row else None

    def get(self, subscriber_id: int) -> Subscriber:
        with self._sessions.begin() as session:
            row = session.get(SubscriberRow, subscriber_id)
            if row is None:
                raise NotFoundError(f"no subscriber with id {subscriber_id}")
            return _subscriber(row, self._list_name(row.list_id, session))

    def add(self, list_id: int, person: NewSubscriber) -> tuple[Subscriber, bool]:
        """(subscriber, created). An existing address is merged, never resubscribed."""
        existing = self.find(list_id, person.email)
        self.upsert(list_id, [person])
        stored = self.find(list_id, person.email)
        assert stored is not None
        return stored, existing is None

    def set_status(self, subscriber_id: int, status: Status) -> Subscriber:
        """Change one subscriber's status (unsubscribe, bounce, complaint): effective at once."""
        with self._sessions.begin() as session:
            session.execute(
                update(SubscriberRow)
                .where(SubscriberRow.id == subscriber_id)
                .values(status=status.value, updated_at=utcnow())
            )
        return self.get(subscriber_id)

    def confirm(self, subscriber_id: int, consent_at: datetime, origin: str) -> Subscriber:
        """A confirmed opt-in: subscribed, with when and how consent was given."""
        with self._sessions.begin() as session:
            session.execute(
                update(SubscriberRow)
                .where(SubscriberRow.id == subscriber_id)
                .values(
                    status=Status.SUBSCRIBED.value,
                    consent_at=consent_at,
                    consent_origin=origin,
                    updated_at=utcnow(),
                )
            )
        return self.get(subscriber_id)

    def ids_of(self, email: str, list_id: int | None = None) -> list[int]:
        """The subscriptions of an address (all lists, or one)."""
        query = select(SubscriberRow.id).where(SubscriberRow.email_key == address_key(email))
        if list_id is not None:
            query = query.where(SubscriberRow.list_id == list_id)
        with self._sessions.begin() as session:
            return list(session.scalars(query))

    def remove(self, email: str, list_id: int | None = None) -> int:
        """Erase an address (GDPR): its rows go, and deliveries keep no trace of it."""
        statement = delete(SubscriberRow).where(SubscriberRow.email_key == address_key(email))
        if list_id is not None:
            statement = statement.where(SubscriberRow.list_id == list_id)
        with self._sessions.begin() as session:
            return int(session.execute(statement).rowcount or 0)  # type: ignore[attr-defined]

    def search(
        self, list_id: int, text: str = "", offset: int = 0, limit: int = 50
    ) -> tuple[list[Subscriber], int]:
        """One page of a list's subscribers whose address or name contains `text` (any case),
        in id order, and how many match in all."""
        condition = SubscriberRow.list_id == list_id
        wanted = text.strip().casefold()
        if wanted:
            pattern = (
                "%" + wanted.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            )
            condition = condition & (
                SubscriberRow.email_key.like(pattern, escape="\\")
                | func.lower(SubscriberRow.name).like(pattern, escape="\\")
            )
        total_query = select(func.count()).select_from(SubscriberRow).where(condition)
        query = (
            select(SubscriberRow)
            .where(condition)
            .order_by(SubscriberRow.id)
            .offset(max(offset, 0))
            .limit(limit)
        )
        with self._sessions.begin() as session:
            total = int(session.scalar(total_query) or 0)
            name = self._list_name(list_id, session)
            rows = [_subscriber(row, name) for row in session.scalars(query)]
        return rows, total

    def _list_name(self, list_id: int, session: Session | None = None) -> str:
        if session is None:
            with self._sessions.begin() as own:
                return self._list_name(list_id, own)
        name = session.scalar(select(ListRow.name).where(ListRow.id == list_id))
        if name is None:
            raise NotFoundError(f"no subscriber list with id {list_id}")
        return name


def _subscriber(row: SubscriberRow, list_name: str) -> Subscriber:
    return Subscriber(
        id=row.id,
        list=list_name,
        email=row.email,
        name=row.name,
        fields=dict(row.fields or {}),
        status=Status(row.status),
        source=row.source,
        consent_at=row.consent_at,
        consent_origin=row.consent_origin,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
