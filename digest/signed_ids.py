"""Links that name two database ids, HMAC-signed: "1.FIRST.SECOND.TAG". Each kind of link
(unsubscribe, click redirect) has a key of its own derived from `secret_key` and its purpose,
so that no link of one kind ever passes for another."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from digest.errors import DigestError

_VERSION = "1"
_DIGEST_BYTES = 16  # 128-bit tags: forgery is out of reach, links stay short
# Ids are database integers: at most 18 ASCII digits always fit a signed 64-bit column, so a
# longer number is not one of ours (and would make the database fail, not say "not found").
_ID = re.compile(r"[0-9]{1,18}")


class SignedIds:
    def __init__(
        self, secret: str, purpose: str, used_for: str, tag: re.Pattern[str], max_length: int
    ) -> None:
        if len(secret) < 16:
            raise DigestError(
                "secret_key must be set to at least 16 characters (DIGEST_SECRET_KEY) to sign "
                f"{used_for}"
            )
        key = hashlib.sha256(f"digest-{purpose}:".encode() + secret.encode()).digest()
        # Keyed once; each token copies it: one HMAC per reader of a million-reader send.
        self._keyed = hmac.new(key, digestmod=hashlib.sha256)
        self._tag, self._max_length = tag, max_length

    def make(self, first: int, second: int, bound: str = "") -> str:
        """The token; `bound` is signed with it but not written in it (an address)."""
        payload = f"{_VERSION}.{first}.{second}"
        return f"{payload}.{self._sign(payload, bound)}"

    def ids(self, token: str) -> tuple[int, int] | None:
        """The two ids of a token shaped like ours (any length, any characters: None)."""
        parts = self._parts(token)
        return (int(parts[1]), int(parts[2])) if parts else None

    def genuine(self, token: str, bound: str = "") -> bool:
        """Whether our secret signed this token, with `bound`."""
        parts = self._parts(token)
        if parts is None:
            return False
        return hmac.compare_digest(self._sign(".".join(parts[:3]), bound), parts[3])

    def _sign(self, payload: str, bound: str) -> str:
        mac = self._keyed.copy()
        mac.update((payload + bound).encode())
        return base64.urlsafe_b64encode(mac.digest()[:_DIGEST_BYTES]).decode().rstrip("=")

    def _parts(self, token: str) -> list[str] | None:
        # (str.isdigit would pass "²" and 5000-digit ids.)
        if len(token) > self._max_length:
            return None
        parts = token.split(".")
        if (
            len(parts) != 4
            or parts[0] != _VERSION
            or not (_ID.fullmatch(parts[1]) and _ID.fullmatch(parts[2]))
            or not self._tag.fullmatch(parts[3])
        ):
            return None
        return parts
