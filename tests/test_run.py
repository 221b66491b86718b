"""`digest run` under a controlled clock (time-machine), through the real command: automatic
and editorial newsletters over weeks, catching up after downtime, daylight saving changes."""

from __future__ import annotations

import email
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import text

from digest.app import App
from digest.cli import app as cli_app
from digest.config import load_settings
from digest.run_plan import SlotKey
from digest.store.subscribers import NewSubscriber

KYIV = ZoneInfo("Europe/Kyiv")
SECRET = "run-test-secret-0123456789"


def config(schedule: str, timezone: str, mode: str, **extra: str) -> str:
    lines = [
        "[newsletters.brief]",
        'title = "The Test Brief"',
        """theme = "Russia's war in Ukraine and its allies\"""",
        'from_name = "Test Brief"',
        'from_address = "brief@example.org"',
        'postal_address = "1 Test Street, Testville"',
        'base_url = "https://brief.example.org"',
        'lists = ["readers"]',
        f'schedule = "{schedule}"',
        f'timezone = "{timezone}"',
        f'mode = "{mode}"',
        'editors = ["editor@example.org"]',
        'lead_time = "02:00:00"',
        'catch_up_grace = "06:00:00"',
        'lookback = "P10D"',
    ]
    lines += [f"{key} = {value}" for key, value in extra.items()]
    return "\n".join(lines) + "\n"


class Newsroom:
    """A working directory with a config, a store, subscribers, and a clock to run at."""

    def __init__(
        self,
        tmp_path: Path,
        database_url: str,
        text: str,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        self.path = tmp_path
        (tmp_path / "digest.toml").write_text(text, encoding="utf-8")
        for name, value in {
            "DIGEST_CONFIG": str(tmp_path / "digest.toml"),
            "DIGEST_DATABASE_URL": database_url,
            "DIGEST_SECRET_KEY": SECRET,
            "DIGEST_OUTBOX_DIR": str(tmp_path / "outbox"),
        }.items():
            monkeypatch.setenv(name, value)
        self.capsys = capsys
        self.article_number = 0

    def app(self) -> App:
        return App(load_settings())

    def subscribe(self, count: int) -> None:
        app = self.app()
        list_id = app.store.subscribers.ensure_list("readers")
        app.store.subscribers.upsert(
            list_id, [NewSubscriber(email=f"r{n}@example.org") for n in range(count)]
        )
        app.close()

    def add_articles(self, when: datetime, count: int = 3) -> None:
        records = []
        for _ in range(count):
            self.article_number += 1
            n = self.article_number
            records.append(
                json.dumps(
                    {
                        "title": f"Story {n} on the front line",
                        "text": f"Story {n} says troops in Ukraine held the line near town {n}. "
                        f"Officials said allies sent more air defence, report {n} adds.",
                        "published": when.isoformat(),
                        # One wire's stories: alike as they are, one outlet's stories are
                        # never merged as reports of one event.
                        "source": "Example Wire",
                    }
                )
            )
        path = self.path / f"articles-{self.article_number}.jsonl"
        path.write_text("\n".join(records) + "\n", encoding="utf-8")
        app = self.app()
        assert not app.add([str(path)]).errors
        app.close()

    def run(self, when: datetime, *args: str) -> tuple[int, list[dict[str, object]]]:
        self.capsys.readouterr()
        with time_machine.travel(when, tick=False):
            code = cli_app([*args, "run", "--json"], standalone_mode=False)
        out = self.capsys.readouterr().out
        return int(code or 0), [json.loads(line) for line in out.splitlines() if line.strip()]

    def ok(self, when: datetime) -> list[dict[str, object]]:
        """A run that must succeed (exit status 0); its actions."""
        code, actions = self.run(when)
        assert code == 0, actions
        return actions

    def cli(self, when: datetime, *args: str) -> str:
        self.capsys.readouterr()
        with time_machine.travel(when, tick=False):
            cli_app(list(args), standalone_mode=False)
        return self.capsys.readouterr().out

    def delivered(self) -> dict[int, dict[str, int]]:
        """Per edition: how many .eml files each subscriber got."""
        counts: dict[int, dict[str, int]] = {}
        for path in (self.path / "outbox" / "brief").glob("edition-*/0*.eml"):
            edition = int(path.parent.name.split("-")[1])
            message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
            to = str(message["To"].addresses[0].addr_spec)
            counts.setdefault(edition, {}).setdefault(to, 0)
            counts[edition][to] += 1
        return counts

    def notices(self) -> list[str]:
        subjects = []
        for path in sorted((self.path / "outbox" / "brief").glob("edition-*/notice-*.eml")):
            message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
            subjects.append(str(message["Subject"]))
        return subjects


@pytest.fixture
def newsroom(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Callable[..., Newsroom]]:
    def make(database_url: str, text: str) -> Newsroom:
        return Newsroom(tmp_path, database_url, text, monkeypatch, capsys)

    yield make


def kyiv(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=KYIV)


def statuses(actions: list[dict[str, object]], action: str) -> list[object]:
    return [a["status"] for a in actions if a["action"] == action]


def test_automatic_weekly_over_several_weeks(
    database_url: str, newsroom: Callable[..., Newsroom]
) -> None:
    room = newsroom(database_url, config("0 7 * * MON", "Europe/Kyiv", "automatic"))
    room.subscribe(5)
    mondays = [2, 9, 16, 23]
    for monday in mondays:
        room.add_articles(kyiv(monday - 1, 12))
        assert room.run(kyiv(monday, 6, 55)) == (0, [])
        actions = room.ok(kyiv(monday, 7, 0))
        assert statuses(actions, "build") == ["done"]
        assert statuses(actions, "send") == ["done"]
        for later in (kyiv(monday, 7, 5), kyiv(monday, 12, 0), kyiv(monday + 2, 7, 0)):
            assert room.run(later) == (0, [])
    delivered = room.delivered()
    assert len(delivered) == 4
    assert all(set(per) == {f"r{n}@example.org" for n in range(5)} for per in delivered.values())
    assert all(count == 1 for per in delivered.values() for count in per.values())
    # Each edition holds that week's three new articles, none twice.
    app = room.app()
    editions = sorted(app.store.list_editions("brief"), key=lambda e: e.number)
    assert [e.number for e in editions] == [1, 2, 3, 4]
    assert all(e.status == "sent" and len(e.items) == 3 for e in editions)
    used = [item.article.id for e in editions for item in e.items]
    assert len(used) == len(set(used)) == 12
    app.close()


def test_editorial_draft_approval_and_refusal(
    database_url: str, newsroom: Callable[..., Newsroom]
) -> None:
    room = newsroom(database_url, config("0 7 * * MON", "Europe/Kyiv", "editorial"))
    room.subscribe(3)
    room.add_articles(kyiv(8, 12))
    assert room.run(kyiv(9, 4, 59)) == (0, [])
    actions = room.ok(kyiv(9, 5, 0))  # two hours ahead: the draft
    assert statuses(actions, "build") == ["done"] and statuses(actions, "notify") == ["done"]
    assert statuses(actions, "send") == []
    edition_id = actions[0]["edition_id"]
    assert room.notices() == ["[The Test Brief] Draft No. 1 to approve"]
    assert room.run(kyiv(9, 6, 0)) == (0, [])
    approved = room.cli(kyiv(9, 6, 30), "approve", str(edition_id))
    assert "to be sent at 2026-11-09T05:00:00+00:00" in approved
    actions = room.ok(kyiv(9, 7, 0))
    assert statuses(actions, "send") == ["done"]
    assert room.delivered() == {edition_id: {f"r{n}@example.org": 1 for n in range(3)}}

    # Next week nobody approves: nothing is sent, the log and the editors say so.
    room.add_articles(kyiv(15, 12))
    actions = room.ok(kyiv(16, 5, 10))
    assert statuses(actions, "build") == ["done"]
    second = actions[0]["edition_id"]
    actions = room.ok(kyiv(16, 7, 1))
    assert statuses(actions, "send") == ["not_approved"]
    assert "was not approved in time: not sent" in str(actions[0]["detail"])
    assert room.notices()[-1] == "[The Test Brief] No. 2 was NOT sent"
    assert room.run(kyiv(16, 8, 0)) == (0, [])
    assert second not in room.delivered()

    # Approved later for another time, it goes out then, once.
    room.cli(kyiv(16, 9, 0), "approve", str(second), "--send-at", "2026-11-16T10:00")
    assert room.run(kyiv(16, 9, 59)) == (0, [])
    actions = room.ok(kyiv(16, 10, 0))
    assert statuses(actions, "send") == ["done"]
    assert room.delivered()[int(str(second))] == {f"r{n}@example.org": 1 for n in range(3)}
    assert room.run(kyiv(16, 10, 5)) == (0, [])


def test_cancelled_edition_is_not_sent(sqlite_url: str, newsroom: Callable[..., Newsroom]) -> None:
    room = newsroom(sqlite_url, config("0 7 * * MON", "Europe/Kyiv", "editorial"))
    room.subscribe(2)
    room.add_articles(kyiv(8, 12))
    actions = room.ok(kyiv(9, 5, 0))
    edition_id = actions[0]["edition_id"]
    room.cli(kyiv(9, 5, 30), "approve", str(edition_id))
    room.cli(kyiv(9, 6, 0), "cancel", str(edition_id), "--yes")
    actions = room.ok(kyiv(9, 7, 0))
    assert statuses(actions, "send") == ["cancelled"]
    assert room.delivered() == {}


def test_downtime_catches_up_once_within_grace(
    sqlite_url: str, newsroom: Callable[..., Newsroom]
) -> None:
    room = newsroom(sqlite_url, config("0 7 * * MON", "Europe/Kyiv", "automatic"))
    room.subscribe(2)
    room.add_articles(kyiv(1, 12))
    room.run(kyiv(2, 7, 0))
    # The machine is down from 2 to 23 November; it comes back at 09:30 on Monday the 23rd.
    room.add_articles(kyiv(20, 12))
    actions = room.ok(kyiv(23, 9, 30))
    assert [(a["action"], a["status"]) for a in actions] == [("build", "done"), ("send", "done")]
    assert actions[0]["slot"] == kyiv(23, 7).astimezone(UTC).isoformat()
    assert len(room.delivered()) == 2  # the first Monday and the latest: no flood of old ones
    # Back after the grace period (Monday 30th at 14:00, more than 6 hours late): nothing.
    room.add_articles(kyiv(29, 12))
    assert room.run(kyiv(30, 14, 0)) == (0, [])
    assert len(room.delivered()) == 2


@pytest.mark.parametrize(
    ("timezone", "expression", "days"),
    [
        ("America/New_York", "30 2 * * *", [(3, 7), (3, 8), (3, 9)]),  # spring forward
        ("America/New_York", "30 1 * * *", [(10, 31), (11, 1), (11, 2)]),  # fall back
        ("Europe/Kyiv", "30 3 * * *", [(3, 28), (3, 29), (3, 30)]),
        ("Europe/Kyiv", "30 3 * * *", [(10, 24), (10, 25), (10, 26)]),
    ],
)
def test_daylight_saving_neither_skips_nor_doubles(
    sqlite_url: str,
    newsroom: Callable[..., Newsroom],
    timezone: str,
    expression: str,
    days: list[tuple[int, int]],
) -> None:
    zone = ZoneInfo(timezone)
    room = newsroom(sqlite_url, config(expression, timezone, "automatic"))
    room.subscribe(1)
    sends: list[datetime] = []
    for month, day in days:
        start = datetime(2026, month, day, 0, 0, tzinfo=zone)
        room.add_articles(start - timedelta(hours=1), count=1)
        moment = start
        while moment < start + timedelta(hours=6):
            actions = room.ok(moment.astimezone(UTC))
            sends += [moment for a in actions if a["action"] == "send" and a["status"] == "done"]
            moment = (moment.astimezone(UTC) + timedelta(minutes=15)).astimezone(zone)
    local_days = [s.astimezone(zone).date() for s in sends]
    assert len(sends) == 3 and len(set(local_days)) == 3
    assert all(len(per) == 1 for per in room.delivered().values())


def test_orphan_draft_of_a_killed_run_is_adopted_and_sent_at_its_time(
    database_url: str, newsroom: Callable[..., Newsroom]
) -> None:
    """What a run killed between building and recording leaves: the build claimed, the edition
    made (and linked to its slot in the same transaction), nothing recorded after. The next
    tick adopts that edition instead of building again or skipping, and sends it once."""
    room = newsroom(database_url, config("0 7 * * MON", "Europe/Kyiv", "automatic"))
    room.subscribe(3)
    room.add_articles(kyiv(8, 12))
    slot = kyiv(9, 7).astimezone(UTC)
    app = room.app()
    newsletter = app.settings.newsletter("brief")
    with time_machine.travel(slot, tick=False):
        assert app.store.schedule.claim(SlotKey("brief", slot, "build"), None)
        orphan = app.build(newsletter, slot.date(), send_at=slot)
    claimed = app.store.schedule.get("brief", slot, "build")
    assert claimed is not None and (claimed.status, claimed.edition_id) == ("claimed", orphan.id)
    app.close()

    actions = room.ok(kyiv(9, 7, 5))
    assert [(a["action"], a["status"], a["edition_id"]) for a in actions] == [
        ("build", "done", orphan.id),
        ("send", "done", orphan.id),
    ]
    assert "adopted No. 1" in str(actions[0]["detail"])
    assert actions[1]["slot"] == slot.isoformat()
    assert room.delivered() == {orphan.id: {f"r{n}@example.org": 1 for n in range(3)}}
    assert room.run(kyiv(9, 7, 10)) == (0, [])
    app = room.app()
    assert [e.id for e in app.store.list_editions("brief")] == [orphan.id]
    app.close()


def test_run_beside_a_manual_send_reports_busy(
    database_url: str, newsroom: Callable[..., Newsroom], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`digest send` holds the edition's lock: the run's send is busy (exit status 0), and the
    next tick sends it. (On PostgreSQL the run waits `send_lock_wait` for the lock first, as a
    host joining a shared send does: a second here instead of thirty.)"""
    monkeypatch.setenv("DIGEST_SEND_LOCK_WAIT", "1")
    room = newsroom(database_url, config("0 7 * * MON", "Europe/Kyiv", "editorial"))
    room.subscribe(2)
    room.add_articles(kyiv(8, 12))
    edition_id = room.ok(kyiv(9, 5, 0))[0]["edition_id"]
    room.cli(kyiv(9, 6, 0), "approve", str(edition_id))
    app = room.app()
    with app.store.lock(f"send-edition-{edition_id}"):
        code, actions = room.run(kyiv(9, 7, 0))
    app.close()
    assert code == 0
    assert [(a["action"], a["status"]) for a in actions] == [("send", "busy")]
    assert "being sent by another process" in str(actions[0]["detail"])
    assert room.delivered() == {}
    actions = room.ok(kyiv(9, 7, 5))
    assert statuses(actions, "send") == ["done"]
    assert room.delivered() == {edition_id: {f"r{n}@example.org": 1 for n in range(2)}}


def test_database_error_mid_run_is_one_line_and_the_next_run_recovers(
    database_url: str, newsroom: Callable[..., Newsroom]
) -> None:
    """A table the build writes is gone (a database error after the build was claimed): one
    line naming the database's error, exit status 1, no traceback; once the database is
    whole again, the next tick builds and sends, once."""
    room = newsroom(database_url, config("0 7 * * MON", "Europe/Kyiv", "automatic"))
    room.subscribe(2)
    room.add_articles(kyiv(8, 12))
    app = room.app()
    with app.store.engine.begin() as connection:
        connection.execute(text("ALTER TABLE edition_sections RENAME TO sections_away"))
    code, actions = room.run(kyiv(9, 7, 0))
    assert code == 1
    assert [(a["action"], a["status"]) for a in actions] == [("build", "failed")]
    detail = str(actions[0]["detail"])
    assert detail.startswith("database error: ") and "edition_sections" in detail
    assert "\n" not in detail and "SQL" not in detail
    with app.store.engine.begin() as connection:
        connection.execute(text("ALTER TABLE sections_away RENAME TO edition_sections"))
    app.close()
    actions = room.ok(kyiv(9, 7, 5))
    assert [(a["action"], a["status"]) for a in actions] == [("build", "done"), ("send", "done")]
    assert [len(per) for per in room.delivered().values()] == [2]
