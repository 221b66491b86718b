"""`digest run` as cron runs it: real processes, the real clock. Two overlapping runs; a run
killed mid-send and run again; and end to end, a feed server, an automatic newsletter and the
outbox over two scheduled times."""

from __future__ import annotations

import email
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path

import pytest
import time_machine

from digest.app import App
from digest.config import load_settings
from digest.store.subscribers import NewSubscriber
from tests.conftest import cli_environment, environment
from tests.servers.feeds import Item, running_feed_site
from tests.servers.sendgrid import Fault, running_sendgrid

DIGEST = str(Path(sys.executable).parent / "digest")
SECRET = "run-process-secret-0123456789"
ARTICLE = " ".join(
    f"Sentence {n} on the defence of Kharkiv and allied air support." for n in range(40)
)


def setup(
    tmp_path: Path, database_url: str, extra_env: dict[str, str], newsletter: str, readers: int
) -> dict[str, str]:
    env = cli_environment(tmp_path, newsletter, database_url, SECRET, **extra_env)
    with environment(env):
        app = App(load_settings())
        list_id = app.store.subscribers.ensure_list("readers")
        app.store.subscribers.upsert(
            list_id, [NewSubscriber(email=f"r{n}@example.org") for n in range(readers)]
        )
        path = tmp_path / "articles.jsonl"
        path.write_text(
            "".join(
                json.dumps({"title": f"Story {n} from Kharkiv", "text": f"Story {n}. {ARTICLE}"})
                + "\n"
                for n in range(3)
            ),
            encoding="utf-8",
        )
        app.add([str(path)])
        app.close()
    return env


def newsletter_config(sender: str, schedule: str = "* * * * *", feeds: str = "") -> str:
    return f"""
[newsletters.brief]
title = "The Test Brief"
theme = "Russia's war in Ukraine and its allies"
from_name = "Test Brief"
from_address = "brief@example.org"
postal_address = "1 Test Street, Testville"
base_url = "https://brief.example.org"
lists = ["readers"]
sender = "{sender}"
schedule = "{schedule}"
timezone = "Europe/Kyiv"
mode = "automatic"
catch_up_grace = "00:30:00"
{feeds}
"""


def outbox_copies(outbox: Path) -> Counter[tuple[str, str]]:
    """How many copies of each edition every reader got in the outbox (not notices)."""
    copies: Counter[tuple[str, str]] = Counter()
    for path in outbox.glob("brief/edition-*/0*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        copies[path.parent.name, str(message["To"].addresses[0].addr_spec)] += 1
    return copies


def digest_run(env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [DIGEST, "run", "--json"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_overlapping_runs_send_exactly_once(database_url: str, tmp_path: Path) -> None:
    with running_sendgrid(keep_bodies=False) as (host, state):
        env = setup(
            tmp_path,
            database_url,
            {"DIGEST_SENDGRID_HOST": host, "SENDGRID_API_KEY": state.api_key},
            newsletter_config("sendgrid"),
            readers=2500,
        )
        state.faults.extend(Fault("slow", seconds=0.5) for _ in range(3))
        first, second = digest_run(env, tmp_path), digest_run(env, tmp_path)
        outputs = [p.communicate(timeout=120) for p in (first, second)]
        assert [p.returncode for p in (first, second)] == [0, 0], outputs
        lines = [json.loads(line) for out, _ in outputs for line in out.splitlines()]
        runs = [line["status"] for line in lines if line["action"] == "run"]
        # (A run that starts in the next minute may also record that minute as having no
        # new articles; what matters is one send, and no failure.)
        sends = [line["status"] for line in lines if line["action"] == "send"]
        assert "failed" not in sends
        if database_url.startswith("sqlite"):
            assert runs == ["busy"] and sends.count("done") == 1
        else:  # PostgreSQL: the second run joins the send as one more worker
            joined = [line for line in lines if "joined another host's send" in line["detail"]]
            assert runs == [] and len(joined) == 1 and "done" in sends
        assert len(state.recipients) == 2500 and set(state.recipients.values()) == {1}


def test_run_killed_mid_send_then_rerun(database_url: str, tmp_path: Path) -> None:
    with running_sendgrid(keep_bodies=False) as (host, state):
        env = setup(
            tmp_path,
            database_url,
            {
                "DIGEST_SENDGRID_HOST": host,
                "SENDGRID_API_KEY": state.api_key,
                # No webhook here: the policy (skip) decides at once.
                "DIGEST_UNKNOWN_SETTLE_WAIT": "00:00:00",
            },
            newsletter_config("sendgrid"),
            readers=3500,
        )
        state.faults.extend([Fault("slow", seconds=0), Fault("slow", seconds=30)])
        process = digest_run(env, tmp_path)
        deadline = time.monotonic() + 60
        while len(state.statuses) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        state.faults.clear()
        rerun = subprocess.run(
            [DIGEST, "run", "--json"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert rerun.returncode == 0, rerun.stderr
        sends = [s for s in map(json.loads, rerun.stdout.splitlines()) if s["action"] == "send"]
        # A rerun that starts in the next minute also records that minute's slot (skipped:
        # no new articles); what matters is the resumed send of the first.
        sends = [s for s in sends if s["status"] != "skipped"]
        # Resumed: the batch cut off is of unknown outcome (settled by the policy, or waiting
        # for SendGrid's events), the rest sent; nobody twice.
        assert len(sends) == 1 and sends[0]["status"] in ("done", "waiting"), sends
        assert "unknown outcome" in str(sends[0]["detail"])
        assert len(state.recipients) == 3500 and set(state.recipients.values()) == {1}
        again = subprocess.run(
            [DIGEST, "run", "--json"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert again.returncode == 0 and '"status": "failed"' not in again.stdout
        assert state.accepted_requests == 4 and set(state.recipients.values()) == {1}


def test_end_to_end_feed_to_two_editions(
    sqlite_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A feed server, an automatic weekly newsletter, the outbox: two scheduled times make
    exactly two editions with the right articles, each delivered once to every subscriber."""
    from digest.cli import app as cli_app

    first_monday = datetime(2026, 11, 9, 5, 0, tzinfo=UTC)  # 07:00 in Kyiv
    with running_feed_site() as site:
        site.rss = [
            Item(
                f"w1-{n}",
                f"Week one story {n}",
                f"<p>{ARTICLE} One {n}.</p>",
                first_monday - timedelta(days=1, hours=n),
            )
            for n in range(3)
        ]
        feeds = f'feeds = ["{site.base}/rss.xml"]\nmin_articles = 2\nlookback = "P7D"'
        env = setup(
            tmp_path,
            sqlite_url,
            {"DIGEST_FETCH_ALLOWED_NETWORKS": '["127.0.0.1"]'},  # the feed site is local
            newsletter_config("outbox", "0 7 * * MON", feeds),
            readers=4,
        )
        for name, value in env.items():
            if name.startswith("DIGEST_"):
                monkeypatch.setenv(name, value)

        def tick(moment: datetime) -> list[dict[str, object]]:
            capsys.readouterr()
            with time_machine.travel(moment, tick=False):
                cli_app(["run", "--json"], standalone_mode=False)
            return [json.loads(line) for line in capsys.readouterr().out.splitlines()]

        tick(first_monday - timedelta(hours=1))  # collects week one's items, nothing due
        first = tick(first_monday)
        site.rss += [
            Item(
                f"w2-{n}",
                f"Week two story {n}",
                f"<p>{ARTICLE} Two {n}.</p>",
                first_monday + timedelta(days=5, hours=n),
            )
            for n in range(2)
        ]
        for hours in (1, 24, 72, 167):
            tick(first_monday + timedelta(hours=hours))
        second = tick(first_monday + timedelta(days=7))
        tick(first_monday + timedelta(days=7, minutes=5))

    for actions in (first, second):
        assert [a["status"] for a in actions if a["action"] == "send"] == ["done"]
    app = App(load_settings())
    editions = sorted(app.store.list_editions("brief"), key=lambda e: e.number)
    # The hand-added stories are in the first edition too: "feeds" adds to them.
    assert len(editions) == 2
    titles = [sorted(item.article.title for item in e.items) for e in editions]
    assert [t for t in titles[0] if t.startswith("Week")] == [
        f"Week one story {n}" for n in range(3)
    ]
    assert titles[1] == ["Week two story 0", "Week two story 1"]
    delivered = outbox_copies(tmp_path / "outbox")
    assert len(delivered) == 8 and set(delivered.values()) == {1}
    app.close()


def test_run_killed_between_build_and_record_sends_once(database_url: str, tmp_path: Path) -> None:
    """`digest run` SIGKILLs itself right after building (DIGEST_FAULT_POINT=after-build),
    before recording the build: the next run adopts that edition and sends it, once, for the
    scheduled time it was built for; nothing is built twice."""
    env = setup(tmp_path, database_url, {}, newsletter_config("outbox"), readers=5)
    killed = subprocess.run(
        [DIGEST, "run", "--json"],
        cwd=tmp_path,
        env={**env, "DIGEST_FAULT_POINT": "after-build"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert outbox_copies(tmp_path / "outbox") == Counter()
    rerun = subprocess.run(
        [DIGEST, "run", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    actions = [json.loads(line) for line in rerun.stdout.splitlines()]
    sends = [a for a in actions if a["action"] == "send" and a["status"] == "done"]
    adopted = [a for a in actions if a["action"] == "build" and "adopted" in a["detail"]]
    assert len(sends) == 1 and len(adopted) == 1, actions
    with environment(env):
        app = App(load_settings())
        editions = app.store.list_editions("brief")
        app.close()
    assert [(e.id, e.status) for e in editions] == [(sends[0]["edition_id"], "sent")]
    # Sent for the time it was built for (the minute of the killed run, the rerun's or not).
    assert editions[0].send_at is not None
    assert sends[0]["slot"] == adopted[0]["slot"] == editions[0].send_at.isoformat()
    copies = outbox_copies(tmp_path / "outbox")
    assert len(copies) == 5 and set(copies.values()) == {1}


def test_database_locked_mid_run_is_one_line(sqlite_url: str, tmp_path: Path) -> None:
    """Another process holds SQLite's write lock for longer than the busy timeout (made short
    here): the run says so in one line per action and exits 1, without a traceback; nothing is
    half done."""
    env = setup(tmp_path, sqlite_url, {}, newsletter_config("outbox"), readers=2)
    env["DIGEST_DATABASE_BUSY_TIMEOUT"] = "0.5"
    holder = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), timeout=0)
    try:
        holder.execute("BEGIN IMMEDIATE")
        result = subprocess.run(
            [DIGEST, "run"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
    finally:
        holder.rollback()
        holder.close()
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and result.stderr.strip() == "", result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and " build failed newsletter=brief " in lines[0], lines
    assert lines[0].endswith("- database error: database is locked")
    assert outbox_copies(tmp_path / "outbox") == Counter()
    again = subprocess.run(
        [DIGEST, "run", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(outbox_copies(tmp_path / "outbox")) == 2


def test_a_slow_feed_never_delays_a_due_send(sqlite_url: str, tmp_path: Path) -> None:
    """A feed that trickles a byte at a time: the due edition goes out first, then the feed
    gets what is left of the tick's budget and is skipped until the next tick (not a failure)."""
    with running_feed_site() as site:
        site.rss = [Item("t-1", "Trickled story", f"<p>{ARTICLE}</p>", datetime.now(UTC))]
        feeds = f'feeds = ["{site.base}/trickle.xml"]'
        env = setup(
            tmp_path,
            sqlite_url,
            {"DIGEST_FETCH_ALLOWED_NETWORKS": '["127.0.0.1"]', "DIGEST_FETCH_TICK_BUDGET": "2"},
            newsletter_config("outbox", feeds=feeds),
            readers=3,
        )
        started = time.monotonic()
        result = subprocess.run(
            [DIGEST, "run", "--json"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        took = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    actions = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(a["action"], a["status"]) for a in actions] == [
        ("build", "done"),
        ("send", "done"),
        ("fetch", "skipped"),
    ]
    sent, fetched = (datetime.fromisoformat(actions[i]["at"]) for i in (1, 2))
    assert (fetched - sent).total_seconds() >= 1.5  # the feed took its time after the send
    assert took < 30
    assert len(outbox_copies(tmp_path / "outbox")) == 3
