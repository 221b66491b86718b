"""A/B subject lines end to end, against the local SendGrid server under a controlled clock:
the test share split between the lines, the wait, the winner by readers' clicks through
`digest serve`'s redirect (real HTTP), the rest sent the winner; exactly once across a SIGKILL
between the winner's choice and the rest's send. On SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import time_machine
from typer.testing import CliRunner

from digest.app import App
from digest.cli import app as cli
from digest.config import load_settings
from digest.editing import edition_to_yaml
from tests.servers.sendgrid import SendGridState, running_sendgrid
from tests.web_support import serving

ROOT = Path(__file__).resolve().parent.parent
KEY = "SG.test-key"
READERS = 500
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
track_clicks = {track}
subject_test_share = 0.2
subject_test_wait = "02:00:00"
"""
LINES = ["Sanctions hit the shadow fleet", "What the new EU package means for tankers"]
# A reader's browser, not a scanner.
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0"


@pytest.fixture
def sendgrid() -> Iterator[tuple[str, SendGridState]]:
    with running_sendgrid(KEY) as server:
        yield server


def _workdir(tmp_path: Path, database_url: str, host: str, track: bool) -> dict[str, str]:
    (tmp_path / "digest.toml").write_text(
        CONFIG.format(track="true" if track else "false"), encoding="utf-8"
    )
    env = {
        "DIGEST_CONFIG": str(tmp_path / "digest.toml"),
        "DIGEST_DATABASE_URL": database_url,
        "DIGEST_SECRET_KEY": "subject-test-secret-0123456789",
        "DIGEST_SENDGRID_HOST": host,
        "DIGEST_SEND_RETRY_DELAY": "0.01",
        "SENDGRID_API_KEY": KEY,
        "DIGEST_FIRST_SEND_CHECK": "false",  # example.org has no DNS (tests/test_doctor.py)
    }
    people = tmp_path / "people.csv"
    people.write_text(
        "email\n" + "".join(f"reader{n}@example.org\n" for n in range(READERS)), encoding="utf-8"
    )
    return env


def _cli(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, f"digest {' '.join(args)}: {result.output}"
    return result.output


def _prepare(tmp_path: Path) -> int:
    """The edition, with two subject lines to test, approved."""
    _cli("subscribers", "import", str(tmp_path / "people.csv"), "--list", "readers")
    _cli("add", str(ROOT / "examples/articles/sanctions.jsonl"))
    _cli("build", "--date", "2026-11-24")
    app = App(load_settings())
    edition = app.edition("latest")
    app.close()
    text = edition_to_yaml(edition).replace(
        "subject_tests: []", "subject_tests:\n" + "".join(f"- {line}\n" for line in LINES)
    )
    (tmp_path / "edition.yaml").write_text(text, encoding="utf-8")
    _cli("edit", "latest", "--from", str(tmp_path / "edition.yaml"))
    _cli("approve", "latest")
    assert edition.id is not None
    return edition.id


def _subjects(state: SendGridState) -> dict[str, list[str]]:
    """Each address and the subject lines it was sent, from the bodies SendGrid took."""
    got: dict[str, list[str]] = {}
    for body in state.bodies:
        for personalization in body["personalizations"]:
            for to in personalization["to"]:
                got.setdefault(to["email"], []).append(body["subject"])
    return got


def _click_links(state: SendGridState) -> dict[str, str]:
    """Each address's click prefix (its %%click_base%% substitution) as sent."""
    return {
        p["to"][0]["email"]: p["substitutions"]["%%click_base%%"]
        for body in state.bodies
        for p in body["personalizations"]
    }


def test_subject_lines_split_wait_winner_rest_exactly_once_across_a_kill(
    database_url: str,
    tmp_path: Path,
    sendgrid: tuple[str, SendGridState],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host, state = sendgrid
    env = _workdir(tmp_path, database_url, host, track=True)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    edition_id = _prepare(tmp_path)
    started = datetime.now(UTC) - timedelta(hours=3)

    # The split: a fifth of the list, half and half, the others wait.
    with time_machine.travel(started, tick=False):
        out = _cli("send", str(edition_id), "--yes")
    assert "wait for the winning subject line" in out
    tested = _subjects(state)
    counts = Counter(line for lines in tested.values() for line in lines)
    # Every copy's article links go through the click redirect (the test lines are decided by
    # those clicks), in both parts.
    for body in state.bodies:
        assert all("%%click_base%%/" in part["value"] for part in body["content"])
    assert set(counts) == set(LINES)
    assert 0.15 * READERS <= len(tested) <= 0.25 * READERS
    assert abs(counts[LINES[0]] - counts[LINES[1]]) <= 0.25 * len(tested)

    # Within the wait nothing more goes out, however often the send runs.
    with time_machine.travel(started + timedelta(hours=1), tick=False):
        out = _cli("send", str(edition_id), "--yes")
    assert "wait for the winning subject line" in out
    assert len(_subjects(state)) == len(tested)

    # Readers click: more of the second line's readers than of the first's. One reader of
    # the first clicks its every link at once (a scanner's burst): not counted.
    app = App(load_settings())
    edition = app.store.get_edition(edition_id)
    article_ids = [item.article.id for item in edition.items]
    links = _click_links(state)
    by_line = {line: [a for a, lines in tested.items() if lines == [line]] for line in LINES}
    with serving(app.settings) as base, httpx.Client(headers={"User-Agent": BROWSER}) as client:

        def click(address: str, article_id: int | None) -> None:
            url = links[address].replace("https://brief.example.org", base)
            answer = client.get(f"{url}/{article_id}", follow_redirects=False)
            assert answer.status_code in (302, 303), answer.text

        for address in by_line[LINES[1]][:6]:
            click(address, article_ids[0])
        for address in by_line[LINES[0]][:2]:
            click(address, article_ids[0])
        scanner = by_line[LINES[0]][2]
        for article_id in article_ids:
            click(scanner, article_id)
    app.close()

    # The wait is over: the run choosing the winner is killed right after storing it.
    killed = subprocess.run(
        [str(Path(sys.executable).parent / "digest"), "send", str(edition_id), "--yes"],
        env={**os.environ, **env, "DIGEST_FAULT_POINT": "after-winner"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert killed.returncode == -9, killed.stderr
    assert len(_subjects(state)) == len(tested)  # the rest not sent yet

    out = _cli("send", str(edition_id), "--yes")
    assert "complete" in out
    got = _subjects(state)
    assert len(got) == READERS and all(len(lines) == 1 for lines in got.values())
    rest = {a: lines for a, lines in got.items() if a not in tested}
    assert {line for lines in rest.values() for line in lines} == {LINES[1]}

    # The ledger and the report say who got which line.
    app = App(load_settings())
    report = app.delivery_report(app.store.get_edition(edition_id))
    by_subject: Counter[str] = Counter()
    for line in report.copies:
        by_subject[line.subject] += line.sent
    assert by_subject[LINES[0]] == counts[LINES[0]]
    assert by_subject[LINES[1]] == counts[LINES[1]] + len(rest)
    parts = {line.copy: line.sent for line in report.copies}
    assert parts["Every topic · the rest: line 2, the winner"] == len(rest)
    assert parts["Every topic · subject test, line 1"] == counts[LINES[0]]
    # The edition's page says how the test ended.
    with serving(app.settings) as base:
        page = httpx.get(f"{base}/editions/{edition_id}").text
    assert "won by line 2 (readers who clicked: line 1: 2, line 2: 6)" in page
    assert LINES[0] in page and LINES[1] in page


def test_readers_whose_copy_lacks_the_lead_are_not_tested_and_do_not_wait(
    sqlite_url: str, tmp_path: Path
) -> None:
    """The lines are about the edition's lead: a copy without it keeps its own subject, its
    readers are neither in the test nor held for the winner (their clicks count for no line)."""
    from tests.test_personalised import _add, _app, _subscribe

    app = _app(sqlite_url, tmp_path)
    newsletter = app.settings.newsletter("brief").model_copy(update={"track_clicks": True})
    app.settings.newsletters["brief"] = newsletter
    _subscribe(app)
    _add(app, tmp_path, 23)
    edition = app.build(newsletter, date(2026, 11, 23), frequency="daily")
    edition = app.store.update_edition(
        edition.model_copy(update={"subject_tests": ["Line one", "Line two"]})
    )
    report = app.send(app.approve(edition))
    assert report.test_until is not None
    lead_desk = edition.top_story.article.tags[0]
    lacking = {t for t in newsletter.topics if t != lead_desk}
    outcomes = app.store.deliveries.by_variant(edition.id or 0)
    for count in outcomes:
        topics = set(count.variant.split(",")) if count.variant else set()
        if topics and not topics & {lead_desk}:
            # Sent at once with their own subject, never given a line.
            assert count.subject_index == 0 and count.statuses.get("sent") == count.readers
    assert any(set(c.variant.split(",")) <= lacking for c in outcomes if c.variant)
    app.close()


def test_a_subject_test_without_click_tracking_is_refused_with_the_reason(
    sqlite_url: str,
    tmp_path: Path,
    sendgrid: tuple[str, SendGridState],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host, state = sendgrid
    env = _workdir(tmp_path, sqlite_url, host, track=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    result = None
    try:
        _prepare(tmp_path)
    except AssertionError as error:
        result = str(error)
    assert result is not None and "does not track clicks" in result
    assert "track_clicks = true" in result
    assert not state.bodies


@pytest.mark.parametrize("readers", [2, 6, 50, 2000])
def test_the_test_share_is_split_evenly_and_each_line_gets_a_reader(
    sqlite_url: str, tmp_path: Path, readers: int
) -> None:
    from digest.store.subscribers import NewSubscriber
    from tests.test_send import approved_edition, make_app

    app = make_app(sqlite_url, tmp_path)
    list_id = app.store.subscribers.ensure_list("readers")
    app.store.subscribers.upsert(
        list_id, [NewSubscriber(email=f"r{n}@example.org") for n in range(readers)]
    )
    edition = approved_edition(app)
    assert edition.id is not None
    deliveries = app.store.deliveries
    deliveries.enqueue_audience(edition.id, list_id)
    assigned = deliveries.assign_subject_lines(edition.id, list_id, 3, 200, [""])
    # Run again (a send cut off and resumed): nobody is assigned twice.
    assert deliveries.assign_subject_lines(edition.id, list_id, 3, 200, [""]) == 0
    lines = Counter(
        index
        for (_, index), count in deliveries.pending_variants(edition.id, list_id).items()
        for _ in range(count)
        if index
    )
    assert sum(lines.values()) == assigned
    if readers >= 3:
        assert set(lines) == {1, 2, 3} and max(lines.values()) - min(lines.values()) <= 1
    else:
        assert set(lines) == {1, 2}
    if readers >= 2000:
        assert 0.17 * readers <= assigned <= 0.23 * readers
