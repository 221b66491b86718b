"""What an edition's state means to an editor: its label, its time in the newsletter's zone,
and once sending has begun, when and to how many readers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from digest.edition import Edition, EditionStatus, Reopened
from digest.send_guard import SendPause
from digest.send_time import describe

# Said on the page of a draft that was approved or cancelled before, until it is approved.
REOPENED_NOTES = {
    Reopened.EDITED: "Edited after approval: approve again to send.",
    Reopened.FROM_APPROVED: "Back to draft from approved: approve again to send.",
    Reopened.FROM_CANCELLED: "Back to draft from cancelled, every edit kept: approve to send.",
}
_REOPENED_LABELS = {
    Reopened.EDITED: "draft (edited after approval)",
    Reopened.FROM_APPROVED: "draft (was approved)",
    Reopened.FROM_CANCELLED: "draft (was cancelled)",
}


@dataclass(frozen=True)
class EditionDeliveries:
    """An edition's ledger in brief: how many readers have each outcome (by delivery
    status: "sent", "failed", "unknown", "pending", "deferred", "skipped"), and when the last
    copy went out."""

    counts: dict[str, int]
    last_sent_at: datetime | None

    @property
    def sent(self) -> int:
        return self.counts.get("sent", 0)

    @property
    def failed(self) -> int:
        return self.counts.get("failed", 0)


@dataclass(frozen=True)
class EditionState:
    """An edition with what the editions list and its page say about it."""

    edition: Edition
    zone: ZoneInfo
    deliveries: EditionDeliveries | None = None
    readers: int = 0  # subscribed readers of its lists, now
    # The complaint and bounce guard's open pause of its send (None: not paused).
    pause: SendPause | None = None

    @property
    def paused(self) -> bool:
        return self.pause is not None and self.status == EditionStatus.SENDING

    @property
    def status(self) -> EditionStatus:
        return self.edition.status

    @property
    def label(self) -> str:
        if self.status == EditionStatus.DRAFT and self.edition.reopened:
            return _REOPENED_LABELS[self.edition.reopened]
        if self.paused:
            return "paused"
        return self.status.value

    @property
    def note(self) -> str:
        """Why a draft is a draft again, and what to do, or ""."""
        reopened = self.edition.reopened
        if self.status != EditionStatus.DRAFT or reopened is None:
            return ""
        return REOPENED_NOTES[reopened]

    @property
    def planned(self) -> str:
        """The planned send time in the zone, with UTC beside it, or ""."""
        at = self.edition.send_at
        return describe(at, self.zone) if at else ""

    @property
    def started(self) -> bool:
        """Sending has started (or finished): the edition can no longer go back to draft."""
        return self.status in (EditionStatus.SENDING, EditionStatus.SENT) or bool(
            self.deliveries and sum(self.deliveries.counts.values())
        )

    @property
    def when(self) -> str:
        """What the list's time column says: after sending, when and to how many readers;
        before, the planned time ("" when there is none)."""
        if self.started:
            return self.sent_line
        if not self.planned:
            return ""
        if self.status == EditionStatus.CANCELLED:
            return f"was planned for {self.planned}"
        return self.planned

    @property
    def sent_line(self) -> str:
        """ "sent at … to N readers (M failed)", or how far a send has got."""
        ledger = self.deliveries or EditionDeliveries({}, None)
        readers = "reader" if ledger.sent == 1 else "readers"
        counts = f"{ledger.sent} {readers} ({ledger.failed} failed)"
        unknown = ledger.counts.get("unknown", 0)
        if unknown:
            counts += f", {unknown} of unknown outcome"
        at = f" at {describe(ledger.last_sent_at, self.zone)}" if ledger.last_sent_at else ""
        if self.status == EditionStatus.SENT:
            return f"sent{at} to {counts}"
        waiting = sum(ledger.counts.get(s, 0) for s in ("pending", "deferred"))
        # Paused: the label, the header and the pause's box say so already.
        so_far = f"so far{at} to {counts}" if self.paused else f"sending: so far{at} to {counts}"
        return f"{so_far}, {waiting} waiting" if waiting else so_far
