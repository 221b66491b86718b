"""Workers sharing a send on PostgreSQL: batches claimed with `FOR UPDATE SKIP LOCKED`, a dead
worker's open batches told from a live one's by its advisory lock, and 100,000 readers sent by
two and three processes against the local SendGrid server, one of them SIGKILLed mid-send
(at a fault point, at a random moment): every reader exactly once (the server's count), the
edition sent, the report's totals right, and every worker took batches."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import text

from digest.app import App
from digest.config import load_settings
from digest.store import Store, open_store
from digest.store.claims import WorkerLost
from digest.store.deliveries import BatchStatus, DeliveryStatus
from tests.conftest import cli_environment, environment
from tests.servers.sendgrid import SendGridState, running_sendgrid
from tests.test_faults import _post_events, _webhook_key
from tests.test_send import ROOT, SECRET, subscribe
from tests.test_send_processes import CONFIG

DIGEST = str(Path(sys.executable).parent / "digest")
READERS = 100_000
SOME_READERS = 30_000  # where the count is not the point: 30 batches, sooner


def _edition(app: App) -> int:
    app.add([str(ROOT / "examples/articles/sanctions.jsonl")])
    edition = app.build(app.settings.newsletter("brief"), date(2026, 11, 24))
    app.approve(edition)
    assert edition.id is not None
    return edition.id


@pytest.fixture
def queued(postgres_url: str, tmp_path: Path) -> Iterator[tuple[Store, int, int]]:
    """An edition with 5000 readers queued (as a send's set-up leaves them)."""
    env = cli_environment(tmp_path, CONFIG, postgres_url, SECRET)
    with environment(env):
        app = App(load_settings())
        edition_id = _edition(app)
        list_id = subscribe(app, 5000)
        app.store.deliveries.enqueue_audience(edition_id, list_id)
        app.close()
    store = open_store(postgres_url)
    yield store, edition_id, list_id
    store.close()


def test_two_connections_never_claim_the_same_reader(queued: tuple[Store, int, int]) -> None:
    store, edition_id, list_id = queued
    taken: list[list[int]] = [[], []]
    errors: list[BaseException] = []

    def claim_all(index: int) -> None:
        try:
            with store.claims.worker() as worker:
                while True:
                    claimed = store.claims.claim(worker, edition_id, list_id, "sendgrid", 37)
                    if claimed is None:
                        return
                    taken[index] += [q.delivery_id for q in claimed.queued]
                    # Started, as a request would be: a worker's end gives back only what it
                    # claimed and never started.
                    store.claims.start(worker, claimed.batch_id, None)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=claim_all, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert not set(taken[0]) & set(taken[1])
    assert len(taken[0]) + len(taken[1]) == 5000 == len(set(taken[0]) | set(taken[1]))
    assert taken[0] and taken[1]  # both got some


def test_a_dead_workers_batches_are_cut_off_and_a_live_ones_are_not(
    queued: tuple[Store, int, int],
) -> None:
    store, edition_id, list_id = queued
    claims = store.claims
    with claims.worker() as alive:
        live = claims.claim(alive, edition_id, list_id, "sendgrid", 1000)
        assert live is not None
        claims.start(alive, live.batch_id, None)
        with claims.worker() as dying:
            started = claims.claim(dying, edition_id, list_id, "sendgrid", 1000)
            waiting = claims.claim(dying, edition_id, list_id, "sendgrid", 1000)
            assert started is not None and waiting is not None
            claims.start(dying, started.batch_id, None)
            assert claims.cut_off(edition_id, list_id) == ([], [])
            # What the server does when the process dies, SIGKILL included: the session
            # ends, its advisory lock with it.
            with store.engine.begin() as connection:
                # (Waiting up to 10 s for the backend to have ended: it drops its locks then.)
                connection.execute(
                    text("SELECT pg_terminate_backend(:pid, 10000)"), {"pid": dying.backend_pid}
                )
            assert claims.cut_off(edition_id, list_id) == ([waiting.batch_id], [started.batch_id])
            # Claimed, never requested: back in the queue; the started one is the policy's.
            assert claims.release([waiting.batch_id]) == 1000
            with pytest.raises(WorkerLost):  # a worker whose session is gone sends nothing
                claims.claim(dying, edition_id, list_id, "sendgrid", 1000)
            with pytest.raises(WorkerLost):
                claims.start(dying, started.batch_id, None)
        unclaimed = store.deliveries.pending_variants(edition_id, list_id, unclaimed=True)
        assert unclaimed == {("", 0): 5000 - 2000}
        assert claims.in_flight(edition_id, [list_id]) == 1000  # the live worker's
        assert claims.cut_off(edition_id, list_id) == ([], [started.batch_id])


def _environment(
    tmp_path: Path, url: str, host: str, state: SendGridState, public: str
) -> dict[str, str]:
    return cli_environment(
        tmp_path,
        CONFIG,
        url,
        SECRET,
        DIGEST_SENDGRID_HOST=host,
        SENDGRID_API_KEY=state.api_key,
        DIGEST_SENDGRID_WEBHOOK_PUBLIC_KEY=public,
    )


def _prepare(env: dict[str, str], readers: int = READERS) -> int:
    """An approved edition and `readers` subscribers (reader0@example.org…): on PostgreSQL
    inserted by one statement, seconds sooner than the store's upsert of 100,000 rows."""
    with environment(env):
        app = App(load_settings())
        edition_id = _edition(app)
        if not app.store.shares_work:
            subscribe(app, readers)
        else:
            list_id = app.store.subscribers.ensure_list("readers")
            with app.store.engine.begin() as connection:
                connection.execute(
                    text(
                        "INSERT INTO subscribers (list_id, email, email_key, name, fields,"
                        " status, source, consent_at, consent_origin, topics, frequency,"
                        " created_at, updated_at)"
                        " SELECT :list_id, 'reader' || n || '@example.org',"
                        " 'reader' || n || '@example.org', 'Reader ' || n, '{}', 'subscribed',"
                        " '', now(), '', '', '', now(), now()"
                        " FROM generate_series(0, :count - 1) AS n"
                    ),
                    {"list_id": list_id, "count": readers},
                )
        app.close()
    return edition_id


def _send(
    env: dict[str, str], cwd: Path, edition_id: int, *args: str, **extra: str
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [DIGEST, "send", str(edition_id), "--yes", "--now", *args],
        cwd=cwd,
        env={**env, **extra},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _ledger(url: str, edition_id: int) -> tuple[dict[str, int], str, dict[int, int]]:
    """Deliveries by status, the edition's status, and the batches each worker took."""
    store = open_store(url)
    try:
        counts = store.deliveries.counts(edition_id)
        status = store.get_edition(edition_id).status.value
        with store.engine.begin() as connection:
            rows = connection.execute(
                text(
                    "SELECT worker_id, count(*) FROM send_batches WHERE edition_id = :e"
                    " AND status = :sent GROUP BY worker_id"
                ),
                {"e": edition_id, "sent": BatchStatus.SENT.value},
            ).all()
    finally:
        store.close()
    return counts, status, {int(w): int(n) for w, n in rows if w is not None}


def _settle_with_events(
    env: dict[str, str], cwd: Path, url: str, edition_id: int, state: SendGridState, key: object
) -> str:
    """The Event Webhook catches up on the readers of unknown outcome (a worker killed after
    SendGrid took its request), then one more send settles them: its summary."""
    counts, _, _ = _ledger(url, edition_id)
    if counts[DeliveryStatus.UNKNOWN]:
        store = open_store(url)
        unknown = {
            str(o.delivery_id)
            for o in store.deliveries.outcomes(edition_id, [DeliveryStatus.UNKNOWN.value])
        }
        store.close()
        # The events of the readers in question, and of a thousand others (the webhook
        # reports every message: a batch none names, while others are named, never arrived).
        taken = state.taken
        state.taken = taken[:1000] + [t for t in taken if t[1].get("delivery_id") in unknown]
        _post_events(env, state, key)  # type: ignore[arg-type]
        state.taken = taken
    process = _send(env, cwd, edition_id, DIGEST_UNKNOWN_SETTLE_WAIT="PT0S")
    out, err = process.communicate(timeout=300)
    assert process.returncode in (0, 1), err
    return out + err


def _check(
    url: str, edition_id: int, state: SendGridState, workers: int, readers: int = READERS
) -> dict[int, int]:
    assert len(state.recipients) == readers
    assert set(state.recipients.values()) == {1}, "a reader got two copies"
    counts, status, by_worker = _ledger(url, edition_id)
    assert status == "sent"
    assert counts[DeliveryStatus.SENT] == readers and sum(counts.values()) == readers
    assert len(by_worker) >= workers, by_worker
    return by_worker


def test_two_workers_one_killed_at_a_fault_point_send_everyone_once(
    postgres_url: str, tmp_path: Path
) -> None:
    """`digest send --workers 2`, the first worker killed after SendGrid took its 5th request
    and before the answer was recorded: the other (and the parent, the last worker) go on;
    the webhook's events settle the cut-off batch."""
    key, public = _webhook_key()
    with running_sendgrid(keep_bodies=False) as (host, state):
        env = _environment(tmp_path, postgres_url, host, state, public)
        edition_id = _prepare(env)
        process = _send(
            env,
            tmp_path,
            edition_id,
            "--workers",
            "2",
            DIGEST_FAULT_POINT="after-request@5",
            DIGEST_FAULT_PROCESS="digest-send-worker-1",
        )
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err
        assert "by 2 workers" in out and "killed (signal 9)" in err
        sent = int(out.split(": ", 1)[1].split(" sent", 1)[0])
        # The dead worker's last request: 1000 readers of unknown outcome, waiting for events.
        counts, status, _ = _ledger(postgres_url, edition_id)
        assert status == "sending" and counts[DeliveryStatus.UNKNOWN] == 1000
        assert sent + 4 * 1000 + 1000 == READERS  # its 4 recorded batches, and the cut-off one
        summary = _settle_with_events(env, tmp_path, postgres_url, edition_id, state, key)
        assert "complete" in summary
        by_worker = _check(postgres_url, edition_id, state, 2)
    assert sum(by_worker.values()) == 99  # 100 requests, the cut-off one settled by events


def test_three_workers_one_killed_at_a_random_moment_send_everyone_once(
    postgres_url: str, tmp_path: Path
) -> None:
    key, public = _webhook_key()
    with running_sendgrid(keep_bodies=False) as (host, state):
        env = _environment(tmp_path, postgres_url, host, state, public)
        edition_id = _prepare(env)
        process = _send(env, tmp_path, edition_id, "--workers", "3")
        victim = _kill_a_worker(postgres_url, state, random.Random(5).randint(10_000, 60_000))
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err
        assert "by 3 workers" in out and "killed (signal 9)" in err
        summary = _settle_with_events(env, tmp_path, postgres_url, edition_id, state, key)
        assert "complete" in summary
        by_worker = _check(postgres_url, edition_id, state, 3)
    assert victim in by_worker  # it had sent batches before it died


def _kill_a_worker(url: str, state: SendGridState, after: int) -> int:
    """SIGKILL one worker process once SendGrid has taken `after` readers; its worker id."""
    deadline = time.monotonic() + 300
    while len(state.recipients) < after:
        assert time.monotonic() < deadline, "the send did not start"
        time.sleep(0.01)
    store = open_store(url)
    with store.engine.begin() as connection:
        rows = connection.execute(text("SELECT id, pid FROM send_workers ORDER BY id")).all()
    store.close()
    worker_id, pid = rows[1]  # the second of the three
    os.kill(int(pid), signal.SIGKILL)
    return int(worker_id)


def test_several_hosts_sending_at_once_each_take_batches(postgres_url: str, tmp_path: Path) -> None:
    """Two `digest send` processes started together (two hosts' cron): the second joins as one
    more worker instead of exiting busy; one of them is killed at a fault point, the other
    takes its batches over; the report's totals are the edition's."""
    key, public = _webhook_key()
    with running_sendgrid(keep_bodies=False) as (host, state):
        env = _environment(tmp_path, postgres_url, host, state, public)
        edition_id = _prepare(env, SOME_READERS)
        first = _send(env, tmp_path, edition_id, DIGEST_FAULT_POINT="after-claim@8")
        second = _send(env, tmp_path, edition_id)
        first.communicate(timeout=600)
        _, err = second.communicate(timeout=600)
        assert first.returncode == -signal.SIGKILL
        assert second.returncode == 0, err
        # Killed with its 8th batch recorded, its request not made: the other worker finds
        # it cut off; SendGrid's events for the edition name none of its readers, so it is
        # sent (here, by the settling run).
        summary = _settle_with_events(env, tmp_path, postgres_url, edition_id, state, key)
        assert "complete" in summary and f"in all {SOME_READERS} sent, 0 failed" in summary
        _check(postgres_url, edition_id, state, 2, SOME_READERS)


def test_workers_on_sqlite_are_refused_in_one_line(tmp_path: Path) -> None:
    env = cli_environment(tmp_path, CONFIG, f"sqlite:///{tmp_path / 'd.db'}", SECRET)
    edition_id = _prepare(env, 10)
    process = _send(env, tmp_path, edition_id, "--workers", "2")
    _, err = process.communicate(timeout=120)
    assert process.returncode == 1
    assert err.strip().splitlines() == [
        "error: --workers 2: SQLite takes one writer at a time, so a send has one worker; "
        "set database_url to a PostgreSQL database to share a send"
    ]
