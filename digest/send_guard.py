"""The complaint and bounce guard: while an edition goes out, the provider's events are read
now and then, and the send pauses when complaints or hard bounces are over the newsletter's
thresholds, before a mailbox provider judges the sender for it.

Pure but for the clock it is given: the counts come from the store (one query of the
edition's events by kind), the verdict is a value with the line that says why. The rates are
judged on the canonical event kinds every provider's events are mapped to ("delivered",
"spamreport", "bounce"), never on one provider's fields.

After a resume the counts at that moment are the baseline: the guard judges what came since
(new complaints among new deliveries), so it does not pause again at once on complaints an
editor has already seen and accepted, and it still pauses on a new wave of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from digest.config import NewsletterConfig

# The kinds the guard counts (digest.store.delivery_events keeps them per delivery and kind).
DELIVERED, COMPLAINT, HARD_BOUNCE = "delivered", "spamreport", "bounce"
GUARDED_KINDS = (DELIVERED, COMPLAINT, HARD_BOUNCE)


@dataclass(frozen=True)
class GuardCounts:
    """An edition's readers per event kind the guard weighs (each reader once per kind)."""

    delivered: int = 0
    complaints: int = 0
    bounces: int = 0

    def __sub__(self, other: GuardCounts) -> GuardCounts:
        return GuardCounts(
            max(0, self.delivered - other.delivered),
            max(0, self.complaints - other.complaints),
            max(0, self.bounces - other.bounces),
        )


@dataclass(frozen=True)
class Verdict:
    """A threshold crossed: which, with the figures behind it."""

    kind: str  # "complaints" or "bounces"
    count: int
    out_of: int
    rate: float
    threshold: float
    setting: str  # the newsletter's key that set the threshold
    since: datetime | None = None  # judged from this resume on (None: the whole send)

    def reason(self) -> str:
        """ "3 complaints in 1,204 delivered (0.25%) is over complaint_pause_rate 0.1%"."""
        what = "complaint" if self.kind == "complaints" else "hard bounce"
        plural = "" if self.count == 1 else "s"
        among = "delivered" if self.kind == "complaints" else "delivered or bounced"
        since = f" since the resume at {self.since:%Y-%m-%d %H:%M} UTC" if self.since else ""
        return (
            f"{self.count:,} {what}{plural} in {self.out_of:,} {among}{since} "
            f"({percent(self.rate)}) is over {self.setting} {percent(self.threshold)}"
        )


@dataclass(frozen=True)
class SendPause:
    """A send the guard paused, as stored: what it said, and once resumed, who resumed it
    and the counts then (the guard's baseline from then on)."""

    id: int
    edition_id: int
    paused_at: datetime
    kind: str
    reason: str
    count: int
    out_of: int
    rate: float
    threshold: float
    notified_at: datetime | None = None
    resumed_at: datetime | None = None
    resumed_by: str = ""
    baseline: GuardCounts | None = None

    @property
    def open(self) -> bool:
        return self.resumed_at is None

    def line(self) -> str:
        """The one line a run ends with, and the pages and notices show."""
        return f"paused: {self.reason}; `digest send {self.edition_id} --resume` continues"

    def as_json(self) -> dict[str, object]:
        return {
            "paused_at": self.paused_at.isoformat(timespec="seconds"),
            "kind": self.kind,
            "reason": self.reason,
            "count": self.count,
            "out_of": self.out_of,
            "rate": self.rate,
            "threshold": self.threshold,
            "resumed_at": (
                self.resumed_at.isoformat(timespec="seconds") if self.resumed_at else None
            ),
            "resumed_by": self.resumed_by or None,
        }


def percent(fraction: float) -> str:
    """0.0025 → "0.25%", 0.001 → "0.1%", 0.05 → "5%"."""
    return f"{fraction * 100:.2f}".rstrip("0").rstrip(".") + "%"


def judge(
    newsletter: NewsletterConfig,
    now_counts: GuardCounts,
    baseline: GuardCounts = GuardCounts(),
    since: datetime | None = None,
) -> Verdict | None:
    """The first threshold the counts since `baseline` are over, or None. A rate is judged
    only once `pause_min_delivered` messages count for it. Complaints are out of the
    delivered (only a delivered message can be reported as spam); hard bounces out of the
    delivered and bounced, so that a list of dead addresses, where few are delivered, is
    judged too."""
    counts = now_counts - baseline
    minimum = newsletter.pause_min_delivered
    attempted = counts.delivered + counts.bounces
    checks = (
        ("complaints", counts.complaints, counts.delivered, newsletter.complaint_pause_rate),
        ("bounces", counts.bounces, attempted, newsletter.bounce_pause_rate),
    )
    for kind, count, out_of, threshold in checks:
        if out_of < minimum or not count:
            continue
        rate = count / out_of
        if rate > threshold:
            setting = "complaint_pause_rate" if kind == "complaints" else "bounce_pause_rate"
            return Verdict(kind, count, out_of, rate, threshold, setting, since)
    return None


class SendGuard:
    """Watches one run of a send: `check()` reads the counts at most every
    `pause_check_interval` (and always the first time: the start of a run), and says
    whether to pause."""

    def __init__(
        self,
        newsletter: NewsletterConfig,
        read_counts: Callable[[], GuardCounts],
        baseline: GuardCounts = GuardCounts(),
        since: datetime | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        from datetime import UTC

        self.newsletter, self.read_counts = newsletter, read_counts
        self.baseline, self.since = baseline, since
        self.clock = clock or (lambda: datetime.now(UTC))
        self.checked_at: datetime | None = None
        self.checks = 0
        self.last: GuardCounts | None = None

    @property
    def interval(self) -> timedelta:
        return self.newsletter.pause_check_interval

    def check(self) -> Verdict | None:
        now = self.clock()
        if self.checked_at is not None and now - self.checked_at < self.interval:
            return None
        self.checked_at = now
        self.checks += 1
        self.last = self.read_counts()
        return judge(self.newsletter, self.last, self.baseline, self.since)
