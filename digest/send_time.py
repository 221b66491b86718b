"""Send times as an editor sees them: a wall-clock time in the newsletter's own zone, with the
UTC time beside it.

A browser's datetime-local field gives a local time with no zone. Read in the newsletter's
zone, two local times are not a moment: one that happens twice when clocks fall back, and one
that never happens when they spring forward. Both are refused with a reason, never guessed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from digest.errors import FieldError

# What a datetime-local field holds and shows: minutes, no seconds.
LOCAL_INPUT = "%Y-%m-%dT%H:%M"


def parse_local(text: str, zone: ZoneInfo, field: str = "send_at") -> datetime:
    """The moment (UTC) of a local date and time in `zone`; a time with an offset is taken
    as it is. Raises FieldError naming `field` for text that is not a time, and for a local
    time that happens twice or never there."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise FieldError(field, f"{text!r} is not a date and time like 2026-12-02T07:00") from None
    if value.tzinfo is not None:
        return value.astimezone(UTC)
    first = value.replace(tzinfo=zone, fold=0)
    second = value.replace(tzinfo=zone, fold=1)
    moment = first.astimezone(UTC)
    if moment.astimezone(zone).replace(tzinfo=None) != value:  # in the gap: both folds move it
        raise FieldError(
            field,
            f"{value:%Y-%m-%d %H:%M} does not exist in {zone.key} (clocks go forward); "
            "pick another time",
        )
    if first.utcoffset() != second.utcoffset():
        one, two = (
            describe(moment.astimezone(UTC), zone, with_date=False) for moment in (first, second)
        )
        raise FieldError(
            field,
            f"{value:%Y-%m-%d %H:%M} happens twice in {zone.key} (clocks go back): "
            f"it is {one} or {two}; pick another time",
        )
    return moment


def local_input(moment: datetime | None, zone: ZoneInfo) -> str:
    """The value a datetime-local field shows for `moment` in `zone` ("" for none)."""
    return moment.astimezone(zone).strftime(LOCAL_INPUT) if moment else ""


def describe(moment: datetime, zone: ZoneInfo, with_date: bool = True) -> str:
    """ "Wed 2 Dec 2026, 07:00 Europe/Kyiv (05:00 UTC)": the zone's time first, the UTC time
    beside it (with its date when that differs)."""
    local = moment.astimezone(zone)
    utc = moment.astimezone(UTC)
    day = f"{local:%a} {local.day} {local:%b %Y}, " if with_date else ""
    if zone.key == "UTC":
        return f"{day}{local:%H:%M} UTC"
    utc_day = f", {utc:%a} {utc.day} {utc:%b}" if with_date and utc.date() != local.date() else ""
    return f"{day}{local:%H:%M} {zone.key} ({utc:%H:%M} UTC{utc_day})"
