"""What one look of the complaint and bounce guard costs when the edition has COUNT readers, each
delivered, one in a thousand complaining and one in fifty hard-bouncing: the three rows of
`delivery_event_counts` (kept up as each event is recorded; filled here in bulk, as the
migration fills them), beside counting the events themselves on `delivery_events`' edition
index (what a look would cost without the kept counts).

Run: .venv/bin/python benchmarks/bench_guard.py [COUNT] [DATABASE_URL]
(default 1,000,000 readers on a fresh SQLite file; a PostgreSQL URL names an empty database).

Prints the median and slowest of 20 looks, and what share of a send's time the guard takes at
its default `pause_check_interval` (one look every 5 s at most).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import Engine, func, insert, select, text

from digest.send_guard import GUARDED_KINDS
from digest.store import open_store
from digest.store.tables import DeliveryEventRow, DeliveryRow, EditionRow

CHUNK = 20_000
# What recording each event keeps up one by one, for the events filled in bulk here.
KEEP_COUNTS = (
    "INSERT INTO delivery_event_counts (edition_id, kind, count) "
    "SELECT edition_id, kind, COUNT(*) FROM delivery_events GROUP BY edition_id, kind"
)
LOOKS = 20


def fill(url: str, readers: int) -> tuple[float, float]:
    """An edition with `readers` deliveries and their events; returns (median, slowest) ms."""
    store = open_store(url)
    try:
        list_id = store.subscribers.ensure_list("readers")
        now = datetime.now(UTC)
        with store.engine.begin() as connection:
            edition_id = connection.execute(
                insert(EditionRow)
                .values(
                    newsletter="brief",
                    number=1,
                    issue_date=date(2026, 12, 1),
                    subject="Benchmark",
                    status="sending",
                )
                .returning(EditionRow.id)
            ).scalar_one()
        started = time.perf_counter()
        for start in range(0, readers, CHUNK):
            ids = range(start + 1, min(readers, start + CHUNK) + 1)
            deliveries = [
                {"id": n, "edition_id": edition_id, "list_id": list_id, "status": "sent"}
                for n in ids
            ]
            events = [
                {"delivery_id": n, "edition_id": edition_id, "kind": "delivered", "reason": ""}
                for n in ids
            ]
            events += [
                {"delivery_id": n, "edition_id": edition_id, "kind": kind, "reason": ""}
                for n in ids
                for kind, every in (("spamreport", 1000), ("bounce", 50))
                if n % every == 0
            ]
            for event in events:
                event["recorded_at"] = now
            with store.engine.begin() as connection:
                connection.execute(insert(DeliveryRow), deliveries)
                connection.execute(insert(DeliveryEventRow), events)
        with store.engine.begin() as connection:
            connection.execute(text(KEEP_COUNTS))
        took = time.perf_counter() - started
        print(f"filled {readers:,} deliveries and their events in {took:.0f} s")
        kept = _looks(lambda: store.delivery_events.guard_counts(edition_id))
        counted = _looks(lambda: _count_events(store.engine, edition_id))
        print(f"counts: {store.delivery_events.guard_counts(edition_id)}")
        print(
            f"counting the events instead: {statistics.median(counted):.1f} ms median, "
            f"{max(counted):.1f} ms slowest"
        )
        return statistics.median(kept), max(kept)
    finally:
        store.close()


def _looks(look: Callable[[], object]) -> list[float]:
    times = []
    for _ in range(LOOKS):
        began = time.perf_counter()
        look()
        times.append((time.perf_counter() - began) * 1000)
    return times


def _count_events(engine: Engine, edition_id: int) -> dict[str, int]:
    query = (
        select(DeliveryEventRow.kind, func.count())
        .where(
            DeliveryEventRow.edition_id == edition_id,
            DeliveryEventRow.kind.in_(GUARDED_KINDS),
        )
        .group_by(DeliveryEventRow.kind)
    )
    with engine.begin() as connection:
        return {kind: int(count) for kind, count in connection.execute(query)}


def main() -> None:
    readers = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    url = sys.argv[2] if len(sys.argv) > 2 else f"sqlite:///{Path(tempfile.mkdtemp()) / 'g.db'}"
    median, slowest = fill(url, readers)
    backend = url.split(":", 1)[0]
    print(
        f"{backend}: one guard look at {readers:,} readers' events: {median:.2f} ms median, "
        f"{slowest:.1f} ms slowest of {LOOKS}; at one look every 5 s, "
        f"{median / 5000:.3%} of a send's time"
    )


if __name__ == "__main__":
    main()
