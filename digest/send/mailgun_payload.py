"""The form of Mailgun's `POST /v3/{domain}/messages` for one batch, built as plain data.

Batch sending: every reader in `to`, and `recipient-variables` (one JSON object per address)
holding what differs between readers. Mailgun sends each reader their own message, with each
`%recipient.KEY%` in the subject, the parts, the `h:` headers and the `v:` variables filled
from that reader's object; the `v:` variables come back in webhook events' `user-variables`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from email.header import Header
from html import escape

from digest.render import RenderedEmail, placeholders
from digest.send import Batch, Recipient
from digest.send.addresses import UnsendableAddress, mail_address
from digest.send.mime import shared_headers
from digest.store.deliveries import Failure
from digest.text_fields import one_line

# Mailgun's documented limits: 1000 recipients a call; a message (the request) of 25 MB.
MAX_RECIPIENTS = 1000
MAX_REQUEST_BYTES = 25 * 1024 * 1024
# Room kept under the limit for the multipart framing and the fields counted roughly.
_FRAMING_BYTES = 64 * 1024
# RFC 5321: a forward path holds at most 254 characters of address.
_MAX_ADDRESS = 254

# Our markers, each the recipient variable that fills it (short keys: they repeat 1000 times
# a request).
VARIABLE_FOR_MARKER = {
    placeholders.UNSUBSCRIBE_URL: "unsubscribe",
    placeholders.PREFERENCES_URL: "preferences",
    placeholders.CLICK_BASE: "click_base",
    placeholders.NAME: "name",
    placeholders.NAME_HTML: "name_html",
    placeholders.EMAIL: "email",
    placeholders.EMAIL_HTML: "email_html",
}
_MARKER = re.compile("|".join(re.escape(marker) for marker in VARIABLE_FOR_MARKER))
# Mailgun's own syntax, when it comes from third-party text (a headline, a summary): made
# inert with an invisible word joiner, so that Mailgun fills only the markers we put there.
_FOREIGN = re.compile(r"%recipient\.", re.IGNORECASE)
# In a display name, these need the name quoted (RFC 5322 specials): a comma would split it
# into two broken addresses.
_SPECIALS = re.compile(r'[()<>\[\]:;@\\,."]')


@dataclass(frozen=True)
class MailgunRequest:
    """One call: repeated form fields in order (`to` once per reader) and the count of
    readers, with the size it will have on the wire (about)."""

    fields: list[tuple[str, str]]
    recipients: list[Recipient]
    size: int


def sendable(batch: Batch) -> tuple[Batch, dict[int, Failure]]:
    """The readers Mailgun's API can take, and the others with the reason. Mailgun takes
    internationalised addresses (SMTPUTF8) and converts IDN domains itself, so an address is
    sent as stored; one that is not an address at all fails alone."""
    kept: list[Recipient] = []
    failures: dict[int, Failure] = {}
    for recipient in batch.recipients:
        email = recipient.email
        try:
            mail_address(email)
        except UnsendableAddress as error:
            failures[recipient.delivery_id] = Failure(f"Mailgun cannot take it: {error}", True)
            continue
        if len(email) > _MAX_ADDRESS or "," in email or "<" in email or ">" in email:
            reason = f"Mailgun cannot take the address {email!r} (over 254 characters or , < >)"
            failures[recipient.delivery_id] = Failure(reason, permanent=True)
            continue
        kept.append(recipient)
    if not failures:
        return batch, {}
    return replace(batch, recipients=kept), failures


def mailgun_text(body: str) -> str:
    """The email's text with our markers as Mailgun's recipient variables."""
    if "%" not in body:
        return body
    body = _FOREIGN.sub("%" + placeholders.WORD_JOINER + "recipient.", body)
    return _MARKER.sub(lambda m: f"%recipient.{VARIABLE_FOR_MARKER[m.group()]}%", body)


class PayloadBuilder:
    """Builds the requests for batches of one email at a time: the email's parts are
    translated once, not once a batch."""

    def __init__(self) -> None:
        self._email: RenderedEmail | None = None
        self._parts: tuple[str, str, str] = ("", "", "")

    def requests(self, batch: Batch) -> list[MailgunRequest]:
        """The batch as one request, or several when the email is so large that 1000 readers
        would pass the size limit."""
        if not 1 <= len(batch.recipients) <= MAX_RECIPIENTS:
            raise ValueError(f"a request holds 1 to {MAX_RECIPIENTS} recipients")
        shared = self._shared_fields(batch)
        fixed = sum(len(name) + len(value.encode()) for name, value in shared) + _FRAMING_BYTES
        if fixed >= MAX_REQUEST_BYTES:
            raise ValueError(
                f"the email is {fixed // 1_000_000} MB: over Mailgun's 25 MB message limit"
            )
        requests: list[MailgunRequest] = []
        chunk: list[Recipient] = []
        variables: list[str] = []
        to: list[tuple[str, str]] = []
        size = fixed
        for recipient in batch.recipients:
            entry = _variables(recipient)
            address = _mailbox(recipient.name, recipient.email)
            cost = len(entry.encode()) + len(address.encode()) + 64
            if chunk and size + cost > MAX_REQUEST_BYTES:
                requests.append(_request(shared, to, variables, chunk, size))
                chunk, variables, to, size = [], [], [], fixed
            chunk.append(recipient)
            variables.append(entry)
            to.append(("to", address))
            size += cost
        requests.append(_request(shared, to, variables, chunk, size))
        return requests

    def _shared_fields(self, batch: Batch) -> list[tuple[str, str]]:
        newsletter = batch.newsletter
        if self._email is not batch.email:
            email = batch.email
            self._email = email
            self._parts = (
                mailgun_text(email.text),
                mailgun_text(email.html),
                mailgun_text(one_line(email.subject)),
            )
        text, html, subject = self._parts
        if batch.purpose == "test":
            subject = f"[TEST] {subject}"
        fields = [
            ("from", _mailbox(newsletter.from_name, newsletter.from_address)),
            ("subject", subject),
            ("text", text),
            ("html", html),
            # One tag per newsletter, so Mailgun's statistics split by newsletter.
            ("o:tag", newsletter.name),
            # Mailgun's tracking off whatever the domain's defaults: its open pixel and
            # rewritten links would follow every reader. Reading figures are digest's own.
            ("o:tracking", "no"),
            ("o:tracking-clicks", "no"),
            ("o:tracking-opens", "no"),
            # Our ids, per reader through their variables: they come back in the events.
            ("v:edition_id", str(batch.edition_id)),
            ("v:subscriber_id", "%recipient.subscriber_id%"),
            ("v:delivery_id", "%recipient.delivery_id%"),
        ]
        if newsletter.reply_to:
            fields.append(("h:Reply-To", newsletter.reply_to))
        if batch.purpose != "notice":
            fields.append(("h:List-Unsubscribe", "<%recipient.unsubscribe%>"))
        fields += [(f"h:{name}", _encoded(value)) for name, value in shared_headers(batch).items()]
        return fields


def _variables(recipient: Recipient) -> str:
    """One reader's recipient variables as a JSON member ("address": {...}), written as one
    string: at a million readers a send, every call per reader counts."""
    name = placeholders.inert(recipient.name) or placeholders.NAMELESS
    url = recipient.unsubscribe_url
    values = {
        "unsubscribe": url,
        "preferences": recipient.preferences_url or url,
        "click_base": recipient.click_base,
        "name": name,
        "name_html": escape(name),
        "email": recipient.email,
        "email_html": escape(recipient.email),
        "subscriber_id": str(recipient.subscriber_id),
        "delivery_id": str(recipient.delivery_id),
    }
    return f"{json.dumps(recipient.email)}:{json.dumps(values, separators=(',', ':'))}"


def _request(
    shared: list[tuple[str, str]],
    to: list[tuple[str, str]],
    variables: list[str],
    recipients: list[Recipient],
    size: int,
) -> MailgunRequest:
    fields = [*shared, *to, ("recipient-variables", "{" + ",".join(variables) + "}")]
    return MailgunRequest(fields, list(recipients), size)


def _mailbox(name: str, address: str) -> str:
    """`Name <address>` as Mailgun parses its `to` and `from`: a name with a comma or another
    special is sent as an RFC 5322 quoted string, or it would split into two addresses."""
    if not name.isprintable():
        name = one_line(name)
    if not name:
        return address
    if "%" in name:  # a reader named "%recipient.email%" stays that in the To header
        name = _FOREIGN.sub("%" + placeholders.WORD_JOINER + "recipient.", name)
    if _SPECIALS.search(name):
        name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{name} <{address}>"


def _encoded(value: str) -> str:
    """A header value as ASCII (RFC 2047 encoded words when not): Mailgun passes `h:` values
    through as they are. A trailing <...> (as in List-Id) stays as it is."""
    value = one_line(value)
    if value.isascii():
        return value
    phrase, bracket, rest = value.rpartition(" <")
    if not bracket or not rest.endswith(">"):
        phrase, rest = value, ""
    encoded = Header(phrase, "utf-8").encode(linesep="")
    return f"{encoded} <{rest}" if rest else encoded
