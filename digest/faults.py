"""Test-only fault points: a process kills itself at a named step, so that tests can prove
that a crash there is resumed without losing or doubling anything.

`DIGEST_FAULT_POINT` names the point (or several, comma-separated); "after-request@3" kills
at the third time the point is reached. Unset, every call is one dictionary look-up. Points in
use: "after-build" (`digest run`: an edition built and linked to its slot, the build not yet
recorded done); in the send path "after-claim" (a batch recorded, its request not made),
"after-request" (the provider answered, the answer not recorded), "after-record",
"after-winner" (an A/B subject test's winner stored, not yet given to the readers waiting).
`DIGEST_FAULT_PROCESS`, when set, limits the points to the process of that name
(multiprocessing's: "digest-send-worker-2" is the second worker of `digest send --workers`).
"""

from __future__ import annotations

import multiprocessing
import os
import signal

VARIABLE = "DIGEST_FAULT_POINT"
PROCESS = "DIGEST_FAULT_PROCESS"


def fault_point(name: str) -> None:
    """SIGKILL this process here if DIGEST_FAULT_POINT names this point: no cleanup, no
    `finally`, exactly as a crash or an OOM kill would leave things."""
    wanted = os.environ.get(VARIABLE)
    if not wanted:
        return
    only = os.environ.get(PROCESS)
    if only and multiprocessing.current_process().name != only:
        return
    _reached[name] = _reached.get(name, 0) + 1
    for part in wanted.split(","):
        point, _, count = part.strip().partition("@")
        if point == name and (not count or int(count) == _reached[name]):
            os.kill(os.getpid(), signal.SIGKILL)


_reached: dict[str, int] = {}
