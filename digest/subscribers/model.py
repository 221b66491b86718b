"""The Subscriber value and address validation (email-validator, syntax only by default)."""

from __future__ import annotations

import builtins
import contextlib
from datetime import datetime
from enum import StrEnum

import idna
from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, Field, field_validator

from digest.text_fields import one_line

NAME_MAX = 200  # the store's column


class Status(StrEnum):
    PENDING = "pending"
    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"


# Addresses that asked to stop, or that cannot receive: nothing may resubscribe them silently.
SUPPRESSED = frozenset({Status.UNSUBSCRIBED, Status.BOUNCED, Status.COMPLAINED})


class Subscriber(BaseModel):
    id: int
    list: str
    email: str
    name: str = ""
    fields: dict[str, str] = Field(default_factory=dict)
    status: Status
    source: str = ""
    consent_at: datetime | None = None
    consent_origin: str = ""
    # The reader's choices (digest.preferences): the topic keys followed, sorted ([] is every
    # topic, those added later too), and the frequency key ("" is the newsletter's main one).
    topics: builtins.list[str] = Field(default_factory=builtins.list)  # `list` is the list's name
    frequency: str = ""
    created_at: datetime
    updated_at: datetime

    # Names stored before intake folded them still reach senders as one line.
    @field_validator("name", mode="before")
    @classmethod
    def _one_line(cls, value: object) -> object:
        return display_name(value) if isinstance(value, str) else value


def display_name(value: str) -> str:
    """A reader's name as stored and shown: one line (it goes into a `To:` header), at most
    NAME_MAX characters."""
    return one_line(value)[:NAME_MAX].rstrip()


class InvalidAddress(ValueError):
    """An address that is not a valid email address; the message says why."""


def normalise_address(address: str, check_deliverability: bool = False) -> str:
    """The address as it should be stored: email-validator's normalised form (local part in
    Unicode NFC, case kept; domain lower-cased, in Unicode even when given as `xn--…`).

    Internationalised addresses are kept: a non-ASCII domain is sent in its ASCII (IDNA) form,
    a non-ASCII local part needs SMTPUTF8; senders decide per message. Raises InvalidAddress
    with email-validator's reason.
    """
    try:
        result = validate_email(address.strip(), check_deliverability=check_deliverability)
    except EmailNotValidError as error:
        raise InvalidAddress(str(error)) from None
    return str(result.normalized)


def address_key(address: str) -> str:
    """The uniqueness key: one subscriber per address and list, whatever the case, and
    whichever form its domain is written in (addresses are stored with the Unicode form, the
    one email-validator gives; a reader may quote the ASCII `xn--` form from a To header)."""
    local, at, domain = address.rpartition("@")
    if at and "xn--" in domain.lower():
        with contextlib.suppress(idna.IDNAError):
            domain = idna.decode(domain)
        return f"{local}@{domain}".casefold()
    return address.casefold()
