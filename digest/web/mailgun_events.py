"""Mailgun's webhooks on the wire: one JSON post per event, `{"signature": {"timestamp",
"token", "signature"}, "event-data": {…}}`, signed with HMAC-SHA256 under the account's
webhook signing key over timestamp + token; and the event as a ProviderEvent of the canonical
kinds (those of SendGrid's Event Webhook, which digest.provider_events and the ledger know)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from digest.provider_events import ProviderEvent

# Mailgun's event → ours. A temporary failure is a deferral (Mailgun retries for 8 hours, and
# it stops no mail); a permanent one a bounce; "rejected" (Mailgun would not send it) a drop.
KIND_FOR_EVENT = {
    "accepted": "processed",
    "delivered": "delivered",
    "complained": "spamreport",
    "unsubscribed": "unsubscribe",
    "rejected": "dropped",
    "opened": "open",
    "clicked": "click",
}
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
# Mailgun's tokens are 50 random characters; a longer or odder one is not Mailgun's.
_TOKEN = re.compile(r"[0-9A-Za-z_-]{20,190}")
_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_ID = re.compile(r"[0-9]{1,18}")


class Unsigned(ValueError):
    """The post carries no signature block we can check."""


@dataclass(frozen=True)
class Signature:
    timestamp: str
    token: str
    signature: str


def parse_body(body: bytes) -> tuple[Signature, dict[str, Any]]:
    """The signature and the (unverified) event data; Unsigned or ValueError saying what is
    wrong, in one line."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise ValueError("not JSON") from None
    if not isinstance(data, dict):
        raise ValueError('expected an object with "signature" and "event-data"')
    block = data.get("signature")
    if not isinstance(block, dict):
        raise Unsigned("not signed")
    timestamp, token, signature = (block.get(k) for k in ("timestamp", "token", "signature"))
    if isinstance(timestamp, int) and not isinstance(timestamp, bool):
        timestamp = str(timestamp)
    if not (isinstance(timestamp, str) and _TIMESTAMP.fullmatch(timestamp)):
        raise Unsigned("signature.timestamp is not Unix seconds")
    if not (isinstance(token, str) and _TOKEN.fullmatch(token)):
        raise Unsigned("signature.token is missing or not a token")
    if not (isinstance(signature, str) and _HEX_SHA256.fullmatch(signature)):
        raise Unsigned("signature.signature is not a hex HMAC-SHA256")
    event = data.get("event-data")
    return Signature(timestamp, token, signature.lower()), event if isinstance(event, dict) else {}


def verify(key: str, signed: Signature) -> bool:
    """In constant time: a forger learns nothing from how long a wrong guess took."""
    expected = hmac.new(
        key.encode(), (signed.timestamp + signed.token).encode(), hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, signed.signature)


def fresh(timestamp: str, tolerance: timedelta, now: datetime | None = None) -> bool:
    """Whether the signed timestamp is within `tolerance` of now: a captured post, signature
    and all, cannot be replayed later (and within the window its token is single-use)."""
    now = now or datetime.now(UTC)
    return abs(now.timestamp() - int(timestamp)) <= tolerance.total_seconds()


def parse_event(data: dict[str, Any]) -> ProviderEvent | None:
    """The event of a verified post; None for a kind that means nothing to digest (e.g.
    "stored"); ValueError when it is not an event at all."""
    name = data.get("event")
    if not isinstance(name, str) or not name:
        raise ValueError('event-data has no "event"')
    event_id = data.get("id")
    if not isinstance(event_id, str) or not event_id or len(event_id) > 180:
        raise ValueError('event-data has no "id"')
    recipient = data.get("recipient")
    if not isinstance(recipient, str) or len(recipient) > 320:
        raise ValueError('event-data has no "recipient"')
    kind = _kind(name, data.get("severity"))
    if kind is None:
        return None
    variables = data.get("user-variables")
    if not isinstance(variables, dict):
        variables = {}  # Mailgun sends [] when the message had none
    return ProviderEvent(
        kind=kind,
        email=recipient,
        timestamp=_when(data.get("timestamp")),
        # Mailgun's event ids are unique per account, not across providers.
        event_id=f"mailgun:{event_id}",
        subscriber_id=_id(variables.get("subscriber_id")),
        delivery_id=_id(variables.get("delivery_id")),
        edition_id=_id(variables.get("edition_id")),
        reason=_reason(data),
        message_id=_message_id(data),
    )


def _kind(name: str, severity: object) -> str | None:
    if name == "failed":
        return "deferred" if severity == "temporary" else "bounce"
    return KIND_FOR_EVENT.get(name)


def _reason(data: dict[str, Any]) -> str:
    """What the failure was, as Mailgun and the receiving server put it, one line."""
    parts: list[str] = []
    reason = data.get("reason")
    if isinstance(reason, str) and reason:
        parts.append(reason)
    status = data.get("delivery-status")
    if isinstance(status, dict):
        code = status.get("code")
        if isinstance(code, int) and not isinstance(code, bool) and code:
            parts.append(str(code))
        for key in ("message", "description"):
            text = status.get(key)
            if isinstance(text, str) and text.strip():
                parts.append(text)
                break
    return " ".join(" ".join(parts).split())[:500]


def _message_id(data: dict[str, Any]) -> str:
    message = data.get("message")
    headers = message.get("headers") if isinstance(message, dict) else None
    value = headers.get("message-id") if isinstance(headers, dict) else None
    return value[:200] if isinstance(value, str) else ""


def _id(value: object) -> int | None:
    text = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    return int(text) if _ID.fullmatch(text) else None


def _when(value: object) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (ValueError, OverflowError, OSError):
        return None
