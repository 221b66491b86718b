"""The SES sender against moto's SES v2 (server mode) behind the fault proxy: what each reader
gets, the tags that bring events back, throttling and 5xx retried, and each refusal classified
(stop the send, or fail the one reader) with one line saying what to fix."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from digest.app import App
from digest.config import load_settings
from digest.send import BatchRejected, OutcomeUnknown
from digest.store.subscribers import NewSubscriber
from tests.conftest import cli_environment, environment, make_newsletter
from tests.servers.ses import SesState, running_ses, ses_environment
from tests.test_run_processes import newsletter_config
from tests.test_send import ROOT, SECRET, approved_edition, make_app, subscribe

DIGEST = str(Path(sys.executable).parent / "digest")


@pytest.fixture
def ses() -> Iterator[tuple[str, SesState]]:
    with running_ses() as server:
        yield server


@pytest.fixture
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """boto3's credential chain, in this process, as a `digest` process would see it."""
    for name, value in ses_environment("").items():
        if not name.startswith("DIGEST_"):
            monkeypatch.setenv(name, value)


def ses_app(database_url: str, tmp_path: Path, url: str, **overrides: object) -> App:
    return make_app(
        database_url,
        tmp_path,
        ses={"region": "eu-west-1", "endpoint_url": url, "configuration_set": "digest-events"},
        **overrides,
    )


READERS = [
    ("reader0@example.org", "Reader 0"),
    ("kowalski@example.org", "Kowalski, Jan"),  # a comma: quoted, or it splits the To header
    ("ana@bücher.example", "Ana"),  # an IDN domain: written in ASCII
    ("josé@example.org", "José"),  # a non-ASCII local part: SES cannot take it
    ("nameless@example.org", ""),
]


def test_digest_send_through_ses_gives_each_reader_their_own_message(
    database_url: str, tmp_path: Path, ses: tuple[str, SesState]
) -> None:
    url, state = ses
    env = cli_environment(
        tmp_path, newsletter_config("ses"), database_url, SECRET, **ses_environment(url)
    )
    with environment(env):
        app = App(load_settings())
        app.add([str(ROOT / "examples/articles/sanctions.jsonl")])
        edition = app.approve(app.build(app.settings.newsletter("brief"), date(2026, 11, 24)))
        list_id = app.store.subscribers.ensure_list("readers")
        app.store.subscribers.upsert(list_id, [NewSubscriber(email=e, name=n) for e, n in READERS])
        app.close()
    assert edition.id is not None
    done = subprocess.run(
        [DIGEST, "send", str(edition.id), "--yes", "--now"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert not state.invalid
    messages = {str(m["To"].addresses[0].addr_spec): m for m in state.messages()}
    assert set(messages) == {
        "reader0@example.org",
        "kowalski@example.org",
        "ana@xn--bcher-kva.example",
        "nameless@example.org",
    }
    assert len(state.taken) == 4 and Counter(state.recipients()).most_common(1)[0][1] == 1
    with environment(env):
        app = App(load_settings())
        outcomes = {o.email: o for o in app.store.deliveries.outcomes(edition.id)}
        subscribers = {s.email: s for s in app.store.subscribers.iterate(list_id)}
        app.close()
    assert outcomes["josé@example.org"].status == "failed"
    assert "non-ASCII local part" in outcomes["josé@example.org"].error
    links = set()
    for body in state.taken:
        address = body["Destination"]["ToAddresses"][0]
        message = messages[address]
        stored = address.replace("xn--bcher-kva", "bücher")
        tags = state.tags(body)
        # Our ids come back in SES's events; the configuration set publishes them.
        assert body["ConfigurationSetName"] == "digest-events"
        assert tags["delivery_id"] == str(outcomes[stored].delivery_id)
        assert tags["subscriber_id"] == str(subscribers[stored].id)
        assert tags["edition_id"] == str(edition.id)
        assert body["FromEmailAddress"] == "brief@example.org"
        assert message["Subject"] == edition.subject
        assert message["From"].addresses[0].addr_spec == "brief@example.org"
        unsubscribe = message["List-Unsubscribe"]
        assert unsubscribe.startswith("<https://brief.example.org/u/")
        links.add(unsubscribe)
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert message["List-Id"] == "The Test Brief <brief.brief.example.org>"
        text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
        assert "%%" not in text and "%%" not in html
        assert unsubscribe.strip("<>") in text and unsubscribe.strip("<>") in html
        assert outcomes[stored].status == "sent"
    assert len(links) == 4  # one link per reader
    assert messages["kowalski@example.org"]["To"].addresses[0].display_name == "Kowalski, Jan"
    assert '"Kowalski, Jan"' in str(messages["kowalski@example.org"]["To"])
    greeting = messages["nameless@example.org"].get_body(("plain",))
    assert "Hello reader" in greeting.get_content()  # type: ignore[union-attr]
    assert "Reader 0" in messages["reader0@example.org"].get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_throttling_and_5xx_are_retried_and_deliver_once(
    database_url: str, tmp_path: Path, ses: tuple[str, SesState], aws_environment: None
) -> None:
    url, state = ses
    app = ses_app(database_url, tmp_path, url)
    edition = approved_edition(app)
    subscribe(app, 12)
    storm = ["throttle", "throttle", "throttling", "500", "", "503", "throttle", "", "500"]
    state.faults.extend(storm)
    report = app.send(edition, via="ses")
    assert report.sent == 12 and report.finished
    assert state.answered_faults == [f for f in storm if f]
    assert len(state.taken) == 12 and set(Counter(state.recipients()).values()) == {1}
    assert app.store.deliveries.counts(edition.id or 0)["sent"] == 12


def test_a_storm_past_send_max_attempts_stops_and_a_rerun_completes(
    database_url: str, tmp_path: Path, ses: tuple[str, SesState], aws_environment: None
) -> None:
    url, state = ses
    app = ses_app(database_url, tmp_path, url, send_max_attempts=3)
    edition = approved_edition(app)
    subscribe(app, 6)
    state.faults.extend(["", "", "throttle", "throttle", "throttle"])
    with pytest.raises(BatchRejected, match=r"SES still failing after 3 attempts \(429 TooMany"):
        app.send(edition, via="ses")
    counts = app.store.deliveries.counts(edition.id or 0)
    assert counts["sent"] == 2 and counts["pending"] == 4
    report = app.send(app.store.get_edition(edition.id or 0), via="ses")
    assert report.sent == 4 and report.finished
    assert len(state.taken) == 6 and set(Counter(state.recipients()).values()) == {1}


@pytest.mark.parametrize(
    ("fault", "line"),
    [
        ("bad-credentials", r"refused the credentials \(403 UnrecognizedClientException\).*"),
        ("suspended", r"SES has suspended the account's sending \(AccountSuspendedException"),
        ("paused", r"sending is paused .* \(SendingPausedException"),
        ("mail-from", r"MAIL FROM domain is not verified .*MailFromDomainNotVerified"),
        ("daily-quota", r"daily sending quota is used up \(ThrottlingException: Daily"),
    ],
)
def test_account_refusals_stop_the_send_with_one_line(
    sqlite_url: str,
    tmp_path: Path,
    ses: tuple[str, SesState],
    aws_environment: None,
    fault: str,
    line: str,
) -> None:
    url, state = ses
    app = ses_app(sqlite_url, tmp_path, url)
    edition = approved_edition(app)
    subscribe(app, 5)
    state.always = fault
    with pytest.raises(BatchRejected, match=line) as refused:
        app.send(edition, via="ses")
    assert "\n" not in str(refused.value)
    assert state.answered_faults == [fault]  # not retried: retrying cannot help
    assert app.store.deliveries.counts(edition.id or 0)["pending"] == 5
    state.always = ""
    assert app.send(app.store.get_edition(edition.id or 0), via="ses").sent == 5


def test_a_from_address_ses_will_not_send_from_stops_the_send_with_no_reader_failed(
    sqlite_url: str, tmp_path: Path, aws_environment: None
) -> None:
    """SES refuses every message of an unverified From identity (MessageRejected, naming the
    address): one line, the readers left in the queue, not 20 readers failed one by one."""
    with running_ses(identity="example.org") as (url, _):
        newsletter = make_newsletter(lists=["readers"], from_address="brief@other.example.net")
        app = ses_app(sqlite_url, tmp_path, url, newsletters={"brief": newsletter})
        edition = approved_edition(app)
        subscribe(app, 5)
        with pytest.raises(BatchRejected) as refused:
            app.send(edition, via="ses")
        message = str(refused.value)
        assert message.startswith("SES refused the From address (MessageRejected)")
        assert "brief@other.example.net" in message and "correct from_address" in message
        assert "\n" not in message
        assert app.store.deliveries.counts(edition.id or 0)["pending"] == 5
        app.close()


@pytest.mark.parametrize(
    ("fault", "said"),
    [("reject", "MessageRejected"), ("bad-request", "BadRequestException")],
)
def test_a_message_ses_refuses_fails_that_reader_only(
    database_url: str,
    tmp_path: Path,
    ses: tuple[str, SesState],
    aws_environment: None,
    fault: str,
    said: str,
) -> None:
    url, state = ses
    app = ses_app(database_url, tmp_path, url)
    edition = approved_edition(app)
    subscribe(app, 4)
    state.faults.extend(["", fault])
    report = app.send(edition, via="ses")
    assert report.sent == 3 and report.failed == 1 and report.finished
    failed = [o for o in app.store.deliveries.outcomes(edition.id or 0) if o.status == "failed"]
    assert [o.email for o in failed] == ["reader1@example.org"]
    assert said in failed[0].error and failed[0].error.startswith("SES refused the message")


@pytest.mark.parametrize("policy", ["skip", "resend"])
def test_an_answer_lost_after_ses_took_it_is_one_unknown_reader(
    sqlite_url: str,
    tmp_path: Path,
    ses: tuple[str, SesState],
    aws_environment: None,
    policy: str,
) -> None:
    url, state = ses
    app = ses_app(
        sqlite_url, tmp_path, url, unknown_batch_policy=policy, unknown_settle_wait=timedelta(0)
    )
    edition = approved_edition(app)
    subscribe(app, 5)
    state.faults.extend(["", "", "vanish"])
    with pytest.raises(OutcomeUnknown, match="SES request sent but no answer came"):
        app.send(edition, via="ses")
    counts = app.store.deliveries.counts(edition.id or 0)
    assert counts["sent"] == 2 and counts["unknown"] == 1 and counts["pending"] == 2
    app.send(app.store.get_edition(edition.id or 0), via="ses")
    copies = Counter(state.recipients())
    if policy == "skip":
        assert len(copies) == 5 and set(copies.values()) == {1}  # moto took the lost one
        assert app.store.deliveries.counts(edition.id or 0)["unknown"] == 1
    else:
        assert copies["reader2@example.org"] == 2 and len(copies) == 5


def test_no_credentials_is_one_clear_line(
    sqlite_url: str, tmp_path: Path, ses: tuple[str, SesState], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, state = ses
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    app = ses_app(sqlite_url, tmp_path, url)
    edition = approved_edition(app)
    subscribe(app, 2)
    # `send --dry-run` (check_send) says it before anything is recorded, and so does a send.
    with pytest.raises(BatchRejected, match=r"no usable AWS credentials: set AWS_ACCESS_KEY_ID"):
        app.check_send(edition, via="ses")
    with pytest.raises(BatchRejected, match=r"no usable AWS credentials: set AWS_ACCESS_KEY_ID"):
        app.send(edition, via="ses")
    assert not state.taken
    assert app.store.deliveries.counts(edition.id or 0).get("sent", 0) == 0


def test_digest_config_shows_the_ses_section_and_no_credentials(tmp_path: Path) -> None:
    config = newsletter_config("ses") + '\n[ses]\nregion = "eu-west-1"\n'
    env = cli_environment(tmp_path, config, f"sqlite:///{tmp_path}/d.db", SECRET)
    env["AWS_SECRET_ACCESS_KEY"] = "very-secret-aws-key"
    shown = subprocess.run(
        [DIGEST, "config"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert shown.returncode == 0, shown.stderr
    assert "very-secret-aws-key" not in shown.stdout
    data = json.loads(shown.stdout)
    assert data["ses"]["region"] == "eu-west-1" and data["ses"]["sns_topic_arns"] == []


def test_in_a_batch_of_several_a_lost_answer_is_placed_on_its_one_reader(
    database_url: str, tmp_path: Path, ses: tuple[str, SesState], aws_environment: None
) -> None:
    url, state = ses
    app = make_app(
        database_url,
        tmp_path,
        unknown_settle_wait=timedelta(0),
        deferral_first_delay=timedelta(0),
        ses={"region": "eu-west-1", "endpoint_url": url, "batch_size": 5},
    )
    edition = approved_edition(app)
    subscribe(app, 10)
    state.faults.extend(["", "vanish"])
    with pytest.raises(Exception, match="SES request sent but no answer came"):
        app.send(edition, via="ses")
    counts = app.store.deliveries.counts(edition.id or 0)
    # reader0 sent, reader1 unknown, the three after it not reached (queued again, as SMTP
    # does: deferred), the next batch untouched.
    assert (counts["sent"], counts["unknown"], counts["deferred"], counts["pending"]) == (
        1,
        1,
        3,
        5,
    ), counts
    report = app.send(app.store.get_edition(edition.id or 0), via="ses")
    assert report.sent == 8
    copies = Counter(state.recipients())
    assert len(copies) == 10 and set(copies.values()) == {1}
    assert [len(b["EmailTags"]) for b in state.taken] == [4] * 10
    assert all("ConfigurationSetName" not in body for body in state.taken)
