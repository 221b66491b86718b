"""A SendGrid v3 Mail Send server on 127.0.0.1, for tests and benchmarks.

It speaks the wire format of POST /v3/mail/send: bearer-key check, the request body validated
against SendGrid's published schema (../shared/data/sendgrid), the documented limits (1 to 1000
personalizations, at most 1000 recipients, each address once per request), 202 with
X-Message-Id, and SendGrid's error shape {"errors": [{"message", "field", "help"}]}. It records
every recipient it accepted, and can be told to fail: 429 with rate-limit headers, 500, 400, a
dropped connection, or a slow answer after accepting. Given `on_accept`, it hands each accepted
request's personalizations to it before answering, as SendGrid's Event Webhook would report
them (a test posts the events through digest's webhook: events that arrive while a send runs).
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import fastjsonschema

from tests.servers import serving_in_thread

SCHEMA = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "data"
    / "sendgrid"
    / ("mail_send.request.schema.json")
)
MAX_PERSONALIZATIONS = 1000
MAX_RECIPIENTS = 1000


@dataclass
class Fault:
    """What to do instead of accepting the next request."""

    kind: str  # "429", "500", "400", "drop", "slow"
    message: str = "error"
    field: str | None = None
    seconds: float = 0.0  # for 429: when the rate limit resets; for "slow": delay after accepting


@dataclass
class SendGridState:
    api_key: str
    keep_bodies: bool = True
    recipients: Counter[str] = field(default_factory=Counter)
    # Every personalization taken: (address, its custom_args), to send events back.
    taken: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    # The Content-Type of every request, as sent.
    content_types: list[str] = field(default_factory=list)
    faults: deque[Fault] = field(default_factory=deque)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Called with each accepted request's (address, custom_args), before the answer goes out.
    on_accept: Callable[[list[tuple[str, dict[str, str]]]], None] | None = None

    @property
    def accepted_requests(self) -> int:
        return self.statuses.count(202)


def _load_validator() -> Callable[[Any], Any]:
    return fastjsonschema.compile(json.loads(SCHEMA.read_text(encoding="utf-8")))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: SendGridState
    validate: Callable[[Any], Any]

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        """/_stats: what the server took, for benchmarks running it in another process."""
        with self.state.lock:
            stats = {
                "accepted_requests": self.state.accepted_requests,
                "requests": len(self.state.statuses),
                "recipients": len(self.state.recipients),
                "duplicates": sum(1 for n in self.state.recipients.values() if n > 1),
                # Personalizations taken in all, and addresses that got one edition twice.
                "taken": len(self.state.taken),
                "edition_duplicates": sum(
                    1
                    for n in Counter(
                        (address, args.get("edition_id")) for address, args in self.state.taken
                    ).values()
                    if n > 1
                ),
            }
        data = json.dumps(stats).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        with self.state.lock:
            self.state.content_types.append(self.headers.get("Content-Type", ""))
        if self.path != "/v3/mail/send":
            return self._error(404, "Not found", None)
        if self.headers.get("Authorization") != f"Bearer {self.state.api_key}":
            return self._error(
                401, "The provided authorization grant is invalid, expired, or revoked", None
            )
        with self.state.lock:
            fault = self.state.faults.popleft() if self.state.faults else None
        if fault and fault.kind == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return None
        if fault and fault.kind == "429":
            reset = int(time.time() + fault.seconds)
            return self._error(
                429,
                "too many requests",
                None,
                {
                    "X-RateLimit-Limit": "600",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": str(reset),
                },
            )
        if fault and fault.kind == "500":
            return self._error(500, "internal server error", None)
        if fault and fault.kind == "400":
            return self._error(400, fault.message, fault.field)
        try:
            body = json.loads(raw)
        except ValueError:
            return self._error(400, "Bad Request", None)
        problem = self._check(body)
        if problem:
            return self._error(400, *problem)
        accepted: list[tuple[str, dict[str, str]]] = []
        with self.state.lock:
            for personalization in body["personalizations"]:
                for kind in ("to", "cc", "bcc"):
                    for address in personalization.get(kind, []):
                        self.state.recipients[address["email"].lower()] += 1
                        accepted.append(
                            (address["email"].lower(), personalization.get("custom_args", {}))
                        )
            self.state.taken.extend(accepted)
            if self.state.keep_bodies:
                self.state.bodies.append(body)
            self.state.statuses.append(202)
        if self.state.on_accept is not None:
            self.state.on_accept(accepted)
        if fault and fault.kind == "slow":
            time.sleep(fault.seconds)  # accepted, but the answer comes late (or never)
        self.send_response(202)
        self.send_header("X-Message-Id", uuid.uuid4().hex[:22])
        self.send_header("Content-Length", "0")
        self.end_headers()
        return None

    def _check(self, body: Any) -> tuple[str, str | None] | None:
        try:
            self.validate(body)
        except fastjsonschema.JsonSchemaValueException as error:
            return str(error.message), str(error.name or "")
        personalizations = body["personalizations"]
        if not personalizations:
            return (
                "The personalizations field is required and must have at least one "
                "personalization.",
                "personalizations",
            )
        if len(personalizations) > MAX_PERSONALIZATIONS:
            return (
                "The personalizations field is limited to 1000 personalizations per request.",
                "personalizations",
            )
        seen: set[str] = set()
        total = 0
        for index, personalization in enumerate(personalizations):
            for kind in ("to", "cc", "bcc"):
                for address in personalization.get(kind, []):
                    total += 1
                    email = address["email"].lower()
                    if email in seen:
                        return (
                            "Each email address in the personalization block should be unique "
                            f"between to, cc, and bcc. We found the first duplicate instance of "
                            f"[{email}] in the personalizations.{index}.{kind} field.",
                            f"personalizations.{index}.{kind}",
                        )
                    seen.add(email)
        if total > MAX_RECIPIENTS:
            return "The total number of recipients must be no more than 1000.", "personalizations"
        return None

    def _error(
        self,
        status: int,
        message: str,
        field_name: str | None,
        headers: dict[str, str] | None = None,
    ) -> None:
        payload = json.dumps({"errors": [{"message": message, "field": field_name, "help": None}]})
        data = payload.encode()
        with self.state.lock:
            self.state.statuses.append(status)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


@contextmanager
def running_sendgrid(
    api_key: str = "SG.test-key", keep_bodies: bool = True
) -> Iterator[tuple[str, SendGridState]]:
    """(base URL, state) of a server running in a thread until the block ends."""
    state = SendGridState(api_key=api_key, keep_bodies=keep_bodies)
    handler = type(
        "Handler", (_Handler,), {"state": state, "validate": staticmethod(_load_validator())}
    )
    with serving_in_thread(handler) as base:
        yield base, state


def serve(port: int, api_key: str) -> None:
    """Run until killed (for benchmarks): python -m tests.servers.sendgrid PORT KEY."""
    state = SendGridState(api_key=api_key, keep_bodies=False)
    handler = type(
        "Handler", (_Handler,), {"state": state, "validate": staticmethod(_load_validator())}
    )
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    import sys

    serve(int(sys.argv[1]), sys.argv[2])
