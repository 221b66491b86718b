"""Exporting a list as CSV in the import format, streamed in chunks."""

from __future__ import annotations

import csv
from typing import TextIO

from digest.preferences import CSV_SEPARATOR
from digest.spreadsheet_cells import as_text
from digest.store.subscribers import SubscriberRepository
from digest.subscribers.model import Status
from digest.subscribers.rows import RESERVED


def export_csv(
    repository: SubscriberRepository, list_name: str, out: TextIO, status: Status | None = None
) -> int:
    """Write the list to `out`; returns the number of subscribers written. Importing the file
    again gives the same list, statuses and readers' choices included (so suppressions
    survive a round trip)."""
    list_id = repository.list_id(list_name)
    # A first pass finds the custom field names, so every row has the same columns.
    names: set[str] = set()
    for subscriber in repository.iterate(list_id, status):
        names.update(subscriber.fields)
    extra = sorted(names - set(RESERVED))
    writer = csv.writer(out)
    writer.writerow([*RESERVED, *extra])
    count = 0
    for subscriber in repository.iterate(list_id, status):
        cells = [
            subscriber.email,
            subscriber.name,
            subscriber.status.value,
            subscriber.source,
            subscriber.consent_at.isoformat() if subscriber.consent_at else "",
            subscriber.consent_origin,
            CSV_SEPARATOR.join(subscriber.topics),
            subscriber.frequency,
            *(subscriber.fields.get(name, "") for name in extra),
        ]
        # Names and fields may come from the public form: never a formula in a spreadsheet.
        writer.writerow([as_text(cell) for cell in cells])
        count += 1
    return count
