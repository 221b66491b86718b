"""Click-redirect tokens: HMAC-signed, bound to one delivery of one edition, so that a link in
one reader's email cannot be forged, altered, or turned into another reader's or edition's.

Keyed apart from unsubscribe tokens (its own purpose string), so that neither kind of token
can ever pass for the other. Delivery id 0 is an editor's test copy: its links redirect and
are never counted.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from digest.errors import DigestError
from digest.signed_ids import SignedIds

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
        self._signed = SignedIds(secret, "click-redirect", "click links", _TAG, _MAX_LENGTH)

    def make(self, delivery_id: int, edition_id: int) -> str:
        return self._signed.make(delivery_id, edition_id)

    def read(self, token: str) -> ClickTarget:
        """The delivery and edition a genuine token names; anything else (any length, any
        characters, a changed part) is InvalidClickToken."""
        ids = self._signed.ids(token)
        if ids is None or not self._signed.genuine(token):
            raise InvalidClickToken("not a click link")
        return ClickTarget(*ids)
