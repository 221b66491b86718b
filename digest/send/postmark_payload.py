"""The body of one Postmark `POST /email/batch` call, built as JSON bytes.

Postmark's batch endpoint has no substitutions: each message carries its reader's own bodies,
filled from the copy's markers (`digest.render.placeholders`). The copy is split at its markers
once, so a reader costs a join, not a regular-expression pass over the whole email.

Limits (Postmark's "What are the attachment and email size limits?" and its Email API
reference): at most 500 messages a call, 50 MB a call in all, 5 MB for each of TextBody and
HtmlBody. A batch is sized from the copy before it is read (`batch_size`); the exact body is
measured here, and readers who would take the call past 50 MB (a batch of unusually long names)
are left for a later batch, never sent in a second request of the same batch.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from digest.render import RenderedEmail, placeholders
from digest.send import Batch, Recipient
from digest.send.addresses import UnsendableAddress, mail_address
from digest.send.mime import encoded_header_value, shared_headers
from digest.store.deliveries import Failure
from digest.text_fields import one_line

MAX_MESSAGES = 500
# 50 MB, read as decimal megabytes (the smaller reading).
MAX_CALL_BYTES = 50_000_000
MAX_BODY_BYTES = 5_000_000
# The JSON array's brackets and commas, and what each message holds besides its bodies
# (addresses, subject, headers, metadata), bounded generously.
_MESSAGE_OVERHEAD = 4_000
# What one marker may grow to once filled, in JSON-encoded UTF-8: a name of 200 characters
# HTML-escaped ("&quot;" for each), an address, or a signed link under the newsletter's host.
_VALUE_BOUND = {
    placeholders.NAME: 200 * 4,
    placeholders.NAME_HTML: 200 * 6,
    placeholders.EMAIL: 320 * 4,
    placeholders.EMAIL_HTML: 320 * 6,
}
_LINK_BOUND = 200  # the path and signed token after base_url
_MARKER = re.compile(r"(%%[a-z_]+%%)")
# RFC 5322 specials: a display name holding one is sent as a quoted string.
_SPECIALS = re.compile(r'[()<>\[\]:;@\\,."]')
_CALL_DROPPED = (
    "left for a later batch: this one would pass Postmark's 50 MB limit for a batch call"
)


@dataclass(frozen=True)
class PreparedCall:
    """One request: its JSON body, and the delivery id of each message in order (Postmark's
    answer is an array in the same order)."""

    body: bytes
    delivery_ids: list[int]


def batch_size(email: RenderedEmail, web_base: str) -> int:
    """How many readers of this copy one call can carry: 500, or fewer when 500 copies of a
    large email, markers filled, could pass the 50 MB limit."""
    per_message = _MESSAGE_OVERHEAD + len(_json(email.subject))
    for body in (email.html, email.text):
        per_message += len(_json(body))
        for marker in _MARKER.findall(body):
            per_message += _VALUE_BOUND.get(marker, len(web_base) + _LINK_BOUND)
    return max(1, min(MAX_MESSAGES, (MAX_CALL_BYTES - 2) // per_message))


def build_call(batch: Batch, message_stream: str) -> tuple[PreparedCall | None, dict[int, Failure]]:
    """The request for a batch, and the readers it leaves out with the reason: an address
    Postmark cannot take (permanent), or one over the call's size limit (tried again)."""
    if len(batch.recipients) > MAX_MESSAGES:
        raise ValueError(f"a batch call holds at most {MAX_MESSAGES} messages")
    failures: dict[int, Failure] = {}
    shared = _shared_fields(batch, message_stream)
    html, text = _split(batch.email.html), _split(batch.email.text)
    chunks: list[bytes] = []
    ids: list[int] = []
    size = 2  # "[" and "]"
    for recipient in batch.recipients:
        to = _to(recipient)
        if isinstance(to, Failure):
            failures[recipient.delivery_id] = to
            continue
        message = _message(batch, recipient, to, shared, html, text)
        if isinstance(message, Failure):
            failures[recipient.delivery_id] = message
            continue
        if size + len(message) + 1 > MAX_CALL_BYTES:
            failures[recipient.delivery_id] = Failure(_CALL_DROPPED, permanent=False)
            continue
        size += len(message) + 1
        chunks.append(message)
        ids.append(recipient.delivery_id)
    if not chunks:
        return None, failures
    return PreparedCall(b"[" + b",".join(chunks) + b"]", ids), failures


def _shared_fields(batch: Batch, message_stream: str) -> dict[str, Any]:
    """What every message of the batch has in common."""
    newsletter = batch.newsletter
    fields: dict[str, Any] = {
        "From": mailbox(one_line(newsletter.from_name), newsletter.from_address),
        "Subject": one_line(batch.subject),
        # One tag per newsletter, so Postmark's statistics split by newsletter.
        "Tag": newsletter.name,
        # Postmark's own open pixel and link rewriting off, whatever the server's defaults:
        # they would follow every reader. Reading figures are digest's own (track_clicks).
        "TrackOpens": False,
        "TrackLinks": "None",
        "MessageStream": message_stream,
    }
    if newsletter.reply_to:
        fields["ReplyTo"] = newsletter.reply_to
    return fields


def _to(recipient: Recipient) -> str | Failure:
    """The To field, or why Postmark cannot take the address: its API validates mailboxes as
    ASCII (Postmark's support article on error 300 gives its patterns), so a non-ASCII local
    part cannot go; a non-ASCII domain goes in its ASCII form."""
    try:
        address = mail_address(recipient.email)
    except UnsendableAddress as error:
        return Failure(str(error), permanent=True)
    if address.smtputf8:
        return Failure(
            f"Postmark does not take addresses with a non-ASCII local part ({recipient.email})",
            permanent=True,
        )
    name = recipient.name if recipient.name.isprintable() else one_line(recipient.name)
    return mailbox(name, address.address)


def mailbox(name: str, address: str) -> str:
    """`Name <address>`, the name quoted when it holds a comma or another special: Postmark
    reads the field as an address list, so "Doe, Jane" would be two broken addresses (its
    documentation asks for quote-escaped names)."""
    if not name:
        return address
    if _SPECIALS.search(name):
        name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{name} <{address}>"


def _message(
    batch: Batch,
    recipient: Recipient,
    to: str,
    shared: dict[str, Any],
    html: list[str],
    text: list[str],
) -> bytes | Failure:
    values = placeholders.values_for(
        recipient.name,
        recipient.email,
        recipient.unsubscribe_url,
        recipient.preferences_url,
        recipient.click_base,
    )
    html_body, text_body = _fill(html, values), _fill(text, values)
    for body in (html_body, text_body):
        # Postmark counts a body as it goes out, base64-encoded: 4 bytes for every 3.
        if len(body) * 4 > MAX_BODY_BYTES and len(body.encode()) * 4 // 3 > MAX_BODY_BYTES:
            return Failure("the email is over Postmark's 5 MB limit for a body", permanent=True)
    headers = [
        {"Name": name, "Value": encoded_header_value(value)}
        for name, value in shared_headers(batch).items()
    ]
    if batch.purpose != "notice":
        # RFC 8058: with List-Unsubscribe-Post (shared), a one-click unsubscribe of this reader.
        headers.insert(0, {"Name": "List-Unsubscribe", "Value": f"<{recipient.unsubscribe_url}>"})
    message = {
        **shared,
        "To": to,
        "HtmlBody": html_body,
        "TextBody": text_body,
        "Headers": headers,
        # Strings, as Postmark's metadata values are; they come back in every webhook.
        "Metadata": {
            "edition_id": str(batch.edition_id),
            "subscriber_id": str(recipient.subscriber_id),
            "delivery_id": str(recipient.delivery_id),
        },
    }
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()


def _split(body: str) -> list[str]:
    """Text and markers in turn: even items are text, odd ones markers."""
    return _MARKER.split(body)


def _fill(parts: list[str], values: dict[str, str]) -> str:
    return "".join(
        part if index % 2 == 0 else values.get(part, part) for index, part in enumerate(parts)
    )


def _json(value: str) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()
