"""Amazon SNS's HTTPS deliveries on the wire: the JSON envelope, its signature (RSA over the
fields SNS names, SHA1 for SignatureVersion 1, SHA256 for 2) checked with the certificate at
SigningCertURL, and the freshness of its signed Timestamp.

Hand-written over `cryptography` and `httpx`: the AWS SDKs for Python have no message
validator, and the one step that matters most here is which URLs we agree to fetch. The
certificate URL comes from the (not yet verified) message, so it is fetched only over https,
only from a host that fully matches `[ses] sns_hosts` (SNS's own by default), with no
redirects, a small size cap and a short timeout; each certificate is fetched once per process.
"""

from __future__ import annotations

import base64
import json
import re
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

TYPES = ("Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation")
# The fields each type signs, in the order SNS joins them ("name\nvalue\n" each).
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
_SIGNED["UnsubscribeConfirmation"] = _SIGNED["SubscriptionConfirmation"]
_HASHES = {"1": hashes.SHA1, "2": hashes.SHA256}
CERT_MAX_BYTES = 20_000
CERT_TIMEOUT = 5.0
_CERT_PATH = re.compile(r"/[A-Za-z0-9._/-]{1,200}\.pem")
_CACHED_CERTS = 32


class SnsRefused(ValueError):
    """The post is not an SNS message we take: why, in one line."""


@dataclass(frozen=True)
class SnsMessage:
    type: str
    message_id: str
    topic_arn: str
    message: str
    timestamp: datetime
    fields: Mapping[str, str]

    @property
    def subscribe_url(self) -> str:
        return self.fields.get("SubscribeURL", "")


def parse(body: bytes) -> SnsMessage:
    """The envelope of a post, its fields checked for shape (not yet for authenticity)."""
    try:
        data = json.loads(body)
    except ValueError:
        raise SnsRefused("not JSON") from None
    if not isinstance(data, dict):
        raise SnsRefused("expected a JSON object")
    fields = {key: value for key, value in data.items() if isinstance(value, str)}
    kind = fields.get("Type", "")
    if kind not in TYPES:
        raise SnsRefused(f"not an SNS message type: {kind[:40]!r}")
    for name in ("MessageId", "TopicArn", "Timestamp", "Signature", "SigningCertURL"):
        if not fields.get(name):
            raise SnsRefused(f"{name} missing")
    if fields.get("SignatureVersion") not in _HASHES:
        raise SnsRefused("SignatureVersion must be 1 or 2")
    try:
        timestamp = datetime.fromisoformat(fields["Timestamp"].replace("Z", "+00:00"))
    except ValueError:
        raise SnsRefused("Timestamp is not ISO 8601") from None
    if timestamp.tzinfo is None:
        raise SnsRefused("Timestamp has no time zone")
    return SnsMessage(
        type=kind,
        message_id=fields["MessageId"][:100],
        topic_arn=fields["TopicArn"],
        message=fields.get("Message", ""),
        timestamp=timestamp.astimezone(UTC),
        fields=fields,
    )


def fresh(message: SnsMessage, tolerance: timedelta, now: datetime | None = None) -> bool:
    """Whether the signed Timestamp is within `tolerance` of now (SNS keeps it on retries)."""
    now = now or datetime.now(UTC)
    return abs(now - message.timestamp) <= tolerance


def string_to_sign(message: SnsMessage) -> bytes:
    parts = []
    for name in _SIGNED[message.type]:
        if name in message.fields:  # Subject only when present
            parts.append(f"{name}\n{message.fields[name]}\n")
    return "".join(parts).encode()


def allowed_url(url: str, hosts: str) -> bool:
    """An https URL whose host (and port, if written) fully matches `hosts`, with no user
    info, query or fragment tricks in the authority."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    if parts.scheme != "https" or not parts.hostname or parts.username or parts.password:
        return False
    if "@" in parts.netloc or "\\" in url:
        return False
    where = parts.hostname if port is None else f"{parts.hostname}:{port}"
    return re.fullmatch(hosts, where) is not None


class Certificates:
    """SNS signing certificates, fetched from allowed URLs only, kept in memory."""

    def __init__(self, hosts: str, ca_file: Path | None = None) -> None:
        self.hosts = hosts
        self.ca_file = ca_file
        self._cache: dict[str, rsa.RSAPublicKey] = {}
        self._lock = threading.Lock()

    def key_for(self, url: str) -> rsa.RSAPublicKey:
        if not allowed_url(url, self.hosts) or not _CERT_PATH.fullmatch(urlsplit(url).path):
            raise SnsRefused("SigningCertURL is not an SNS certificate URL")
        with self._lock:
            key = self._cache.get(url)
        if key is not None:
            return key
        key = self._fetch(url)
        with self._lock:
            if len(self._cache) >= _CACHED_CERTS:
                self._cache.pop(next(iter(self._cache)))
            self._cache[url] = key
        return key

    def get(self, url: str) -> tuple[int, bytes]:
        """A GET of an allowed URL (the certificate, a SubscribeURL): no redirects, capped.
        Returns the status and the body."""
        if not allowed_url(url, self.hosts):
            raise SnsRefused("URL not on the SNS hosts")
        context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        body = b""
        try:
            with (
                httpx.Client(verify=context, timeout=CERT_TIMEOUT, follow_redirects=False) as c,
                c.stream("GET", url) as response,
            ):
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > CERT_MAX_BYTES:
                        raise SnsRefused(f"answer over {CERT_MAX_BYTES} bytes from {url}")
                return response.status_code, body
        except httpx.HTTPError as error:
            raise SnsRefused(f"cannot fetch {url}: {type(error).__name__}") from None

    def _fetch(self, url: str) -> rsa.RSAPublicKey:
        status, body = self.get(url)
        if status != 200:
            raise SnsRefused(f"signing certificate: {status} from {url}")
        try:
            certificate = x509.load_pem_x509_certificate(body)
        except ValueError:
            raise SnsRefused("signing certificate is not a PEM certificate") from None
        now = datetime.now(UTC)
        if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            raise SnsRefused("signing certificate expired or not yet valid")
        key = certificate.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise SnsRefused("signing certificate does not hold an RSA key")
        return key


def verify(message: SnsMessage, certificates: Certificates) -> None:
    """Raises SnsRefused unless the signature is SNS's, by the certificate it names."""
    key = certificates.key_for(message.fields["SigningCertURL"])
    algorithm = _HASHES[message.fields["SignatureVersion"]]()
    try:
        signature = base64.b64decode(message.fields["Signature"], validate=True)
        key.verify(signature, string_to_sign(message), padding.PKCS1v15(), algorithm)
    except (InvalidSignature, ValueError):
        raise SnsRefused("bad signature") from None


def loads_object(text: str) -> dict[str, Any]:
    """The JSON object a Notification's Message holds (SES's event)."""
    try:
        data = json.loads(text)
    except ValueError:
        raise SnsRefused("the notification's Message is not JSON") from None
    if not isinstance(data, dict):
        raise SnsRefused("the notification's Message is not a JSON object")
    return data
