"""SMTP: one connection for the whole send (STARTTLS, implicit TLS or plain; login if
configured), one message per batch, so the ledger records every message as it goes and a crash
leaves at most one message of unknown outcome.

The conversation is driven step by step (MAIL, RCPT, DATA, the message, the final reply) rather
than through `sendmail`, because only then can a lost connection be placed: lost before the
message went out, it is safe to reconnect and try again; lost while waiting for the final reply,
the server may have taken the message, and trying again could send it twice.
"""

from __future__ import annotations

import contextlib
import re
import smtplib
import socket
import ssl
from pathlib import Path

from digest.send import Batch, BatchRejected, BatchResult, Recipient
from digest.send.addresses import mail_address
from digest.send.mime import build_message, needs_smtputf8
from digest.store.deliveries import Failure

_RECONNECTS = 3
# Replies that mean the server is closing or the link broke: reconnect and try again.
_CONNECTION_TROUBLE = (smtplib.SMTPServerDisconnected, ConnectionError, socket.timeout)
_LINE_ENDS = re.compile(rb"\r\n|\r|\n")
_LEADING_DOT = re.compile(rb"^\.", re.MULTILINE)


class _Retry(Exception):
    """The message certainly did not go: reconnect and try it again."""

    def __init__(self, reason: str, connecting: bool = False) -> None:
        super().__init__(reason)
        self.connecting = connecting  # no connection could be made at all


class SmtpSender:
    name = "smtp"
    max_batch = 1
    idempotent = False
    reports_events = False

    def __init__(
        self,
        host: str,
        port: int,
        security: str,
        username: str = "",
        password: str = "",
        timeout: float = 30.0,
        ca_file: Path | None = None,
    ) -> None:
        self.host, self.port, self.security = host, port, security
        self.username, self.password, self.timeout = username, password, timeout
        self.context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        self.connection: smtplib.SMTP | None = None

    def prepare(self, batch: Batch) -> object:
        return None  # messages are built one by one as they are sent

    def send(self, batch: Batch, prepared: object = None) -> BatchResult:
        result = BatchResult()
        for index, recipient in enumerate(batch.recipients):
            try:
                self._send_one(batch, recipient, result)
            except BatchRejected:
                if index == 0 and not result.failures:
                    raise
                # Recipients not reached yet go back in the queue for the next run.
                for rest in batch.recipients[index:]:
                    result.failures.setdefault(
                        rest.delivery_id, Failure("not reached: the send stopped", False)
                    )
                result.stop_reason = f"SMTP {self.host}:{self.port}: stopped"
                break
        return result

    def _send_one(self, batch: Batch, recipient: Recipient, result: BatchResult) -> None:
        delivery = recipient.delivery_id
        try:
            message = build_message(batch, recipient)
            envelope_to = mail_address(recipient.email).address
            data = _dot_stuffed(message.as_bytes())
        except (ValueError, TypeError, LookupError) as error:
            result.failures[delivery] = Failure(f"cannot build the message: {error}", True)
            return
        smtputf8 = needs_smtputf8(message)
        last = _Retry("")
        for _attempt in range(_RECONNECTS + 1):
            try:
                connection = self._connection()
                if smtputf8 and not connection.has_extn("smtputf8"):
                    result.failures[delivery] = Failure(
                        f"{recipient.email} has a non-ASCII local part, and {self.host} does "
                        "not offer SMTPUTF8 (RFC 6531)",
                        True,
                    )
                    return
                outcome = self._transaction(
                    connection, batch.newsletter.from_address, envelope_to, data, smtputf8
                )
            except _Retry as retry:
                last = retry
                self._drop()
                continue
            if isinstance(outcome, Failure):
                result.failures[delivery] = outcome
            elif outcome:
                result.unknown[delivery] = outcome
                self._drop()
            return
        result.failures[delivery] = Failure(
            f"{last} (gave up after {_RECONNECTS} reconnects)", False
        )

    def _transaction(
        self, connection: smtplib.SMTP, sender: str, to: str, data: bytes, smtputf8: bool
    ) -> Failure | str | None:
        """One message: None when accepted, a Failure when refused, a reason text when its
        outcome is unknown; raises _Retry when it certainly did not go."""
        try:
            code, reply = connection.mail(sender, ["SMTPUTF8", "BODY=8BITMIME"] if smtputf8 else [])
            if code == 421:
                raise _Retry(_text(code, reply))
            if code != 250:
                connection.rset()
                if code >= 500:
                    raise BatchRejected(
                        f"SMTP {self.host}:{self.port}: sender refused ({_text(code, reply)})"
                    )
                return _failure(code, reply)
            code, reply = connection.rcpt(to)
            if code == 421:
                raise _Retry(_text(code, reply))
            if code not in (250, 251):
                connection.rset()
                return _failure(code, reply)
            code, reply = connection.docmd("DATA")
            if code == 421:
                raise _Retry(_text(code, reply))
            if code != 354:
                connection.rset()
                return _failure(code, reply)
            connection.send(data)
        except _CONNECTION_TROUBLE as error:
            # The final dot was not sent: the server cannot have taken the message.
            raise _Retry(f"connection lost before the message went out: {error}") from None
        try:
            code, reply = connection.getreply()
        except (*_CONNECTION_TROUBLE, OSError) as error:
            return (
                f"connection lost after the message went out, before the server answered: {error}"
            )
        if code == 250:
            return None
        if code == 421:
            raise _Retry(_text(code, reply))
        return _failure(code, reply)

    def _connection(self) -> smtplib.SMTP:
        if self.connection is not None:
            return self.connection
        try:
            connection: smtplib.SMTP
            if self.security == "tls":
                connection = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=self.context
                )
            else:
                connection = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
                if self.security == "starttls":
                    connection.starttls(context=self.context)
            connection.ehlo_or_helo_if_needed()
            if self.username:
                connection.login(self.username, self.password)
        except smtplib.SMTPAuthenticationError as error:
            reply = _text(error.smtp_code, error.smtp_error)
            raise BatchRejected(f"SMTP {self.host}:{self.port}: login refused ({reply})") from None
        except _CONNECTION_TROUBLE as error:
            raise _Retry(f"cannot connect: {error}", connecting=True) from None
        except (smtplib.SMTPException, OSError, ssl.SSLError) as error:
            raise BatchRejected(
                f"SMTP {self.host}:{self.port}: {type(error).__name__}: {error}"
            ) from None
        self.connection = connection
        return connection

    def _drop(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def close(self) -> None:
        if self.connection is None:
            return
        with contextlib.suppress(smtplib.SMTPException, OSError):
            self.connection.quit()
        self._drop()


def _dot_stuffed(message: bytes) -> bytes:
    """The DATA payload (RFC 5321 4.5.2): CRLF line ends, leading dots doubled, the final dot.
    `smtplib.SMTP.data` does this too, but hides where a lost connection happened."""
    body = _LEADING_DOT.sub(b"..", _LINE_ENDS.sub(b"\r\n", message))
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    return body + b".\r\n"


def _text(code: int, reply: bytes | str) -> str:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else reply
    return f"{code} {text}"


def _failure(code: int, reply: bytes | str) -> Failure:
    # 5xx is final (unknown user, rejected content); 4xx may work later.
    return Failure(_text(code, reply), permanent=code >= 500)
