"""SNS as SES's events reach us: messages signed as SNS signs them (RSA, SignatureVersion 1
SHA1 or 2 SHA256) with a test key whose self-signed certificate an https server on 127.0.0.1
serves (its TLS certificate from a trustme CA), the way sns.<region>.amazonaws.com serves
SNS's; that server also answers SubscribeURLs, and records every request it gets."""

from __future__ import annotations

import base64
import json
import ssl
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

TOPIC = "arn:aws:sns:eu-west-1:123456789012:digest-ses-events"
CERT_PATH = "/SimpleNotificationService-0123456789abcdef.pem"


def signing_certificate() -> tuple[rsa.RSAPrivateKey, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return key, certificate.public_bytes(serialization.Encoding.PEM)


@dataclass
class CertHost:
    """The https server standing in for sns.<region>.amazonaws.com."""

    authority: str  # 127.0.0.1:PORT
    ca_file: Path
    certificate: bytes
    hits: list[str] = field(default_factory=list)

    @property
    def cert_url(self) -> str:
        return f"https://{self.authority}{CERT_PATH}"

    def subscribe_url(self, topic: str = TOPIC) -> str:
        return f"https://{self.authority}/?Action=ConfirmSubscription&TopicArn={topic}&Token=abc123"


@contextmanager
def serving_https(tmp_path: Path, certificate: bytes, name: str = "sns") -> Iterator[CertHost]:
    authority = trustme.CA()
    ca_file = tmp_path / f"{name}-ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    state: CertHost

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            state.hits.append(self.path)
            if self.path == CERT_PATH:
                body, kind = state.certificate, "application/x-pem-file"
            elif self.path.startswith("/?Action=ConfirmSubscription"):
                body, kind = b"<ConfirmSubscriptionResponse/>", "text/xml"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    state = CertHost(f"127.0.0.1:{server.server_address[1]}", ca_file, certificate)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


_SIGNED = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}


def signed(
    key: rsa.RSAPrivateKey,
    fields: dict[str, str],
    cert_url: str,
    version: str = "2",
) -> dict[str, str]:
    """`fields` as SNS posts them: SignatureVersion, Signature and SigningCertURL added."""
    text = "".join(
        f"{name}\n{fields[name]}\n" for name in _SIGNED[fields["Type"]] if name in fields
    )
    algorithm = hashes.SHA256() if version == "2" else hashes.SHA1()
    signature = key.sign(text.encode(), padding.PKCS1v15(), algorithm)
    return {
        **fields,
        "SignatureVersion": version,
        "Signature": base64.b64encode(signature).decode(),
        "SigningCertURL": cert_url,
    }


def notification(
    key: rsa.RSAPrivateKey,
    event: dict[str, Any],
    cert_url: str,
    *,
    topic: str = TOPIC,
    message_id: str | None = None,
    timestamp: datetime | None = None,
    version: str = "2",
) -> dict[str, str]:
    when = (timestamp or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    fields = {
        "Type": "Notification",
        "MessageId": message_id or str(uuid.uuid4()),
        "TopicArn": topic,
        "Message": json.dumps(event),
        "Timestamp": when,
        "UnsubscribeURL": f"{cert_url.rsplit('/', 1)[0]}/?Action=Unsubscribe",
    }
    return signed(key, fields, cert_url, version)


def ses_event(
    kind: str,
    address: str,
    tags: dict[str, str],
    *,
    bounce_type: str = "Permanent",
    when: datetime | None = None,
) -> dict[str, Any]:
    """An SES event as a configuration set's SNS destination publishes it."""
    at = (when or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    mail = {
        "timestamp": at,
        "source": "brief@example.org",
        "messageId": str(uuid.uuid4()),
        "destination": [address],
        "tags": {name: [value] for name, value in tags.items()},
    }
    event: dict[str, Any] = {"eventType": kind, "mail": mail}
    if kind == "Bounce":
        event["bounce"] = {
            "bounceType": bounce_type,
            "bounceSubType": "General",
            "bouncedRecipients": [
                {"emailAddress": address, "status": "5.1.1", "diagnosticCode": "smtp; 550 5.1.1"}
            ],
            "timestamp": at,
            "feedbackId": str(uuid.uuid4()),
        }
    elif kind == "Complaint":
        event["complaint"] = {
            "complainedRecipients": [{"emailAddress": address}],
            "timestamp": at,
            "feedbackId": str(uuid.uuid4()),
            "complaintFeedbackType": "abuse",
        }
    elif kind == "Delivery":
        event["delivery"] = {
            "timestamp": at,
            "recipients": [address],
            "smtpResponse": "250 2.6.0 Message received",
        }
    elif kind == "Send":
        event["send"] = {}
    elif kind == "Reject":
        event["reject"] = {"reason": "Bad content"}
    return event
