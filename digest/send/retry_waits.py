"""How long a sender waits before trying a request again: the provider's Retry-After when it
gives one, else a delay doubling from the first one; one rule for every HTTP provider."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def backoff(attempt: int, first: float, cap: float) -> float:
    """`first` doubled for each attempt after the first, at most `cap`."""
    delay: float = first * 2 ** (attempt - 1)
    return min(delay, cap)


def retry_after(value: str | None, cap: float) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or an HTTP date, RFC 9110), at
    most `cap`; None when there is none that can be read."""
    value = (value or "").strip()
    if value.isdigit():
        return min(float(value), cap)
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000": UTC, with no offset claimed
        when = when.replace(tzinfo=UTC)
    return min(max((when - datetime.now(UTC)).total_seconds(), 0.0), cap)


def wait_before_retry(header: str | None, attempt: int, first: float, cap: float) -> float:
    """The provider's Retry-After when it can be read, else the doubling backoff."""
    waited = retry_after(header, cap)
    return backoff(attempt, first, cap) if waited is None else waited
