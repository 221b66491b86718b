"""A real SMTP server (aiosmtpd) on 127.0.0.1 for tests: records what it receives, can require
STARTTLS or implicit TLS (certificates from trustme) and a login, can refuse recipients, and
can drop the connection part-way."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, message_from_string, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class SmtpState:
    received: list[Received] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)  # addresses answered with 550
    drop_after: int | None = None  # answer 421 and hang up once this many were accepted
    dropped: int = 0
    # Take the message, then hang up before answering, once this many were accepted (the
    # client cannot know that the message went through).
    vanish_after: int | None = None
    # Answer RCPT for these addresses with 451 (try again later).
    defer: set[str] = field(default_factory=set)
    smtputf8: bool = True  # offer SMTPUTF8 (RFC 6531)


class _Handler:
    def __init__(self, state: SmtpState) -> None:
        self.state = state

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.state.refuse:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        if address in self.state.defer:
            return "451 4.3.2 Please try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        state = self.state
        if state.drop_after is not None and len(state.received) == state.drop_after:
            state.drop_after = None
            state.dropped += 1
            # Answer, then hang up once the answer is written.
            asyncio.get_running_loop().call_soon(server.transport.close)
            return "421 4.3.0 Closing connection"
        if envelope.smtp_utf8:  # RFC 6532: the headers are UTF-8, not ASCII
            text = envelope.original_content.decode("utf-8")
            message = message_from_string(text, policy=policy.default)
        else:
            message = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        state.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
        if state.vanish_after is not None and len(state.received) == state.vanish_after:
            state.vanish_after = None
            state.dropped += 1
            server.transport.close()
        return "250 Message accepted"


@dataclass
class SmtpServer:
    host: str
    port: int
    state: SmtpState
    ca_file: Path | None

    def settings(self) -> dict[str, object]:
        """digest's settings for this server (plain SMTP, no login)."""
        return {"smtp_host": self.host, "smtp_port": self.port, "smtp_security": "none"}

    def environment(self) -> dict[str, str]:
        """The same, as a `digest` process's environment variables."""
        return {f"DIGEST_{key.upper()}": str(value) for key, value in self.settings().items()}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _authenticator(user: str, password: str) -> Any:
    def check(
        server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login.decode() == user and auth_data.password.decode() == password
        )
        return AuthResult(success=ok, handled=False)

    return check


@contextmanager
def running_smtp(
    tmp_path: Path,
    security: str = "none",
    user: str | None = None,
    password: str | None = None,
    smtputf8: bool | None = None,
) -> Iterator[SmtpServer]:
    state = SmtpState(smtputf8=True if smtputf8 is None else smtputf8)
    ca_file = None
    kwargs: dict[str, Any] = {}
    if security in ("starttls", "tls"):
        authority = trustme.CA()
        certificate = authority.issue_cert("127.0.0.1", "localhost")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        certificate.configure_cert(context)
        ca_file = tmp_path / "ca.pem"
        authority.cert_pem.write_to_path(str(ca_file))
        if security == "starttls":
            kwargs.update(tls_context=context, require_starttls=True)
        else:
            kwargs.update(ssl_context=context)
    if user is not None:
        kwargs.update(authenticator=_authenticator(user, password or ""), auth_required=True)
    controller = Controller(
        _Handler(state),
        hostname="127.0.0.1",
        port=free_port(),
        enable_SMTPUTF8=state.smtputf8 if smtputf8 is None else smtputf8,
        **kwargs,
    )
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", controller.port, state, ca_file)
    finally:
        controller.stop()
