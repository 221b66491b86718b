"""Postmark's webhooks on the wire: the basic-auth credentials its webhook URL carries (Postmark
signs nothing), the event's freshness, and its JSON as a ProviderEvent of our canonical kinds.

Postmark posts one JSON object per event, its kind in `RecordType`, our ids in the `Metadata`
each message carried. What each record becomes (digest.provider_events's kinds):

- Delivery: "delivered" (settles an unknown delivery);
- Bounce of a hard Type (HardBounce, BadEmailAddress, ManuallyDeactivated), or one that made
  the address Inactive: "bounce" (suppresses it); any other bounce (Transient, SoftBounce,
  DnsError, Blocked…): "deferred" (taken, nothing suppressed); AutoResponder: "delivered";
  Type Unsubscribe: "unsubscribe";
- SpamComplaint (or a Bounce of Type SpamComplaint): "spamreport";
- SubscriptionChange with SuppressSending: "unsubscribe" ("bounce" or "spamreport" when that
  is its SuppressionReason); without it (a reactivation): nothing, nobody is resubscribed;
- Open, Click: "open", "click".
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from digest.provider_events import ProviderEvent

HARD_BOUNCES = frozenset({"HardBounce", "BadEmailAddress", "ManuallyDeactivated"})
# Each record's own time, by RecordType.
_TIME_FIELD = {
    "Bounce": "BouncedAt",
    "SpamComplaint": "BouncedAt",
    "Delivery": "DeliveredAt",
    "SubscriptionChange": "ChangedAt",
    "Open": "ReceivedAt",
    "Click": "ReceivedAt",
}
# Our ids as Metadata carries them (strings of digits); longer is not one of ours.
_ID = re.compile(r"[0-9]{1,18}")
# ISO 8601 with more than six digits of a second (Postmark writes seven): cut to six.
_LONG_FRACTION = re.compile(r"(\.[0-9]{6})[0-9]+")


class BadEvent(ValueError):
    """The body is not a Postmark event we can read; the message says why, in one line."""


def credentials_match(header: str, username: str, password: str) -> bool:
    """Whether an Authorization header carries these basic-auth credentials. Both parts are
    compared in constant time, and both always (no early answer on a wrong user name)."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return False
    try:
        given = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    user, colon, secret = given.partition(":")
    same_user = hmac.compare_digest(user.encode(), username.encode())
    same_secret = hmac.compare_digest(secret.encode(), password.encode())
    return bool(colon) and same_user and same_secret


def parse_event(body: bytes) -> ProviderEvent | None:
    """The event of a body (None for a record that changes nothing); BadEvent saying what is
    wrong with it."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadEvent("not JSON") from None
    if not isinstance(data, dict):
        raise BadEvent("expected one Postmark event (a JSON object)")
    record = data.get("RecordType")
    if not isinstance(record, str) or record not in _TIME_FIELD:
        raise BadEvent(
            f"RecordType {str(record)[:40]!r} is not one of {', '.join(sorted(_TIME_FIELD))}"
        )
    time_field = _TIME_FIELD[record]
    when = _when(data.get(time_field))
    if when is None:
        raise BadEvent(f"{record}: {time_field} is missing or not an ISO 8601 time")
    message_id = data.get("MessageID")
    if not isinstance(message_id, str) or not message_id or len(message_id) > 100:
        raise BadEvent(f"{record}: MessageID is missing or not a string")
    kind = _kind(record, data)
    if kind is None:
        return None
    email = data.get("Email") if record in ("Bounce", "SpamComplaint") else data.get("Recipient")
    if not isinstance(email, str) or not email or len(email) > 320:
        raise BadEvent(f"{record}: no recipient address")
    metadata = data.get("Metadata")
    ids = metadata if isinstance(metadata, dict) else {}
    # The event's own id: Postmark's ID where the record has one (bounces, complaints), else
    # its time; with the kind of record and the message, the same event posted twice (a retry,
    # a replay) has the same id.
    own = data.get("ID")
    own_id = str(own) if isinstance(own, int | str) and not isinstance(own, bool) else ""
    event = ProviderEvent(
        kind=kind,
        email=email,
        timestamp=when,
        event_id=f"postmark:{record}:{message_id}:{own_id or when.isoformat()}"[:200],
        subscriber_id=_id(ids.get("subscriber_id")),
        delivery_id=_id(ids.get("delivery_id")),
        edition_id=_id(ids.get("edition_id")),
        reason=_reason(data),
        message_id=message_id,
    )
    if record == "SubscriptionChange" and kind != "unsubscribe":
        # The echo of a Bounce or SpamComplaint webhook about the same message: it suppresses
        # the address (should that webhook be off) but is not counted for the message twice.
        event = replace(event, delivery_id=None, edition_id=None)
    return event


def fresh(event: ProviderEvent, tolerance: timedelta, now: datetime | None = None) -> bool:
    """Whether the event's own time is within `tolerance` of now."""
    if event.timestamp is None:
        return False
    now = now or datetime.now(UTC)
    return abs((now - event.timestamp).total_seconds()) <= tolerance.total_seconds()


def _kind(record: str, data: dict[str, Any]) -> str | None:
    if record == "Delivery":
        return "delivered"
    if record in ("Open", "Click"):
        return record.lower()
    if record == "SpamComplaint":
        return "spamreport"
    if record == "SubscriptionChange":
        if data.get("SuppressSending") is not True:
            return None
        reason = data.get("SuppressionReason")
        return {"HardBounce": "bounce", "SpamComplaint": "spamreport"}.get(
            str(reason), "unsubscribe"
        )
    kind = str(data.get("Type") or "")
    if kind == "SpamComplaint":
        return "spamreport"
    if kind == "AutoResponder":
        return "delivered"
    if kind == "Unsubscribe":
        return "unsubscribe"
    if kind in HARD_BOUNCES or data.get("Inactive") is True:
        return "bounce"
    return "deferred"


def _reason(data: dict[str, Any]) -> str:
    parts = [
        str(data[key])
        for key in ("Type", "SuppressionReason", "Description", "Details")
        if isinstance(data.get(key), str) and data[key]
    ]
    return ": ".join(parts)[:500]


def _id(value: object) -> int | None:
    text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""
    return int(text) if _ID.fullmatch(text) else None


def _when(value: object) -> datetime | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        parsed = datetime.fromisoformat(_LONG_FRACTION.sub(r"\1", value))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else None
