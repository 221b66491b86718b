"""Unsubscribe tokens: HMAC-signed, bound to one subscriber of one list and to their address,
so that a token cannot be forged, altered, or reused for someone who later takes the same id."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

from digest.errors import DigestError

_VERSION = "1"
_DIGEST_BYTES = 16  # 128-bit tags: forgery is out of reach, links stay short
# Ids are database integers: at most 18 ASCII digits always fit a signed 64-bit column, so a
# longer number is not one of ours (and would make the database fail, not say "not found").
_ID = re.compile(r"[0-9]{1,18}")
_TAG = re.compile(r"[A-Za-z0-9_-]{1,64}")
_MAX_LENGTH = 200


class InvalidToken(DigestError):
    """A token that was not made with our secret, or was changed."""


@dataclass(frozen=True)
class TokenSubject:
    subscriber_id: int
    list_id: int


class UnsubscribeTokens:
    def __init__(self, secret: str) -> None:
        if len(secret) < 16:
            raise DigestError(
                "secret_key must be set to at least 16 characters (DIGEST_SECRET_KEY) to sign "
                "unsubscribe links"
            )
        key = hashlib.sha256(b"digest-unsubscribe:" + secret.encode()).digest()
        # Keyed once; each token copies it (a million tokens are made per large send).
        self._keyed = hmac.new(key, digestmod=hashlib.sha256)

    def make(self, subscriber_id: int, list_id: int, address_key: str) -> str:
        payload = f"{_VERSION}.{subscriber_id}.{list_id}"
        return f"{payload}.{self._sign(payload, address_key)}"

    def read(self, token: str) -> TokenSubject:
        """The subscriber and list a token names; the address is checked by `verify`. Anything
        not shaped like our tokens (any length, any characters) is InvalidToken."""
        parts = _parts(token)
        if parts is None:
            raise InvalidToken("not an unsubscribe token")
        return TokenSubject(int(parts[1]), int(parts[2]))

    def verify(self, token: str, address_key: str) -> bool:
        parts = _parts(token)
        if parts is None:
            return False
        expected = self._sign(".".join(parts[:3]), address_key)
        return hmac.compare_digest(expected, parts[3])

    def _sign(self, payload: str, address_key: str) -> str:
        mac = self._keyed.copy()
        mac.update(f"{payload}.{address_key}".encode())
        return base64.urlsafe_b64encode(mac.digest()[:_DIGEST_BYTES]).decode().rstrip("=")


def _parts(token: str) -> list[str] | None:
    """The four parts of a well-formed token (str.isdigit would pass "²" and 5000-digit ids)."""
    if len(token) > _MAX_LENGTH:
        return None
    parts = token.strip().split(".")
    if (
        len(parts) != 4
        or parts[0] != _VERSION
        or not (_ID.fullmatch(parts[1]) and _ID.fullmatch(parts[2]) and _TAG.fullmatch(parts[3]))
    ):
        return None
    return parts
