"""Named locks across processes that vanish with the process that holds them, so a killed
`digest send` never blocks the rerun: PostgreSQL advisory locks, or a file lock beside SQLite."""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, text

from digest.errors import LockBusy

__all__ = ["LockBusy", "exclusive"]

_MEMORY_LOCKS: dict[str, threading.Lock] = {}


@contextmanager
def exclusive(engine: Engine, name: str) -> Iterator[None]:
    """Hold the named lock for the block, or raise LockBusy at once."""
    if engine.dialect.name == "postgresql":
        with _advisory(engine, name):
            yield
        return
    database = engine.url.database
    if database and database != ":memory:":
        with _file_lock(Path(f"{database}.{_slug(name)}.lock"), name):
            yield
        return
    lock = _MEMORY_LOCKS.setdefault(name, threading.Lock())
    if not lock.acquire(blocking=False):
        raise LockBusy(f"{name} is already running")
    try:
        yield
    finally:
        lock.release()


@contextmanager
def _advisory(engine: Engine, name: str) -> Iterator[None]:
    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
    with engine.connect() as connection:
        acquired = connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
        connection.commit()
        if not acquired:
            raise LockBusy(f"{name} is already running")
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            connection.commit()


@contextmanager
def _file_lock(path: Path, name: str) -> Iterator[None]:
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockBusy(f"{name} is already running") from None
        try:
            yield
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name)
