"""SendGrid's Event Webhook on the wire: the signature (ECDSA P-256 over timestamp + body), the
signed timestamp's freshness, and the JSON events as ProviderEvents."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from digest.provider_events import ProviderEvent

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
# Our ids as custom_args carry them (strings of digits); longer is not one of ours.
_ID = re.compile(r"[0-9]{1,18}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


def load_public_key(text: str) -> ec.EllipticCurvePublicKey:
    """The key as SendGrid shows it (base64 of DER), or PEM."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_public_key(text.encode())
    else:
        key = serialization.load_der_public_key(base64.b64decode(text))
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("the SendGrid webhook key is not an elliptic-curve public key")
    return key


def verify(key: ec.EllipticCurvePublicKey, signature: str, timestamp: str, body: bytes) -> bool:
    try:
        key.verify(
            base64.b64decode(signature), timestamp.encode() + body, ec.ECDSA(hashes.SHA256())
        )
    except (InvalidSignature, ValueError):
        return False
    return True


def fresh(timestamp: str, tolerance: timedelta, now: datetime | None = None) -> bool:
    """Whether the signed timestamp (Unix seconds) is within `tolerance` of now: a captured
    post, signature and all, cannot be replayed later."""
    if not _TIMESTAMP.fullmatch(timestamp):
        return False
    now = now or datetime.now(UTC)
    return abs(now.timestamp() - int(timestamp)) <= tolerance.total_seconds()


def parse_events(body: bytes) -> list[ProviderEvent]:
    """The events of a (verified) body; ValueError saying what is wrong with it. Entries that
    are not objects are skipped."""
    try:
        data = json.loads(body)
    except ValueError:
        raise ValueError("not JSON") from None
    if not isinstance(data, list):
        raise ValueError("expected a list of events")
    return [_event(entry) for entry in data if isinstance(entry, dict)]


def _event(entry: dict[str, Any]) -> ProviderEvent:
    # SendGrid puts each message's custom_args at the top level of its events.
    event_id = entry.get("sg_event_id")
    return ProviderEvent(
        kind=_kind(entry),
        email=str(entry.get("email", "")),
        timestamp=_when(entry.get("timestamp")),
        event_id=str(event_id)[:200] if event_id else None,
        subscriber_id=_id(entry.get("subscriber_id")),
        delivery_id=_id(entry.get("delivery_id")),
        edition_id=_id(entry.get("edition_id")),
        reason=str(entry.get("reason") or entry.get("response") or ""),
        message_id=str(entry.get("sg_message_id") or ""),
    )


def _kind(entry: dict[str, Any]) -> str:
    """The event's canonical kind. SendGrid reports a block (the receiving server refused the
    message for now, often over the sender's reputation: the address itself is fine) as a
    "bounce" event of `type` "blocked"; it is kept as "blocked", which stops no subscription
    and is no hard bounce to the complaint and bounce guard."""
    kind = str(entry.get("event", ""))
    if kind == "bounce" and entry.get("type") == "blocked":
        return "blocked"
    return kind


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
