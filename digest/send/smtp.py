"""SMTP: one connection per batch (STARTTLS, implicit TLS or plain; login if configured),
reconnecting when the server drops it, one message per recipient."""

from __future__ import annotations

import smtplib
import socket
import ssl
from pathlib import Path

from digest.send import Batch, BatchRejected, BatchResult
from digest.send.mime import build_message
from digest.store.deliveries import Failure

_RECONNECTS = 3
# Replies that mean the server is closing or the link broke: reconnect and try again.
_CONNECTION_TROUBLE = (smtplib.SMTPServerDisconnected, ConnectionError, socket.timeout)


class SmtpSender:
    name = "smtp"
    max_batch = 200

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

    def prepare(self, batch: Batch) -> object:
        return None  # messages are built one by one as they are sent

    def send(self, batch: Batch, prepared: object = None) -> BatchResult:
        result = BatchResult()
        connection: smtplib.SMTP | None = None
        try:
            for index, recipient in enumerate(batch.recipients):
                message = build_message(batch, recipient)
                for attempt in range(_RECONNECTS + 1):
                    try:
                        if connection is None:
                            connection = self._connect()
                        connection.send_message(
                            message,
                            from_addr=batch.newsletter.from_address,
                            to_addrs=[recipient.email],
                        )
                        break
                    except smtplib.SMTPRecipientsRefused as refused:
                        code, reply = next(iter(refused.recipients.values()))
                        result.failures[recipient.delivery_id] = _failure(code, reply)
                        break
                    except smtplib.SMTPSenderRefused as error:
                        if error.smtp_code == 421 and attempt < _RECONNECTS:
                            _drop(connection)
                            connection = None
                            continue
                        # The sender address itself is refused: no recipient can be reached.
                        return self._stop(batch, index, result, _reply("sender refused", error))
                    except smtplib.SMTPDataError as error:
                        if error.smtp_code == 421:
                            _drop(connection)
                            connection = None
                            if attempt < _RECONNECTS:
                                continue
                        result.failures[recipient.delivery_id] = _failure(
                            error.smtp_code, error.smtp_error
                        )
                        break
                    except _CONNECTION_TROUBLE as error:
                        _drop(connection)
                        connection = None
                        if attempt == _RECONNECTS:
                            return self._stop(batch, index, result, f"connection lost: {error}")
                    except smtplib.SMTPAuthenticationError as error:
                        return self._stop(batch, index, result, _reply("login refused", error))
                    except (smtplib.SMTPException, OSError, ssl.SSLError) as error:
                        return self._stop(batch, index, result, f"{type(error).__name__}: {error}")
        finally:
            _drop(connection, polite=True)
        return result

    def _stop(self, batch: Batch, index: int, result: BatchResult, reason: str) -> BatchResult:
        """Recipients not reached go back in the queue; the send stops with the reason."""
        if index == 0 and not result.failures:
            raise BatchRejected(f"SMTP {self.host}:{self.port}: {reason}")
        for recipient in batch.recipients[index:]:
            result.failures.setdefault(recipient.delivery_id, Failure(reason, permanent=False))
        result.stop_reason = f"SMTP {self.host}:{self.port}: {reason}"
        return result

    def _connect(self) -> smtplib.SMTP:
        connection: smtplib.SMTP
        if self.security == "tls":
            connection = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=self.context
            )
        else:
            connection = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            if self.security == "starttls":
                connection.starttls(context=self.context)
        if self.username:
            connection.login(self.username, self.password)
        return connection

    def close(self) -> None:
        pass


def _failure(code: int, reply: bytes | str) -> Failure:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else reply
    # 5xx is final (unknown user, rejected content); 4xx may work later.
    return Failure(f"{code} {text}", permanent=code >= 500)


def _reply(what: str, error: smtplib.SMTPResponseException) -> str:
    text = error.smtp_error.decode(errors="replace") if isinstance(error.smtp_error, bytes) else ""
    return f"{what} ({error.smtp_code} {text})"


def _drop(connection: smtplib.SMTP | None, polite: bool = False) -> None:
    if connection is None:
        return None
    try:
        if polite:
            connection.quit()
        else:
            connection.close()
    except (smtplib.SMTPException, OSError):
        connection.close()
    return None
