"""What `digest run` must do now, decided apart from doing it.

`plan(newsletter, now, state)` is a pure function of the newsletter's schedule, the clock and
what the store says was done (`State`, read by the runner): no I/O and no clock of its own, so
daylight saving, catch-up, lead time, automatic mode and a crashed run's unfinished work are
all tested with plain datetimes. The runner does each `Due` (claiming it in the store first),
reads the state again and plans again, until nothing new is due: a build is followed by its
notice or its send in the next round.

Every scheduled action has one row per newsletter, scheduled time ("slot") and action. A row
that is not final (claimed by a run that stopped, failed, or busy) is tried again by the next
tick for as long as its slot is within `catch_up_grace`, even when a later slot has come since.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum
from functools import cached_property
from typing import TYPE_CHECKING

from digest.edition import EditionStatus

if TYPE_CHECKING:
    from digest.config import NewsletterConfig

# Statuses of a scheduled action. Claimed: a run took it and has not recorded the outcome (it
# may have been killed). Failed and busy (a manual `digest send` held the edition) are tried
# again on the next tick; final ones never.
CLAIMED = "claimed"
FAILED = "failed"
BUSY = "busy"
# A send the complaint and bounce guard paused: said on every tick, never resumed by one (an
# editor resumes it), never a failure.
PAUSED = "paused"
FINAL = frozenset({"done", "skipped", "not_approved", "cancelled"})

# The rows' actions: the build of a slot, its send, the notice to the editors after the build
# (draft to review, or no edition), and the notice that an edition was not sent.
BUILD, SEND, NOTIFY, NOTIFY_UNSENT = "build", "send", "notify", "notify-unsent"


@dataclass(frozen=True)
class SlotKey:
    """One scheduled action: which newsletter, which scheduled time, which action."""

    newsletter: str
    slot: datetime
    action: str


@dataclass(frozen=True)
class SlotRun:
    """What the store says about one scheduled action."""

    newsletter: str
    slot: datetime
    action: str
    status: str
    edition_id: int | None = None
    detail: str = ""
    updated_at: datetime | None = None

    @property
    def final(self) -> bool:
        return self.status in FINAL

    @property
    def key(self) -> SlotKey:
        return SlotKey(self.newsletter, self.slot, self.action)


@dataclass(frozen=True)
class EditionState:
    """The little of an edition that planning needs."""

    id: int
    number: int
    status: EditionStatus
    send_at: datetime | None
    # The guard's pause of its send, as the run reports it ("" when not paused).
    paused: str = ""


@dataclass(frozen=True)
class State:
    """A newsletter as the store has it: the rows of its slots within `catch_up_grace` (and
    later), its editions waiting to be sent (approved or sending), and those the rows name."""

    runs: tuple[SlotRun, ...] = ()
    editions: tuple[EditionState, ...] = ()

    def run(self, slot: datetime, action: str) -> SlotRun | None:
        return next((r for r in self.runs if r.slot == slot and r.action == action), None)

    def edition(self, edition_id: int | None) -> EditionState | None:
        return next((e for e in self.editions if e.id == edition_id), None)


class Kind(IntEnum):
    """What a Due does, in the order a tick does them: sends never wait for builds."""

    SEND = 0  # send an edition (approving an automatic draft first)
    RECORD = 1  # record an outcome that needs no work (not approved, cancelled, too late…)
    BUILD = 2  # build the slot's edition, or adopt the one a stopped run built
    NOTIFY = 3  # tell the editors


@dataclass(frozen=True)
class Due:
    """One thing to do now. `seen` is the row as it was read: the claim is conditional on it.
    For a build, `edition_id` is an edition a stopped run built and linked: adopt it."""

    kind: Kind
    key: SlotKey
    edition_id: int | None = None
    seen: SlotRun | None = None
    approve: bool = False
    status: str = ""
    detail: str = ""
    notice: str = ""  # for NOTIFY: "draft", "none" (no edition this time) or "unsent"

    @property
    def sort_key(self) -> tuple[int, datetime, str]:
        return (self.kind, self.key.slot, self.key.newsletter)


@dataclass
class _Planner:
    newsletter: NewsletterConfig
    now: datetime
    state: State
    key: str
    dues: list[Due] = field(default_factory=list)
    sending: set[int] = field(default_factory=set)

    def recent(self, slot: datetime) -> bool:
        """Within the catch-up grace: not a missed time from long ago."""
        return self.now - slot <= self.newsletter.catch_up_grace

    def add(
        self,
        kind: Kind,
        slot: datetime,
        action: str,
        edition_id: int | None = None,
        *,
        approve: bool = False,
        status: str = "",
        detail: str = "",
        notice: str = "",
    ) -> None:
        seen = self.state.run(slot, action)
        key = SlotKey(self.key, slot, action)
        self.dues.append(Due(kind, key, edition_id, seen, approve, status, detail, notice))

    def record(self, slot: datetime, status: str, detail: str, edition_id: int | None) -> None:
        """Record the send's outcome, once."""
        run = self.state.run(slot, SEND)
        if run is None or not run.final:
            self.add(Kind.RECORD, slot, SEND, edition_id, status=status, detail=detail)

    def notify(
        self, slot: datetime, action: str, notice: str, edition_id: int | None, detail: str = ""
    ) -> None:
        run = self.state.run(slot, action)
        if self.newsletter.editors and (run is None or not run.final):
            self.add(Kind.NOTIFY, slot, action, edition_id, notice=notice, detail=detail)

    def waiting(self) -> None:
        """Approved editions whose time has come, and sends that were interrupted."""
        for edition in sorted(self.state.editions, key=lambda e: e.id):
            if edition.status == EditionStatus.SENT and edition.send_at is not None:
                # Sent after a pause (resumed by an editor): the paused row is closed.
                run = self.state.run(edition.send_at, SEND)
                if run is not None and run.status == PAUSED:
                    detail = f"edition {edition.id} was sent after its pause"
                    self.record(edition.send_at, "done", detail, edition.id)
                continue
            due = edition.send_at is not None and edition.send_at <= self.now
            approved = edition.status == EditionStatus.APPROVED
            if not (edition.status == EditionStatus.SENDING or (approved and due)):
                continue
            slot = edition.send_at or self.now
            if edition.status == EditionStatus.SENDING and edition.paused:
                # Waits for an editor: reported as paused on each tick, not sent.
                self.add(Kind.RECORD, slot, SEND, edition.id, status=PAUSED, detail=edition.paused)
                self.sending.add(edition.id)
                continue
            if approved and not self.recent(slot):
                grace = self.newsletter.catch_up_grace
                self.record(
                    slot,
                    "skipped",
                    f"its time passed more than {grace} ago; "
                    "approve it again with a new --send-at to send it",
                    edition.id,
                )
                continue
            self.add(Kind.SEND, slot, SEND, edition.id)
            self.sending.add(edition.id)

    def slots(self) -> list[datetime]:
        """The latest scheduled time, the one being prepared (`lead_time` ahead, editorial),
        and any recent scheduled time left unfinished (by a run that stopped or failed, or
        whose send is still to decide)."""
        from digest.schedule import previous_time

        newsletter = self.newsletter
        assert newsletter.schedule
        zone = newsletter.zone
        found: set[datetime] = set()
        latest = previous_time(newsletter.schedule, zone, self.now)
        if latest is not None and self.recent(latest):
            found.add(latest)
        if self.upcoming is not None and self.recent(self.upcoming):
            found.add(self.upcoming)
        for slot in {run.slot for run in self.state.runs} - found:
            send = self.state.run(slot, SEND)
            unfinished = send is None or any(
                not run.final for run in self.state.runs if run.slot == slot
            )
            scheduled = previous_time(newsletter.schedule, zone, slot) == slot
            if unfinished and scheduled and self.recent(slot):
                found.add(slot)
        return sorted(found)

    @cached_property
    def upcoming(self) -> datetime | None:
        """The scheduled time an editorial draft is being prepared for (`lead_time` ahead)."""
        from digest.schedule import previous_time

        newsletter = self.newsletter
        if newsletter.mode != "editorial" or not newsletter.schedule:
            return None
        return previous_time(newsletter.schedule, newsletter.zone, self.now + newsletter.lead_time)

    def build(self, slot: datetime) -> None:
        """Build, or adopt the edition that a stopped run built and linked to this slot."""
        run = self.state.run(slot, BUILD)
        self.add(Kind.BUILD, slot, BUILD, run.edition_id if run else None)

    def automatic(self, slot: datetime) -> None:
        send, build = self.state.run(slot, SEND), self.state.run(slot, BUILD)
        if send is not None and send.final:
            return
        if slot > self.now:
            return
        if build is None or not build.final:
            self.build(slot)
            return
        edition = self.state.edition(build.edition_id)
        if edition is None:
            self.record(slot, "skipped", build.detail or "no edition was built", None)
            return
        self.send_at_slot(slot, edition, approve=True)

    def editorial(self, slot: datetime) -> None:
        build = self.state.run(slot, BUILD)
        if build is None or not build.final:
            if build is not None or slot == self.upcoming:
                self.build(slot)
            elif slot <= self.now:
                self.record(slot, "skipped", "no draft was built for this time", None)
            return
        send = self.state.run(slot, SEND)
        edition = self.state.edition(build.edition_id)
        if send is not None and send.final:
            if edition is not None and send.status == "not_approved":
                self.notify(slot, NOTIFY_UNSENT, "unsent", edition.id, send.detail)
            return
        if edition is None:
            self.notify(slot, NOTIFY, "none", None, build.detail)
            if slot <= self.now:
                self.record(slot, "skipped", build.detail or "no edition was built", None)
            return
        self.notify(slot, NOTIFY, "draft", edition.id)
        if slot <= self.now:
            self.send_at_slot(slot, edition, approve=False)

    def send_at_slot(self, slot: datetime, edition: EditionState, approve: bool) -> None:
        """At the scheduled time: send the slot's edition, or record why not."""
        status = edition.status
        if edition.id in self.sending or status == EditionStatus.SENDING:
            return  # sent (or resumed) above, as a waiting edition
        if status == EditionStatus.CANCELLED:
            self.record(slot, "cancelled", "the edition was cancelled", edition.id)
        elif status == EditionStatus.SENT:
            self.record(slot, "done", f"edition {edition.id} was sent before", edition.id)
        elif status == EditionStatus.APPROVED and edition.send_at is not None:
            # Moved to another time (`digest approve --send-at`): sent then, as a waiting edition.
            self.record(slot, "skipped", f"approved for {edition.send_at.isoformat()}", edition.id)
        elif status == EditionStatus.DRAFT and not approve:
            detail = f"edition {edition.id} was not approved in time: not sent"
            self.record(slot, "not_approved", detail, edition.id)
        else:  # an automatic draft, or approved without a time
            self.add(Kind.SEND, slot, SEND, edition_id=edition.id, approve=approve)


def schedule_key(newsletter: str, frequency: str) -> str:
    """The name a newsletter's scheduled times of one frequency are recorded under (the
    newsletter's own name when it declares no frequencies)."""
    return f"{newsletter}@{frequency}" if frequency else newsletter


def plan(
    newsletter: NewsletterConfig, now: datetime, state: State, key: str | None = None
) -> list[Due]:
    """What is due for this newsletter at `now` (UTC), in the order to do it; its scheduled
    times are recorded under `key` (digest.frequencies: one per frequency)."""
    if not newsletter.schedule:
        return []
    planner = _Planner(newsletter, now, state, key or newsletter.name)
    planner.waiting()
    for slot in planner.slots():
        if newsletter.mode == "automatic":
            planner.automatic(slot)
        else:
            planner.editorial(slot)
    return sorted(planner.dues, key=lambda due: due.sort_key)
