"""Test-only fault points: a process kills itself at a named step, so that tests can prove
that a crash there is resumed without losing or doubling anything.

`DIGEST_FAULT_POINT` names the point (or several, comma-separated); unset, every call is one
dictionary look-up and nothing else. Points in use: "after-build" (`digest run`: an edition
built and linked to its slot, the build not yet recorded done), and in the send path
"after-claim", "after-request", "after-record".
"""

from __future__ import annotations

import os
import signal

VARIABLE = "DIGEST_FAULT_POINT"


def fault_point(name: str) -> None:
    """SIGKILL this process here if DIGEST_FAULT_POINT names this point: no cleanup, no
    `finally`, exactly as a crash or an OOM kill would leave things."""
    wanted = os.environ.get(VARIABLE)
    if wanted and name in (part.strip() for part in wanted.split(",")):
        os.kill(os.getpid(), signal.SIGKILL)
