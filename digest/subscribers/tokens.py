"""Unsubscribe tokens: HMAC-signed, bound to one subscriber of one list and to their address,
so that a token cannot be forged, altered, or reused for someone who later takes the same id."""

from __future__ import annotations

import re
from dataclasses import dataclass

from digest.errors import DigestError
from digest.signed_ids import SignedIds

_TAG = re.compile(r"[A-Za-z0-9_-]{1,64}")
_MAX_LENGTH = 200
# `digest doctor`'s one-click probe: ids 0 (no row has them) bound to a key with no "@" (every
# reader's is an address), so a probe names no reader, and only our secret can sign one.
_PROBE_IDS = (0, 0)
_PROBE_BINDING = "digest-doctor-probe"


class InvalidToken(DigestError):
    """A token that was not made with our secret, or was changed."""


@dataclass(frozen=True)
class TokenSubject:
    subscriber_id: int
    list_id: int


class UnsubscribeTokens:
    def __init__(self, secret: str) -> None:
        self._signed = SignedIds(secret, "unsubscribe", "unsubscribe links", _TAG, _MAX_LENGTH)

    def make(self, subscriber_id: int, list_id: int, address_key: str) -> str:
        return self._signed.make(subscriber_id, list_id, f".{address_key}")

    def read(self, token: str) -> TokenSubject:
        """The subscriber and list a token names; the address is checked by `verify`. Anything
        not shaped like our tokens (any length, any characters) is InvalidToken."""
        ids = self._signed.ids(token.strip())
        if ids is None:
            raise InvalidToken("not an unsubscribe token")
        return TokenSubject(*ids)

    def verify(self, token: str, address_key: str) -> bool:
        return self._signed.genuine(token.strip(), f".{address_key}")

    def probe(self) -> str:
        """A token for checking that one-click unsubscribe reaches us: it names no reader."""
        return self.make(*_PROBE_IDS, _PROBE_BINDING)

    def is_probe(self, token: str) -> bool:
        token = token.strip()
        return self._signed.ids(token) == _PROBE_IDS and self.verify(token, _PROBE_BINDING)
