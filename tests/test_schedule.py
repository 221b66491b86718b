"""Scheduled times across daylight saving changes (never skipped, never doubled), and the rows
that record what each scheduled time did: claimed before, recorded after."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from digest.articles import Article
from digest.run_plan import CLAIMED, SlotKey
from digest.schedule import next_times, previous_time
from digest.store import Store
from tests.test_store import edition_of

KYIV = ZoneInfo("Europe/Kyiv")
NEW_YORK = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("zone", "expression", "start", "expected"),
    [
        # Spring forward: 02:30 does not exist in New York on 8 March 2026; it runs at 03:00.
        (
            NEW_YORK,
            "30 2 * * *",
            datetime(2026, 3, 7, tzinfo=UTC),
            ["2026-03-07T02:30:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"],
        ),
        # Fall back: 01:30 happens twice on 1 November 2026; it runs once, at the first.
        (
            NEW_YORK,
            "30 1 * * *",
            datetime(2026, 10, 31, tzinfo=UTC),
            ["2026-10-31T01:30:00-04:00", "2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"],
        ),
        (
            KYIV,
            "30 3 * * *",
            datetime(2026, 3, 28, tzinfo=UTC),
            ["2026-03-28T03:30:00+02:00", "2026-03-29T04:00:00+03:00", "2026-03-30T03:30:00+03:00"],
        ),
        (
            KYIV,
            "30 3 * * *",
            datetime(2026, 10, 24, tzinfo=UTC),
            ["2026-10-24T03:30:00+03:00", "2026-10-25T03:30:00+03:00", "2026-10-26T03:30:00+02:00"],
        ),
    ],
)
def test_next_times_across_dst(
    zone: ZoneInfo, expression: str, start: datetime, expected: list[str]
) -> None:
    times = next_times(expression, zone, start, 3)
    assert [t.astimezone(zone).isoformat() for t in times] == expected
    assert all(t.tzinfo == UTC for t in times)


@pytest.mark.parametrize("zone", [KYIV, NEW_YORK])
@pytest.mark.parametrize("expression", ["30 1 * * *", "30 2 * * *", "30 3 * * *", "0 * * * *"])
def test_previous_time_sees_each_scheduled_time_once(zone: ZoneInfo, expression: str) -> None:
    """Walking minute by minute through both changes of 2026, the latest scheduled time changes
    exactly at the scheduled times, and each local date gets one daily time."""
    for start in (datetime(2026, 3, 7, tzinfo=UTC), datetime(2026, 10, 24, tzinfo=UTC)):
        seen: list[datetime] = []
        moment = start
        while moment < start + timedelta(days=4):
            latest = previous_time(expression, zone, moment)
            if latest is not None and (not seen or seen[-1] != latest):
                seen.append(latest)
            moment += timedelta(minutes=15)
        assert seen == sorted(seen) and len(seen) == len(set(seen))
        if expression != "0 * * * *":
            days = [t.astimezone(zone).date() for t in seen]
            assert len(days) == len(set(days))  # never twice in a day
            assert days[-1] - days[1] == timedelta(days=len(days) - 2)  # never a day skipped


def test_previous_time_counts_the_exact_moment() -> None:
    at = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)  # Monday 07:00 in Kyiv
    assert previous_time("0 7 * * MON", KYIV, at) == at
    assert previous_time("0 7 * * MON", KYIV, at - timedelta(seconds=1)) == at - timedelta(days=7)


SLOT = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)


def test_a_claim_is_taken_once(store: Store) -> None:
    """A claim is a conditional write on the row as it was read: of two runs that read the
    same row, one gets it."""
    key = SlotKey("brief", SLOT, "build")
    assert store.schedule.claim(key, None)
    assert not store.schedule.claim(key, None)  # the row exists now
    seen = store.schedule.get("brief", SLOT, "build")
    assert seen is not None and seen.status == CLAIMED and seen.updated_at is not None
    store.schedule.record("brief", SLOT, "build", "failed", detail="database error: gone")
    assert not store.schedule.claim(key, seen)  # changed since it was read
    failed = store.schedule.get("brief", SLOT, "build")
    assert failed is not None and failed.status == "failed"
    assert store.schedule.claim(key, failed)
    assert not store.schedule.claim(key, failed)
    assert [r.status for r in store.schedule.since("brief", SLOT)] == [CLAIMED]
    assert store.schedule.since("brief", SLOT + timedelta(minutes=1)) == []


def test_an_edition_built_for_a_claimed_slot_is_linked_with_it(store: Store) -> None:
    """The edition names its claimed build in the transaction that creates it, so a run killed
    right after cannot leave a draft its slot does not know; other editions link nothing."""
    stored = [o.article for o in store.add_articles([_article(n) for n in range(3)])]
    store.schedule.claim(SlotKey("brief", SLOT, "build"), None)
    unscheduled = store.create_edition(edition_of(stored[:1]))
    elsewhere = store.create_edition(
        edition_of(stored[1:2]).model_copy(update={"send_at": SLOT + timedelta(days=7)})
    )
    built = store.create_edition(edition_of(stored[2:]).model_copy(update={"send_at": SLOT}))
    run = store.schedule.get("brief", SLOT, "build")
    assert run is not None and (run.status, run.edition_id) == (CLAIMED, built.id)
    assert built.id not in (unscheduled.id, elsewhere.id)
    assert store.schedule.get("brief", SLOT + timedelta(days=7), "build") is None
    # Once recorded, the build is not re-linked by a later edition for the same time.
    store.schedule.record("brief", SLOT, "build", "done", built.id)
    store.create_edition(edition_of(stored[:1]).model_copy(update={"send_at": SLOT}))
    done = store.schedule.get("brief", SLOT, "build")
    assert done is not None and done.edition_id == built.id


def test_a_failed_build_keeps_the_edition_it_made(store: Store) -> None:
    """Marked failed after its edition was made (say, recording the outcome failed): the row
    still names the edition, so the next tick adopts it rather than building again."""
    stored = [o.article for o in store.add_articles([_article(1)])]
    key = SlotKey("brief", SLOT, "build")
    store.schedule.claim(key, None)
    built = store.create_edition(edition_of(stored).model_copy(update={"send_at": SLOT}))
    store.schedule.mark(key, "failed", "database error: gone")
    run = store.schedule.get("brief", SLOT, "build")
    assert run is not None and (run.status, run.edition_id) == ("failed", built.id)
    assert run.detail == "database error: gone"


def _article(n: int) -> Article:
    return Article(title=f"Story {n}", text=f"Story {n} has its own text, number {n}.")
