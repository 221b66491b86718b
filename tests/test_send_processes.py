"""Exactly once across processes: `digest send` killed with SIGKILL at various points and run
again, and two `digest send` processes started together."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from digest.app import App
from digest.config import load_settings
from tests.conftest import cli_environment, environment
from tests.servers.sendgrid import Fault, running_sendgrid
from tests.test_send import ROOT, SECRET, subscribe

DIGEST = str(Path(sys.executable).parent / "digest")
CONFIG = """
[newsletters.brief]
title = "The Test Brief"
theme = "Russia's war in Ukraine and its allies"
from_name = "Test Brief"
from_address = "brief@example.org"
postal_address = "1 Test Street, Testville"
base_url = "https://brief.example.org"
lists = ["readers"]
sender = "sendgrid"
"""
READERS = 3500


def prepare(tmp_path: Path, database_url: str, host: str, key: str) -> tuple[dict[str, str], int]:
    env = cli_environment(
        tmp_path, CONFIG, database_url, SECRET, DIGEST_SENDGRID_HOST=host, SENDGRID_API_KEY=key
    )
    with environment(env):
        app = App(load_settings())
        app.add([str(ROOT / "examples/articles/sanctions.jsonl")])
        edition = app.build(app.settings.newsletter("brief"), date(2026, 11, 24))
        app.approve(edition)
        subscribe(app, READERS)
        app.close()
    assert edition.id is not None
    return env, edition.id


def digest_send(env: dict[str, str], edition_id: int, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [DIGEST, "send", str(edition_id), "--yes", "--now"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("kill_after", [0, 1, 2])
def test_killed_send_rerun_delivers_exactly_once_or_reports(
    database_url: str, tmp_path: Path, kill_after: int
) -> None:
    with running_sendgrid(keep_bodies=False) as (host, state):
        env, edition_id = prepare(tmp_path, database_url, host, state.api_key)
        # Request number kill_after + 1 is accepted but answered slowly: the kill lands between
        # SendGrid taking the batch and digest recording it, the hardest point.
        for _ in range(kill_after):
            state.faults.append(Fault("slow", seconds=0.0))
        state.faults.append(Fault("slow", seconds=30))
        process = digest_send(env, edition_id, tmp_path)
        deadline = time.monotonic() + 60
        while len(state.statuses) < kill_after + 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert process.poll() is None, process.communicate()
        os.kill(process.pid, signal.SIGKILL)
        process.wait()

        state.faults.clear()
        rerun = subprocess.run(
            [DIGEST, "send", str(edition_id), "--yes", "--now"],
            cwd=tmp_path,
            # No Event Webhook here: the policy decides at once.
            env={**env, "DIGEST_UNKNOWN_SETTLE_WAIT": "PT0S"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert rerun.returncode == 0, rerun.stderr
        assert set(state.recipients.values()) == {1}  # nobody twice
        delivered = set(state.recipients)
        assert len(delivered) == READERS  # the cut-off batch had reached SendGrid
        assert "1000 of unknown outcome, not resent" in rerun.stdout
        assert f"digest send {edition_id} --resend-unknown" in rerun.stdout


def test_kill_before_any_answer_then_resend_policy(database_url: str, tmp_path: Path) -> None:
    with running_sendgrid(keep_bodies=False) as (host, state):
        env, edition_id = prepare(tmp_path, database_url, host, state.api_key)
        state.faults.append(Fault("drop"))  # the request never reaches SendGrid's books
        process = subprocess.run(
            [DIGEST, "send", str(edition_id), "--yes", "--now"],
            cwd=tmp_path,
            env={
                **env,
                "DIGEST_UNKNOWN_BATCH_POLICY": "resend",
                "DIGEST_UNKNOWN_SETTLE_WAIT": "PT0S",
            },
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert process.returncode == 1 and "connection lost" in process.stderr
        rerun = subprocess.run(
            [DIGEST, "send", str(edition_id), "--yes", "--now"],
            cwd=tmp_path,
            env={
                **env,
                "DIGEST_UNKNOWN_BATCH_POLICY": "resend",
                "DIGEST_UNKNOWN_SETTLE_WAIT": "PT0S",
            },
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert rerun.returncode == 0, rerun.stderr
        assert len(state.recipients) == READERS and set(state.recipients.values()) == {1}


def test_two_concurrent_sends_deliver_exactly_once(database_url: str, tmp_path: Path) -> None:
    with running_sendgrid(keep_bodies=False) as (host, state):
        env, edition_id = prepare(tmp_path, database_url, host, state.api_key)
        state.faults.extend(Fault("slow", seconds=0.3) for _ in range(4))
        first = digest_send(env, edition_id, tmp_path)
        second = digest_send(env, edition_id, tmp_path)
        outputs = [p.communicate(timeout=120) for p in (first, second)]
        codes = sorted(p.returncode for p in (first, second))
        if database_url.startswith("sqlite"):
            assert codes == [0, 75], outputs
            busy = outputs[[first.returncode, second.returncode].index(75)]
            assert "busy: send-edition" in busy[1] and "nothing done" in busy[1]
        else:  # PostgreSQL: the second joins the send as one more worker
            assert codes == [0, 0], outputs
        assert len(state.recipients) == READERS and set(state.recipients.values()) == {1}
        assert state.accepted_requests == 4
