"""Validating CSV rows of a subscriber list. Kept free of heavy imports: it runs in worker
processes, so that address validation (about 25 µs an address) uses every core."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from digest.subscribers.model import InvalidAddress, Status, normalise_address

# Columns with a meaning of their own; every other column becomes a custom field.
RESERVED = ("email", "name", "status", "source", "consent_at", "consent_origin")


@dataclass
class ValidRow:
    line: int
    email: str
    name: str
    fields: dict[str, str]
    status: Status | None
    source: str
    consent_at: datetime | None
    consent_origin: str


@dataclass
class RejectedRow:
    line: int
    values: list[str]
    reason: str


@dataclass
class CheckedChunk:
    valid: list[ValidRow] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)


def check_rows(header: list[str], rows: list[tuple[int, list[str]]]) -> CheckedChunk:
    """Validate (line, values) pairs against the header; never raises for a bad row."""
    checked = CheckedChunk()
    width = len(header)
    for line, values in rows:
        if len(values) != width:
            checked.rejected.append(
                RejectedRow(line, values, f"expected {width} columns, found {len(values)}")
            )
            continue
        record = dict(zip(header, values, strict=True))
        try:
            checked.valid.append(_valid_row(line, record))
        except ValueError as error:
            checked.rejected.append(RejectedRow(line, values, str(error)))
    return checked


def _valid_row(line: int, record: dict[str, str]) -> ValidRow:
    raw = record["email"].strip()
    if not raw:
        raise ValueError("email is empty")
    try:
        email = normalise_address(raw)
    except InvalidAddress as error:
        raise ValueError(f"invalid address {raw!r}: {error}") from None
    status_text = record.get("status", "").strip().lower()
    try:
        status = Status(status_text) if status_text else None
    except ValueError:
        known = ", ".join(s.value for s in Status)
        raise ValueError(f"status {status_text!r} is not one of {known}") from None
    consent_text = record.get("consent_at", "").strip()
    try:
        consent_at = datetime.fromisoformat(consent_text) if consent_text else None
    except ValueError:
        raise ValueError(f"consent_at {consent_text!r} is not an ISO date and time") from None
    return ValidRow(
        line=line,
        email=email,
        name=" ".join(record.get("name", "").split())[:200],
        fields={k: v.strip() for k, v in record.items() if k not in RESERVED and v.strip()},
        status=status,
        source=record.get("source", "").strip()[:200],
        consent_at=consent_at,
        consent_origin=record.get("consent_origin", "").strip()[:300],
    )
