"""`digest run`: everything that is due, once. Called from cron every few minutes.

Under one lock (which dies with a crashed run): read each scheduled newsletter's state from the
store, ask `run_plan.plan` what is due, and do the first thing due (sends before builds, builds
before notices); then read and plan again, until nothing new is due (a build is followed by its
notice or its send). Feeds are fetched last, within their time limits, so that a slow feed
never delays a due send: what they bring is for the next build.

Each action is claimed in the store before its effect and its outcome recorded after. A run
killed in between leaves a claimed row that the next tick resumes: a build's edition, linked
to its slot in the transaction that created it, is adopted (or, if none was made, the build
is redone); a send is resumed (the campaign is exactly-once by itself); a notice is sent again
(an editor may get a notice twice after a crash, never not at all). An error (ours, the
database's, the disk's) ends that action with one line, not the run, and never a traceback.

On PostgreSQL, several hosts may run `digest run` from cron at once: the one holding the lock
does the tick; each other one, instead of exiting busy, joins the sends in progress as one more
worker (digest.send.campaign), and is busy only when there is none to join.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from sqlalchemy.exc import OperationalError, SQLAlchemyError

from digest.app import App
from digest.config import NewsletterConfig
from digest.edition import Edition, EditionStatus
from digest.errors import AlreadySent, DigestError, LockBusy, NotFoundError
from digest.faults import fault_point
from digest.frequencies import Cadence, cadences
from digest.notify import notify_editors, outline
from digest.run_plan import BUSY, FAILED, PAUSED, Due, EditionState, Kind, SlotKey, State, plan

log = logging.getLogger("digest.run")

# Errors that end one action (one line) and let the run go on to the others.
ACTION_ERRORS = (DigestError, SQLAlchemyError, OSError)
# A bound on the plan-and-do loop of one tick (each step records an outcome, so a tick needs a
# handful; this only stops a bug from looping).
MAX_STEPS = 200
# How long a run that found the lock taken (on PostgreSQL) looks for a send to join: the run
# holding it may be a moment from starting one (hosts' cron ticks start together).
JOIN_WAIT = 10.0


@dataclass
class Action:
    """One thing a run did (or found it could not do): one log line."""

    action: str
    status: str
    newsletter: str | None = None
    slot: datetime | None = None
    edition_id: int | None = None
    detail: str = ""
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def failed(self) -> bool:
        return self.status == FAILED

    def line(self) -> str:
        parts = [self.at.isoformat(timespec="seconds"), self.action, self.status]
        if self.newsletter:
            parts.append(f"newsletter={self.newsletter}")
        if self.slot:
            parts.append(f"slot={self.slot.isoformat(timespec='minutes')}")
        if self.edition_id:
            parts.append(f"edition={self.edition_id}")
        if self.detail:
            parts.append(f"- {self.detail}")
        return " ".join(parts)

    def json(self) -> str:
        data = asdict(self)
        for key in ("slot", "at"):
            data[key] = data[key].isoformat() if data[key] else None
        return json.dumps(data, ensure_ascii=False)


def describe(error: BaseException) -> str:
    """An error as one line for the operator: a database error by the database's own first
    line (not SQLAlchemy's statement and parameters), anything else by its message."""
    if isinstance(error, SQLAlchemyError):
        cause = getattr(error, "orig", None)
        text = str(cause if cause is not None else error).strip()
        return f"database error: {text.splitlines()[0] if text else type(error).__name__}"
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def run_due(
    app: App, now: datetime | None = None, report: Callable[[Action], None] | None = None
) -> list[Action]:
    """Do what is due at `now`; each action is passed to `report` as it happens, and all are
    returned. Raises LockBusy if another run is at work."""
    tick = _Tick(app, now or datetime.now(UTC), report)
    try:
        with app.store.lock("digest-run"):
            tick.run()
    except LockBusy:
        if not app.store.shares_work or not tick.join_sends():
            raise
    except (DigestError, SQLAlchemyError) as error:  # opening the store, or the lock itself
        tick.add(Action("run", FAILED, detail=describe(error)))
    return tick.actions


def read_state(app: App, cadence: Cadence, now: datetime) -> State:
    """What `plan` needs of the store: the rows of this cadence's recent and coming
    scheduled times, its editions waiting to be sent, and the editions those rows name."""
    store = app.store
    newsletter = cadence.newsletter
    runs = store.schedule.since(cadence.key, now - newsletter.catch_up_grace)
    waiting = [EditionStatus.APPROVED, EditionStatus.SENDING]
    editions = {
        e.id: e for e in store.editions_with_status(newsletter.name, waiting, cadence.editions)
    }
    for run in runs:
        if run.edition_id is not None and run.edition_id not in editions:
            try:
                editions[run.edition_id] = store.get_edition(run.edition_id)
            except NotFoundError:
                continue
    sending = [e.id for e in editions.values() if e.id and e.status == EditionStatus.SENDING]
    pauses = store.send_pauses.open_pauses(sending)
    return State(
        runs=tuple(runs),
        editions=tuple(
            EditionState(
                e.id,
                e.number,
                e.status,
                e.send_at,
                pauses[e.id].line() if e.id in pauses else "",
            )
            for e in editions.values()
            if e.id is not None
        ),
    )


class _Tick:
    def __init__(self, app: App, now: datetime, report: Callable[[Action], None] | None) -> None:
        self.app, self.now, self.report = app, now, report
        self.store = app.store
        self.actions: list[Action] = []
        self.unreadable: set[str] = set()

    def add(self, action: Action) -> None:
        self.actions.append(action)
        log.info(action.line())
        if self.report is not None:
            self.report(action)

    def run(self) -> None:
        attempted: set[tuple[object, ...]] = set()
        for _step in range(MAX_STEPS):
            found = self._next(attempted)
            if found is None:
                break
            newsletter, due = found
            attempted.add(_identity(due))
            self._do(newsletter, due)
        self._fetch()
        self._forget_click_keys()

    def _next(self, attempted: set[tuple[object, ...]]) -> tuple[Cadence, Due] | None:
        """The first thing due over every newsletter and frequency (state read afresh: the
        last step changed it), leaving out what this tick tried already."""
        candidates: list[tuple[Cadence, Due]] = []
        for each in self.app.settings.newsletters.values():
            for cadence in cadences(each):
                newsletter = cadence.newsletter
                if not newsletter.schedule or cadence.key in self.unreadable:
                    continue
                try:
                    state = read_state(self.app, cadence, self.now)
                except ACTION_ERRORS as error:
                    self.unreadable.add(cadence.key)
                    self.add(Action("run", FAILED, cadence.key, detail=describe(error)))
                    continue
                candidates += [
                    (cadence, due)
                    for due in plan(newsletter, self.now, state, cadence.key)
                    if _identity(due) not in attempted
                ]
        return min(candidates, key=lambda pair: pair[1].sort_key, default=None)

    def _do(self, cadence: Cadence, due: Due) -> None:
        newsletter = cadence.newsletter
        key = due.key
        try:
            if due.kind == Kind.RECORD:
                self._outcome(key, due.status, due.edition_id, due.detail)
            elif not self.store.schedule.claim(key, due.seen, due.edition_id):
                self.add(self._action(key, BUSY, due.edition_id, "claimed by another run"))
            elif due.kind == Kind.BUILD:
                self._build(cadence, due)
            elif due.kind == Kind.SEND:
                self._send(newsletter, due)
            else:
                self._notify(newsletter, due)
        except ACTION_ERRORS as error:
            detail = describe(error)
            self.add(self._action(key, FAILED, due.edition_id, detail))
            # Tried again next tick. A database that is unreachable or locked would only fail
            # again (after its busy timeout): its claimed row says as much.
            if due.kind != Kind.RECORD and not isinstance(error, OperationalError):
                with suppress(SQLAlchemyError):
                    self.store.schedule.mark(key, FAILED, detail)

    def _action(self, key: SlotKey, status: str, edition_id: int | None, detail: str) -> Action:
        return Action(key.action, status, key.newsletter, key.slot, edition_id, detail)

    def _outcome(self, key: SlotKey, status: str, edition_id: int | None, detail: str) -> None:
        """Record an action's outcome in the store, then report it."""
        self.store.schedule.record(key.newsletter, key.slot, key.action, status, edition_id, detail)
        self.add(self._action(key, status, edition_id, detail))

    # Building

    def _build(self, cadence: Cadence, due: Due) -> None:
        key, newsletter = due.key, cadence.newsletter
        if due.edition_id is not None:
            adopted = self._edition(due.edition_id)
            if adopted is not None:
                detail = (
                    f"adopted No. {adopted.number}, built for this time by a run that stopped "
                    "before recording it"
                )
                self._outcome(key, "done", adopted.id, detail)
                return
        since = key.slot - newsletter.lookback
        articles = self.store.unused_articles(
            newsletter.name,
            newsletter.max_articles,
            feeds=newsletter.feed_urls,
            since=since,
            frequencies=cadence.editions,
        )
        if len(articles) < newsletter.min_articles:
            detail = (
                f"only {len(articles)} new articles since {since:%Y-%m-%d}"
                f" (min_articles = {newsletter.min_articles}): no edition"
            )
            self._outcome(key, "skipped", None, detail)
            return
        issue_date = key.slot.astimezone(newsletter.zone).date()
        # The store links the edition to this claimed build in the same transaction.
        edition = self.app.build(
            newsletter, issue_date, articles=articles, send_at=key.slot, frequency=cadence.frequency
        )
        fault_point("after-build")
        detail = f"{len(edition.items)} articles, subject {edition.subject!r}"
        self._outcome(key, "done", edition.id, detail)

    def _edition(self, edition_id: int) -> Edition | None:
        try:
            return self.store.get_edition(edition_id)
        except NotFoundError:
            return None

    # Sending

    def _send(self, newsletter: NewsletterConfig, due: Due) -> None:
        key = due.key
        assert due.edition_id is not None
        edition = self.store.get_edition(due.edition_id)
        if due.approve and edition.status == EditionStatus.DRAFT:
            edition = self.app.approve(edition, send_at=key.slot)
        try:
            report = self.app.send(edition)
        except AlreadySent:
            self._outcome(key, "done", edition.id, "sent before")
            return
        except LockBusy:
            detail = (
                f"edition {edition.id} is being sent by another process (digest send); "
                "tried again next run"
            )
            self._outcome(key, BUSY, edition.id, detail)
            return
        if report.paused is not None:  # the guard's pause: an editor resumes it, not a tick
            self._outcome(key, PAUSED, edition.id, report.paused.line())
            return
        # Waiting: only deferred readers, or a provider's events, are left: tried next tick.
        status = "done" if report.finished else ("waiting" if report.waiting else FAILED)
        self._outcome(key, status, edition.id, report.summary())

    def join_sends(self, wait: float = JOIN_WAIT) -> bool:
        """Another host's run holds the lock (PostgreSQL): be one more worker of each send in
        progress of a scheduled newsletter. False when there was none to join."""
        deadline = time.monotonic() + wait
        while True:
            sending = [
                edition
                for newsletter in self.app.settings.newsletters.values()
                if newsletter.schedule
                for edition in self.store.editions_with_status(
                    newsletter.name, [EditionStatus.SENDING]
                )
            ]
            if sending or time.monotonic() >= deadline:
                break
            time.sleep(0.5)
        for edition in sending:
            try:
                report = self.app.send(edition)
            except AlreadySent:
                continue
            except ACTION_ERRORS as error:
                self.add(
                    Action("send", FAILED, edition.newsletter, None, edition.id, describe(error))
                )
                continue
            status = "done" if report.finished else ("waiting" if report.waiting else FAILED)
            detail = f"joined another host's send as one more worker: {report.summary()}"
            self.add(Action("send", status, edition.newsletter, None, edition.id, detail))
        return bool(sending)

    # Telling the editors

    def _notify(self, newsletter: NewsletterConfig, due: Due) -> None:
        edition = self.store.get_edition(due.edition_id) if due.edition_id else None
        subject, body = self._notice(newsletter, due, edition)
        sender = self.app.sender(newsletter)
        try:
            count = notify_editors(sender, newsletter, due.edition_id or 0, subject, body)
        finally:
            sender.close()
        status = "done" if count else FAILED
        self._outcome(due.key, status, due.edition_id, f"{subject!r} to {count} editor(s)")

    def _notice(
        self, newsletter: NewsletterConfig, due: Due, edition: Edition | None
    ) -> tuple[str, str]:
        """The subject and body of a notice to the editors."""
        if edition is None:
            return "No edition this time", due.detail
        if due.notice == "unsent":
            return f"No. {edition.number} was NOT sent", (
                f"{due.detail}\n\nApprove it with a new time to send it later:\n\n"
                f"    digest approve {edition.id} --send-at YYYY-MM-DDTHH:MM"
            )
        local = due.key.slot.astimezone(newsletter.zone)
        preview = f"{self.app.settings.editor_url.rstrip('/')}/editions/{edition.id}"
        return f"Draft No. {edition.number} to approve", (
            f"A draft of {newsletter.title} No. {edition.number} is ready for review.\n"
            f"It goes out at {local:%A %d %B %Y, %H:%M %Z} if an editor approves it:\n\n"
            f"    digest approve {edition.id}\n\nPreview: {preview}\n\n{outline(edition)}"
        )

    # Feeds, last

    def _fetch(self) -> None:
        """New feed items, within fetch_tick_budget for the whole tick (the feeds left are
        skipped until the next tick) and fetch_deadline per download."""
        if not any(n.feed_urls for n in self.app.settings.newsletters.values()):
            return
        try:
            reports = self.app.fetch_feeds()
        except ACTION_ERRORS as error:
            self.add(Action("fetch", FAILED, detail=describe(error)))
            return
        for r in reports:
            if r.error:
                status = FAILED
            elif r.not_modified:
                status = "not_modified"
            else:  # a feed cut short by the budget is not a failure: the next tick goes on
                status = "skipped" if r.skipped else "done"
            self.add(Action("fetch", status, detail=r.line()))

    def _forget_click_keys(self) -> None:
        """Click tracking's salts past click_key_lifetime are forgotten (said only when some
        were): their editions' click keys can no longer be linked to any reader."""
        if not any(n.track_clicks for n in self.app.settings.newsletters.values()):
            return
        try:
            closed = self.app.forget_click_keys(self.now)
        except ACTION_ERRORS as error:
            self.add(Action("clicks", FAILED, detail=describe(error)))
            return
        if closed:
            detail = f"forgot the click keys of {closed} edition(s): their counting is closed"
            self.add(Action("clicks", "done", detail=detail))


def _identity(due: Due) -> tuple[object, ...]:
    # A send that paused in this tick is not said again as paused in the same tick.
    kind = Kind.SEND if due.status == PAUSED else due.kind
    return (kind, due.key, due.edition_id)
