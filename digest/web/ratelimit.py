"""In-memory limits for one process: a sliding window (subscriptions, per address and per
client) and a growing delay after repeated failures (editor login, per client)."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass


class RateLimit:
    def __init__(self, limit: int, window_seconds: float) -> None:
        self.limit = limit
        self.window = window_seconds
        self._hits: defaultdict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        """Count a hit for key; False when it is over the limit."""
        now = time.monotonic()
        with self._lock:
            hits = self._hits[key]
            while hits and now - hits[0] > self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            return True


@dataclass
class _Failures:
    count: int
    last: float


class FailureBackoff:
    """After `free` failures in a row from one client, each further attempt must wait: `base`
    seconds, then twice that after every failure, up to `ceiling`. A success forgets the client.
    A typo costs nothing; guessing a password gets a few dozen tries a day."""

    def __init__(
        self,
        free: int = 5,
        base: float = 1.0,
        ceiling: float = 3600.0,
        forget_after: float = 86400.0,
        max_clients: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free = free
        self.clock = clock
        self.base = base
        self.ceiling = ceiling
        self.forget_after = forget_after
        self.max_clients = max_clients
        self._clients: dict[str, _Failures] = {}
        self._lock = threading.Lock()

    def wait(self, key: str) -> float:
        """Seconds before the client may try again (0: now)."""
        with self._lock:
            failures = self._clients.get(key)
            if failures is None:
                return 0.0
            return max(0.0, failures.last + self._delay(failures.count) - self.clock())

    def failed(self, key: str) -> None:
        now = self.clock()
        with self._lock:
            failures = self._clients.get(key)
            if failures is None or now - failures.last > self.forget_after:
                if len(self._clients) >= self.max_clients:
                    self._forget_idle(now)
                failures = self._clients[key] = _Failures(0, now)
            failures.count += 1
            failures.last = now

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._clients.pop(key, None)

    def _delay(self, count: int) -> float:
        if count < self.free:
            return 0.0
        return float(min(self.ceiling, self.base * 2 ** min(count - self.free, 64)))

    def _forget_idle(self, now: float) -> None:
        """Bounded memory under a spray from many addresses: the idle go first, then the
        oldest half."""
        idle = [k for k, f in self._clients.items() if now - f.last > self.forget_after]
        for key in idle:
            del self._clients[key]
        if len(self._clients) >= self.max_clients:
            oldest = sorted(self._clients, key=lambda k: self._clients[k].last)
            for key in oldest[: len(oldest) // 2]:
                del self._clients[key]
