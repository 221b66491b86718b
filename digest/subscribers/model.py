"""The Subscriber value and address validation (email-validator, syntax only by default)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, Field


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
    created_at: datetime
    updated_at: datetime


class InvalidAddress(ValueError):
    """An address that is not a valid email address; the message says why."""


def normalise_address(address: str, check_deliverability: bool = False) -> str:
    """The address as it should be stored (domain lower-cased, Unicode normalised).

    Raises InvalidAddress with email-validator's reason.
    """
    try:
        result = validate_email(address.strip(), check_deliverability=check_deliverability)
    except EmailNotValidError as error:
        raise InvalidAddress(str(error)) from None
    return str(result.normalized)


def address_key(address: str) -> str:
    """The uniqueness key: one subscriber per address and list, whatever the case."""
    return address.casefold()
