"""The default sender: one .eml file per recipient under a folder per edition, written
atomically (a temporary file renamed into place), so a reader never sees half a message.

A reader's file is named after the delivery alone (never the address: erasing a subscriber
must not leave their address in a file name), so sending a batch again rewrites the same files:
the outbox is idempotent, and a batch cut off by a crash is simply sent again.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path

from digest.send import Batch, BatchResult
from digest.send.addresses import UnsendableAddress, mail_address
from digest.send.mime import build_message
from digest.store.deliveries import Failure


class OutboxSender:
    name = "outbox"
    max_batch = 1000
    idempotent = True
    reports_events = False

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def prepare(self, batch: Batch) -> object:
        return None  # messages are built one by one as they are sent

    def send(self, batch: Batch, prepared: object = None) -> BatchResult:
        edition_folder = self.edition_folder(batch)
        edition_folder.mkdir(parents=True, exist_ok=True)
        if batch.purpose == "edition":
            _remove_stale_temporaries(edition_folder)
        result = BatchResult(provider_id=str(edition_folder))
        for recipient in batch.recipients:
            try:
                data = build_message(batch, recipient).as_bytes()
            except (ValueError, TypeError, LookupError) as error:
                reason = f"cannot build the message: {error}"
                result.failures[recipient.delivery_id] = Failure(reason, permanent=True)
                continue
            _write_atomically(edition_folder / self.file_name(batch, recipient.delivery_id), data)
        return result

    def file_name(self, batch: Batch, delivery_id: int) -> str:
        if batch.purpose == "edition":
            return f"{delivery_id:08d}.eml"
        # Test copies and notices: one file each time, never overwritten.
        return f"{batch.purpose}-{time.time_ns()}-{delivery_id}.eml"

    def edition_folder(self, batch: Batch) -> Path:
        return self.folder / batch.newsletter.name / f"edition-{batch.edition_id}"

    def close(self) -> None:
        pass

    def forget(self, delivery_ids: set[int], addresses: list[str]) -> int:
        """Erasure: delete the files of these deliveries, and the notices and half-written
        files addressed to any of `addresses` (in either form of an internationalised
        domain, any case). Returns how many files went."""
        removed = 0
        if not self.folder.is_dir():
            return 0
        paths = [
            path
            for delivery_id in sorted(delivery_ids)
            for path in self.folder.glob(f"*/edition-*/{delivery_id:08d}.eml")
        ]
        needles = {form.lower().encode() for address in addresses for form in _forms(address)}
        paths += [
            path
            for pattern in ("*/edition-*/notice-*.eml", "*/edition-*/.*.tmp")
            for path in self.folder.glob(pattern)
            if any(needle in path.read_bytes().lower() for needle in needles)
        ]
        for path in paths:
            path.unlink(missing_ok=True)
            removed += 1
        return removed


def _forms(address: str) -> list[str]:
    """An address as written in our files: as stored, and with its domain in ASCII."""
    try:
        return [address, mail_address(address).address]
    except UnsendableAddress:
        return [address]


def _remove_stale_temporaries(folder: Path, older_than: float = 60.0) -> None:
    """Half-written files of a process killed mid-write (never read as messages, but they
    hold a reader's message); left alone while young, in case a writer is at work."""
    limit = time.time() - older_than
    for path in folder.glob(".*.tmp"):
        with contextlib.suppress(OSError):
            if path.stat().st_mtime < limit:
                path.unlink()


def _write_atomically(target: Path, data: bytes) -> None:
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
