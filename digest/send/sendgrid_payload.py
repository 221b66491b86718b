"""The v3 Mail Send request body for one batch, built as plain data.

Plain dicts rather than the library's Mail/Personalization helpers: at 1000 recipients a request
they are about twice as fast to build, and the body is exactly what SendGrid's schema describes.
"""

from __future__ import annotations

from typing import Any

from digest.render import placeholders
from digest.send import Batch
from digest.send.mime import shared_headers

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
        "personalizations": _personalizations(batch),
        # One category per newsletter, so SendGrid's statistics split by newsletter.
        "categories": [newsletter.name],
        # Headers that are the same for every reader go once per request; only the
        # unsubscribe link differs per personalization.
        "headers": shared_headers(batch),
    }
    if newsletter.reply_to:
        payload["reply_to"] = {"email": newsletter.reply_to}
    return payload


def _personalizations(batch: Batch) -> list[dict[str, Any]]:
    """One envelope per reader: address, substitutions, one-click unsubscribe headers, ids.

    Written as one tight loop: at a million readers a send, every call per reader counts.
    """
    edition = str(batch.edition_id)
    unsubscribe = batch.purpose != "notice"
    values_for = placeholders.values_for
    personalizations: list[dict[str, Any]] = []
    for recipient in batch.recipients:
        to = (
            {"email": recipient.email, "name": recipient.name}
            if recipient.name
            else {"email": recipient.email}
        )
        url = recipient.unsubscribe_url
        personalizations.append(
            {
                "to": [to],
                "substitutions": values_for(recipient.name, recipient.email, url),
                "headers": {"List-Unsubscribe": f"<{url}>"} if unsubscribe else {},
                # Per personalization, not per request: SendGrid's published schema types the
                # top-level custom_args as a string. Values must be strings; they come back in
                # event webhooks.
                "custom_args": {
                    "edition_id": edition,
                    "subscriber_id": str(recipient.subscriber_id),
                    "delivery_id": str(recipient.delivery_id),
                },
            }
        )
    return personalizations
