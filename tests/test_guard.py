"""The complaint and bounce guard: a send through the local SendGrid server whose webhook events
(posted through `digest serve`'s real endpoint while the send runs) bring complaints or hard
bounces over the thresholds pauses between batches; `digest send --resume` (or the editor's
page) goes on where it stopped, and the server's log shows every reader exactly once. Under
the thresholds nothing pauses. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from digest.cli import EXIT_PAUSED
from digest.cli import app as cli
from digest.config import load_settings
from digest.edition import EditionStatus
from digest.errors import ConfigError
from digest.run_plan import PAUSED, SEND, EditionState, Kind, State, plan
from digest.send_guard import GuardCounts, SendGuard, judge, percent
from digest.subscribers.model import Status
from tests.conftest import environment, make_newsletter
from tests.guard_support import EDITOR, GuardedSend, Request, guard_config, guarded_send
from tests.web_support import csrf_of

# Every batch weighed (the default reads the counts at most every 5 seconds).
EVERY_BATCH = {"pause_check_interval": '"PT0S"'}
# The lighter scenarios: rates judged from 200 messages, and only the first 300 readers'
# events of each request in before the next batch (the webhook path costs milliseconds an
# event); the two requests of 1,500 readers.
LIGHT = {**EVERY_BATCH, "pause_min_delivered": "200"}
THREE_COMPLAINTS = [Request(complaints=3, arrived=300), Request(arrived=0)]


def digest(send: GuardedSend, *args: str) -> Result:
    with environment(send.env):
        return CliRunner().invoke(cli, list(args))


def once_each(send: GuardedSend, expected: int) -> None:
    """The server took `expected` readers, each exactly once."""
    copies = send.copies()
    assert sum(copies.values()) == expected
    assert max(copies.values()) == 1
    assert set(copies) <= {f"reader{n}@example.org" for n in range(send.readers)}


def ledger(send: GuardedSend) -> tuple[dict[str, int], str]:
    app = send.app()
    try:
        counts = app.store.deliveries.counts(send.edition_id)
        return counts, app.store.get_edition(send.edition_id).status.value
    finally:
        app.close()


# The guard as a function of the counts


def test_a_rate_is_judged_only_once_enough_messages_count() -> None:
    newsletter = make_newsletter()  # 0.1% of complaints, 5% of bounces, from 1000 messages
    assert judge(newsletter, GuardCounts(delivered=20, complaints=1)) is None
    assert judge(newsletter, GuardCounts(delivered=999, complaints=5)) is None
    assert judge(newsletter, GuardCounts(delivered=1000, complaints=1)) is None  # 0.1%: not over
    verdict = judge(newsletter, GuardCounts(delivered=1204, complaints=3))
    assert verdict is not None
    assert verdict.reason() == (
        "3 complaints in 1,204 delivered (0.25%) is over complaint_pause_rate 0.1%"
    )


def test_hard_bounces_count_against_the_messages_whose_fate_is_known() -> None:
    newsletter = make_newsletter()
    # A list of dead addresses: few are delivered, and the bounces are judged all the same.
    verdict = judge(newsletter, GuardCounts(delivered=300, bounces=900))
    assert verdict is not None and verdict.kind == "bounces"
    assert verdict.reason() == (
        "900 hard bounces in 1,200 delivered or bounced (75%) is over bounce_pause_rate 5%"
    )
    assert judge(newsletter, GuardCounts(delivered=960, bounces=40)) is None  # 4%


def test_after_a_resume_only_what_came_since_is_judged() -> None:
    newsletter = make_newsletter(pause_min_delivered=500)
    at_resume = GuardCounts(delivered=1000, complaints=3)
    since = datetime(2026, 12, 1, 21, 30, tzinfo=UTC)
    now = GuardCounts(delivered=1600, complaints=3)
    assert judge(newsletter, now, at_resume, since) is None  # the seen complaints stay seen
    again = judge(newsletter, GuardCounts(delivered=1600, complaints=5), at_resume, since)
    assert again is not None
    assert again.reason() == (
        "2 complaints in 600 delivered since the resume at 2026-12-01 21:30 UTC (0.33%) is "
        "over complaint_pause_rate 0.1%"
    )


def test_the_guard_reads_the_counts_at_most_every_interval() -> None:
    newsletter = make_newsletter(pause_check_interval=timedelta(seconds=5))
    clock = [datetime(2026, 12, 1, tzinfo=UTC)]
    counts = [GuardCounts(delivered=1000)]
    guard = SendGuard(newsletter, lambda: counts[0], clock=lambda: clock[0])
    assert guard.check() is None and guard.checks == 1  # the first batch of a run: always
    counts[0] = GuardCounts(delivered=1000, complaints=9)
    clock[0] += timedelta(seconds=4)
    assert guard.check() is None and guard.checks == 1  # too soon: not read
    clock[0] += timedelta(seconds=1)
    verdict = guard.check()
    assert verdict is not None and verdict.count == 9 and guard.checks == 2


def test_percentages_read_as_people_write_them() -> None:
    assert [percent(x) for x in (0.001, 0.0025, 0.05, 0.0664, 1.0)] == [
        "0.1%",
        "0.25%",
        "5%",
        "6.64%",
        "100%",
    ]


def test_rates_are_fractions_and_the_error_says_so(tmp_path: Path) -> None:
    config = tmp_path / "digest.toml"
    config.write_text(guard_config(complaint_pause_rate="0.3"), encoding="utf-8")
    assert load_settings(config).newsletter("brief").complaint_pause_rate == 0.3  # 30%: allowed
    for value, said in (
        ("5", r"5 is not a fraction: for 5% write 0\.05 \(a fraction of the messages"),
        ("0", "more than 0"),
        ("-0.01", "more than 0"),
    ):
        config.write_text(guard_config(bounce_pause_rate=value), encoding="utf-8")
        with pytest.raises(ConfigError, match=f"bounce_pause_rate.*{said}"):
            load_settings(config)
    config.write_text(guard_config(pause_min_delivered="0"), encoding="utf-8")
    with pytest.raises(ConfigError, match="pause_min_delivered"):
        load_settings(config)


def test_digest_run_reports_a_paused_send_and_never_sends_it() -> None:
    newsletter = make_newsletter(schedule="0 7 * * *")
    now = datetime(2026, 12, 2, 7, 30, tzinfo=UTC)
    slot = datetime(2026, 12, 2, 7, 0, tzinfo=UTC)
    line = "paused: 3 complaints in 1,000 delivered (0.3%) is over complaint_pause_rate 0.1%"
    paused = EditionState(7, 7, EditionStatus.SENDING, slot, paused=line)
    dues = [d for d in plan(newsletter, now, State(editions=(paused,))) if d.key.action == SEND]
    assert [(d.kind, d.status, d.detail, d.edition_id) for d in dues] == [
        (Kind.RECORD, PAUSED, line, 7)
    ]
    sending = EditionState(7, 7, EditionStatus.SENDING, slot)  # resumed: sent again
    dues = [d for d in plan(newsletter, now, State(editions=(sending,))) if d.key.action == SEND]
    assert [d.kind for d in dues] == [Kind.SEND]


# Sends through the local SendGrid server, events through digest's webhook


def test_complaints_pause_the_send_and_resumes_send_everyone_once(
    database_url: str, tmp_path: Path
) -> None:
    # Four requests, the events of 500 readers of each in before the next batch, rates judged
    # from 500 messages at the default 0.1%: 2 complaints in 500 (0.4%) pause it; after the
    # resume none in the next 500 does not, although the whole send's rate would (2 in
    # 1,000: 0.2%); 2 in the third pause it again (2 in 1,000 since the resume).
    script = [Request(complaints=n, arrived=500) for n in (2, 0, 2)] + [Request(arrived=0)]
    settings = {**EVERY_BATCH, "pause_min_delivered": "500"}
    with guarded_send(tmp_path, database_url, 3200, script, **settings) as send:
        number = send.edition_id
        first = digest(send, "send", str(number), "--yes", "--now")
        assert first.exit_code == EXIT_PAUSED, first.output
        assert first.output.splitlines()[-1] == (
            "paused: 2 complaints in 500 delivered (0.4%) is over complaint_pause_rate "
            f"0.1%; `digest send {number} --resume` continues"
        )
        once_each(send, 1000)  # the batch in flight went out and was recorded; no other
        counts, status = ledger(send)
        assert (counts["sent"], counts["pending"], status) == (1000, 2200, "sending")
        [notice] = send.notices()
        assert "paused" in notice["subject"]
        body = notice["content"][0]["value"]
        assert "2 complaints in 500 delivered (0.4%)" in body
        assert f"digest send {number} --resume" in body
        assert f"/editions/{number}/report" in body

        # Without --resume nothing goes out, and the editors are not told twice.
        again = digest(send, "send", str(number), "--yes")
        assert again.exit_code == EXIT_PAUSED and "paused: 2 complaints" in again.output
        once_each(send, 1000)
        assert len(send.notices()) == 1
        report = digest(send, "report", str(number))
        assert "(brief, paused): 3200 readers" in report.output
        assert "paused: 2 complaints in 500 delivered" in report.output
        as_json = json.loads(digest(send, "report", str(number), "--json").output)
        assert as_json["paused"] is True and as_json["pause"]["count"] == 2
        schedule = digest(send, "schedule")
        assert f"edition {number} paused: 2 complaints" in schedule.output

        resumed = digest(send, "send", str(number), "--resume", "--yes")
        assert resumed.exit_code == EXIT_PAUSED, resumed.output
        assert re.search(
            r"^paused: 2 complaints in 1,000 delivered since the resume at "
            r"\d{4}-\d\d-\d\d \d\d:\d\d UTC \(0\.2%\) is over complaint_pause_rate 0\.1%; "
            rf"`digest send {number} --resume` continues$",
            resumed.output.splitlines()[-1],
        )
        once_each(send, 3000)
        assert len(send.notices()) == 2

        last = digest(send, "send", str(number), "--resume", "--yes")
        assert last.exit_code == 0, last.output
        assert "complete" in last.output
        once_each(send, 3200)
        assert set(send.copies()) == {f"reader{n}@example.org" for n in range(3200)}
        counts, status = ledger(send)
        assert (counts["sent"], counts["pending"], status) == (3200, 0, "sent")
        app = send.app()
        try:
            pause = app.store.send_pauses.latest(number)
            assert pause is not None and pause.resumed_at is not None
            assert "(digest send --resume)" in pause.resumed_by
            assert pause.baseline == GuardCounts(delivered=1500, complaints=4)
            # The counts kept as events are recorded are the events' own.
            kept = app.store.delivery_events.guard_counts(number)
            counted = app.store.delivery_events.counts(number)
            assert kept == GuardCounts(delivered=counted["delivered"], complaints=4)
            assert counted["delivered"] == 1500 and counted["complained"] == 4
        finally:
            app.close()
        report = digest(send, "report", str(number))
        assert "(brief, sent)" in report.output and "resumed by " in report.output
    assert send.events.posted["spamreport"] == 4


def test_hard_bounces_pause_the_send_and_a_resume_finishes_it(
    database_url: str, tmp_path: Path
) -> None:
    script = [Request(bounces=20, arrived=300), Request(arrived=0)]
    with guarded_send(tmp_path, database_url, 1500, script, **LIGHT) as send:
        number = send.edition_id
        first = digest(send, "send", str(number), "--yes", "--now")
        assert first.exit_code == EXIT_PAUSED, first.output
        assert first.output.splitlines()[-1] == (
            "paused: 20 hard bounces in 300 delivered or bounced (6.67%) is over "
            f"bounce_pause_rate 5%; `digest send {number} --resume` continues"
        )
        once_each(send, 1000)
        [notice] = send.notices()
        assert "hard bounces" in notice["subject"]
        last = digest(send, "send", str(number), "--resume", "--yes")
        assert last.exit_code == 0 and "complete" in last.output, last.output
        once_each(send, 1500)
        app = send.app()
        try:
            bounced = app.store.subscribers.count(
                app.store.subscribers.list_id("readers"), Status.BOUNCED
            )
        finally:
            app.close()
        assert bounced == 20


def test_under_the_thresholds_nothing_pauses(database_url: str, tmp_path: Path) -> None:
    # With complaints allowed up to 0.5%: 1 complaint in 270 delivered (0.37%) and 10 hard
    # bounces in 280 (3.6%) are under; SendGrid's 20 blocks are no hard bounces (counted,
    # they would make 30 in 300: 10%).
    script = [Request(complaints=1, bounces=10, blocked=20, arrived=300), Request(arrived=0)]
    settings = {**LIGHT, "complaint_pause_rate": "0.005"}
    with guarded_send(tmp_path, database_url, 1500, script, **settings) as send:
        result = digest(send, "send", str(send.edition_id), "--yes", "--now")
        assert result.exit_code == 0, result.output
        assert "complete" in result.output and "paused" not in result.output
        once_each(send, 1500)
        assert send.notices() == []
        assert send.events.posted["blocked"] == 20
        app = send.app()
        try:
            readers = app.store.subscribers.list_id("readers")
            assert app.store.subscribers.count(readers, Status.BOUNCED) == 10  # not the blocked
            assert app.store.send_pauses.latest(send.edition_id) is None
        finally:
            app.close()


def test_digest_run_reports_paused_not_failed_and_leaves_it_to_an_editor(
    database_url: str, tmp_path: Path
) -> None:
    schedule = {"schedule": '"0 0 1 1 *"', **LIGHT}  # no scheduled time comes near
    with guarded_send(tmp_path, database_url, 1500, THREE_COMPLAINTS, **schedule) as send:
        number = send.edition_id
        app = send.app()
        try:
            app.approve(
                app.store.get_edition(number), send_at=datetime.now(UTC) - timedelta(minutes=1)
            )
        finally:
            app.close()
        for _tick in range(2):
            ran = digest(send, "run", "--json")
            assert ran.exit_code == 0, ran.output
            [action] = [json.loads(line) for line in ran.output.splitlines()]
            assert (action["action"], action["status"], action["edition_id"]) == (
                "send",
                "paused",
                number,
            )
            assert action["detail"].startswith("paused: 3 complaints in 300 delivered (1%)")
            once_each(send, 1000)  # the second tick sent nothing
        assert len(send.notices()) == 1
        assert "send paused - paused: 3 complaints" in digest(send, "schedule").output
        assert digest(send, "send", str(number), "--resume", "--yes").exit_code == 0
        ran = digest(send, "run", "--json")
        [action] = [json.loads(line) for line in ran.output.splitlines()]
        assert action["status"] == "done"
        once_each(send, 1500)


def test_the_editor_page_resumes_a_paused_send(database_url: str, tmp_path: Path) -> None:
    with guarded_send(tmp_path, database_url, 1500, THREE_COMPLAINTS, **LIGHT) as send:
        number = send.edition_id
        assert digest(send, "send", str(number), "--yes", "--now").exit_code == EXIT_PAUSED
        with httpx.Client(base_url=send.events.base, timeout=30) as client:
            page = client.get(f"/editions/{number}/report")
            assert page.status_code == 200
            assert "Resume sending" in page.text and "3 complaints in 300 delivered" in page.text
            assert client.get(f"/editions/{number}").text.count('id="resume"') == 1
            forged = client.post(f"/editions/{number}/resume", data={"csrf": "forged"})
            assert forged.status_code == 403
            once_each(send, 1000)
            answer = client.post(
                f"/editions/{number}/resume",
                data={"csrf": csrf_of(page.text), "back": "report"},
            )
            assert answer.status_code == 303
            assert answer.headers["location"] == f"/editions/{number}/report"
            wait_until_sent(send)
            shown = client.get(f"/editions/{number}/report").text
            assert "Resume sending" not in shown and "resumed by editor on the editor page" in shown
        once_each(send, 1500)
        app = send.app()
        try:
            pause = app.store.send_pauses.latest(number)
            assert pause is not None
            assert pause.resumed_by == "editor on the editor page from 127.0.0.1"
        finally:
            app.close()
        assert EDITOR not in send.copies()


def wait_until_sent(send: GuardedSend, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if ledger(send)[1] == "sent":
            return
        time.sleep(0.2)
    raise AssertionError(f"the resumed send did not finish: {ledger(send)}")


def test_migration_0016_makes_the_tables_as_modelled_fills_the_counts_and_goes_back(
    database_url: str,
) -> None:
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import insert, inspect

    from digest.store import open_store
    from digest.store.db import _alembic_config, make_engine, migrate
    from digest.store.tables import Base, DeliveryEventRow, DeliveryRow, EditionRow, ListRow

    engine = make_engine(database_url)
    migrate(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    ours = [d for d in differences if "send_pauses" in repr(d) or "event_counts" in repr(d)]
    assert ours == []
    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0015")
        tables = set(inspect(connection).get_table_names())
        assert not {"send_pauses", "delivery_event_counts"} & tables
        # Events recorded before the migration: the counts are filled from them.
        edition = connection.execute(
            insert(EditionRow)
            .values(newsletter="brief", number=1, issue_date=date(2026, 12, 1), subject="S")
            .returning(EditionRow.id)
        ).scalar_one()
        list_id = connection.execute(
            insert(ListRow).values(name="readers").returning(ListRow.id)
        ).scalar_one()
        connection.execute(
            insert(DeliveryRow),
            [
                {"id": n, "edition_id": edition, "list_id": list_id, "status": "sent"}
                for n in (1, 2, 3)
            ],
        )
        connection.execute(
            insert(DeliveryEventRow),
            [
                {"delivery_id": n, "edition_id": edition, "kind": kind, "reason": ""}
                for n, kind in (
                    (1, "delivered"),
                    (2, "delivered"),
                    (2, "spamreport"),
                    (3, "bounce"),
                )
            ],
        )
        command.upgrade(config, "head")
    engine.dispose()
    store = open_store(database_url)
    try:
        assert store.delivery_events.guard_counts(edition) == GuardCounts(2, 1, 1)
    finally:
        store.close()
