"""Named locks across processes that vanish with the process that holds them, so a killed
`digest send` never blocks the rerun: PostgreSQL advisory locks, or a file lock beside SQLite."""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, text

from digest.errors import LockBusy

__all__ = ["LockBusy", "exclusive"]

_MEMORY_LOCKS: dict[str, threading.Lock] = {}


@contextmanager
def exclusive(engine: Engine, name: str, wait: float = 0.0) -> Iterator[None]:
    """Hold the named lock for the block, or raise LockBusy if it is still taken after `wait`
    seconds (at once by default)."""
    if engine.dialect.name == "postgresql":
        with _advisory(engine, name, wait):
            yield
        return
    database = engine.url.database
    if database and database != ":memory:":
        with _file_lock(Path(f"{database}.{_slug(name)}.lock"), name, wait):
            yield
        return
    lock = _MEMORY_LOCKS.setdefault(name, threading.Lock())
    if not (lock.acquire(timeout=wait) if wait > 0 else lock.acquire(blocking=False)):
        raise LockBusy(f"{name} is already running")
    try:
        yield
    finally:
        lock.release()


@contextmanager
def _advisory(engine: Engine, name: str, wait: float) -> Iterator[None]:
    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
    with engine.connect() as connection:

        def attempt() -> bool:
            got = connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
            connection.commit()
            return bool(got)

        if not _retrying(attempt, wait):
            raise LockBusy(f"{name} is already running")
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            connection.commit()


@contextmanager
def _file_lock(path: Path, name: str, wait: float) -> Iterator[None]:
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:

        def attempt() -> bool:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True

        if not _retrying(attempt, wait):
            raise LockBusy(f"{name} is already running")
        try:
            yield
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)


def _retrying(attempt: Callable[[], bool], wait: float) -> bool:
    """Try at once, then every 0.1 s until `wait` seconds have passed (a lock held briefly,
    as a shared send's set-up holds its edition's)."""
    deadline = time.monotonic() + wait
    while not attempt():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name)
