"""A Postmark Email API server on 127.0.0.1 (`POST /email/batch`), for tests.

It checks what Postmark's API reference and support articles publish: the
`X-Postmark-Server-Token` header (401, ErrorCode 10, without the right one), JSON content with
`Accept` and `Content-Type: application/json`, a JSON array of 1 to 500 messages (422 for the
whole call otherwise), at most 50 MB a call (413), and per message: `From` and `To` required,
`HtmlBody` or `TextBody`, each at most 5 MB, the whole message at most 10 MB, at most 50
recipients, addresses as Postmark's validation patterns allow (ASCII mailboxes; a name with
punctuation quoted), `Headers` as Name/Value pairs, `Metadata` of at most 10 string values
(keys up to 20 characters, values up to 80), `TrackOpens` a boolean, `TrackLinks` one of its
four values, `MessageStream` one the server has. A message that fails them gets its error in
the 200 answer's array (ErrorCode 300; 1235 for an unknown stream), as Postmark answers a batch.

It records every message it took, and can be told to answer otherwise: 429 (with Retry-After),
500, 503, a 422 for the whole call, a dropped connection after reading the request, a slow
answer after taking it; and inactive recipients (ErrorCode 406).
"""

from __future__ import annotations

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
from datetime import UTC, datetime
from email.utils import getaddresses
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.servers import serving_in_thread

MAX_MESSAGES = 500
MAX_CALL_BYTES = 50 * 1000 * 1000
MAX_MESSAGE_BYTES = 10 * 1000 * 1000
MAX_BODY_BYTES = 5 * 1000 * 1000
MAX_RECIPIENTS = 50
TRACK_LINKS = {"None", "HtmlAndText", "HtmlOnly", "TextOnly"}
FIELDS = {
    "From",
    "To",
    "Cc",
    "Bcc",
    "Subject",
    "Tag",
    "HtmlBody",
    "TextBody",
    "ReplyTo",
    "Headers",
    "TrackOpens",
    "TrackLinks",
    "Metadata",
    "Attachments",
    "MessageStream",
}
# Postmark's published address patterns (support article "What does Error Code 300 mean?").
_DOMAIN = re.compile(r"^((\.)?[a-zA-Z0-9\-])+$")
_MAILBOX = re.compile(r"^[a-z0-9\.!#\$%&'`\*\+\-\/=\^_\{\}\|~]+$", re.IGNORECASE)


@dataclass
class Fault:
    """What to do instead of answering the next call normally."""

    # "429", "500", "503", "422", "drop", "slow"; "ok" answers normally (a calm between storms)
    kind: str
    error_code: int = 300
    message: str = "error"
    seconds: float = 0.0  # 429: Retry-After; "slow": the delay after taking the call


@dataclass
class Taken:
    """One message the server took."""

    to: str  # the address, lower-cased
    metadata: dict[str, str]
    message: dict[str, Any]
    message_id: str


@dataclass
class PostmarkState:
    token: str
    streams: set[str] = field(default_factory=lambda: {"outbound", "broadcast"})
    keep_messages: bool = True
    taken: list[Taken] = field(default_factory=list)
    # Addresses Postmark has marked inactive (a hard bounce, a complaint): ErrorCode 406.
    inactive: set[str] = field(default_factory=set)
    statuses: list[int] = field(default_factory=list)
    call_sizes: list[int] = field(default_factory=list)  # messages a call, of calls answered
    refused: list[tuple[int, str]] = field(default_factory=list)  # per-message errors given
    faults: deque[Fault] = field(default_factory=deque)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def copies(self) -> Counter[str]:
        return Counter(t.to for t in self.taken)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: PostmarkState

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        if length > MAX_CALL_BYTES:
            self.close_connection = True
            return self._answer(413, {"ErrorCode": 300, "Message": "Payload Too Large"})
        raw = self.rfile.read(length)
        if self.path != "/email/batch":
            return self._answer(404, {"ErrorCode": 404, "Message": "Not found"})
        if self.headers.get("X-Postmark-Server-Token") != self.state.token:
            return self._answer(
                401,
                {
                    "ErrorCode": 10,
                    "Message": "The Server Token you provided in the X-Postmark-Server-Token "
                    "request header was invalid.",
                },
            )
        for header in ("Accept", "Content-Type"):
            if "application/json" not in self.headers.get(header, ""):
                return self._answer(
                    422, {"ErrorCode": 402, "Message": f"{header} must be application/json"}
                )
        with self.state.lock:
            fault = self.state.faults.popleft() if self.state.faults else None
        if fault and fault.kind == "drop":
            # The whole request read, then no answer: the client cannot tell what happened.
            with self.state.lock:
                self.state.statuses.append(0)
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return None
        if fault and fault.kind == "429":
            return self._answer(
                429,
                {"ErrorCode": 429, "Message": "Rate limit exceeded"},
                {"Retry-After": str(int(fault.seconds))},
            )
        if fault and fault.kind in ("500", "503"):
            return self._answer(int(fault.kind), {"ErrorCode": 500, "Message": "Server error"})
        if fault and fault.kind == "422":
            return self._answer(422, {"ErrorCode": fault.error_code, "Message": fault.message})
        try:
            messages = json.loads(raw)
        except ValueError:
            return self._answer(422, {"ErrorCode": 402, "Message": "Received invalid JSON input."})
        if not isinstance(messages, list) or not 1 <= len(messages) <= MAX_MESSAGES:
            return self._answer(
                422,
                {
                    "ErrorCode": 300,
                    "Message": f"A batch call takes a JSON array of 1 to {MAX_MESSAGES} messages.",
                },
            )
        answers = [self._take(message) for message in messages]
        with self.state.lock:
            self.state.call_sizes.append(len(messages))
        if fault and fault.kind == "slow":
            time.sleep(fault.seconds)  # taken, but the answer comes late (or never)
        return self._answer(200, answers)

    def _take(self, message: Any) -> dict[str, Any]:
        problem = _problem(message, self.state.streams)
        if problem is not None:
            code, words = problem
            with self.state.lock:
                self.state.refused.append(problem)
            return {"ErrorCode": code, "Message": words}
        to = message["To"]
        address = getaddresses([to])[0][1].lower()
        if address in self.state.inactive:
            words = (
                "You tried to send to recipient(s) that have been marked as inactive. "
                f"Found inactive addresses: {address}."
            )
            with self.state.lock:
                self.state.refused.append((406, words))
            return {"ErrorCode": 406, "Message": words}
        message_id = str(uuid.uuid4())
        taken = Taken(
            address,
            dict(message.get("Metadata") or {}),
            message if self.state.keep_messages else {},
            message_id,
        )
        with self.state.lock:
            self.state.taken.append(taken)
        return {
            "ErrorCode": 0,
            "Message": "OK",
            "MessageID": message_id,
            "SubmittedAt": datetime.now(UTC).isoformat(),
            "To": to,
        }

    def _answer(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        with self.state.lock:
            self.state.statuses.append(status)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def _problem(message: Any, streams: set[str]) -> tuple[int, str] | None:
    """Why Postmark would refuse this message (its ErrorCode and words), or None."""
    if not isinstance(message, dict):
        return 300, "Invalid email request: a message is a JSON object"
    unknown = set(message) - FIELDS
    if unknown:
        return 300, f"Invalid email request: unknown fields {sorted(unknown)}"
    for name in ("From", "To"):
        if not isinstance(message.get(name), str) or not message[name]:
            return 300, f"Invalid email request: '{name}' is required"
    if not (message.get("HtmlBody") or message.get("TextBody")):
        return 300, "Provide either email TextBody or HtmlBody or both."
    for name in ("Subject", "Tag", "HtmlBody", "TextBody", "ReplyTo", "MessageStream"):
        if name in message and not isinstance(message[name], str):
            return 300, f"Invalid email request: '{name}' must be a string"
    for name in ("HtmlBody", "TextBody"):
        if len(message.get(name, "").encode()) > MAX_BODY_BYTES:
            return 300, f"Invalid email request: {name} is over 5 MB"
    if len(json.dumps(message).encode()) > MAX_MESSAGE_BYTES:
        return 300, "Invalid email request: the message is over 10 MB"
    for name in ("From", "To", "ReplyTo"):
        if name in message:
            problem = _addresses(name, message[name])
            if problem:
                return 300, problem
    headers = message.get("Headers", [])
    if not isinstance(headers, list) or not all(
        isinstance(h, dict)
        and set(h) == {"Name", "Value"}
        and isinstance(h["Name"], str)
        and isinstance(h["Value"], str)
        and h["Value"].isascii()
        and "\n" not in h["Value"]
        for h in headers
    ):
        return 300, "Invalid email request: Headers must be a list of {Name, Value} strings"
    metadata = message.get("Metadata", {})
    if not isinstance(metadata, dict) or len(metadata) > 10:
        return 300, "Invalid email request: Metadata must be an object of at most 10 fields"
    for key, value in metadata.items():
        if len(key) > 20 or not isinstance(value, str) or len(value) > 80:
            return 300, f"Invalid metadata field {key!r}: keys up to 20, string values up to 80"
    if "TrackOpens" in message and not isinstance(message["TrackOpens"], bool):
        return 300, "Invalid email request: TrackOpens must be a boolean"
    if "TrackLinks" in message and message["TrackLinks"] not in TRACK_LINKS:
        return 300, f"Invalid email request: TrackLinks must be one of {sorted(TRACK_LINKS)}"
    stream = message.get("MessageStream", "outbound")
    if stream not in streams:
        return 1235, f"The message stream for the provided 'ID' ({stream}) was not found."
    return None


def _addresses(field_name: str, value: str) -> str | None:
    parsed = getaddresses([value])
    if len(parsed) > MAX_RECIPIENTS:
        return f"Invalid '{field_name}' address: more than {MAX_RECIPIENTS} recipients"
    for _name, address in parsed:
        local, at, domain = address.rpartition("@")
        if not at or not _MAILBOX.match(local) or not _DOMAIN.match(domain):
            return f"Invalid '{field_name}' address: '{value}'. Illegal email address."
        if local.startswith(".") or local.endswith(".") or ".." in local:
            return f"Invalid '{field_name}' address: '{value}'. Illegal email address."
    return None


@contextmanager
def running_postmark(
    token: str = "postmark-test-token", keep_messages: bool = True
) -> Iterator[tuple[str, PostmarkState]]:
    """(base URL, state) of a server running in a thread until the block ends."""
    state = PostmarkState(token=token, keep_messages=keep_messages)
    handler = type("Handler", (_Handler,), {"state": state})
    with serving_in_thread(handler) as base:
        yield base, state
