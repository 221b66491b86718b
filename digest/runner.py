"""`digest run`: everything that is due, once. Called from cron every few minutes.

Under one lock (which dies with a crashed run): collect the feeds; then for each scheduled
newsletter, look at its latest scheduled time (never older ones: after downtime an edition is
caught up once, within `catch_up_grace`, never a flood):

- editorial: `lead_time` ahead of the time, build a draft and tell the editors; at the time,
  send it if an editor approved it, else record and say that it was not sent;
- automatic: at the time, build, approve and send.

Approved editions whose send time has come are sent, and an interrupted send is resumed. Every
action is recorded per newsletter, time and action, so a second run does nothing twice.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from digest.app import App
from digest.config import NewsletterConfig
from digest.edition import Edition, EditionStatus
from digest.errors import DigestError
from digest.notify import notify_editors, outline
from digest.schedule import previous_time
from digest.send.campaign import AlreadySent
from digest.store.schedule import FINAL

log = logging.getLogger("digest.run")


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
        return self.status == "failed"

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


def run_due(app: App, now: datetime | None = None) -> list[Action]:
    """Do what is due at `now`; raises LockBusy if another run is at work."""
    now = now or datetime.now(UTC)
    with app.store.lock("digest-run"):
        actions = _fetch(app)
        for newsletter in app.settings.newsletters.values():
            if newsletter.schedule:
                actions += _Tick(app, newsletter, now).run()
    return actions


def _fetch(app: App) -> list[Action]:
    from digest.feeds import fetch_feeds
    from digest.fetch import UrlFetcher

    urls = [url for n in app.settings.newsletters.values() for url in n.feed_urls]
    if not urls:
        return []
    fetcher = UrlFetcher(app.settings.fetch_timeout, app.settings.fetch_max_bytes)
    try:
        reports = fetch_feeds(urls, app.store, fetcher)
    finally:
        fetcher.close()
    return [
        Action(
            "fetch",
            "failed" if r.error else ("not_modified" if r.not_modified else "done"),
            detail=r.line(),
        )
        for r in reports
    ]


class _Tick:
    def __init__(self, app: App, newsletter: NewsletterConfig, now: datetime) -> None:
        self.app, self.newsletter, self.now = app, newsletter, now
        self.store = app.store
        self.actions: list[Action] = []

    def run(self) -> list[Action]:
        newsletter = self.newsletter
        assert newsletter.schedule
        zone = newsletter.zone
        try:
            self._send_due_editions()
            if newsletter.mode == "editorial":
                upcoming = previous_time(newsletter.schedule, zone, self.now + newsletter.lead_time)
                if upcoming is not None and self._recent(upcoming):
                    self._build(upcoming)
            slot = previous_time(newsletter.schedule, zone, self.now)
            if slot is not None and self._recent(slot):
                if newsletter.mode == "automatic":
                    self._automatic(slot)
                else:
                    self._editorial(slot)
        except DigestError as error:
            self._record(Action("run", "failed", newsletter.name, detail=str(error)))
        return self.actions

    def _recent(self, slot: datetime) -> bool:
        """Within the catch-up grace: not a missed time from long ago."""
        return self.now - slot <= self.newsletter.catch_up_grace

    def _record(self, action: Action, persist: bool = False) -> None:
        self.actions.append(action)
        (log.warning if action.failed else log.info)(action.line())
        if persist and action.slot is not None:
            self.store.schedule.record(
                self.newsletter.name,
                action.slot,
                action.action,
                action.status,
                action.edition_id,
                action.detail,
            )

    def _done(self, slot: datetime, action: str) -> bool:
        run = self.store.schedule.get(self.newsletter.name, slot, action)
        return run is not None and run.status in FINAL

    # Building

    def _build(self, slot: datetime) -> Edition | None:
        """The edition for this scheduled time: built now unless it was before."""
        name = self.newsletter.name
        run = self.store.schedule.get(name, slot, "build")
        if run is not None and run.status in FINAL:
            return self.store.get_edition(run.edition_id) if run.edition_id else None
        newsletter = self.newsletter
        articles = self.store.unused_articles(
            name,
            newsletter.max_articles,
            feeds=newsletter.feed_urls,
            since=slot - newsletter.lookback,
        )
        if len(articles) < newsletter.min_articles:
            detail = (
                f"only {len(articles)} new articles since {slot - newsletter.lookback:%Y-%m-%d}"
                f" (min_articles = {newsletter.min_articles}): no edition"
            )
            self._record(Action("build", "skipped", name, slot, detail=detail), persist=True)
            if newsletter.mode == "editorial":
                self._notify(0, "No edition this time", detail)
            return None
        edition = self.app.build(
            newsletter, slot.astimezone(newsletter.zone).date(), articles=articles, send_at=slot
        )
        assert edition.id is not None
        self._record(
            Action(
                "build",
                "done",
                name,
                slot,
                edition.id,
                f"{len(edition.items)} articles, subject {edition.subject!r}",
            ),
            persist=True,
        )
        if newsletter.mode == "editorial":
            local = slot.astimezone(newsletter.zone)
            preview = f"{self.app.settings.editor_url.rstrip('/')}/editions/{edition.id}"
            body = (
                f"A draft of {newsletter.title} No. {edition.number} is ready for review.\n"
                f"It goes out at {local:%A %d %B %Y, %H:%M %Z} if an editor approves it:\n\n"
                f"    digest approve {edition.id}\n\nPreview: {preview}\n\n{outline(edition)}"
            )
            self._notify(edition.id, f"Draft No. {edition.number} to approve", body)
        return edition

    # Sending

    def _automatic(self, slot: datetime) -> None:
        if self._done(slot, "send"):
            return
        edition = self._build(slot)
        if edition is None:
            if self._done(slot, "build"):
                self._record(
                    Action(
                        "send", "skipped", self.newsletter.name, slot, detail="no edition was built"
                    ),
                    persist=True,
                )
            return
        assert edition.id is not None
        if edition.status == EditionStatus.DRAFT:
            edition = self.app.approve(edition, send_at=slot)
        self._send(edition, slot)

    def _editorial(self, slot: datetime) -> None:
        if self._done(slot, "send"):
            return
        name = self.newsletter.name
        build = self.store.schedule.get(name, slot, "build")
        if build is None or build.edition_id is None:
            detail = "no draft was built for this time" if build is None else build.detail
            self._record(Action("send", "skipped", name, slot, detail=detail), persist=True)
            return
        edition = self.store.get_edition(build.edition_id)
        if edition.status == EditionStatus.CANCELLED:
            self._record(
                Action("send", "cancelled", name, slot, edition.id, "the edition was cancelled"),
                persist=True,
            )
        elif edition.status == EditionStatus.DRAFT:
            detail = f"edition {edition.id} was not approved in time: not sent"
            self._record(
                Action("send", "not_approved", name, slot, edition.id, detail), persist=True
            )
            self._notify(
                edition.id,
                f"No. {edition.number} was NOT sent",
                detail + f"\n\nApprove it with a new time to send it later:\n\n"
                f"    digest approve {edition.id} --send-at YYYY-MM-DDTHH:MM",
            )
        elif edition.send_at is not None and edition.send_at > self.now:
            self._record(
                Action(
                    "send",
                    "skipped",
                    name,
                    slot,
                    edition.id,
                    f"approved for {edition.send_at.isoformat()}",
                ),
                persist=True,
            )

    def _send_due_editions(self) -> None:
        """Approved editions whose time has come, and sends that were interrupted."""
        waiting = [EditionStatus.APPROVED, EditionStatus.SENDING]
        for edition in self.store.editions_with_status(self.newsletter.name, waiting):
            due = edition.send_at is not None and edition.send_at <= self.now
            if edition.status == EditionStatus.SENDING or (
                edition.status == EditionStatus.APPROVED and due
            ):
                slot = edition.send_at or self.now
                if edition.status == EditionStatus.APPROVED and not self._recent(slot):
                    if not self._done(slot, "send"):
                        self._record(
                            Action(
                                "send",
                                "skipped",
                                self.newsletter.name,
                                slot,
                                edition.id,
                                f"its time passed more than {self.newsletter.catch_up_grace} ago; "
                                "approve it again with a new --send-at to send it",
                            ),
                            persist=True,
                        )
                    continue
                self._send(edition, slot)

    def _send(self, edition: Edition, slot: datetime) -> None:
        name = self.newsletter.name
        try:
            report = self.app.send(edition)
        except AlreadySent:
            self._record(
                Action("send", "done", name, slot, edition.id, "sent before"), persist=True
            )
            return
        except DigestError as error:
            self._record(Action("send", "failed", name, slot, edition.id, str(error)), persist=True)
            return
        status = "done" if report.finished else "failed"
        self._record(Action("send", status, name, slot, edition.id, report.summary()), persist=True)

    def _notify(self, edition_id: int | None, subject: str, body: str) -> None:
        if not self.newsletter.editors:
            return
        sender = self.app.sender(self.newsletter)
        try:
            count = notify_editors(sender, self.newsletter, edition_id or 0, subject, body)
        finally:
            sender.close()
        self._record(
            Action(
                "notify",
                "done" if count else "failed",
                self.newsletter.name,
                edition_id=edition_id or None,
                detail=f"{subject!r} to {count} editor(s)",
            )
        )
