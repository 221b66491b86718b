"""A Mailgun Messages API server on 127.0.0.1, for tests.

It speaks the wire format of `POST /v3/{domain}/messages` as Mailgun's reference describes it:
HTTP basic auth `api:KEY` (401 "Forbidden" otherwise), the sending domain in the path (404
"Domain not found"), a multipart/form-data body of at most 25 MB (413), `from`, `to`,
`subject` and `text` or `html` required, 1 to 1000 recipients in `to`, every one an address,
send options (`o:`, `h:`, `v:`) at most 16 kB in all, ASCII header names and values, and a
`recipient-variables` JSON object with an object for every `to` (without it Mailgun would show
every reader's address to every reader). It answers 200 `{"id": "<…>", "message": "Queued.
Thank you."}` or Mailgun's error shape `{"message": "…"}`.

What it takes it expands as Mailgun would: one message per reader, each `%recipient.KEY%` of
the subject, both parts, the `h:` headers and the `v:` variables filled from that reader's
variables; the `v:` variables are what webhooks carry back as `user-variables`. It can be told
to fail: 429 with Retry-After, 500/503, 400, 401, a connection dropped after reading the
request (before or after taking it), or a slow answer after accepting.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import errors, policy
from email.headerregistry import Address, HeaderRegistry
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler
from typing import Any

from email_validator import EmailNotValidError, validate_email

from tests.servers import serving_in_thread

MAX_RECIPIENTS = 1000
MAX_MESSAGE_BYTES = 25 * 1024 * 1024
MAX_OPTIONS_BYTES = 16 * 1024
_PATH = re.compile(r"^/v3/([^/]+)/messages$")
_VARIABLE = re.compile(r"%recipient\.([A-Za-z0-9_]+)%")
_TRACKING = {"yes", "no", "true", "false", "htmlonly"}
_headers = HeaderRegistry()


@dataclass
class Fault:
    """What to do instead of accepting the next request."""

    # "429", "500", "503", "400", "401"; "drop" (the request read, not taken, the connection
    # closed), "lost" (taken, then closed before the answer), "slow"; anything else: accepted.
    kind: str
    message: str = "error"
    seconds: float = 0.0  # 429: Retry-After; "slow": the delay after accepting


@dataclass
class Expanded:
    """One reader's message, as Mailgun would send it."""

    address: str
    name: str
    sender: str
    subject: str
    text: str
    html: str
    headers: dict[str, str]
    user_variables: dict[str, str]
    options: dict[str, str]
    message_id: str


@dataclass
class MailgunState:
    api_key: str
    domain: str
    keep_messages: bool = True
    # How many messages each address got; every reader taken, with its user variables.
    recipients: Counter[str] = field(default_factory=Counter)
    taken: list[tuple[str, dict[str, str], str]] = field(default_factory=list)
    messages: list[Expanded] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    request_recipients: list[int] = field(default_factory=list)
    faults: deque[Fault] = field(default_factory=deque)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def accepted_requests(self) -> int:
        return self.statuses.count(200)

    def messages_to(self, address: str) -> list[Expanded]:
        return [m for m in self.messages if m.address == address]


class _Problem(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: MailgunState

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            return self._answer(411, {"message": "Length Required"})
        if int(length) > MAX_MESSAGE_BYTES:
            self.close_connection = True
            return self._answer(413, {"message": "Request Entity Too Large"})
        raw = self.rfile.read(int(length))
        try:
            fields = self._check_request(raw)
        except _Problem as problem:
            if problem.status == 401:
                return self._answer(401, "Forbidden")
            return self._answer(problem.status, {"message": problem.message})
        with self.state.lock:
            fault = self.state.faults.popleft() if self.state.faults else None
        if fault and fault.kind == "drop":
            # The request was read whole but not taken; the client never hears.
            return self._drop()
        if fault and fault.kind == "429":
            return self._answer(
                429,
                {"message": "Too many requests"},
                {"Retry-After": str(int(fault.seconds))},
            )
        if fault and fault.kind in ("500", "503"):
            return self._answer(int(fault.kind), {"message": "Internal server error"})
        if fault and fault.kind == "400":
            return self._answer(400, {"message": fault.message})
        if fault and fault.kind == "401":
            return self._answer(401, "Forbidden")
        try:
            readers = _readers(fields)
        except _Problem as problem:
            return self._answer(problem.status, {"message": problem.message})
        message_id = f"{time.strftime('%Y%m%d%H%M%S')}.{uuid.uuid4().hex[:16]}@{self.state.domain}"
        self._take(fields, readers, message_id)
        if fault and fault.kind == "lost":  # taken, and the answer lost
            return self._drop()
        if fault and fault.kind == "slow":
            time.sleep(fault.seconds)  # taken, but the answer comes late (or never)
        return self._answer(200, {"id": f"<{message_id}>", "message": "Queued. Thank you."})

    def _drop(self) -> None:
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    def _check_request(self, raw: bytes) -> list[tuple[str, str]]:
        match = _PATH.match(self.path)
        if not match:
            raise _Problem(404, "Not Found")
        if self.headers.get("Authorization") != _basic(self.state.api_key):
            raise _Problem(401, "Forbidden")
        if match.group(1) != self.state.domain:
            raise _Problem(404, f"Domain not found: {match.group(1)}")
        content_type = self.headers.get("Content-Type", "")
        if not content_type.startswith("multipart/form-data"):
            raise _Problem(400, "expected multipart/form-data")
        return _form_fields(content_type, raw)

    def _take(
        self, fields: list[tuple[str, str]], readers: list[tuple[str, str]], message_id: str
    ) -> None:
        single = {name: value for name, value in fields if name != "to"}
        variables = json.loads(single["recipient-variables"])
        with self.state.lock:
            self.state.statuses.append(200)
            self.state.request_recipients.append(len(readers))
            for address, name in readers:
                own = variables[address]
                user = {
                    key[2:]: _fill(value, own) for key, value in single.items() if key[:2] == "v:"
                }
                self.state.recipients[address.lower()] += 1
                self.state.taken.append((address, user, message_id))
                if not self.state.keep_messages:
                    continue
                self.state.messages.append(
                    Expanded(
                        address=address,
                        name=name,
                        sender=single["from"],
                        subject=_fill(single["subject"], own),
                        text=_fill(single.get("text", ""), own),
                        html=_fill(single.get("html", ""), own),
                        headers={k[2:]: _fill(v, own) for k, v in single.items() if k[:2] == "h:"},
                        user_variables=user,
                        options={k[2:]: v for k, v in single.items() if k[:2] == "o:"},
                        message_id=message_id,
                    )
                )

    def _answer(
        self, status: int, body: dict[str, Any] | str, headers: dict[str, str] | None = None
    ) -> None:
        if isinstance(body, str):
            data, kind = body.encode(), "text/plain; charset=utf-8"
        else:
            data, kind = json.dumps(body).encode(), "application/json"
        with self.state.lock:
            if status != 200:
                self.state.statuses.append(status)
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def _basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"api:{key}".encode()).decode()


def _form_fields(content_type: str, raw: bytes) -> list[tuple[str, str]]:
    """The form's fields in order, each a part without a file name, as UTF-8 text."""
    document = BytesParser(policy=policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw
    )
    if not document.is_multipart() or document.defects:
        raise _Problem(400, "malformed multipart body")
    fields: list[tuple[str, str]] = []
    for part in document.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or part.get_filename():
            raise _Problem(400, "every part must be a form field with a name")
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        try:
            fields.append((name, payload.decode("utf-8")))
        except UnicodeDecodeError:
            raise _Problem(400, f"{name} parameter is not UTF-8") from None
    return fields


def _readers(fields: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The (address, name) of every `to`, once the message's fields are checked."""
    single: dict[str, str] = {}
    to: list[str] = []
    options = 0
    for name, value in fields:
        if name == "to":
            to.append(value)
            continue
        if name in single:
            raise _Problem(400, f"{name} parameter is given twice")
        single[name] = value
        if name[:2] in ("o:", "h:", "v:"):
            options += len(name) + len(value.encode())
    for required in ("from", "subject"):
        if not single.get(required):
            raise _Problem(400, f"{required} parameter is missing")
    if not to:
        raise _Problem(400, "to parameter is missing")
    if not (single.get("text") or single.get("html")):
        raise _Problem(
            400, "Need at least one of 'text', 'html' or 'template' parameters specified"
        )
    if options > MAX_OPTIONS_BYTES:
        raise _Problem(
            400, "Send options (parameters starting with o:, h:, or v:) are limited to 16 kB total"
        )
    for name, value in single.items():
        if name.startswith("h:") and not (name.isascii() and value.isascii()):
            raise _Problem(400, f"Header name and value must be pure ASCII: {name[2:]}")
        tracking = name in ("o:tracking", "o:tracking-clicks", "o:tracking-opens")
        if tracking and value.lower() not in _TRACKING:
            raise _Problem(400, f"{name} must be yes, no, true, false or htmlonly")
    _parse_mailbox(single["from"], "from")
    readers = [_parse_mailbox(value, "to") for value in to]
    if len(readers) > MAX_RECIPIENTS:
        raise _Problem(400, "Too many recipients; max is 1000")
    try:
        variables = json.loads(single.get("recipient-variables", ""))
    except ValueError:
        raise _Problem(400, "recipient-variables parameter is not a valid JSON") from None
    if not isinstance(variables, dict):
        raise _Problem(400, "recipient-variables parameter must be a JSON object")
    for address, _ in readers:
        own = variables.get(address)
        if not isinstance(own, dict) or not all(isinstance(v, str) for v in own.values()):
            raise _Problem(400, f"recipient-variables has no object of strings for {address}")
    return readers


def _parse_mailbox(value: str, field_name: str) -> tuple[str, str]:
    """One `Name <address>` or bare address: (address, name); one address only."""
    header = _headers("to", value)
    addresses: tuple[Address, ...] = getattr(header, "addresses", ())
    # Mailgun's HTTP API takes internationalised local parts (SMTPUTF8).
    defects = [d for d in header.defects if not isinstance(d, errors.NonASCIILocalPartDefect)]
    if len(addresses) != 1 or defects:
        raise _Problem(
            400, f"{field_name} parameter is not a valid address. please check documentation"
        )
    address = addresses[0]
    try:
        validate_email(address.addr_spec, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError:
        raise _Problem(
            400, f"{field_name} parameter is not a valid address. please check documentation"
        ) from None
    return address.addr_spec, address.display_name


def _fill(text: str, variables: dict[str, str]) -> str:
    return _VARIABLE.sub(lambda m: variables.get(m.group(1), m.group()), text)


@contextmanager
def running_mailgun(
    api_key: str = "key-test-mailgun", domain: str = "mg.example.org", keep_messages: bool = True
) -> Iterator[tuple[str, MailgunState]]:
    """(base URL, state) of a server running in a thread until the block ends."""
    state = MailgunState(api_key=api_key, domain=domain, keep_messages=keep_messages)
    handler = type("Handler", (_Handler,), {"state": state})
    with serving_in_thread(handler) as base:
        yield base, state
