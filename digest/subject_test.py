"""A/B subject lines: a share of the list gets the test lines, split evenly; after a wait, the
line that most distinct readers clicked through from (scanners left out, digest.clicks) goes to
everyone else.

Who gets which line is decided by the delivery's id (a fixed hash, the same on every run), so
a send cut off at any point and run again assigns nobody twice; the state (when the test copies
were all sent, the winner) is stored with the edition before anything depends on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

__all__ = ["SubjectTest", "winner_of"]

# The multiplier of Knuth's multiplicative hash: consecutive ids land far apart in 0..999, so
# a list imported in any order is split evenly.
HASH_MULTIPLIER = 2654435761
HASH_BUCKETS = 1000


@dataclass(frozen=True)
class SubjectTest:
    lines: tuple[str, ...]
    share: float
    wait: timedelta
    tests_sent_at: datetime | None = None  # every test copy sent: the wait starts
    winner: int | None = None  # 1-based index into `lines`
    clicks: tuple[int, ...] = ()  # the distinct human clicks per line that decided it

    @property
    def buckets(self) -> int:
        """Deliveries whose hash is below this get a test line."""
        return max(len(self.lines), round(self.share * HASH_BUCKETS))

    def decides_at(self) -> datetime | None:
        return self.tests_sent_at + self.wait if self.tests_sent_at else None

    def sent(self, moment: datetime) -> SubjectTest:
        return replace(self, tests_sent_at=moment)

    def decided(self, clicks: Mapping[int, int]) -> SubjectTest:
        counts = tuple(clicks.get(index, 0) for index in range(1, len(self.lines) + 1))
        return replace(self, winner=winner_of(counts), clicks=counts)

    def as_json(self) -> dict[str, Any]:
        return {
            "share": self.share,
            "wait_seconds": self.wait.total_seconds(),
            "tests_sent_at": self.tests_sent_at.isoformat() if self.tests_sent_at else None,
            "winner": self.winner,
            "clicks": list(self.clicks),
        }

    @classmethod
    def from_json(cls, lines: list[str], data: Mapping[str, Any]) -> SubjectTest:
        sent_at = data.get("tests_sent_at")
        return cls(
            lines=tuple(lines),
            share=float(data["share"]),
            wait=timedelta(seconds=float(data["wait_seconds"])),
            tests_sent_at=datetime.fromisoformat(sent_at) if sent_at else None,
            winner=data.get("winner"),
            clicks=tuple(data.get("clicks") or ()),
        )


def winner_of(clicks: tuple[int, ...]) -> int:
    """The 1-based index of the line with the most clicks; a tie goes to the line written
    first (the editor's first choice), and so does a test nobody clicked."""
    best = max(clicks, default=0)
    return clicks.index(best) + 1 if clicks else 1
