"""Scheduled times of a newsletter: cron expressions in the newsletter's own time zone.

croniter does the cron arithmetic. Daylight saving adds one rule of ours: when clocks fall back,
a local time such as 01:30 happens twice; only its first occurrence is a scheduled time, so an
edition is never made twice. (When clocks spring forward, croniter moves a time that does not
exist, such as 02:30, to the first one that does, so an edition is never skipped.)
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

# croniter's get_prev is strictly before its start; start a hair later so that a run exactly at
# a scheduled time counts that time.
_EPSILON = timedelta(microseconds=1)


def _is_repeat(moment: datetime, zone: ZoneInfo) -> bool:
    """True for the second occurrence of an ambiguous local time."""
    local = moment.astimezone(zone).replace(tzinfo=None)
    first = local.replace(tzinfo=zone, fold=0)
    return first.astimezone(UTC) != moment.astimezone(UTC)


def previous_time(expression: str, zone: ZoneInfo, now: datetime) -> datetime | None:
    """The latest scheduled time at or before `now` (UTC), or None if there is none.

    croniter's backward steps can land a slot early around a fall-back hour, so we step back
    two slots and a day for an anchor, then walk forward, where its answers are right.
    """
    backward = croniter(expression, now.astimezone(zone) + _EPSILON)
    try:
        backward.get_prev(datetime)
        anchor: datetime = backward.get_prev(datetime) - timedelta(days=1)
    except (ValueError, OverflowError):
        return None
    latest = None
    for moment in _forward(expression, zone, anchor):
        if moment > now:
            break
        latest = moment
    return latest


def next_times(expression: str, zone: ZoneInfo, after: datetime, count: int) -> list[datetime]:
    """The next `count` scheduled times strictly after `after`, in UTC."""
    return [
        moment for _, moment in zip(range(count), _forward(expression, zone, after), strict=False)
    ]


def _forward(expression: str, zone: ZoneInfo, after: datetime) -> Iterator[datetime]:
    iterator = croniter(expression, after.astimezone(zone))
    while True:
        moment: datetime = iterator.get_next(datetime)
        if not _is_repeat(moment, zone):
            yield moment.astimezone(UTC)
