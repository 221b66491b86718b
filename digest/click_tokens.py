"""Click-redirect tokens: HMAC-signed, bound to one delivery of one edition, so that a link in
one reader's email cannot be forged, altered, or turned into another reader's or edition's.

Keyed apart from unsubscribe tokens (its own purpose string), so that neither kind of token
can ever pass for the other. Delivery id 0 is an editor's test copy: its links redirect and
are never counted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import NamedTuple

from digest.errors import DigestError

_VERSION = "1"
_DIGEST_BYTES = 16  # 128-bit tags, as the unsubscribe tokens: out of reach, links stay short
_ID = re.compile(r"[0-9]{1,18}")  # database integers (at most 18 digits fit a 64-bit column)
_TAG = re.compile(r"[A-Za-z0-9_-]{22}")
_MAX_LENGTH = 120
TEST_COPY = 0


class InvalidClickToken(DigestError):
    """A click token that was not made with our secret, was changed, or is not one at all."""


class ClickTarget(NamedTuple):
    delivery_id: int  # 0: an editor's test copy
    edition_id: int


class ClickTokens:
    def __init__(self, secret: str) -> None:
        if len(secret) < 16:
            raise DigestError(
                "secret_key must be set to at least 16 characters (DIGEST_SECRET_KEY) to sign "
                "click links"
            )
        key = hashlib.sha256(b"digest-click-redirect:" + secret.encode()).digest()
        # Keyed once; each token copies it: one HMAC per reader of a million-reader send.
        self._keyed = hmac.new(key, digestmod=hashlib.sha256)

    def make(self, delivery_id: int, edition_id: int) -> str:
        payload = f"{_VERSION}.{delivery_id}.{edition_id}"
        return f"{payload}.{self._sign(payload)}"

    def read(self, token: str) -> ClickTarget:
        """The delivery and edition a genuine token names; anything else (any length, any
        characters, a changed part) is InvalidClickToken."""
        parts = token.split(".") if len(token) <= _MAX_LENGTH else []
        if (
            len(parts) != 4
            or parts[0] != _VERSION
            or not (_ID.fullmatch(parts[1]) and _ID.fullmatch(parts[2]))
            or not _TAG.fullmatch(parts[3])
        ):
            raise InvalidClickToken("not a click link")
        if not hmac.compare_digest(self._sign(".".join(parts[:3])), parts[3]):
            raise InvalidClickToken("not a click link")
        return ClickTarget(int(parts[1]), int(parts[2]))

    def _sign(self, payload: str) -> str:
        mac = self._keyed.copy()
        mac.update(payload.encode())
        return base64.urlsafe_b64encode(mac.digest()[:_DIGEST_BYTES]).decode().rstrip("=")
