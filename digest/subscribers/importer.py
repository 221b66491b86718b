"""Importing a subscriber CSV: streamed, validated on every core, merged into the list.

Bad rows are reported with their line numbers and written to a rejects file; good rows are
imported all the same. Memory stays bounded whatever the file's size: only a few chunks are in
flight at a time.
"""

from __future__ import annotations

import csv
import itertools
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from digest.errors import DigestError
from digest.preferences import Choices, choices_for
from digest.spreadsheet_cells import as_text
from digest.store.subscribers import SubscriberRepository
from digest.subscribers.model import Status
from digest.subscribers.rows import CheckedChunk, RejectedRow, check_rows
from digest.text_fields import one_line

CHUNK_ROWS = 5000
MAX_REPORTED = 20
# Below this many rows, starting worker processes costs more than it saves.
PARALLEL_FROM_ROWS = 20_000


@dataclass
class ImportReport:
    path: Path
    rows: int = 0
    valid: int = 0
    new: int = 0
    rejected: int = 0
    rejects_path: Path | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def merged(self) -> int:
        return self.valid - self.new


def import_csv(
    path: Path,
    repository: SubscriberRepository,
    list_name: str,
    *,
    status: Status = Status.SUBSCRIBED,
    rejects_path: Path | None = None,
    workers: int | None = None,
    on_progress: Callable[[int], None] | None = None,
    choices: Choices | None = None,
) -> ImportReport:
    """Import the file into the list. Its `topics` and `frequency` cells must be among
    `choices` (App.list_choices: what the list's newsletters declare; by default none)."""
    allowed = choices or choices_for([], list_name)
    list_id = repository.ensure_list(list_name)
    before = repository.count(list_id)
    report = ImportReport(path=path)
    origin = f"import:{path.name}"
    rejects_path = rejects_path or path.with_name(f"{path.stem}.rejects.csv")
    rejects: _RejectsWriter | None = None
    try:
        with path.open(encoding="utf-8-sig", newline="") as source:
            reader = csv.reader(source)
            header = _header(reader, path)
            chunks = _checked_chunks(
                header, _numbered_rows(reader), workers, status.value, origin, allowed
            )
            for checked in chunks:
                report.rows += checked.valid + len(checked.rejected)
                if checked.rejected:
                    if rejects is None:
                        rejects = _RejectsWriter(rejects_path, header)
                    for rejected in checked.rejected:
                        rejects.write(rejected)
                        report.rejected += 1
                        if len(report.problems) < MAX_REPORTED:
                            report.problems.append(f"{path}:{rejected.line}: {rejected.reason}")
                repository.upsert_prepared(list_id, checked.prepared)
                report.valid += checked.valid
                if on_progress:
                    on_progress(report.rows)
    except UnicodeDecodeError as error:
        raise DigestError(f"{path}: not UTF-8 text (byte {error.start})") from None
    except csv.Error as error:
        raise DigestError(f"{path}: {error}") from None
    finally:
        if rejects is not None:
            rejects.close()
            report.rejects_path = rejects_path
    report.new = repository.count(list_id) - before
    return report


def _header(reader: Iterator[list[str]], path: Path) -> list[str]:
    try:
        header = [one_line(name).lower() for name in next(reader)]
    except StopIteration:
        raise DigestError(f"{path}: the file is empty (expected a header with 'email')") from None
    if "email" not in header:
        raise DigestError(
            f"{path}:1: the header has no 'email' column (found: {', '.join(header)})"
        )
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise DigestError(f"{path}:1: column {duplicated[0]!r} appears twice in the header")
    return header


def _numbered_rows(reader: Iterator[list[str]]) -> Iterator[tuple[int, list[str]]]:
    """(first line of the record, values); blank lines are skipped. A quoted value may span
    lines, so a record's line is where it starts."""
    line = 2
    for values in reader:
        start = line
        line = reader.line_num + 1  # type: ignore[attr-defined]
        if values and any(value.strip() for value in values):
            yield start, values


def _chunks(rows: Iterator[tuple[int, list[str]]]) -> Iterator[list[tuple[int, list[str]]]]:
    chunk: list[tuple[int, list[str]]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == CHUNK_ROWS:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _checked_chunks(
    header: list[str],
    rows: Iterator[tuple[int, list[str]]],
    workers: int | None,
    status: str,
    origin: str,
    choices: Choices,
) -> Iterator[CheckedChunk]:
    """Validated chunks in file order; in worker processes when the file is large."""
    chunks = _chunks(rows)
    first = [
        chunk for _, chunk in zip(range(PARALLEL_FROM_ROWS // CHUNK_ROWS), chunks, strict=False)
    ]
    count = workers or os.cpu_count() or 1
    if len(first) < PARALLEL_FROM_ROWS // CHUNK_ROWS or count < 2:
        for chunk in [*first, *chunks]:
            yield check_rows(header, chunk, status, origin, choices)
        return
    context = multiprocessing.get_context("spawn")  # no fork: the parent may hold threads
    with ProcessPoolExecutor(max_workers=count, mp_context=context) as pool:
        pending: deque[Future[CheckedChunk]] = deque()
        for chunk in itertools.chain(first, chunks):
            pending.append(pool.submit(check_rows, header, chunk, status, origin, choices))
            if len(pending) >= 2 * count:  # bounded: at most 2 chunks per worker in flight
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


class _RejectsWriter:
    """The rejected rows as CSV: line, reason, then the row as it was."""

    def __init__(self, path: Path, header: list[str]) -> None:
        self.path = path
        self._file: IO[str] = path.open("w", encoding="utf-8", newline="")
        self._writer = csv.writer(self._file)
        self._writer.writerow(["line", "reason", *header])

    def write(self, rejected: RejectedRow) -> None:
        self._writer.writerow(
            [rejected.line, as_text(rejected.reason), *(as_text(v) for v in rejected.values)]
        )

    def close(self) -> None:
        self._file.close()
