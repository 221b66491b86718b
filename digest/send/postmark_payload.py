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
# What a JSON string must escape (RFC 8259: quotation mark, reverse solidus, controls); with
# ensure_ascii off, json.dumps escapes nothing else (besides U+2028/9, which it leaves).
_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f]')
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
    # Assembled from JSON pieces: the copy's text between its markers is escaped once a
    # batch, each reader's values on their own (a few short strings). Escaping each reader's
    # whole message with json.dumps cost about 1.4 ms a reader for the example edition.
    opening = _json(_shared_fields(batch, message_stream))[:-1] + b',"To":'
    headers = _json(_shared_headers(batch))[1:-1]
    html, text = _escaped_parts(batch.email.html), _escaped_parts(batch.email.text)
    chunks: list[bytes] = []
    ids: list[int] = []
    size = 2  # "[" and "]"
    for recipient in batch.recipients:
        to = _to(recipient)
        if isinstance(to, Failure):
            failures[recipient.delivery_id] = to
            continue
        message = _message(batch, recipient, to, opening, headers, (html, text))
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


def _shared_headers(batch: Batch) -> list[dict[str, str]]:
    return [
        {"Name": name, "Value": encoded_header_value(value)}
        for name, value in shared_headers(batch).items()
    ]


def _message(
    batch: Batch,
    recipient: Recipient,
    to: str,
    opening: bytes,
    headers: bytes,
    bodies: tuple[list[bytes], list[bytes]],
) -> bytes | Failure:
    """One reader's message as JSON: `opening` holds the shared fields and `"To":`, `headers`
    the shared headers' entries, `bodies` the HTML's and the text's escaped parts."""
    values = {
        marker.encode(): _escape(value)
        for marker, value in placeholders.values_for(
            recipient.name,
            recipient.email,
            recipient.unsubscribe_url,
            recipient.preferences_url,
            recipient.click_base,
        ).items()
    }
    html_body, text_body = _fill(bodies[0], values), _fill(bodies[1], values)
    for body in (html_body, text_body):
        # Postmark counts a body as it goes out, base64-encoded: 4 bytes for every 3 (the
        # escaped text is never shorter than the body).
        if len(body) * 4 // 3 > MAX_BODY_BYTES:
            return Failure("the email is over Postmark's 5 MB limit for a body", permanent=True)
    if batch.purpose != "notice":
        # RFC 8058: with List-Unsubscribe-Post (shared), a one-click unsubscribe of this reader.
        unsubscribe = b'{"Name":"List-Unsubscribe","Value":"<%s>"}' % _escape(
            recipient.unsubscribe_url
        )
        all_headers = b"[" + unsubscribe + b"," + headers + b"]"
    else:
        all_headers = b"[" + headers + b"]"
    # Strings, as Postmark's metadata values are; they come back in every webhook.
    metadata = b'{"edition_id":"%d","subscriber_id":"%d","delivery_id":"%d"}' % (
        batch.edition_id,
        recipient.subscriber_id,
        recipient.delivery_id,
    )
    return b"".join(
        (
            opening,
            b'"%s"' % _escape(to),
            b',"HtmlBody":"',
            html_body,
            b'","TextBody":"',
            text_body,
            b'","Headers":',
            all_headers,
            b',"Metadata":',
            metadata,
            b"}",
        )
    )


def _escaped_parts(body: str) -> list[bytes]:
    """Text and markers in turn (even items text, odd ones markers), the text JSON-escaped
    UTF-8: escaping works character by character, so escaped pieces join into the escaped
    whole."""
    parts = _MARKER.split(body)
    return [_escape(part) if index % 2 == 0 else part.encode() for index, part in enumerate(parts)]


def _escape(value: str) -> bytes:
    """A JSON string's inside, as UTF-8; most values (links, ids, plain names) need nothing
    escaped, and skip the encoder."""
    if _NEEDS_ESCAPE.search(value) is None:
        return value.encode()
    return json.dumps(value, ensure_ascii=False)[1:-1].encode()


def _fill(parts: list[bytes], values: dict[bytes, bytes]) -> bytes:
    return b"".join(
        part if index % 2 == 0 else values.get(part, part) for index, part in enumerate(parts)
    )


def _json(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
