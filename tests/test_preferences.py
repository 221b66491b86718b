"""Readers' choices of topics and frequency: checked against what the list's newsletters
declare (one line naming the field and the key), stored on SQLite and PostgreSQL, carried by
the CSV import and export (an export imports back unchanged), `subscribers add --topics
--frequency`, and the use cases behind the preference page."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from digest.app import App
from digest.config import NewsletterConfig, Settings
from digest.errors import FieldError
from digest.preferences import ChoiceError, Choices, choices_for, topic_keys
from digest.store import Store
from digest.store.subscribers import NewSubscriber
from digest.subscribers.importer import import_csv
from digest.subscribers.model import Status
from digest.subscribers.rows import PreparedSubscriber
from tests.conftest import make_newsletter

SECRET = "preferences-test-secret-0123"
TOPICS = {
    "war": {"label": "The war", "tags": ["war"]},
    "economy": {"label": "Economy and sanctions", "query": ["sanctions"]},
    "culture": {"tags": ["culture"]},
}
FREQUENCIES = {
    "weekly": {"label": "Weekly, on Monday", "schedule": "0 7 * * MON"},
    "daily": {"label": "Every morning", "schedule": "0 7 * * *"},
}


def choosing(**overrides: object) -> NewsletterConfig:
    """A newsletter whose readers choose among three topics and two frequencies."""
    values: dict[str, object] = {
        "lists": ["readers"],
        "topics": TOPICS,
        "frequencies": FREQUENCIES,
        "main_frequency": "weekly",
    }
    values.update(overrides)
    return make_newsletter(**values)


def choices() -> Choices:
    return choices_for([choosing()], "readers")


# Validation


def test_choices_come_from_the_newsletters_of_the_list() -> None:
    offered = choices()
    assert offered.topic_keys == ("war", "economy", "culture")
    assert [c.label for c in offered.topics] == ["The war", "Economy and sanctions", "culture"]
    assert offered.frequency_keys == ("weekly", "daily")
    assert offered.main_frequency == "weekly" and offered.offered
    # Two newsletters on one list: either's keys are allowed, the first one's labels shown.
    other = make_newsletter(
        name="other",
        title="The Other",
        lists=["readers"],
        topics={"war": {"label": "Front line", "tags": ["war"]}, "sport": {"tags": ["sport"]}},
    )
    shared = choices_for([choosing(), other], "readers")
    assert shared.topic_keys == ("war", "economy", "culture", "sport")
    assert shared.topic_label("war") == "The war"
    assert shared.owner == "The Test Brief / The Other"
    # Without frequencies declared the main one is "" (the newsletter's own schedule).
    assert choices_for([other], "readers").main_frequency == ""
    assert not choices_for([make_newsletter()], "readers").offered


def test_an_undeclared_topic_or_frequency_is_refused_naming_it() -> None:
    offered = choices()
    with pytest.raises(ChoiceError) as topic:
        offered.stored_topics(["war", "cooking"])
    assert str(topic.value) == (
        "topics: 'cooking' is not a topic of The Test Brief (its topics: war, economy, culture)"
    )
    assert topic.value.value == "cooking" and isinstance(topic.value, FieldError)
    with pytest.raises(ChoiceError, match=r"^frequency: 'hourly' is not a frequency of The Test "):
        offered.stored_frequency("hourly")
    nothing = choices_for([], "copy")
    with pytest.raises(
        ChoiceError, match=r"'war' is not a topic of list 'copy' \(no newsletter sends to it\)"
    ):
        nothing.stored_topics(["war"])
    plain = choices_for([make_newsletter(lists=["readers"])], "readers")
    with pytest.raises(ChoiceError, match=r"\(it declares no frequencies\)"):
        plain.stored_frequency("weekly")
    # What is stored: declared keys, sorted and comma-joined, any case or order given.
    assert offered.stored_topics([" Economy", "war", "war"]) == "economy,war"
    assert offered.stored_topics([]) == "" and offered.stored_frequency("") == ""
    assert topic_keys("war; economy,culture  war") == ["war", "economy", "culture", "war"]


def test_a_readers_choice_every_topic_is_everything_none_is_refused() -> None:
    offered = choices()
    assert offered.chosen(["war", "economy", "culture"], "daily") == ("", "daily")
    assert offered.chosen(["culture", "war"], "") == ("culture,war", "weekly")
    with pytest.raises(ChoiceError, match=r"^topics: choose at least one topic \(or unsubscribe"):
        offered.chosen([], "weekly")
    # A newsletter without topics: no topic is the only choice, and is everything.
    frequencies_only = choices_for([choosing(topics={})], "readers")
    assert frequencies_only.chosen([], "daily") == ("", "daily")
    with pytest.raises(ChoiceError, match="'war' is not a topic"):
        frequencies_only.chosen(["war"], "daily")
    # What a page shows for stored choices: everything ticks every box; a key no longer
    # declared is not shown; an unknown frequency shows the main one.
    assert offered.ticked([]) == {"war", "economy", "culture"}
    assert offered.ticked(["gone", "war"]) == {"war"}
    assert offered.selected_frequency("gone") == "weekly"
    assert offered.frequency_label("") == "Weekly, on Monday"


# The store


def test_choices_are_stored_and_merged_only_when_given(store: Store) -> None:
    subscribers = store.subscribers
    list_id = subscribers.ensure_list("readers")
    ana, _ = subscribers.add(
        list_id, NewSubscriber(email="ana@example.org", topics="economy,war", frequency="daily")
    )
    assert (ana.topics, ana.frequency) == (["economy", "war"], "daily")
    ben, _ = subscribers.add(list_id, NewSubscriber(email="ben@example.org"))
    assert (ben.topics, ben.frequency) == ([], "")
    # A merge without choices (an import without those columns) keeps them; with, sets them.
    again, created = subscribers.add(list_id, NewSubscriber(email="ANA@example.org", name="Ana"))
    assert not created and (again.name, again.topics, again.frequency) == (
        "Ana",
        ["economy", "war"],
        "daily",
    )
    subscribers.upsert(
        list_id,
        [
            NewSubscriber(email="ana@example.org", topics=""),
            NewSubscriber(email="ben@example.org", frequency="weekly"),
            NewSubscriber(email="cy@example.org", topics="culture"),
        ],
    )
    found = {s.email: (s.topics, s.frequency) for s in subscribers.iterate(list_id)}
    assert found == {
        "ana@example.org": ([], "daily"),
        "ben@example.org": ([], "weekly"),
        "cy@example.org": (["culture"], ""),
    }
    # Rows in stored form, as import workers make them, with and without choices.
    subscribers.upsert_prepared(
        list_id,
        [
            PreparedSubscriber(
                "cy@example.org", "cy@example.org", "", "{}", "subscribed", "", None, ""
            ),
            PreparedSubscriber(
                "dan@example.org", "dan@example.org", "", "{}", "subscribed", "", None, "", "war"
            ),
        ],
    )
    cy = subscribers.find(list_id, "cy@example.org")
    dan = subscribers.find(list_id, "dan@example.org")
    assert cy is not None and cy.topics == ["culture"]
    assert dan is not None and (dan.topics, dan.frequency) == (["war"], "")
    # One reader's choice, at once, status untouched (an unsubscribed reader stays so).
    subscribers.set_status(dan.id, Status.UNSUBSCRIBED)
    changed = subscribers.set_preferences(dan.id, "culture,economy", "weekly")
    assert (changed.topics, changed.frequency, changed.status) == (
        ["culture", "economy"],
        "weekly",
        Status.UNSUBSCRIBED,
    )
    assert subscribers.get(dan.id).model_dump(mode="json")["topics"] == ["culture", "economy"]


# CSV


def _settings(database_url: str, tmp_path: Path, **newsletter: object) -> Settings:
    return Settings.model_validate(
        {
            "database_url": database_url,
            "newsletters": {"brief": choosing(**newsletter)},
            "secret_key": SECRET,
            "outbox_dir": tmp_path / "outbox",
        }
    )


def write(tmp_path: Path, text: str, name: str = "people.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_import_checks_choices_per_row_and_an_export_imports_back_unchanged(
    database_url: str, tmp_path: Path
) -> None:
    app = App(_settings(database_url, tmp_path))
    path = write(
        tmp_path,
        "email,name,topics,frequency,city\n"
        "ana@example.org,Ana,war;economy,daily,Kyiv\n"
        "ben@example.org,Ben,,,Leeds\n"
        "cy@example.org,Cy,war;cooking,daily,Lyon\n"
        "dan@example.org,Dan,culture,hourly,Lviv\n"
        'eve@example.org,Eve,"Culture, WAR",weekly,Odesa\n',
    )
    report = app.import_subscriber_file(path, "readers")
    assert (report.rows, report.valid, report.rejected, report.new) == (5, 3, 2, 3)
    assert report.problems == [
        f"{path}:4: topics: 'cooking' is not a topic of The Test Brief "
        "(its topics: war, economy, culture)",
        f"{path}:5: frequency: 'hourly' is not a frequency of The Test Brief "
        "(its frequencies: weekly, daily)",
    ]
    assert report.rejects_path is not None
    rejected = list(csv.reader(report.rejects_path.open(encoding="utf-8")))
    assert [row[:3] for row in rejected[1:]] == [
        ["4", rejected[1][1], "cy@example.org"],
        ["5", rejected[2][1], "dan@example.org"],
    ]
    list_id = app.store.subscribers.list_id("readers")
    people = {s.email: s for s in app.store.subscribers.iterate(list_id)}
    assert (people["ana@example.org"].topics, people["ana@example.org"].frequency) == (
        ["economy", "war"],
        "daily",
    )
    assert (people["ben@example.org"].topics, people["ben@example.org"].frequency) == ([], "")
    assert people["eve@example.org"].topics == ["culture", "war"]
    assert people["ana@example.org"].fields == {"city": "Kyiv"}  # not custom fields

    # Exported, the choices are columns of their own; imported into a list of the same
    # newsletter (and exported again), nothing changes.
    exported = tmp_path / "export.csv"
    with exported.open("w", encoding="utf-8", newline="") as out:
        assert app.export_subscribers("readers", out) == 3
    rows = list(csv.DictReader(exported.open(encoding="utf-8")))
    assert [(r["email"], r["topics"], r["frequency"]) for r in rows] == [
        ("ana@example.org", "economy;war", "daily"),
        ("ben@example.org", "", ""),
        ("eve@example.org", "culture;war", "weekly"),
    ]
    app.close()
    copy_settings = _settings(database_url, tmp_path, lists=["readers", "copy"])
    copy = App(copy_settings)
    again = copy.import_subscriber_file(exported, "copy")
    assert again.rejected == 0 and again.new == 3
    twice = tmp_path / "twice.csv"
    with twice.open("w", encoding="utf-8", newline="") as out:
        copy.export_subscribers("copy", out)
    assert twice.read_text(encoding="utf-8") == exported.read_text(encoding="utf-8")
    # Imported again over readers who chose since, without the columns: their choice stays.
    ben = copy.store.subscribers.find(copy.store.subscribers.list_id("copy"), "ben@example.org")
    assert ben is not None
    copy.store.subscribers.set_preferences(ben.id, "culture", "daily")
    copy.import_subscriber_file(write(tmp_path, "email,name\nben@example.org,Benjamin\n"), "copy")
    ben = copy.store.subscribers.get(ben.id)
    assert (ben.name, ben.topics, ben.frequency) == ("Benjamin", ["culture"], "daily")
    copy.close()


def test_a_list_no_newsletter_sends_to_takes_no_choices(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path, "email,topics,frequency\na@example.org,,\nb@example.org,war,\n")
    report = import_csv(path, store.subscribers, "orphans")
    assert (report.new, report.rejected) == (1, 1)
    assert (
        "'war' is not a topic of list 'orphans' (no newsletter sends to it)" in (report.problems[0])
    )


def test_subscribers_add_takes_topics_and_frequency(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "digest.toml"
    config.write_text(
        f"""
database_url = "{sqlite_url}"
[newsletters.brief]
title = "The Test Brief"
theme = "news"
from_name = "Brief"
from_address = "brief@example.org"
postal_address = "1 Test Street"
base_url = "https://brief.example.org"
lists = ["readers"]
main_frequency = "weekly"
[newsletters.brief.topics.war]
label = "The war"
tags = ["war"]
[newsletters.brief.topics.economy]
query = ["economy"]
[newsletters.brief.frequencies.weekly]
[newsletters.brief.frequencies.daily]
""",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    from digest.cli import app as cli

    def run(*args: str) -> tuple[int, str, BaseException | None]:
        result = CliRunner().invoke(cli, ["--config", str(config), *args])
        return result.exit_code, result.output, result.exception

    code, output, _ = run(
        "subscribers", "add", "ana@example.org", "--list", "readers", "--topics", "war,economy"
    )
    assert code == 0 and "ana@example.org added: subscribed on readers" in output
    assert "(economy, war; main frequency)" in output
    code, output, _ = run(
        "subscribers", "add", "ana@example.org", "--list", "readers", "--frequency", "daily"
    )
    assert code == 0 and "merged" in output and "(economy, war; daily)" in output
    code, _, error = run(
        "subscribers", "add", "ben@example.org", "--list", "readers", "--topics", "sport"
    )
    assert code == 1 and isinstance(error, ChoiceError)
    assert str(error).startswith("topics: 'sport' is not a topic of The Test Brief")
    code, _, error = run(
        "subscribers", "add", "ben@example.org", "--list", "readers", "--frequency", "hourly"
    )
    assert code == 1 and str(error).startswith("frequency: 'hourly' is not a frequency")
    # Nothing of the refused adds was stored.
    app = App(Settings(database_url=sqlite_url))
    list_id = app.store.subscribers.list_id("readers")
    assert app.store.subscribers.find(list_id, "ben@example.org") is None
    app.close()


# The use cases behind the preference page


def test_set_preferences_by_token(database_url: str, tmp_path: Path) -> None:
    app = App(_settings(database_url, tmp_path))
    reader, _ = app.add_subscriber("readers", "ana@example.org", "Ana")
    token = app.tokens().make(reader.id, app.store.subscribers.list_id("readers"), reader.email)
    seen, offered = app.reader_preferences(token)
    assert seen.id == reader.id and offered.topic_keys == ("war", "economy", "culture")
    saved, _ = app.set_preferences(token, ["culture", "war"], "daily")
    assert (saved.topics, saved.frequency) == (["culture", "war"], "daily")
    saved, _ = app.set_preferences(token, ["war", "economy", "culture"], "weekly")
    assert (saved.topics, saved.frequency) == ([], "weekly")  # everything
    for topics, frequency, field in (([], "weekly", "topics"), (["war"], "hourly", "frequency")):
        with pytest.raises(ChoiceError) as refused:
            app.set_preferences(token, topics, frequency)
        assert refused.value.field == field
    assert app.store.subscribers.get(reader.id).frequency == "weekly"  # nothing changed
    # An unsubscribed reader cannot choose, and choosing never resubscribes.
    app.unsubscribe(token)
    with pytest.raises(ChoiceError, match=r"ana@example\.org is unsubscribed"):
        app.set_preferences(token, ["war"], "daily")
    assert app.store.subscribers.get(reader.id).status == Status.UNSUBSCRIBED
    app.close()
