"""An edition's send report: what the ledger recorded for each reader (sent, deferred, failed,
unknown) and what the provider's events said after (delivered, bounced, complained,
unsubscribed), with the readers that need a look and how to settle the unknown ones."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TextIO

from digest.send_guard import SendPause
from digest.spreadsheet_cells import as_text
from digest.store.deliveries import DeliveryOutcome

# The ledger's outcomes that need an operator's look, in the order the report lists them.
NEEDS_A_LOOK = ("failed", "unknown", "deferred")
CSV_COLUMNS = ("delivery_id", "email", "status", "reason", "attempts", "next_attempt_at", "sent_at")


@dataclass(frozen=True)
class CopyLine:
    """One copy of the edition (a variant, with its subject line) and what came of its sends."""

    copy: str  # what it holds ("Every topic", "Sport, Business", …)
    subject: str
    readers: int
    sent: int
    skipped: int

    def as_json(self) -> dict[str, Any]:
        return {
            "copy": self.copy,
            "subject": self.subject,
            "readers": self.readers,
            "sent": self.sent,
            "skipped": self.skipped,
        }


@dataclass(frozen=True)
class DeliveryReport:
    edition_id: int
    newsletter: str
    subject: str
    status: str
    # The ledger: pending, sent, failed, skipped, unknown, deferred.
    ledger: dict[str, int]
    # The provider's events: delivered, bounced, complained, unsubscribed.
    events: dict[str, int]
    next_attempt_at: datetime | None
    failures: list[DeliveryOutcome]
    # How readers of unknown outcome are settled ("" when there are none).
    settle_unknown: str
    # Whether this edition's sender reports events (SendGrid): without them, "delivered" is
    # not known, only "sent".
    events_reported: bool
    # The copies readers got (topics followed, subject lines tested), when not one for all.
    copies: list[CopyLine] = field(default_factory=list)
    # The complaint and bounce guard's last pause of the send, open or resumed (None: never).
    pause: SendPause | None = None

    @property
    def paused(self) -> bool:
        """The send is paused now: nothing goes out until an editor resumes it."""
        return self.pause is not None and self.pause.open and self.status == "sending"

    @property
    def state(self) -> str:
        """The edition's status as the report says it: "paused" while the guard holds it."""
        return "paused" if self.paused else self.status

    @property
    def total(self) -> int:
        return sum(self.ledger.values())

    def counts(self) -> dict[str, int]:
        """Every count the report shows, by name."""
        ledger = {key: self.ledger.get(key, 0) for key in ("sent", "deferred", "failed")}
        return {
            **ledger,
            "unknown": self.ledger.get("unknown", 0),
            "pending": self.ledger.get("pending", 0),
            "skipped": self.ledger.get("skipped", 0),
            **self.events,
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "edition": self.edition_id,
            "newsletter": self.newsletter,
            "subject": self.subject,
            "status": self.status,
            "readers": self.total,
            "counts": self.counts(),
            "next_attempt_at": _iso(self.next_attempt_at),
            "events_reported": self.events_reported,
            "settle_unknown": self.settle_unknown,
            "failures": [_outcome_json(outcome) for outcome in self.failures],
            "copies": [line.as_json() for line in self.copies],
            "paused": self.paused,
            "pause": self.pause.as_json() if self.pause else None,
        }

    def lines(self) -> list[str]:
        """The report as a terminal shows it."""
        counts = self.counts()
        head = f"edition {self.edition_id} ({self.newsletter}, {self.state}): {self.total} readers"
        ledger = ", ".join(
            f"{counts[key]} {key}"
            for key in ("sent", "deferred", "failed", "unknown", "pending", "skipped")
        )
        events = ", ".join(
            f"{counts[key]} {key}" for key in ("delivered", "bounced", "complained", "unsubscribed")
        )
        lines = [head, f"  ledger: {ledger}", f"  events: {events}"]
        if self.pause is not None and self.paused:
            lines.append(f"  {self.pause.line()}")
        elif self.pause is not None and self.pause.resumed_at is not None:
            lines.append(
                f"  resumed by {self.pause.resumed_by} at "
                f"{_iso(self.pause.resumed_at)} after a pause: {self.pause.reason}"
            )
        if not self.events_reported:
            lines.append("  (this sender reports no delivery events: 'sent' is as far as we know)")
        if self.next_attempt_at is not None:
            lines.append(f"  next attempt for deferred readers: {_iso(self.next_attempt_at)}")
        if self.settle_unknown:
            lines.append(f"  unknown: {self.settle_unknown}")
        for line in self.copies:
            lines.append(
                f"  copy: {line.copy} · {line.subject!r}: {line.readers} "
                f"{'reader' if line.readers == 1 else 'readers'}, "
                f"{line.sent} sent, {line.skipped} skipped"
            )
        for outcome in self.failures:
            lines.append(f"  {outcome.status}\t{outcome.email or '(erased)'}\t{_reason(outcome)}")
        return lines


def write_csv(outcomes: Iterable[DeliveryOutcome], out: TextIO) -> int:
    """Every reader's outcome as CSV (one row per delivery); returns the rows written."""
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    count = 0
    for outcome in outcomes:
        writer.writerow(
            [
                outcome.delivery_id,
                as_text(outcome.email or "(erased)"),
                outcome.status,
                as_text(_reason(outcome)),
                outcome.attempts,
                _iso(outcome.next_attempt_at) or "",
                _iso(outcome.sent_at) or "",
            ]
        )
        count += 1
    return count


def _reason(outcome: DeliveryOutcome) -> str:
    return "" if outcome.status == "sent" else outcome.error


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


def _outcome_json(outcome: DeliveryOutcome) -> dict[str, Any]:
    return {
        "delivery_id": outcome.delivery_id,
        "email": outcome.email,
        "status": outcome.status,
        "reason": _reason(outcome),
        "attempts": outcome.attempts,
        "next_attempt_at": _iso(outcome.next_attempt_at),
    }
