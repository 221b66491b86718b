"""Addresses as a mail server takes them.

Internationalised addresses need two different treatments: a non-ASCII domain is written in its
ASCII form (IDNA), which every server takes; a non-ASCII local part can only travel with the
SMTPUTF8 extension (RFC 6531), so the sender must know.
"""

from __future__ import annotations

from typing import NamedTuple

from email_validator import EmailNotValidError, validate_email


class MailAddress(NamedTuple):
    address: str  # the domain in its ASCII form
    smtputf8: bool  # the local part is not ASCII: the message needs SMTPUTF8


class UnsendableAddress(ValueError):
    """An address no message can be built for."""


def mail_address(email: str) -> MailAddress:
    """How to write `email` on the envelope and in the To header."""
    if email.isascii():
        if not email.isprintable() or "@" not in email:
            raise UnsendableAddress(f"not a valid address: {email!r}")
        return MailAddress(email, False)
    try:
        valid = validate_email(email, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as error:
        raise UnsendableAddress(f"not a valid address {email!r}: {error}") from None
    if valid.ascii_email:
        return MailAddress(valid.ascii_email, False)
    return MailAddress(f"{valid.local_part}@{valid.ascii_domain}", True)
