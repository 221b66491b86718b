"""Amazon SES for tests: moto in server mode (a real implementation of the SES v2 API) on
127.0.0.1, behind a small proxy of ours that checks each SendEmail request against SES's
published limits, records it, and can answer as SES does when it throttles, fails or refuses
(moto itself never does): its REST-JSON error shape, an `x-amzn-ErrorType` header and a
`{"message": …}` body. "vanish" passes a request to moto and closes the connection before
the answer, as a link lost after SES took the message.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler
from typing import Any

import boto3
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.server import ThreadedMotoServer
from moto.ses.models import ses_backends

from tests.servers import serving_in_thread
from tests.servers.smtp import free_port

REGION = "eu-west-1"
SEND_PATH = "/v2/email/outbound-emails"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "AKIDTESTING", "AWS_SECRET_ACCESS_KEY": "testing-secret"}
_TAG = re.compile(r"[A-Za-z0-9_-]{1,256}")
# What SES answers, by fault: HTTP status, error type, message.
ERRORS = {
    "throttle": (429, "TooManyRequestsException", "Maximum sending rate exceeded."),
    "throttling": (400, "ThrottlingException", "Maximum sending rate exceeded."),
    "daily-quota": (400, "ThrottlingException", "Daily message quota exceeded."),
    "500": (500, "InternalFailure", "An internal error occurred."),
    "503": (503, "ServiceUnavailable", "Service unavailable."),
    "reject": (400, "MessageRejected", "Email address is not verified."),
    "bad-request": (400, "BadRequestException", "Missing final '@domain'"),
    "bad-credentials": (
        403,
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    ),
    "suspended": (400, "AccountSuspendedException", "Your account has been suspended."),
    "paused": (400, "SendingPausedException", "Sending is paused for this account."),
    "mail-from": (
        400,
        "MailFromDomainNotVerifiedException",
        "The MAIL FROM domain is not verified.",
    ),
}


@dataclass
class SesState:
    moto_url: str
    # Faults to answer the next SendEmail requests with, one each; `always` for every one.
    faults: deque[str] = field(default_factory=deque)
    always: str = ""
    # Every SendEmail request body (decoded JSON) that reached moto and was taken.
    taken: list[dict[str, Any]] = field(default_factory=list)
    answered_faults: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def messages(self) -> list[EmailMessage]:
        """What moto's SES took, as messages (its backend's sent raw messages)."""
        backend = ses_backends[DEFAULT_ACCOUNT_ID][REGION]
        return [
            message_from_bytes(m.raw_data.encode(), policy=policy.default)
            for m in backend.sent_messages
        ]

    def recipients(self) -> list[str]:
        return [body["Destination"]["ToAddresses"][0] for body in self.taken]

    def tags(self, body: dict[str, Any]) -> dict[str, str]:
        return {tag["Name"]: tag["Value"] for tag in body.get("EmailTags", [])}


def _check(body: dict[str, Any]) -> str:
    """What SES's API reference says a SendEmail request must be; "" when it is."""
    if not isinstance(body.get("FromEmailAddress"), str):
        return "FromEmailAddress missing"
    to = body.get("Destination", {}).get("ToAddresses", [])
    if not 1 <= len(to) <= 50 or not all(isinstance(a, str) and a.isascii() for a in to):
        return f"bad Destination: {to!r}"
    raw = body.get("Content", {}).get("Raw", {}).get("Data")
    if not isinstance(raw, str):
        return "Content.Raw.Data missing"
    if len(base64.b64decode(raw)) > 40_000_000:
        return "message over 40 MB"
    for tag in body.get("EmailTags", []):
        if not (_TAG.fullmatch(tag.get("Name", "")) and _TAG.fullmatch(tag.get("Value", ""))):
            return f"bad tag {tag!r}"
    return ""


def _handler(state: SesState) -> type[BaseHTTPRequestHandler]:
    upstream = state.moto_url.removeprefix("http://")

    class Proxy(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def setup(self) -> None:
            super().setup()
            # Headers and body go out as two writes: without this, the client's delayed ACK
            # holds the second for 40 ms.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
            connection = http.client.HTTPConnection(upstream, timeout=30)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            connection.request(self.command, self.path, body=body, headers=headers)
            answer = connection.getresponse()
            data = answer.read()
            connection.close()
            return answer.status, answer.getheaders(), data

        def _answer(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
            self.send_response(status)
            for name, value in headers:
                if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, fault: str) -> None:
            status, kind, text = ERRORS[fault]
            data = json.dumps({"message": text}).encode()
            self._answer(
                status,
                [
                    ("Content-Type", "application/json"),
                    ("x-amzn-ErrorType", f"{kind}:"),
                    ("x-amzn-RequestId", str(uuid.uuid4())),
                ],
                data,
            )

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if not (self.command == "POST" and self.path == SEND_PATH):
                self._answer(*self._forward(body))
                return
            with state.lock:
                fault = state.always or (state.faults.popleft() if state.faults else "")
                if fault:
                    state.answered_faults.append(fault)
            if fault in ERRORS:
                self._error(fault)
                return
            request = json.loads(body)
            problem = _check(request)
            if problem:
                state.invalid.append(problem)
                self._answer(
                    400,
                    [("x-amzn-ErrorType", "BadRequestException:")],
                    json.dumps({"message": problem}).encode(),
                )
                return
            if fault == "slow":
                time.sleep(0.5)
            status, headers, data = self._forward(body)
            if status == 200:
                with state.lock:
                    state.taken.append(request)
            if fault == "vanish":
                self.close_connection = True
                self.connection.close()
                return
            self._answer(status, headers, data)

        do_GET = do_POST = do_PUT = do_DELETE = _handle

    return Proxy


@contextmanager
def running_ses(identity: str = "example.org") -> Iterator[tuple[str, SesState]]:
    """The proxy's URL (for `[ses] endpoint_url`) and its state; `identity` is verified."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    moto_url = f"http://127.0.0.1:{port}"
    try:
        client = boto3.client(
            "sesv2",
            region_name=REGION,
            endpoint_url=moto_url,
            aws_access_key_id="AKIDTESTING",
            aws_secret_access_key="testing-secret",
        )
        client.create_email_identity(EmailIdentity=identity)
        client.create_configuration_set(ConfigurationSetName="digest-events")
        state = SesState(moto_url)
        with serving_in_thread(_handler(state)) as url:
            yield url, state
    finally:
        # moto's backends live in this process: the next test starts from none.
        reset = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        reset.request("POST", "/moto-api/reset")
        reset.getresponse().read()
        reset.close()
        server.stop()


def ses_environment(url: str, **extra: str) -> dict[str, str]:
    """The settings and credentials of a `digest` process sending through `url`."""
    return {
        "DIGEST_SES__REGION": REGION,
        "DIGEST_SES__ENDPOINT_URL": url,
        "DIGEST_SES__CONFIGURATION_SET": "digest-events",
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        "AWS_EC2_METADATA_DISABLED": "true",
        **CREDENTIALS,
        **extra,
    }
