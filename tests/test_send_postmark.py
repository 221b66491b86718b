"""Sending through Postmark's batch API: the local wire-format server (tests/servers/postmark.py)
takes what the real httpx client sends; each reader's message is read back from it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from email.utils import getaddresses
from pathlib import Path
from typing import Any

import pytest

from digest.app import App
from digest.config import load_settings
from digest.render import RenderedEmail
from digest.send import Batch, BatchRejected, OutcomeUnknown, Recipient
from digest.send.postmark import PostmarkSender
from digest.send.postmark_payload import MAX_CALL_BYTES, batch_size, build_call
from digest.store.subscribers import NewSubscriber
from digest.subscribers.model import Status
from tests.conftest import cli_environment, environment, make_newsletter
from tests.servers.postmark import Fault, PostmarkState, running_postmark
from tests.test_run_processes import newsletter_config
from tests.test_send import ROOT, SECRET, approved_edition, make_app, subscribe

DIGEST = str(Path(sys.executable).parent / "digest")


@pytest.fixture
def postmark() -> Iterator[tuple[str, PostmarkState]]:
    with running_postmark() as server:
        yield server


def postmark_app(
    database_url: str, tmp_path: Path, host: str, token: str, **overrides: object
) -> App:
    section = {"host": host, "server_token": token, **overrides.pop("postmark", {})}  # type: ignore[dict-item]
    return make_app(database_url, tmp_path, postmark=section, **overrides)


def _header(message: dict[str, Any], name: str) -> str:
    values = [h["Value"] for h in message["Headers"] if h["Name"] == name]
    assert len(values) == 1, (name, message["Headers"])
    return str(values[0])


def test_the_cli_sends_each_reader_their_own_message_in_calls_of_500(
    database_url: str, tmp_path: Path, postmark: tuple[str, PostmarkState]
) -> None:
    host, state = postmark
    readers = 1200
    env = cli_environment(
        tmp_path,
        newsletter_config("postmark"),
        database_url,
        SECRET,
        DIGEST_POSTMARK__HOST=host,
        POSTMARK_SERVER_TOKEN=state.token,
    )
    with environment(env):
        app = App(load_settings())
        edition = approved_edition(app)
        subscribe(app, readers)
        app.close()
    done = subprocess.run(
        [DIGEST, "send", str(edition.id), "--yes", "--now"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "1200 sent via postmark in 3 batches" in done.stdout + done.stderr
    assert state.call_sizes == [500, 500, 200] and state.statuses == [200, 200, 200]
    assert len(state.copies) == readers and set(state.copies.values()) == {1}

    with environment(env):
        app = App(load_settings())
        ledger = {o.email: o for o in app.store.deliveries.outcomes(edition.id or 0, None, None)}
        list_id = app.store.subscribers.list_id("readers")
        subscriber_ids = {s.email: s.id for s in app.store.subscribers.iterate(list_id)}
        assert app.store.get_edition(edition.id or 0).status.value == "sent"
        app.close()
    for taken in state.taken:
        message = taken.message
        number = taken.to.removeprefix("reader").split("@")[0]
        assert message["To"] == f"Reader {number} <{taken.to}>"
        assert message["From"] == "Test Brief <brief@example.org>"
        assert message["Subject"] == edition.subject
        assert message["MessageStream"] == "broadcast"
        assert message["TrackOpens"] is False and message["TrackLinks"] == "None"
        assert message["Tag"] == "brief"
        # The reader's own body: their greeting, address and unsubscribe link, no marker left.
        url = _header(message, "List-Unsubscribe").strip("<>")
        assert url.startswith("https://brief.example.org/u/")
        assert f"Hello Reader {number}," in message["TextBody"]
        assert url in message["TextBody"] and url in message["HtmlBody"]
        assert taken.to in message["HtmlBody"]
        assert "%%" not in message["TextBody"] + message["HtmlBody"]
        assert _header(message, "List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"
        assert _header(message, "List-Id") == "The Test Brief <brief.brief.example.org>"
        # The ids that come back in webhooks: this reader's delivery of this edition.
        delivery = ledger[taken.to]
        assert taken.metadata == {
            "edition_id": str(edition.id),
            "subscriber_id": str(subscriber_ids[taken.to]),
            "delivery_id": str(delivery.delivery_id),
        }
    urls = {_header(t.message, "List-Unsubscribe") for t in state.taken}
    assert len(urls) == readers  # one link per reader

    again = subprocess.run(
        [DIGEST, "send", str(edition.id), "--yes", "--now"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
    )
    assert again.returncode == 0 and len(state.statuses) == 3  # sent already: nothing more


def test_batch_size_sets_the_messages_a_call_and_past_500_is_refused(
    sqlite_url: str, tmp_path: Path, postmark: tuple[str, PostmarkState]
) -> None:
    host, state = postmark
    env = cli_environment(
        tmp_path,
        newsletter_config("postmark"),
        sqlite_url,
        SECRET,
        DIGEST_POSTMARK__HOST=host,
        POSTMARK_SERVER_TOKEN=state.token,
        DIGEST_POSTMARK__BATCH_SIZE="40",
    )
    with environment(env):
        app = App(load_settings())
        edition = approved_edition(app)
        subscribe(app, 100)
        app.close()
    command = [DIGEST, "send", str(edition.id), "--yes", "--now"]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert state.call_sizes == [40, 40, 20] and len(state.copies) == 100
    env["DIGEST_POSTMARK__BATCH_SIZE"] = "501"
    refused = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert refused.returncode != 0
    assert "postmark.batch_size" in refused.stderr and "500" in refused.stderr


def test_odd_names_and_addresses(
    database_url: str, tmp_path: Path, postmark: tuple[str, PostmarkState]
) -> None:
    """A name with a comma or quotes is quoted (the server refuses it bare), an IDN domain goes
    in its ASCII form, and a non-ASCII local part fails that reader alone, with the reason."""
    host, state = postmark
    app = postmark_app(database_url, tmp_path, host, state.token)
    edition = approved_edition(app)
    list_id = app.store.subscribers.ensure_list("readers")
    app.store.subscribers.upsert(
        list_id,
        [
            NewSubscriber(email="jane@example.org", name="Doe, Jane"),
            NewSubscriber(email="quote@example.org", name='Ann "Q" Lee'),
            NewSubscriber(email="olena@bücher.example", name="Олена"),
            NewSubscriber(email="андрій@приклад.укр", name="Андрій"),
        ],
    )
    report = app.send(edition, via="postmark")
    assert report.sent == 3 and report.failed == 1
    to = {t.to: t.message["To"] for t in state.taken}
    assert to == {
        "jane@example.org": '"Doe, Jane" <jane@example.org>',
        "quote@example.org": '"Ann \\"Q\\" Lee" <quote@example.org>',
        "olena@xn--bcher-kva.example": "Олена <olena@xn--bcher-kva.example>",
    }
    for address, field in to.items():
        assert getaddresses([field]) == [(getaddresses([field])[0][0], address)]
    failed = app.store.deliveries.outcomes(edition.id or 0, ["failed"], None)
    assert [(f.email, f.error) for f in failed] == [
        (
            "андрій@приклад.укр",
            "Postmark does not take addresses with a non-ASCII local part (андрій@приклад.укр)",
        )
    ]
    assert not state.refused  # the server found nothing to refuse


def test_per_message_errors_fail_those_readers_only(
    database_url: str, tmp_path: Path, postmark: tuple[str, PostmarkState]
) -> None:
    host, state = postmark
    app = postmark_app(database_url, tmp_path, host, state.token)
    edition = approved_edition(app)
    subscribe(app, 20)
    state.inactive = {"reader4@example.org", "reader11@example.org"}
    report = app.send(edition, via="postmark")
    assert report.sent == 18 and report.failed == 2 and report.finished
    failed = app.store.deliveries.outcomes(edition.id or 0, ["failed"], None)
    assert sorted(f.email for f in failed) == ["reader11@example.org", "reader4@example.org"]
    assert all(f.error.startswith("Postmark error 406: You tried to send") for f in failed)
    assert len(state.copies) == 18


def test_a_message_the_server_refuses_fails_that_reader(
    sqlite_url: str, tmp_path: Path, postmark: tuple[str, PostmarkState]
) -> None:
    """ErrorCode 1235 (no such stream) for every message: each reader fails, for now (tried
    again as a deferral), with Postmark's words."""
    host, state = postmark
    app = postmark_app(sqlite_url, tmp_path, host, state.token, postmark={"message_stream": "nope"})
    edition = approved_edition(app)
    subscribe(app, 3)
    report = app.send(edition, via="postmark")
    counts = app.store.deliveries.counts(edition.id or 0)
    assert report.sent == 0 and counts["deferred"] == 3 and not state.taken
    deferred = app.store.deliveries.outcomes(edition.id or 0, ["deferred"], None)
    assert all("Postmark error 1235: The message stream" in d.error for d in deferred)


def test_429_and_5xx_storms_are_retried_and_deliver_once(
    database_url: str, tmp_path: Path, postmark: tuple[str, PostmarkState]
) -> None:
    host, state = postmark
    app = postmark_app(database_url, tmp_path, host, state.token, send_max_attempts=5)
    edition = approved_edition(app)
    subscribe(app, 700)
    state.faults.extend([Fault("429"), Fault("503"), Fault("500"), Fault("429")])
    report = app.send(edition, via="postmark")
    assert report.sent == 700 and report.finished
    assert state.statuses == [429, 503, 500, 429, 200, 200]
    assert len(state.copies) == 700 and set(state.copies.values()) == {1}


def test_retry_after_is_honoured_and_backoff_doubles(
    postmark: tuple[str, PostmarkState],
) -> None:
    host, state = postmark
    waits: list[float] = []
    sender = PostmarkSender(
        state.token, host, retry_delay=0.5, max_delay=30, max_attempts=5, sleep=waits.append
    )
    batch = _batch(3)
    state.faults.extend([Fault("429", seconds=7), Fault("500"), Fault("503")])
    result = sender.send(batch, sender.prepare(batch))
    sender.close()
    assert waits == [7.0, 1.0, 2.0]
    assert not result.failures and not result.unknown and result.provider_id
    assert len(state.copies) == 3


def test_a_storm_past_the_attempts_stops_the_send_and_a_rerun_completes(
    database_url: str, tmp_path: Path, postmark: tuple[str, PostmarkState]
) -> None:
    host, state = postmark
    app = postmark_app(database_url, tmp_path, host, state.token, send_max_attempts=3)
    edition = approved_edition(app)
    subscribe(app, 600)
    app.send(edition, via="postmark", limit=500)
    state.faults.extend([Fault("503")] * 3)
    with pytest.raises(BatchRejected, match=r"still failing after 3 attempts \(503: Server"):
        app.send(app.store.get_edition(edition.id or 0), via="postmark")
    assert app.store.deliveries.counts(edition.id or 0)["pending"] == 100
    report = app.send(app.store.get_edition(edition.id or 0), via="postmark")
    assert report.sent == 100 and report.finished
    assert len(state.copies) == 600 and set(state.copies.values()) == {1}


def test_bad_token_and_bad_request_stop_with_postmarks_words(
    database_url: str, tmp_path: Path, postmark: tuple[str, PostmarkState]
) -> None:
    host, state = postmark
    app = postmark_app(database_url, tmp_path, host, "wrong-token")
    edition = approved_edition(app)
    subscribe(app, 10)
    with pytest.raises(BatchRejected, match=r"refused the server token \(401\).*POSTMARK_SERVER"):
        app.send(edition, via="postmark")
    assert state.statuses == [401] and not state.taken
    app = postmark_app(database_url, tmp_path, host, state.token)
    state.faults.append(
        Fault("422", error_code=300, message="Invalid 'From' address: not a sender signature.")
    )
    with pytest.raises(
        BatchRejected,
        match=r"rejected the request \(422\): Invalid 'From' address: not a sender "
        r"signature. \(ErrorCode 300\)",
    ):
        app.send(app.store.get_edition(edition.id or 0), via="postmark")
    assert app.store.deliveries.counts(edition.id or 0)["pending"] == 10
    report = app.send(app.store.get_edition(edition.id or 0), via="postmark")
    assert report.sent == 10 and len(state.copies) == 10


@pytest.mark.parametrize("policy", ["skip", "resend"])
def test_a_connection_dropped_after_the_request_is_an_unknown_batch(
    sqlite_url: str, tmp_path: Path, postmark: tuple[str, PostmarkState], policy: str
) -> None:
    host, state = postmark
    app = postmark_app(
        sqlite_url,
        tmp_path,
        host,
        state.token,
        unknown_batch_policy=policy,
        unknown_settle_wait=timedelta(0),  # no webhook here: the policy decides at once
    )
    edition = approved_edition(app)
    subscribe(app, 700)
    app.send(edition, via="postmark", limit=500)
    state.faults.append(Fault("drop"))
    with pytest.raises(OutcomeUnknown, match=r"Postmark connection lost before an answer"):
        app.send(app.store.get_edition(edition.id or 0), via="postmark")
    assert len(state.copies) == 500  # the dropped call was read, never taken
    report = app.send(app.store.get_edition(edition.id or 0), via="postmark")
    counts = app.store.deliveries.counts(edition.id or 0)
    if policy == "skip":
        assert counts["unknown"] == 200 and report.sent == 0
    else:
        assert counts["sent"] == 700 and report.sent == 200
        assert set(state.copies.values()) == {1}


def test_a_big_email_goes_in_smaller_calls_under_50_mb(
    sqlite_url: str, tmp_path: Path, postmark: tuple[str, PostmarkState]
) -> None:
    """Templates that make a 250 KB email: 500 copies would be 125 MB, so batches are cut to
    what one call may carry, and every call the server took was under the limit."""
    host, state = postmark
    state.keep_messages = False
    templates = tmp_path / "templates"
    templates.mkdir()
    original = (ROOT / "templates" / "digest.txt.j2").read_text(encoding="utf-8")
    (templates / "digest.txt.j2").write_text(
        original + '\n{{ "A long appendix. " * 15000 }}\n', encoding="utf-8"
    )
    app = postmark_app(sqlite_url, tmp_path, host, state.token, templates_dir=templates)
    edition = approved_edition(app)
    subscribe(app, 500)
    email = app.render(edition)
    size = batch_size(email, "https://brief.example.org")
    assert len(email.text) > 250_000 and 100 < size < 250
    report = app.send(edition, via="postmark")
    assert report.sent == 500 and report.finished
    assert max(state.call_sizes) == size and sum(state.call_sizes) == 500
    assert len(state.copies) == 500


def test_the_exact_body_never_passes_50_mb(tmp_path: Path) -> None:
    """Should readers' values outgrow the estimate (names stored long before intake cut them),
    the readers past the limit are left for a later batch (deferred), never sent over it."""
    newsletter = make_newsletter()
    html = "<p>" + "x" * 190_000 + " %%name_html%% </p>"
    email = RenderedEmail(subject="Big", preheader="", html=html, text="%%name%%", mjml="")
    names = ["N" * 60_000 for _ in range(400)]
    batch = Batch(
        edition_id=1,
        newsletter=newsletter,
        email=email,
        recipients=[
            Recipient(n, n, f"r{n}@example.org", name, f"https://brief.example.org/u/t{n}")
            for n, name in enumerate(names)
        ],
    )
    call, left = build_call(batch, "broadcast")
    assert call is not None and len(call.body) <= MAX_CALL_BYTES
    assert len(call.delivery_ids) + len(left) == 400 and left
    assert all(not f.permanent and "50 MB" in f.reason for f in left.values())
    assert len(json.loads(call.body)) == len(call.delivery_ids)


def test_a_missing_token_is_one_line_before_anything_is_sent(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("POSTMARK_SERVER_TOKEN", raising=False)
    app = make_app(sqlite_url, tmp_path, postmark={"host": "http://127.0.0.1:9"})
    edition = approved_edition(app)
    subscribe(app, 2)
    with pytest.raises(BatchRejected, match="Postmark needs a server token"):
        app.send(edition, via="postmark")
    assert app.store.get_edition(edition.id or 0).status.value == "approved"


def test_the_token_comes_from_the_environment_and_is_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = cli_environment(
        tmp_path, newsletter_config("postmark"), f"sqlite:///{tmp_path / 'd.db'}", SECRET
    )
    env["POSTMARK_SERVER_TOKEN"] = "pm-secret-token-123"
    env["DIGEST_POSTMARK__WEBHOOK_PASSWORD"] = "hook-secret-456"
    shown = subprocess.run(
        [DIGEST, "config"], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
    )
    assert "pm-secret-token-123" not in shown.stdout and "hook-secret-456" not in shown.stdout
    settings = json.loads(shown.stdout)["postmark"]
    assert settings["server_token"] == "**********" and settings["message_stream"] == "broadcast"
    with environment(env):
        loaded = load_settings()
    assert loaded.postmark.server_token.get_secret_value() == "pm-secret-token-123"


def _batch(count: int) -> Batch:
    return Batch(
        edition_id=1,
        newsletter=make_newsletter(),
        email=RenderedEmail(
            subject="Hi", preheader="", html="<p>Hi %%name_html%%</p>", text="Hi %%name%%", mjml=""
        ),
        recipients=[
            Recipient(n + 1, n + 1, f"r{n}@example.org", "", f"https://brief.example.org/u/{n}")
            for n in range(count)
        ],
    )


def test_status_and_date(sqlite_url: str, tmp_path: Path) -> None:
    """Subscribed readers only: one who unsubscribed meanwhile is skipped, not sent."""
    with running_postmark() as (host, state):
        app = postmark_app(sqlite_url, tmp_path, host, state.token)
        app.add([str(ROOT / "examples/articles/sanctions.jsonl")])
        edition = app.approve(app.build(app.settings.newsletter("brief"), date(2026, 11, 24)))
        list_id = subscribe(app, 3)
        gone = app.store.subscribers.find(list_id, "reader1@example.org")
        assert gone is not None
        app.store.subscribers.set_status(gone.id, Status.UNSUBSCRIBED)
        report = app.send(edition, via="postmark")
    assert report.sent == 2 and sorted(state.copies) == [
        "reader0@example.org",
        "reader2@example.org",
    ]
