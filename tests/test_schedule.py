"""Scheduled times across daylight saving changes: never skipped, never doubled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from digest.schedule import next_times, previous_time

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
