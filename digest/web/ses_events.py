"""SES's events (as its configuration set's SNS destination publishes them, or as identity
notifications) as ProviderEvents, in the kinds SendGrid's events use, so that they feed the
same suppression rules and settle the same deliveries:

| SES | kind | effect |
| --- | --- | --- |
| Bounce, Permanent | bounce | fails the delivery, suppresses the address |
| Bounce, Transient or Undetermined | deferred | SES took it; no suppression |
| Complaint | spamreport | suppresses the address |
| Delivery | delivered | settles the delivery as sent |
| Send | processed | settles the delivery as sent |
| DeliveryDelay | deferred | settles as sent |
| Reject (a virus found in the message) | blocked | fails the delivery; the address is fine |
| Rendering Failure | blocked | fails the delivery |
| Open, Click | open, click | settles as sent |

A Reject is about the message, not the reader: "blocked" fails the delivery without marking
the address bounced, where SendGrid's "dropped" would.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from digest.provider_events import ProviderEvent

_ID = re.compile(r"[0-9]{1,18}")
_SIMPLE = {
    "Delivery": ("delivery", "delivered"),
    "Send": ("send", "processed"),
    "Reject": ("reject", "blocked"),
    "Rendering Failure": ("failure", "blocked"),
    "Open": ("open", "open"),
    "Click": ("click", "click"),
}


def events_of(notification: dict[str, Any], message_id: str) -> list[ProviderEvent]:
    """The events one SES notification holds (one per recipient it names; ours name one).
    Each gets an id from the SNS MessageId, so that a replayed message changes nothing."""
    kind_name = str(notification.get("eventType") or notification.get("notificationType") or "")
    mail = notification.get("mail")
    mail = mail if isinstance(mail, dict) else {}
    ids = _tags(mail.get("tags"))
    detail_key, kind, recipients_key = _kind(kind_name, notification)
    detail = notification.get(detail_key)
    detail = detail if isinstance(detail, dict) else {}
    reason = _reason(kind_name, detail)
    when = _when(detail.get("timestamp")) or _when(mail.get("timestamp"))
    addresses = _addresses(detail.get(recipients_key)) if recipients_key else []
    if not addresses:
        destination = mail.get("destination")
        addresses = (
            [str(a) for a in destination if isinstance(a, str)]
            if isinstance(destination, list)
            else []
        )
    events = []
    for number, address in enumerate(addresses[:50] or [""]):
        events.append(
            ProviderEvent(
                kind=kind,
                email=address,
                timestamp=when,
                event_id=f"sns:{message_id}" + (f":{number}" if number else ""),
                subscriber_id=ids.get("subscriber_id"),
                delivery_id=ids.get("delivery_id"),
                edition_id=ids.get("edition_id"),
                reason=reason[:500],
                message_id=str(mail.get("messageId") or "")[:200],
            )
        )
    return events


def _kind(name: str, notification: dict[str, Any]) -> tuple[str, str, str]:
    """The notification's detail object, our kind, and the detail's list of recipients."""
    if name == "Bounce":
        bounce = notification.get("bounce")
        permanent = isinstance(bounce, dict) and bounce.get("bounceType") == "Permanent"
        return "bounce", "bounce" if permanent else "deferred", "bouncedRecipients"
    if name == "Complaint":
        return "complaint", "spamreport", "complainedRecipients"
    if name == "DeliveryDelay":
        return "deliveryDelay", "deferred", "delayedRecipients"
    if name in _SIMPLE:
        key, kind = _SIMPLE[name]
        return key, kind, "recipients" if name == "Delivery" else ""
    # Subscription and kinds SES adds later: recorded, changing nothing.
    return "", re.sub(r"[^a-z_]", "_", name.casefold())[:40] or "unknown", ""


def _reason(name: str, detail: dict[str, Any]) -> str:
    if name == "Bounce":
        recipients = detail.get("bouncedRecipients")
        first = recipients[0] if isinstance(recipients, list) and recipients else {}
        code = first.get("diagnosticCode") if isinstance(first, dict) else None
        kinds = f"{detail.get('bounceType', '')}/{detail.get('bounceSubType', '')}"
        return f"{kinds}: {code}" if code else kinds
    if name == "Complaint":
        return str(detail.get("complaintFeedbackType") or "")
    if name == "Reject":
        return str(detail.get("reason") or "")
    if name == "Rendering Failure":
        return str(detail.get("errorMessage") or "")
    if name == "DeliveryDelay":
        return str(detail.get("delayType") or "")
    if name == "Delivery":
        return str(detail.get("smtpResponse") or "")
    return ""


def _addresses(value: object) -> list[str]:
    if not isinstance(value, list):
        return []
    found = []
    for entry in value:
        if isinstance(entry, dict) and isinstance(entry.get("emailAddress"), str):
            found.append(entry["emailAddress"])
        elif isinstance(entry, str):  # a Delivery's recipients are plain addresses
            found.append(entry)
    return found


def _tags(value: object) -> dict[str, int]:
    """Our ids from the message's tags ({"delivery_id": ["12"], …})."""
    ids: dict[str, int] = {}
    if not isinstance(value, dict):
        return ids
    for name in ("delivery_id", "subscriber_id", "edition_id"):
        values = value.get(name)
        text = values[0] if isinstance(values, list) and values else values
        if isinstance(text, str) and _ID.fullmatch(text):
            ids[name] = int(text)
    return ids


def _when(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
