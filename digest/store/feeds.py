"""Feed fetch state (conditional GET validators, failures) and the GUIDs already collected."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from digest.store.tables import FeedItemRow, FeedRow, utcnow


@dataclass(frozen=True)
class FeedState:
    id: int
    url: str
    etag: str | None
    last_modified: str | None
    failures: int


class FeedRepository:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def state(self, url: str) -> FeedState:
        """The feed's state, created on first use."""
        for _attempt in range(2):
            with self.engine.begin() as connection:
                row = connection.execute(select(FeedRow).where(FeedRow.url == url)).first()
                if row is not None:
                    return FeedState(row.id, row.url, row.etag, row.last_modified, row.failures)
            try:
                with self.engine.begin() as connection:
                    connection.execute(insert(FeedRow).values(url=url, failures=0))
            except IntegrityError:
                continue
        raise RuntimeError(f"could not record feed {url}")

    def fetched(
        self, feed_id: int, etag: str | None, last_modified: str | None, title: str | None
    ) -> None:
        with self.engine.begin() as connection:
            values: dict[str, object] = {
                "etag": etag,
                "last_modified": last_modified,
                "fetched_at": utcnow(),
                "last_error": None,
                "failures": 0,
            }
            if title:
                values["title"] = title
            connection.execute(update(FeedRow).where(FeedRow.id == feed_id).values(**values))

    def failed(self, feed_id: int, error: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                update(FeedRow)
                .where(FeedRow.id == feed_id)
                .values(last_error=error, fetched_at=utcnow(), failures=FeedRow.failures + 1)
            )

    def seen(self, feed_id: int, guids: Iterable[str]) -> set[str]:
        wanted = list(guids)
        if not wanted:
            return set()
        with self.engine.begin() as connection:
            return set(
                connection.execute(
                    select(FeedItemRow.guid).where(
                        FeedItemRow.feed_id == feed_id, FeedItemRow.guid.in_(wanted)
                    )
                ).scalars()
            )

    def remember(self, feed_id: int, guid: str, article_id: int | None) -> None:
        try:
            with self.engine.begin() as connection:
                connection.execute(
                    insert(FeedItemRow).values(feed_id=feed_id, guid=guid, article_id=article_id)
                )
        except IntegrityError:
            pass  # collected meanwhile by another run: nothing to add
