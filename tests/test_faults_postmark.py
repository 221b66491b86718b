"""The fault suite for Postmark: `digest send` killed (SIGKILL) at every recorded step and at
random moments while the local Postmark server takes its calls, run again until done, on SQLite
and PostgreSQL. Postmark's Delivery webhooks for what it took are posted through `digest
serve`'s endpoint, as Postmark would post them, and copies per address are counted from what
the server took: 0 duplicates, 0 misses. Also 429/5xx storms, a refused call and per-message
errors through the real CLI. `FAULT_FIGURES=path` appends one JSON line per scenario."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path

import httpx

from digest.config import load_settings
from digest.store.deliveries import DeliveryStatus
from tests.conftest import environment
from tests.servers.postmark import Fault, PostmarkState, running_postmark
from tests.test_faults import (
    DIGEST,
    EACH_POLICY_ON_ONE_DATABASE,
    Tally,
    _finish,
    _kill_runs,
    _ledger,
    _plan,
    _record,
    _send,
    _setup,
    _tally,
)
from tests.test_web_postmark_events import AUTH, PASSWORD, USER, delivery
from tests.web_support import serving

# Calls of 50 (`[postmark] batch_size`): as many calls as with Postmark's 500, at a tenth of
# the Delivery events to post back.
BATCH = 50


def _environment(host: str, state: PostmarkState, **extra: str) -> dict[str, str]:
    return {
        "DIGEST_POSTMARK__HOST": host,
        "DIGEST_POSTMARK__BATCH_SIZE": str(BATCH),
        "POSTMARK_SERVER_TOKEN": state.token,
        "DIGEST_POSTMARK__WEBHOOK_USERNAME": USER,
        "DIGEST_POSTMARK__WEBHOOK_PASSWORD": PASSWORD,
        **extra,
    }


def _post_deliveries(env: dict[str, str], state: PostmarkState) -> None:
    """Postmark's Delivery webhook for every message it took, one post each, through digest's
    own endpoint."""
    with environment(env):
        settings = load_settings()
    with serving(settings) as base, httpx.Client(base_url=base, timeout=60) as client:
        for taken in list(state.taken):
            answer = client.post(
                "/webhooks/postmark", content=json.dumps(delivery(taken)), headers=AUTH
            )
            assert answer.status_code == 200, answer.text


@EACH_POLICY_ON_ONE_DATABASE
def test_postmark_killed_at_every_step_sends_each_reader_once(
    database_url: str, tmp_path: Path, unknown_policy: str
) -> None:
    readers = 180  # four calls: 50, 50, 50, 30
    with running_postmark(keep_messages=False) as (host, state):
        env, edition_id = _setup(
            tmp_path,
            database_url,
            "postmark",
            readers,
            **_environment(host, state, DIGEST_UNKNOWN_BATCH_POLICY=unknown_policy),
        )
        # A slow answer now and then, so that kills from outside land while a call is in
        # flight, after Postmark took it.
        state.faults.extend(Fault("slow", seconds=0.5) for _ in range(6))
        kills = _kill_runs(env, edition_id, tmp_path, _plan(5, 1, 3, 2.0))
        state.faults.clear()
        _post_deliveries(env, state)  # the webhooks catch up
        _finish(env, edition_id, tmp_path, DIGEST_UNKNOWN_SETTLE_WAIT="PT0S")
        copies = Counter(state.copies)
    tally = _tally(copies, readers, kills)
    _record(f"postmark {unknown_policy} {database_url.split(':')[0]}", tally)
    assert kills >= 3
    assert tally.duplicates == 0
    ledger, status = _ledger(env, edition_id)
    assert status == "sent"
    # A call Postmark took is settled by its Delivery events; one it never got (killed between
    # recording the batch and making the call) has no event while others do, and is sent.
    assert tally.misses == 0 and ledger[DeliveryStatus.UNKNOWN] == 0
    assert ledger[DeliveryStatus.SENT] == readers


def test_storms_a_refused_call_and_inactive_readers_through_the_cli(
    database_url: str, tmp_path: Path
) -> None:
    readers = 120
    with running_postmark(keep_messages=False) as (host, state):
        env, edition_id = _setup(
            tmp_path,
            database_url,
            "postmark",
            readers,
            **_environment(host, state, DIGEST_SEND_MAX_ATTEMPTS="4"),
        )
        state.inactive = {"reader7@example.org", "reader70@example.org"}
        # The first call after a storm within the attempts; the second refused whole; the
        # third storm outlasts the attempts.
        state.faults.extend(
            [
                Fault("429"),
                Fault("503"),
                Fault("500"),
                Fault("ok"),
                Fault("422", error_code=300, message="Invalid 'From' address."),
            ]
        )
        first = _send(env, edition_id, tmp_path)
        _, err = first.communicate(timeout=120)
        assert first.returncode == 1
        last = err.strip().splitlines()[-1]
        assert last.endswith("rejected the request (422): Invalid 'From' address. (ErrorCode 300)")
        assert len(state.copies) == BATCH - 1  # the first call, less its inactive reader (reader7)
        state.faults.extend([Fault("500")] * 4)
        second = _send(env, edition_id, tmp_path)
        _, err = second.communicate(timeout=120)
        assert second.returncode == 1
        assert "Postmark still failing after 4 attempts (500" in err.strip().splitlines()[-1]
        summary = _finish(env, edition_id, tmp_path)
        copies = Counter(state.copies)
    assert "2 failed" in summary and "complete" in summary
    assert len(copies) == readers - 2 and set(copies.values()) == {1}
    ledger, status = _ledger(env, edition_id)
    assert status == "sent" and ledger[DeliveryStatus.FAILED] == 2
    listed = subprocess.run(
        [DIGEST, "deliveries", str(edition_id), "--status", "failed", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    failed = [json.loads(line) for line in listed.stdout.splitlines()]
    assert sorted(f["email"] for f in failed) == ["reader70@example.org", "reader7@example.org"]
    assert all(f["error"].startswith("Postmark error 406") for f in failed)
    duplicates = sum(count - 1 for count in copies.values())
    _record(
        f"postmark storms {database_url.split(':')[0]}",
        Tally(kills=0, duplicates=duplicates, misses=readers - 2 - len(copies)),
    )
