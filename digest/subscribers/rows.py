"""Turning CSV rows of a subscriber list into rows ready to store. Kept free of heavy imports:
it runs in worker processes, so that address validation (about 25 µs an address) and the rest
of the per-row work use every core, and the importing process only reads and writes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from digest.errors import FieldError
from digest.preferences import Choices, topic_keys
from digest.spreadsheet_cells import from_text
from digest.subscribers.model import (
    InvalidAddress,
    Status,
    address_key,
    display_name,
    normalise_address,
)
from digest.text_fields import one_line, text_block

# Columns with a meaning of their own; every other column becomes a custom field. `topics`
# holds topic keys separated by ";" (empty: every topic), `frequency` one key (empty: the
# newsletter's main one); a file without them leaves known readers' choices as they are.
RESERVED = (
    "email",
    "name",
    "status",
    "source",
    "consent_at",
    "consent_origin",
    "topics",
    "frequency",
)


class PreparedSubscriber(NamedTuple):
    """One address as the store takes it (fields already JSON); a tuple, cheap to pass
    between processes. consent_at None means "now"; topics and frequency (stored forms,
    digest.preferences) None mean "as they are" (the file has no such column)."""

    email: str
    email_key: str
    name: str
    fields_json: str
    status: str
    source: str
    consent_at: datetime | None
    consent_origin: str
    topics: str | None = None
    frequency: str | None = None


@dataclass
class RejectedRow:
    line: int
    values: list[str]
    reason: str


@dataclass
class CheckedChunk:
    prepared: list[PreparedSubscriber] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)
    valid: int = 0


@dataclass
class _Person:
    email: str
    name: str
    fields: dict[str, str]
    status: str
    source: str
    consent_at: datetime | None
    consent_origin: str
    topics: str | None
    frequency: str | None


def check_rows(
    header: list[str],
    rows: list[tuple[int, list[str]]],
    default_status: str,
    origin: str,
    choices: Choices | None = None,
) -> CheckedChunk:
    """Validate (line, values) pairs against the header; never raises for a bad row. Topics
    and frequencies must be among `choices` (those of the list's newsletters; none if None).

    Repeated addresses within the chunk are merged: later rows update earlier ones.
    """
    allowed = choices or Choices(owner="this list")
    checked = CheckedChunk()
    width = len(header)
    people: dict[str, _Person] = {}
    for line, values in rows:
        if len(values) != width:
            checked.rejected.append(
                RejectedRow(line, values, f"expected {width} columns, found {len(values)}")
            )
            continue
        try:
            cells = [from_text(value) for value in values]  # an export's quoted cells
            record = dict(zip(header, cells, strict=True))
            person = _person(record, default_status, origin, allowed)
        except ValueError as error:
            checked.rejected.append(RejectedRow(line, values, str(error)))
            continue
        checked.valid += 1
        key = address_key(person.email)
        earlier = people.get(key)
        if earlier is None:
            people[key] = person
        else:
            earlier.name = person.name or earlier.name
            earlier.fields.update(person.fields)
            earlier.status = person.status
            earlier.topics = person.topics
            earlier.frequency = person.frequency
    checked.prepared = [
        PreparedSubscriber(
            p.email,
            key,
            p.name,
            json.dumps(p.fields, ensure_ascii=False),
            p.status,
            p.source,
            p.consent_at,
            p.consent_origin,
            p.topics,
            p.frequency,
        )
        for key, p in people.items()
    ]
    return checked


def _person(record: dict[str, str], default_status: str, origin: str, choices: Choices) -> _Person:
    raw = record["email"].strip()
    if not raw:
        raise ValueError("email is empty")
    try:
        email = normalise_address(raw)
    except InvalidAddress as error:
        raise ValueError(f"invalid address {raw!r}: {error}") from None
    status_text = record.get("status", "").strip().lower()
    if status_text and status_text not in _STATUSES:
        raise ValueError(f"status {status_text!r} is not one of {', '.join(_STATUSES)}")
    consent_text = record.get("consent_at", "").strip()
    try:
        consent_at = datetime.fromisoformat(consent_text) if consent_text else None
    except ValueError:
        raise ValueError(f"consent_at {consent_text!r} is not an ISO date and time") from None
    try:
        topics = record.get("topics")
        if topics is not None:
            topics = choices.stored_topics(topic_keys(topics))
        frequency = record.get("frequency")
        if frequency is not None:
            frequency = choices.stored_frequency(frequency)
    except FieldError as error:
        raise ValueError(str(error)) from None
    # Every value is cleaned of control characters: a NUL byte, above all, is refused by
    # PostgreSQL (in text and in JSON) and would fail the whole chunk.
    fields = {k: text_block(v).strip() for k, v in record.items() if k not in RESERVED}
    return _Person(
        email=email,
        name=display_name(record.get("name", "")),
        fields={k: v for k, v in fields.items() if v},
        status=status_text or default_status,
        source=one_line(record.get("source", ""))[:200] or origin,
        consent_at=consent_at,
        consent_origin=one_line(record.get("consent_origin", ""))[:300] or origin,
        topics=topics,
        frequency=frequency,
    )


_STATUSES = tuple(status.value for status in Status)
