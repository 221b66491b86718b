"""One RFC 5322 message per recipient (multipart/alternative: text, then HTML), for the
outbox and SMTP senders.

Every header value that comes from people or feeds (subject, names, titles) goes through
`one_line` again (values stored before intake cleaned them); addresses through `mail_address`.
A message for an address with a non-ASCII local part is written for SMTPUTF8 (RFC 6532: UTF-8
headers) and says so (`needs_smtputf8`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8
from email.utils import format_datetime, make_msgid

from digest.render import placeholders
from digest.send import Batch, Recipient
from digest.send.addresses import mail_address
from digest.text_fields import one_line

# Long header lines rather than folding them: a folded List-Unsubscribe starts its value on a
# continuation line, which some parsers (Python's among them) return with a leading space.
# RFC 5322 allows 998 characters a line.
_POLICY = SMTP.clone(max_line_length=998)
_UTF8_POLICY = SMTPUTF8.clone(max_line_length=998)
# Bodies are quoted-printable in lines of at most 76 characters (RFC 2045 §6.7), soft breaks
# included: the email package encodes to the policy's max_line_length, which is 78 in its
# SMTP policy, and spam filters count lines over 76 (SpamAssassin's MIME_QP_LONG_LINE).
QP_LINE_LENGTH = 76
_BODY_POLICY = SMTP.clone(max_line_length=QP_LINE_LENGTH)
_UTF8_BODY_POLICY = SMTPUTF8.clone(max_line_length=QP_LINE_LENGTH)


def build_message(batch: Batch, recipient: Recipient) -> EmailMessage:
    """The reader's message; raises ValueError (or an email error) if it cannot be built."""
    newsletter = batch.newsletter
    values = placeholders.values_for(
        recipient.name,
        recipient.email,
        recipient.unsubscribe_url,
        recipient.preferences_url,
        recipient.click_base,
    )
    domain = newsletter.from_address.rsplit("@", 1)[1]
    to = mail_address(recipient.email)
    # The body is encoded under the body policy (quoted-printable lines of at most 76
    # characters), then the message takes the long-line policy for its headers.
    message = EmailMessage(policy=_UTF8_BODY_POLICY if to.smtputf8 else _BODY_POLICY)
    message["Subject"] = one_line(batch.subject)
    message["From"] = Address(
        display_name=one_line(newsletter.from_name), addr_spec=newsletter.from_address
    )
    message["To"] = _to_header(one_line(recipient.name), to.address, to.smtputf8)
    if newsletter.reply_to:
        message["Reply-To"] = newsletter.reply_to
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(
        idstring=f"{batch.edition_id}.{recipient.delivery_id}", domain=domain
    )
    for name, value in list_headers(batch, recipient).items():
        message[name] = value
    message.set_content(placeholders.fill(batch.email.text, values), cte="quoted-printable")
    message.add_alternative(
        placeholders.fill(batch.email.html, values), subtype="html", cte="quoted-printable"
    )
    message.policy = _UTF8_POLICY if to.smtputf8 else _POLICY
    return message


def needs_smtputf8(message: EmailMessage) -> bool:
    return message.policy.utf8  # type: ignore[attr-defined,no-any-return]


def _to_header(name: str, address: str, smtputf8: bool) -> Address | str:
    if not smtputf8:
        return Address(display_name=name, addr_spec=address)
    # Python's header folding writes a non-ASCII local part as encoded words, which no server
    # can deliver (RFC 2047 forbids them in an addr-spec). Under SMTPUTF8 the address goes in
    # as UTF-8: the display name is quoted by Address, and the address put in after.
    stand_in = "x@x.invalid"
    return str(Address(display_name=name, addr_spec=stand_in)).replace(stand_in, address)


def list_headers(batch: Batch, recipient: Recipient) -> dict[str, str]:
    """RFC 2369 / RFC 8058 headers: one-click unsubscribe, and which list this is."""
    headers = shared_headers(batch)
    if batch.purpose != "notice":
        headers["List-Unsubscribe"] = f"<{recipient.unsubscribe_url}>"
    headers["X-Digest-Edition"] = str(batch.edition_id)
    return headers


def shared_headers(batch: Batch) -> dict[str, str]:
    """The headers that are the same for every reader of a batch."""
    if batch.purpose == "notice":
        return {"X-Digest-Notice": "yes"}
    headers = {
        # RFC 8058: with List-Unsubscribe, this makes the link a one-click unsubscribe.
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "List-Id": list_id(batch),
    }
    if batch.purpose == "test":
        headers["X-Digest-Test"] = "yes"
    return headers


def list_id(batch: Batch) -> str:
    """RFC 2919 List-Id: the newsletter's title and a name under its web host."""
    newsletter = batch.newsletter
    host = newsletter.web_base.split("://", 1)[1].split("/", 1)[0]
    return f"{one_line(newsletter.title)} <{newsletter.name}.{host}>"


def encoded_header_value(value: str) -> str:
    """A header value for an HTTP provider's API, which takes it as it is (SendGrid, Postmark):
    one line, RFC 2047 encoded words when not ASCII; a trailing <...> (as in List-Id) stays as
    it is."""
    value = one_line(value)
    if value.isascii():
        return value
    phrase, bracket, rest = value.rpartition(" <")
    if not bracket or not rest.endswith(">"):
        phrase, rest = value, ""
    # Encoded words on one line: a folded value would carry a line break into the header.
    encoded = Header(phrase, "utf-8").encode(linesep="")
    return f"{encoded} <{rest}" if rest else encoded
