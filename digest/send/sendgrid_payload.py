"""The v3 Mail Send request body for one batch, built as plain data.

Plain dicts rather than the library's Mail/Personalization helpers: at 1000 recipients a request
they are about twice as fast to build, and the body is exactly what SendGrid's schema describes.
"""

from __future__ import annotations

from typing import Any

from digest.render import placeholders
from digest.send import Batch, Recipient
from digest.send.mime import list_headers

# SendGrid's documented limit: 1000 personalizations (and 1000 recipients) per request.
MAX_PERSONALIZATIONS = 1000


def build_payload(batch: Batch) -> dict[str, Any]:
    if not 1 <= len(batch.recipients) <= MAX_PERSONALIZATIONS:
        raise ValueError(f"a request holds 1 to {MAX_PERSONALIZATIONS} recipients")
    newsletter = batch.newsletter
    payload: dict[str, Any] = {
        "from": {"email": newsletter.from_address, "name": newsletter.from_name},
        "subject": batch.subject,
        "content": [
            {"type": "text/plain", "value": batch.email.text},
            {"type": "text/html", "value": batch.email.html},
        ],
        "personalizations": [_personalization(batch, r) for r in batch.recipients],
        # One category per newsletter, so SendGrid's statistics split by newsletter.
        "categories": [newsletter.name],
        "custom_args": {"edition_id": str(batch.edition_id), "batch_id": str(batch.id)},
    }
    if newsletter.reply_to:
        payload["reply_to"] = {"email": newsletter.reply_to}
    return payload


def _personalization(batch: Batch, recipient: Recipient) -> dict[str, Any]:
    to: dict[str, str] = {"email": recipient.email}
    if recipient.name:
        to["name"] = recipient.name
    headers = list_headers(batch, recipient)
    del headers["X-Digest-Edition"]  # carried once per request in custom_args instead
    return {
        "to": [to],
        "substitutions": placeholders.values_for(
            recipient.name, recipient.email, recipient.unsubscribe_url
        ),
        "headers": headers,
        # SendGrid wants custom_args values as strings; these come back in event webhooks.
        "custom_args": {
            "subscriber_id": str(recipient.subscriber_id),
            "delivery_id": str(recipient.delivery_id),
        },
    }
