"""The SES v2 SendEmail request for one reader, built as plain data from the reader's own
RFC 5322 message (the one the outbox and SMTP senders write).

Raw content rather than Simple: the message then carries everything per reader exactly as the
other senders make it (substitutions filled, one-click List-Unsubscribe and List-Id headers,
the display name quoted, IDN domains in ASCII), with no limit on headers (Simple content takes
at most 15) and no template language between our text and the reader.
"""

from __future__ import annotations

from typing import Any

from digest.send import Batch, Recipient
from digest.send.addresses import UnsendableAddress, mail_address
from digest.send.mime import build_message
from digest.store.deliveries import Failure

# SES's documented limit on a message with its attachments (SendEmail, v2).
MAX_MESSAGE_BYTES = 40_000_000


def request_for(batch: Batch, recipient: Recipient, configuration_set: str) -> dict[str, Any]:
    """The keyword arguments of `sesv2.send_email` for one reader; raises Failure-worthy
    errors (UnsendableAddress, ValueError) when no message can be built for them."""
    address = mail_address(recipient.email)
    if address.smtputf8:
        # SES takes non-ASCII only in a destination's domain, never in its local part.
        raise UnsendableAddress(
            f"SES does not take addresses with a non-ASCII local part ({recipient.email})"
        )
    data = build_message(batch, recipient).as_bytes()
    if len(data) > MAX_MESSAGE_BYTES:
        raise ValueError(f"the message is {len(data)} bytes, over SES's {MAX_MESSAGE_BYTES}")
    request: dict[str, Any] = {
        "FromEmailAddress": batch.newsletter.from_address,
        # The envelope: SES sends to these, whatever the To header says.
        "Destination": {"ToAddresses": [address.address]},
        "Content": {"Raw": {"Data": data}},
        # Our ids come back in every event SES publishes for this message (mail.tags).
        "EmailTags": tags(batch, recipient),
    }
    if configuration_set:
        request["ConfigurationSetName"] = configuration_set
    return request


def tags(batch: Batch, recipient: Recipient) -> list[dict[str, str]]:
    """Message tags (names and values of ASCII letters, digits, "_" and "-": ours are)."""
    values = {
        "delivery_id": str(recipient.delivery_id),
        "subscriber_id": str(recipient.subscriber_id),
        "edition_id": str(batch.edition_id),
        "purpose": batch.purpose,
    }
    return [{"Name": name, "Value": value} for name, value in values.items()]


def prepared_requests(
    batch: Batch, configuration_set: str
) -> list[tuple[Recipient, dict[str, Any] | Failure]]:
    """Each reader's request, or why none can be made for them (recorded against the reader:
    one odd address never stops the others)."""
    prepared: list[tuple[Recipient, dict[str, Any] | Failure]] = []
    for recipient in batch.recipients:
        try:
            prepared.append((recipient, request_for(batch, recipient, configuration_set)))
        except (ValueError, TypeError, LookupError) as error:
            prepared.append((recipient, Failure(str(error), permanent=True)))
    return prepared
