"""The default sender: one .eml file per recipient under a folder per edition, written
atomically (a temporary file renamed into place), so a reader never sees half a message."""

from __future__ import annotations

import os
import re
import tempfile
import time
from pathlib import Path

from digest.send import Batch, BatchResult
from digest.send.mime import build_message

_UNSAFE = re.compile(r"[^A-Za-z0-9@._+-]")


class OutboxSender:
    name = "outbox"
    max_batch = 1000

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def prepare(self, batch: Batch) -> object:
        return None  # messages are built one by one as they are sent

    def send(self, batch: Batch, prepared: object = None) -> BatchResult:
        edition_folder = self.edition_folder(batch)
        edition_folder.mkdir(parents=True, exist_ok=True)
        for recipient in batch.recipients:
            message = build_message(batch, recipient)
            if batch.purpose == "edition":
                prefix = f"{recipient.delivery_id:08d}"
            else:  # test copies and notices: one file each time, never overwritten
                prefix = f"{batch.purpose}-{time.time_ns()}"
            target = edition_folder / f"{prefix}-{_UNSAFE.sub('_', recipient.email)}.eml"
            _write_atomically(target, message.as_bytes())
        return BatchResult(provider_id=str(edition_folder))

    def edition_folder(self, batch: Batch) -> Path:
        return self.folder / batch.newsletter.name / f"edition-{batch.edition_id}"

    def close(self) -> None:
        pass


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
