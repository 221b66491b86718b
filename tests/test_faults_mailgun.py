"""The fault suite for Mailgun: `digest send` SIGKILLed at every recorded step and at random
moments, and through 429/5xx storms, bad requests and answers lost after Mailgun took the
call, against the local Mailgun server, on SQLite and PostgreSQL; then Mailgun's `accepted`
events for what it took are posted through `digest serve`'s webhook, and the send is run to
the end. Copies per address are counted from what the server took: once the events have
arrived, 0 duplicates and 0 misses under either unknown_batch_policy.

`FAULT_FIGURES=path` appends one JSON line per scenario for the README's table.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from digest.app import App
from digest.config import load_settings
from digest.store.deliveries import DeliveryStatus
from tests.conftest import environment
from tests.servers.mailgun import Fault, MailgunState, running_mailgun
from tests.test_faults import (
    EACH_POLICY_ON_ONE_DATABASE,
    _finish,
    _kill_runs,
    _ledger,
    _plan,
    _record,
    _send,
    _setup,
    _tally,
)
from tests.test_web_mailgun_events import SIGNING_KEY, digest_serve, event_data, post, signature

# Calls of 100 (`[mailgun] batch_size`): the same four calls as with Mailgun's 1000, at a tenth
# of the events to post back.
BATCH = 100
READERS = 350  # four calls


def _environment(
    tmp_path: Path, database_url: str, host: str, state: MailgunState, policy: str
) -> tuple[dict[str, str], int]:
    return _setup(
        tmp_path,
        database_url,
        "mailgun",
        READERS,
        MAILGUN_API_KEY=state.api_key,
        MAILGUN_WEBHOOK_SIGNING_KEY=SIGNING_KEY,
        DIGEST_MAILGUN__HOST=host,
        DIGEST_MAILGUN__DOMAIN=state.domain,
        DIGEST_MAILGUN__BATCH_SIZE=str(BATCH),
        DIGEST_UNKNOWN_BATCH_POLICY=policy,
    )


def _post_accepted(env: dict[str, str], cwd: Path, state: MailgunState, edition_id: int) -> None:
    """Mailgun's `accepted` event for the messages it took, one signed post each, a few at
    once as Mailgun posts them, through `digest serve`'s endpoint: every reader the ledger
    does not know as sent, and one in ten of the others (whose events change nothing: posting
    them all would only make the test slower)."""
    with environment(env):
        app = App(load_settings())
        sent = {o.email for o in app.store.deliveries.outcomes(edition_id, ["sent"])}
        app.close()
    events = [
        (address, variables)
        for number, (address, variables, _) in enumerate(list(state.taken))
        if address not in sent or number % 10 == 0
    ]

    def one(client: httpx.Client, address: str, variables: dict[str, str]) -> None:
        answer = post(client, signature(), event_data("accepted", address, variables))
        assert answer.status_code == 200, answer.text

    with (
        digest_serve(env, cwd) as base,
        httpx.Client(base_url=base, timeout=60) as client,
        ThreadPoolExecutor(max_workers=4) as pool,
    ):
        for done in [pool.submit(one, client, address, v) for address, v in events]:
            done.result()


def _check(env: dict[str, str], edition_id: int, state: MailgunState, kills: int, name: str):
    tally = _tally(Counter(state.recipients), READERS, kills)
    _record(name, tally)
    assert tally.duplicates == 0 and tally.misses == 0, tally
    ledger, status = _ledger(env, edition_id)
    assert status == "sent" and ledger[DeliveryStatus.UNKNOWN] == 0, ledger
    assert ledger[DeliveryStatus.SENT] == READERS
    return tally


@EACH_POLICY_ON_ONE_DATABASE
def test_mailgun_killed_at_every_step_settles_from_events_exactly_once(
    database_url: str, tmp_path: Path, unknown_policy: str
) -> None:
    with running_mailgun(keep_messages=False) as (host, state):
        env, edition_id = _environment(tmp_path, database_url, host, state, unknown_policy)
        # A slow answer now and then, so that kills from outside land while a call is in
        # flight, after Mailgun took it.
        state.faults.extend(Fault("slow", seconds=0.5) for _ in range(6))
        kills = _kill_runs(env, edition_id, tmp_path, _plan(5, 1, 3, 2.0))
        state.faults.clear()
        _post_accepted(env, tmp_path, state, edition_id)  # the webhooks catch up
        _finish(env, edition_id, tmp_path, DIGEST_UNKNOWN_SETTLE_WAIT="PT0S")
        assert kills >= 3
        _check(
            env, edition_id, state, kills, f"mailgun {unknown_policy} {database_url.split(':')[0]}"
        )


def test_mailgun_storms_bad_requests_and_lost_answers_end_exactly_once(
    database_url: str, tmp_path: Path
) -> None:
    with running_mailgun(keep_messages=False) as (host, state):
        env, edition_id = _environment(tmp_path, database_url, host, state, "skip")
        env["DIGEST_SEND_MAX_ATTEMPTS"] = "4"
        storm = [Fault("429"), Fault("500"), Fault("503"), Fault("429")]  # retried: 4 attempts
        state.faults.extend(
            [
                *storm[:3],
                Fault("none"),  # call 1 taken at the 4th attempt
                Fault("400", message="'to' parameter is not a valid address"),  # stops the run
                *storm,  # call 2: every attempt refused: the run stops, nothing taken
                Fault("none"),
                Fault("lost"),  # call 3 taken, its answer lost: unknown, settled by events
            ]
        )
        outcomes = []
        for _ in range(4):
            done = _send(env, edition_id, tmp_path)
            out, err = done.communicate(timeout=120)
            outcomes.append(err.strip().splitlines()[-1] if err.strip() else out)
        assert any("rejected the request (400)" in line for line in outcomes), outcomes
        assert any("still failing after 4 attempts" in line for line in outcomes), outcomes
        assert any("connection lost" in line for line in outcomes), outcomes
        assert 429 in state.statuses and 503 in state.statuses
        _post_accepted(env, tmp_path, state, edition_id)
        _finish(env, edition_id, tmp_path, DIGEST_UNKNOWN_SETTLE_WAIT="PT0S")
        _check(env, edition_id, state, 0, f"mailgun storms {database_url.split(':')[0]}")
