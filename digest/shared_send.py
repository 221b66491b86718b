"""`digest send --workers N`: N processes share one send, on PostgreSQL.

This process does the send's set-up (under the edition's lock), then starts N worker
processes (spawned, not forked: each opens its own database connections and sender, as a
`digest run` on another host would) and waits. Each claims batches until none is left
(digest.store.claims); the last one marks the edition sent. Processes, not threads: preparing
a batch (tokens, payload) is Python work that holds the GIL. When they are done this process
is the last worker: it takes over whatever a worker that died left open, then reports the sum.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING

from digest.config import Settings
from digest.errors import AlreadySent, DigestError

if TYPE_CHECKING:
    from digest.app import App
    from digest.edition import Edition
    from digest.send.campaign import SendReport

log = logging.getLogger("digest.send")
# One message from a worker: ("progress", readers), ("report", SendReport) or ("error", text).
Message = tuple[str, object]


def check_workers(app: App, workers: int) -> None:
    """More than one worker needs a database several processes can write at once."""
    if workers < 1:
        raise DigestError(f"--workers {workers}: give 1 or more")
    if workers > 1 and not app.store.shares_work:
        raise DigestError(
            f"--workers {workers}: SQLite takes one writer at a time, so a send has one "
            "worker; set database_url to a PostgreSQL database to share a send"
        )


def send_with_workers(
    app: App,
    edition: Edition,
    *,
    lists: list[str] | None,
    via: str | None,
    limit: int | None,
    workers: int,
    on_progress: Callable[[int], None] | None,
    force: bool = False,
) -> SendReport:
    check_workers(app, workers)
    assert edition.id is not None
    report = app.send(edition, lists=lists, via=via, phase="setup", force=force)
    context = multiprocessing.get_context("spawn")
    shares = _shares(limit, workers)
    processes, readers = [], []
    for n in range(workers):
        # A pipe each, not one queue: a worker killed mid-write would leave a shared
        # queue's lock taken, and the others stuck.
        reader, writer = context.Pipe(duplex=False)
        process = context.Process(
            target=_work,
            args=(_portable(app.settings), edition.id, lists, via, shares[n], writer),
            name=f"digest-send-worker-{n + 1}",
        )
        process.start()
        writer.close()
        processes.append(process)
        readers.append(reader)
    errors = _collect(readers, report, on_progress)
    for process in processes:
        process.join()
        if process.exitcode is not None and process.exitcode < 0:
            log.warning("%s was killed (signal %s)", process.name, -process.exitcode)
    # The last worker: what a dead worker left open is taken over, then the ledger is read.
    report.workers = workers
    try:
        last = app.send(
            app.store.get_edition(edition.id),
            lists=lists,
            via=via,
            limit=None if limit is None else 0,
            on_progress=on_progress,
            phase="work",
        )
    except AlreadySent:  # the workers finished it
        newsletter = app.settings.newsletter(edition.newsletter)
        names = lists or newsletter.lists
        list_ids = [app.store.subscribers.list_id(name) for name in names]
        report.totals = app.store.deliveries.counts(edition.id, list_ids)
        report.remaining, report.finished = 0, True
        return report
    report.add(last)
    for name in ("totals", "remaining", "finished", "next_attempt", "awaiting_batches", "paused"):
        setattr(report, name, getattr(last, name))
    report.in_flight, report.test_until, report.held = last.in_flight, last.test_until, last.held
    if errors and not report.finished:
        raise DigestError(f"{errors[0]} ({report.summary()})")
    return report


def _portable(settings: Settings) -> Settings:
    """The settings as a plain Settings, for pickling to a worker: load_settings makes a
    subclass on the fly (bound to its config file), which pickle cannot name."""
    return Settings.model_construct(
        settings.model_fields_set,
        **{name: getattr(settings, name) for name in Settings.model_fields},
    )


def _shares(limit: int | None, workers: int) -> list[int | None]:
    """`--limit` split between the workers."""
    if limit is None:
        return [None] * workers
    return [limit // workers + (1 if n < limit % workers else 0) for n in range(workers)]


def _collect(
    readers: list[Connection],
    report: SendReport,
    on_progress: Callable[[int], None] | None,
) -> list[str]:
    """Until every worker's pipe is closed (it ended, however): progress passed on, reports
    summed, errors kept."""
    errors: list[str] = []
    open_ = list(readers)
    while open_:
        for ready in wait(open_):
            assert isinstance(ready, Connection)
            try:
                kind, value = ready.recv()
            except (EOFError, OSError):
                open_.remove(ready)
                continue
            if kind == "progress" and on_progress is not None:
                on_progress(int(str(value)))
            elif kind == "report":
                report.add(value)
            elif kind == "error":
                errors.append(str(value))
    return errors


def _work(
    settings: Settings,
    edition_id: int,
    lists: list[str] | None,
    via: str | None,
    limit: int | None,
    messages: Connection,
) -> None:
    """One worker process: the send's work phase, its figures sent back to the parent."""
    from digest.app import App

    app = App(settings)
    try:
        edition = app.store.get_edition(edition_id)
        report = app.send(
            edition,
            lists=lists,
            via=via,
            limit=limit,
            on_progress=lambda count: messages.send(("progress", count)),
            phase="work",
        )
        messages.send(("report", report))
    except AlreadySent:
        pass  # the others finished it
    except DigestError as error:
        messages.send(("error", str(error)))
        raise SystemExit(1) from None
    finally:
        messages.close()
        app.close()
