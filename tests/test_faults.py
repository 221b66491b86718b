"""The fault suite: `digest send` and `digest run` killed (SIGKILL) at every recorded step and at
random moments, over the outbox, a real SMTP server (aiosmtpd) and the local SendGrid server, on
SQLite and PostgreSQL, then run again until done. Copies per address are counted from what the
servers took (or the files the outbox holds), and each sender's promise is checked:

- outbox: 0 duplicates and 0 misses (a cut-off batch is written again: same files);
- SMTP: at most one message per kill, a miss under `skip`, a duplicate under `resend`;
- SendGrid: once the webhook events for the cut-off batches have arrived, 0 misses and 0
  duplicates.

`FAULT_FIGURES=path` appends one JSON line per scenario (kills, duplicates, misses) for the
README's table.
"""

from __future__ import annotations

import base64
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date
from email import policy
from email.parser import BytesHeaderParser
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from digest.app import App
from digest.config import load_settings
from digest.store.deliveries import DeliveryStatus
from tests.conftest import cli_environment, environment
from tests.servers.sendgrid import Fault, SendGridState, running_sendgrid
from tests.servers.smtp import running_smtp
from tests.test_run_processes import newsletter_config, setup
from tests.test_send import ROOT, SECRET, subscribe
from tests.web_support import plain_text_of, serving

DIGEST = str(Path(sys.executable).parent / "digest")
POINTS = ["after-claim", "after-request", "after-record"]
# For the providers whose events settle cut-off batches: the unknown-batch policy only decides
# for a batch no event names, so each policy runs once, each on one database (both databases
# and both policies covered, in half the runs of every pairing).
EACH_POLICY_ON_ONE_DATABASE = pytest.mark.parametrize(
    ("database_url", "unknown_policy"),
    [("sqlite", "skip"), ("postgresql", "resend")],
    indirect=["database_url"],
)


@dataclass
class Tally:
    kills: int
    duplicates: int
    misses: int


def _setup(
    tmp_path: Path, database_url: str, sender: str, readers: int, **extra: str
) -> tuple[dict[str, str], int]:
    env = cli_environment(tmp_path, newsletter_config(sender), database_url, SECRET, **extra)
    with environment(env):
        app = App(load_settings())
        app.add([str(ROOT / "examples/articles/sanctions.jsonl")])
        edition = app.build(app.settings.newsletter("brief"), date(2026, 11, 24))
        app.approve(edition)
        subscribe(app, readers)
        app.close()
    assert edition.id is not None
    return env, edition.id


def _send(env: dict[str, str], edition_id: int, cwd: Path, **extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [DIGEST, "send", str(edition_id), "--yes", "--now"],
        cwd=cwd,
        env={**env, **extra},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _kill_runs(env: dict[str, str], edition_id: int, cwd: Path, plan: list[str | float]) -> int:
    """Run `digest send` once per entry of the plan: a fault point ("after-request@3") makes it
    kill itself there; a number of seconds has it killed from outside after that long.
    Returns how many runs were killed."""
    kills = 0
    for step in plan:
        if isinstance(step, str):
            process = _send(env, edition_id, cwd, DIGEST_FAULT_POINT=step)
            process.communicate(timeout=120)
        else:
            process = _send(env, edition_id, cwd)
            try:
                process.communicate(timeout=step)
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
                process.communicate()
        if process.returncode == -signal.SIGKILL:
            kills += 1
    return kills


def _finish(env: dict[str, str], edition_id: int, cwd: Path, **extra: str) -> str:
    """Run `digest send` to the end (clean runs, as cron would); returns the last summary."""
    out = ""
    for _ in range(4):
        process = _send(env, edition_id, cwd, **extra)
        out, err = process.communicate(timeout=300)
        assert process.returncode in (0, 1), err
        if "complete" in out or "sent already" in err + out:
            return out
    raise AssertionError(f"the send did not finish: {out}")


def _plan(seed: int, batches: int, random_kills: int, budget: float) -> list[str | float]:
    """Every recorded step, at one of the first `batches` batches of its run (so that the run
    surely reaches it), then kills at random moments."""
    rng = random.Random(seed)
    plan: list[str | float] = [f"{point}@{rng.randint(1, batches)}" for point in POINTS[::-1]]
    plan += [round(rng.uniform(0.4, budget), 2) for _ in range(random_kills)]
    return plan


def _record(name: str, tally: Tally) -> None:
    target = os.environ.get("FAULT_FIGURES")
    if target:
        with open(target, "a", encoding="utf-8") as file:
            file.write(json.dumps({"scenario": name, **tally.__dict__}) + "\n")


def _ledger(env: dict[str, str], edition_id: int) -> tuple[dict[str, int], str]:
    """The delivery counts by status, and the edition's status."""
    with environment(env):
        app = App(load_settings())
        counts = app.store.deliveries.counts(edition_id)
        status = app.store.get_edition(edition_id).status.value
        app.close()
    return counts, status


def _addressee(path: Path) -> str:
    """The reader an outbox file is addressed to (its headers alone are parsed: thousands of
    whole messages took seconds a test)."""
    headers = BytesHeaderParser(policy=policy.default).parsebytes(path.read_bytes())
    return str(headers["To"].addresses[0].addr_spec)


def _tally(copies: Counter[str], readers: int, kills: int) -> Tally:
    expected = {f"reader{n}@example.org" for n in range(readers)}
    assert set(copies) <= expected
    return Tally(
        kills=kills,
        duplicates=sum(count - 1 for count in copies.values() if count > 1),
        misses=len(expected - set(copies)),
    )


# A plan of kills of its own on each database.
@pytest.mark.parametrize(
    ("database_url", "seed"), [("sqlite", 1), ("postgresql", 2)], indirect=["database_url"]
)
def test_outbox_survives_kills_with_no_duplicate_and_no_miss(
    database_url: str, tmp_path: Path, seed: int
) -> None:
    readers = 1500  # two batches of 1000
    env, edition_id = _setup(tmp_path, database_url, "outbox", readers)
    kills = _kill_runs(env, edition_id, tmp_path, _plan(seed, 1, 4, 1.5))
    _finish(env, edition_id, tmp_path)
    copies: Counter[str] = Counter()
    for path in (tmp_path / "outbox").glob("brief/edition-*/*.eml"):
        copies[_addressee(path)] += 1
    tally = _tally(copies, readers, kills)
    _record(f"outbox seed {seed} {database_url.split(':')[0]}", tally)
    assert kills >= 3
    assert tally.duplicates == 0 and tally.misses == 0
    ledger, status = _ledger(env, edition_id)
    assert ledger["sent"] == readers and status == "sent"


# Three copies of the edition: every story, the shadow fleet's, the insurers' (one story).
TOPICS = """
[newsletters.brief.topics]
fleet = { label = "Shadow fleet", query = ["shadow fleet"] }
insurers = { label = "Insurers", query = ["insurers"] }
"""


def test_personalised_copies_survive_kills_with_no_duplicate_and_no_miss(
    database_url: str, tmp_path: Path
) -> None:
    readers = 1500  # three copies of 500: one batch each
    env = cli_environment(tmp_path, newsletter_config("outbox") + TOPICS, database_url, SECRET)
    sets = ("", "fleet", "insurers")
    people = tmp_path / "people.csv"
    people.write_text(
        "email,topics\n"
        + "".join(f"reader{n}@example.org,{sets[n % 3]}\n" for n in range(readers)),
        encoding="utf-8",
    )
    with environment(env):
        app = App(load_settings())
        app.add([str(ROOT / "examples/articles/sanctions.jsonl")])
        edition = app.build(app.settings.newsletter("brief"), date(2026, 11, 24))
        app.approve(edition)
        app.store.subscribers.ensure_list("readers")
        app.import_subscribers("readers", "people.csv", people.read_bytes())
        app.close()
    assert edition.id is not None
    kills = _kill_runs(env, edition.id, tmp_path, _plan(3, 1, 4, 1.5))
    _finish(env, edition.id, tmp_path)
    copies: Counter[str] = Counter()
    holds_eu_story: dict[str, set[bool]] = {}
    for path in (tmp_path / "outbox").glob("brief/edition-*/0*.eml"):
        reader = _addressee(path)
        copies[reader] += 1
        chosen = sets[int(reader.removeprefix("reader").split("@")[0]) % 3]
        held = "EU agrees new sanctions package" in plain_text_of(path)
        holds_eu_story.setdefault(chosen, set()).add(held)
    tally = _tally(copies, readers, kills)
    _record(f"outbox personalised {database_url.split(':')[0]}", tally)
    assert kills >= 3
    assert tally.duplicates == 0 and tally.misses == 0
    # The insurers' copy never holds the EU package's story; the others always do.
    assert holds_eu_story == {"": {True}, "fleet": {True}, "insurers": {False}}


@pytest.mark.parametrize(
    ("database_url", "unknown_policy"),
    [("sqlite", "skip"), ("postgresql", "resend")],
    indirect=["database_url"],
)
def test_smtp_loses_or_doubles_at_most_one_message_per_kill(
    database_url: str, tmp_path: Path, unknown_policy: str
) -> None:
    readers = 120
    with running_smtp(tmp_path) as server:
        env, edition_id = _setup(
            tmp_path,
            database_url,
            "smtp",
            readers,
            **server.environment(),
            DIGEST_UNKNOWN_BATCH_POLICY=unknown_policy,
        )
        kills = _kill_runs(env, edition_id, tmp_path, _plan(7, 10, 4, 1.0))
        summary = _finish(env, edition_id, tmp_path)
        copies = Counter(r.rcpt_tos[0] for r in server.state.received)
    tally = _tally(copies, readers, kills)
    _record(f"smtp {unknown_policy} {database_url.split(':')[0]}", tally)
    assert kills >= 3
    ledger, status = _ledger(env, edition_id)
    assert status == "sent"
    if unknown_policy == "skip":
        assert tally.duplicates == 0 and tally.misses <= kills
        # Every miss is reported unknown (so are readers the server took just before a kill).
        assert tally.misses <= ledger["unknown"] <= kills
        if ledger["unknown"] and "complete" in summary:
            assert "--resend-unknown" in summary
        listed = subprocess.run(
            [DIGEST, "deliveries", str(edition_id), "--status", "unknown", "--json"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        unknown = [json.loads(line) for line in listed.stdout.splitlines()]
        assert len(unknown) == ledger["unknown"]
        assert all(u["email"].startswith("reader") and u["error"] for u in unknown)
    else:
        assert tally.misses == 0 and tally.duplicates <= kills


def test_smtp_link_lost_after_data_is_one_unknown_not_a_duplicate(
    database_url: str, tmp_path: Path
) -> None:
    readers = 40
    with running_smtp(tmp_path) as server:
        env, edition_id = _setup(
            tmp_path,
            database_url,
            "smtp",
            readers,
            **server.environment(),
        )
        server.state.vanish_after = 12  # the 12th message is taken, its answer never comes
        process = _send(env, edition_id, tmp_path)
        process.communicate(timeout=120)
        _finish(env, edition_id, tmp_path)
        copies = Counter(r.rcpt_tos[0] for r in server.state.received)
        assert server.state.dropped == 1
    tally = _tally(copies, readers, 0)
    assert tally.duplicates == 0 and tally.misses == 0
    ledger, _ = _ledger(env, edition_id)
    # The reader whose answer never came got it (the server took it), and is recorded unknown.
    assert ledger["unknown"] == 1 and ledger["sent"] == readers - 1


def _webhook_key() -> tuple[ec.EllipticCurvePrivateKey, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return key, base64.b64encode(public).decode()


def _post_events(
    env: dict[str, str], state: SendGridState, key: ec.EllipticCurvePrivateKey
) -> None:
    """SendGrid's `processed` event for every personalization it took, through digest's own
    webhook endpoint, signed as SendGrid signs them."""
    now = int(time.time())
    events = [
        {
            "email": address,
            "event": "processed",
            "timestamp": now,
            "sg_event_id": f"processed-{number}",
            **custom_args,
        }
        for number, (address, custom_args) in enumerate(state.taken)
    ]
    with environment(env):
        settings = load_settings()
    with serving(settings) as base, httpx.Client(base_url=base, timeout=60) as client:
        for start in range(0, len(events), 1000):
            body = json.dumps(events[start : start + 1000]).encode()
            signature = key.sign(str(now).encode() + body, ec.ECDSA(hashes.SHA256()))
            answer = client.post(
                "/webhooks/sendgrid",
                content=body,
                headers={
                    "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
                    "X-Twilio-Email-Event-Webhook-Timestamp": str(now),
                    "Content-Type": "application/json",
                },
            )
            assert answer.status_code == 200, answer.text


@EACH_POLICY_ON_ONE_DATABASE
def test_sendgrid_settles_cut_off_batches_from_webhook_events(
    database_url: str, tmp_path: Path, unknown_policy: str
) -> None:
    readers = 3500  # four requests
    key, public = _webhook_key()
    with running_sendgrid(keep_bodies=False) as (host, state):
        env, edition_id = _setup(
            tmp_path,
            database_url,
            "sendgrid",
            readers,
            DIGEST_SENDGRID_HOST=host,
            SENDGRID_API_KEY=state.api_key,
            DIGEST_SENDGRID_WEBHOOK_PUBLIC_KEY=public,
            DIGEST_UNKNOWN_BATCH_POLICY=unknown_policy,
        )
        # A slow answer now and then, so that kills from outside land while a request is in
        # flight, after SendGrid took it.
        state.faults.extend(Fault("slow", seconds=0.5) for _ in range(6))
        kills = _kill_runs(env, edition_id, tmp_path, _plan(3, 1, 3, 2.0))
        state.faults.clear()
        _post_events(env, state, key)  # the Event Webhook catches up
        _finish(env, edition_id, tmp_path, DIGEST_UNKNOWN_SETTLE_WAIT="PT0S")
        copies = Counter(state.recipients)
    tally = _tally(copies, readers, kills)
    _record(f"sendgrid {unknown_policy} {database_url.split(':')[0]}", tally)
    assert kills >= 3
    assert tally.duplicates == 0
    ledger, status = _ledger(env, edition_id)
    assert status == "sent"
    # A batch that reached SendGrid is settled by its events; one that did not (killed between
    # recording it and making its request) has no event while others do, and is sent.
    assert tally.misses == 0 and ledger[DeliveryStatus.UNKNOWN] == 0


def _run_until_sent(env: dict[str, str], cwd: Path) -> None:
    """Clean `digest run` ticks (as cron would) until the edition is sent."""
    for _ in range(5):
        subprocess.run([DIGEST, "run"], cwd=cwd, env=env, capture_output=True, timeout=300)
        with environment(env):
            app = App(load_settings())
            statuses = [e.status.value for e in app.store.list_editions("brief")]
            app.close()
        if statuses and all(status == "sent" for status in statuses):
            return
    raise AssertionError(f"editions not sent: {statuses}")


# Each sender on one database (the send's own steps are killed on both by the tests above).
@pytest.mark.parametrize(
    ("database_url", "sender"),
    [("sqlite", "smtp"), ("postgresql", "outbox")],
    indirect=["database_url"],
)
def test_digest_run_killed_at_every_step_sends_one_edition_once(
    database_url: str, tmp_path: Path, sender: str
) -> None:
    """An automatic newsletter's `digest run`, killed after building, at each send step and at
    random moments: one edition, each reader once (SMTP: at most one miss per kill, reported)."""
    readers = 1500 if sender == "outbox" else 120
    with running_smtp(tmp_path) as server:
        env = setup(
            tmp_path, database_url, server.environment(), newsletter_config(sender), readers
        )
        plan: list[str | float] = ["after-build", *(f"{p}@1" for p in POINTS[::-1])]
        rng = random.Random(11)
        plan += [round(rng.uniform(0.5, 1.5), 2) for _ in range(3)]
        kills = 0
        for step in plan:
            extra_env = {"DIGEST_FAULT_POINT": step} if isinstance(step, str) else {}
            process = subprocess.Popen(
                [DIGEST, "run"],
                cwd=tmp_path,
                env={**env, **extra_env},
                text=True,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            try:
                process.communicate(timeout=120 if isinstance(step, str) else step)
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
                process.communicate()
            kills += process.returncode == -signal.SIGKILL
        _run_until_sent(env, tmp_path)
        if sender == "smtp":
            copies = Counter(r.rcpt_tos[0] for r in server.state.received)
        else:
            copies = Counter()
            for path in (tmp_path / "outbox").glob("brief/edition-*/0*.eml"):
                copies[_addressee(path)] += 1
    with environment(env):
        app = App(load_settings())
        editions = app.store.list_editions("brief")
        app.close()
    assert len(editions) == 1
    expected = {f"r{n}@example.org" for n in range(readers)}
    tally = Tally(
        kills=kills,
        duplicates=sum(count - 1 for count in copies.values() if count > 1),
        misses=len(expected - set(copies)),
    )
    _record(f"digest run {sender} {database_url.split(':')[0]}", tally)
    assert kills >= 4 and tally.duplicates == 0
    assert tally.misses == 0 if sender == "outbox" else tally.misses <= kills
