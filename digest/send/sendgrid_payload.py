"""The v3 Mail Send request body for one batch, built as plain data.

Plain dicts rather than the library's Mail/Personalization helpers: at 1000 recipients a request
they are about twice as fast to build, and the body is exactly what SendGrid's schema describes.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import orjson

from digest.render import placeholders
from digest.send import Batch, Recipient
from digest.send.addresses import UnsendableAddress, mail_address
from digest.send.mime import encoded_header_value, shared_headers
from digest.store.deliveries import Failure
from digest.text_fields import one_line

# SendGrid's documented limit: 1000 personalizations (and 1000 recipients) per request.
MAX_PERSONALIZATIONS = 1000


def sendable(batch: Batch) -> tuple[Batch, dict[int, Failure]]:
    """The batch with addresses as SendGrid takes them (IDN domains in ASCII), and the readers
    it cannot take: its API accepts only ASCII addresses (the schema's "email" format, RFC
    5321), so an address with a non-ASCII local part is refused here, with the reason."""
    if all(recipient.email.isascii() for recipient in batch.recipients):
        return batch, {}
    kept: list[Recipient] = []
    failures: dict[int, Failure] = {}
    for recipient in batch.recipients:
        try:
            address = mail_address(recipient.email)
        except UnsendableAddress as error:
            failures[recipient.delivery_id] = Failure(str(error), permanent=True)
            continue
        if address.smtputf8:
            reason = (
                f"SendGrid does not take addresses with a non-ASCII local part ({recipient.email})"
            )
            failures[recipient.delivery_id] = Failure(reason, permanent=True)
            continue
        kept.append(recipient._replace(email=address.address))
    return replace(batch, recipients=kept), failures


def build_payload(batch: Batch) -> dict[str, Any]:
    if not 1 <= len(batch.recipients) <= MAX_PERSONALIZATIONS:
        raise ValueError(f"a request holds 1 to {MAX_PERSONALIZATIONS} recipients")
    newsletter = batch.newsletter
    payload: dict[str, Any] = {
        "from": {"email": newsletter.from_address, "name": one_line(newsletter.from_name)},
        "subject": one_line(batch.subject),
        "content": [
            {"type": "text/plain", "value": batch.email.text},
            {"type": "text/html", "value": batch.email.html},
        ],
        "personalizations": _personalizations(batch),
        # One category per newsletter, so SendGrid's statistics split by newsletter.
        "categories": [newsletter.name],
        # Headers that are the same for every reader go once per request; only the
        # unsubscribe link differs per personalization.
        "headers": {
            name: encoded_header_value(value) for name, value in shared_headers(batch).items()
        },
        # The account's own tracking off whatever its defaults: SendGrid's open pixel and link
        # wrapping would follow every reader, and its footer link would sit beside ours.
        # Reading figures are digest's own (track_clicks), and scanners are left out of them.
        "tracking_settings": {
            "click_tracking": {"enable": False, "enable_text": False},
            "open_tracking": {"enable": False},
            "subscription_tracking": {"enable": False},
        },
    }
    if newsletter.reply_to:
        payload["reply_to"] = {"email": newsletter.reply_to}
    return payload


def encoded(payload: dict[str, Any]) -> bytes:
    """The body as UTF-8 JSON. orjson: ten times as fast as `json.dumps` on a 1000-reader
    body (about 0.6 ms against 6), so that it costs little on the thread preparing the next
    batch. The same JSON document either way; a string orjson refuses (a lone surrogate, which
    no UTF-8 text holds) is written as `json.dumps` always wrote it, escaped."""
    try:
        return orjson.dumps(payload)
    except orjson.JSONEncodeError:
        return json.dumps(payload).encode()


def _personalizations(batch: Batch) -> list[dict[str, Any]]:
    """One envelope per reader: address, substitutions, one-click unsubscribe headers, ids.

    Written as one tight loop: at a million readers a send, every call per reader counts.
    """
    edition = str(batch.edition_id)
    unsubscribe = batch.purpose != "notice"
    # Only a reader's copy names a delivery: the events of an editor's notice or test copy
    # (delivered, a spam report) must not count against the edition's readers, in the report
    # or the complaint and bounce guard.
    ledgered = batch.purpose == "edition"
    values_for = placeholders.values_for
    personalizations: list[dict[str, Any]] = []
    for recipient in batch.recipients:
        name = recipient.name
        to = (
            {"email": recipient.email, "name": _display_name(name)}
            if name
            else {"email": recipient.email}
        )
        url = recipient.unsubscribe_url
        personalizations.append(
            {
                "to": [to],
                "substitutions": values_for(
                    name, recipient.email, url, recipient.preferences_url, recipient.click_base
                ),
                "headers": {"List-Unsubscribe": f"<{url}>"} if unsubscribe else {},
                # Per personalization, not per request: SendGrid's published schema types the
                # top-level custom_args as a string. Values must be strings; they come back in
                # event webhooks.
                "custom_args": {
                    "edition_id": edition,
                    "subscriber_id": str(recipient.subscriber_id),
                    "delivery_id": str(recipient.delivery_id),
                }
                if ledgered
                else {"edition_id": edition, "purpose": batch.purpose},
            }
        )
    return personalizations


def _display_name(name: str) -> str:
    """SendGrid puts the name into the To header as it is, so a comma or semicolon would split
    it into two broken addresses (django-anymail works around the same bug): such a name is
    sent as an RFC 5322 quoted string."""
    if not name.isprintable():
        name = one_line(name)
    if "," in name or ";" in name:
        return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return name
