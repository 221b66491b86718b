"""Reports of one event from different sources: one item ("Also reported by …"), kept in the
store on SQLite and PostgreSQL, and split again by the editor in `digest edit` YAML and on the
web page. The stories are written for these tests (tests/duplicate_stories.py)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import httpx
import yaml

from digest.app import App
from digest.articles import Article
from digest.duplicates import reports_of_events
from digest.editing import apply_yaml, edition_to_yaml
from digest.edition import Edition, build_draft
from digest.render import render_edition
from digest.store import Store
from digest.summarize.extractive import ExtractiveSummarizer
from tests.conftest import make_newsletter
from tests.duplicate_stories import (
    BUDGET_A,
    BUDGET_B,
    COUNCIL_OTHER,
    FERRY_A,
    FERRY_B,
    FERRY_OTHER,
    QUAKE_A,
    QUAKE_B,
)
from tests.web_support import csrf_of, serving, settings_for

ALL = [FERRY_A, FERRY_B, FERRY_OTHER, BUDGET_A, BUDGET_B, COUNCIL_OTHER, QUAKE_A, QUAKE_B]


def draft(articles: list[Article]) -> Edition:
    return build_draft(
        articles,
        newsletter="brief",
        theme="Local news",
        number=1,
        issue_date=date(2026, 11, 24),
        summarizer=ExtractiveSummarizer(),
        max_sections=4,
        summary_words=60,
    )


def test_two_reports_of_one_event_become_one_item_also_reported_by() -> None:
    edition = draft(ALL)
    assert len(edition.items) == 5
    merged = {frozenset(a.id for a in item.articles) for item in edition.items if item.also}
    assert merged == {frozenset({101, 102}), frozenset({111, 112}), frozenset({121, 122})}
    ferry = next(item for item in edition.items if FERRY_B.id in {a.id for a in item.articles})
    email = render_edition(edition, make_newsletter())
    other = ferry.also[0]
    assert other.source and other.url
    assert f'Also reported by <a href="{other.url}"' in email.html
    assert f">{other.source}</a>" in email.html
    assert ferry.article.url and f'href="{ferry.article.url}"' in email.html
    assert f"Also reported by {other.source}: {other.url}" in email.text
    # One summary for the story, not two saying the same thing.
    assert email.text.count("Also reported by") == 3


def test_different_stories_on_one_topic_stay_apart() -> None:
    stories = [FERRY_A, FERRY_OTHER, BUDGET_A, COUNCIL_OTHER, QUAKE_A]
    assert reports_of_events(stories) == [[0], [1], [2], [3], [4]]
    # One outlet's two articles are two stories, however alike (a follow-up, a correction).
    same_outlet = FERRY_B.model_copy(update={"source": FERRY_A.source})
    assert reports_of_events([FERRY_A, same_outlet]) == [[0], [1]]
    # Without a source named, the site tells the outlet: www.site and site are one.
    assert FERRY_A.url and FERRY_B.url
    site = FERRY_A.url.split("/")[2].removeprefix("www.")
    unnamed = [
        FERRY_A.model_copy(update={"source": None}),
        FERRY_B.model_copy(update={"source": None, "url": f"https://www.{site}/later"}),
    ]
    assert reports_of_events(unnamed) == [[0], [1]]
    other_site = unnamed[1].model_copy(update={"url": "https://other.example.net/ferry"})
    assert reports_of_events([unnamed[0], other_site]) == [[0, 1]]
    edition = draft(stories)
    assert len(edition.items) == 5 and not any(item.also for item in edition.items)


def test_the_main_report_is_the_longer_one() -> None:
    longer, shorter = sorted([FERRY_A, FERRY_B], key=lambda a: -a.word_count)
    assert longer.word_count > shorter.word_count
    for order in ([shorter, longer, QUAKE_A], [longer, QUAKE_A, shorter]):
        ferry = next(item for item in draft(order).items if item.also)
        assert ferry.article.id == longer.id and [a.id for a in ferry.also] == [shorter.id]


def test_other_reports_are_escaped_as_all_article_text() -> None:
    hostile = FERRY_B.model_copy(
        update={
            "source": '<img src=x onerror="alert(1)"> & Co',
            "url": "https://coastal.example/a?b=1&c=%%email%%",
        }
    )
    email = render_edition(draft([FERRY_A, hostile]), make_newsletter())
    assert "<img src=x" not in email.html and "&lt;img src=x" in email.html
    # Sending's markers in the link are made inert, as in every article's.
    assert "c=%%email%%" not in email.html and "c=%%email%%" not in email.text
    assert "c=%25%25email%25%25" in email.html and "c=%25%25email%25%25" in email.text


def stored_draft(store: Store, articles: list[Article]) -> Edition:
    stored = [outcome.article for outcome in store.add_articles(articles)]
    return store.create_edition(draft(stored))


def test_other_reports_round_trip_and_are_used(store: Store) -> None:
    edition = stored_draft(store, ALL)
    again = store.get_edition(edition.id or 0)
    assert again == edition
    assert sum(len(item.also) for item in again.items) == 3
    assert edition.article_ids == {a.id for a in store.list_articles()}
    # Other reports are in the edition: not offered again to the next one.
    assert store.unused_articles("brief", 50) == []
    assert store.articles_in_no_edition(50) == []
    # An update keeps them (and the edition's text that does not change).
    updated = store.update_edition(again.model_copy(update={"subject": "New subject"}))
    assert [item.also for item in updated.items] == [item.also for item in again.items]


def app_with_draft(database_url: str, tmp_path: Path) -> tuple[App, Edition]:
    app = App(settings_for(database_url, tmp_path))
    app.store.add_articles([FERRY_A, FERRY_B, BUDGET_A, BUDGET_B, COUNCIL_OTHER])
    return app, app.build(app.settings.newsletter("brief"), date(2026, 11, 24))


def section_of(edition: Edition, article_id: int | None) -> tuple[int, list[int | None]]:
    for index, section in enumerate(edition.sections):
        ids = [item.article.id for item in section.items]
        if article_id in ids:
            return index, ids
    raise AssertionError(f"article {article_id} is no story of the edition")


def test_split_in_yaml(sqlite_url: str, tmp_path: Path) -> None:
    app, edition = app_with_draft(sqlite_url, tmp_path)
    merged = [item for item in edition.items if item.also]
    assert len(merged) == 2
    document = yaml.safe_load(edition_to_yaml(edition))
    entries = [e for s in document["sections"] for e in s["items"] if "also" in e]
    first, second = entries
    report = first["also"][0]["article"]
    assert first["also"][0]["source"]
    # Deleted from `also`: a story of its own, summarised, right after its story.
    del first["also"]
    # Moved out as an item without a summary: summarised where it was put.
    moved = second.pop("also")[0]["article"]
    document["sections"][0]["items"].append({"article": moved})

    def summarize(article: Article) -> object:
        return app.summarize_one("brief", article)

    split = apply_yaml(edition, yaml.safe_dump(document), app.store, "edit.yaml", summarize)  # type: ignore[arg-type]
    saved = app.revise(edition, split)
    assert not any(item.also for item in saved.items)
    _, ids = section_of(saved, first["article"])
    assert ids[ids.index(first["article"]) + 1] == report
    assert section_of(saved, moved)[0] == 0
    for item in saved.items:
        if item.article.id in (report, moved):
            assert item.summary.method == "extractive" and item.summary.text
    # Without a summariser a story needs its summary written.
    document["sections"][0]["items"][-1] = {"article": moved}
    try:
        apply_yaml(saved, yaml.safe_dump(document), app.store, "edit.yaml")
    except Exception as error:
        assert "summary" in str(error)
    else:
        raise AssertionError("a story without a summary was taken")
    app.close()


def test_split_on_the_web_page(database_url: str, tmp_path: Path) -> None:
    app, edition = app_with_draft(database_url, tmp_path)
    item = next(item for item in edition.items if item.also)
    report = item.also[0]
    assert edition.id and report.id
    with serving(app.settings) as base, httpx.Client(base_url=base, timeout=60) as client:
        page = client.get(f"/editions/{edition.id}")
        # The page's button splits through the edit model; the form route stays for pages
        # without it, and both check the same things.
        assert "Also reported by" in page.text
        assert f'data-action="split-report" data-report="{report.id}"' in page.text
        action = f"/editions/{edition.id}/items/{item.article.id}/split"
        refused = client.post(action, data={"report": str(report.id)})
        assert refused.status_code == 403
        assert app.store.get_edition(edition.id).items == edition.items
        wrong = client.post(action, data={"csrf": csrf_of(page.text), "report": "999999"})
        assert "is not another report" in client.get(wrong.headers["location"]).text
        done = client.post(action, data={"csrf": csrf_of(page.text), "report": str(report.id)})
        assert done.status_code == 303
    stored = app.store.get_edition(edition.id)
    _, ids = section_of(stored, item.article.id)
    assert ids[ids.index(item.article.id) + 1] == report.id
    split = next(i for i in stored.items if i.article.id == report.id)
    assert split.summary.text and not split.also
    assert not next(i for i in stored.items if i.article.id == item.article.id).also
    app.close()


def test_split_off_through_the_edit_model(database_url: str, tmp_path: Path) -> None:
    app, edition = app_with_draft(database_url, tmp_path)
    item = next(item for item in edition.items if item.also)
    report = item.also[0]
    assert edition.id and report.id and item.article.id
    with serving(app.settings) as base, httpx.Client(base_url=base, timeout=60) as client:
        headers = {"X-CSRF-Token": csrf_of(client.get(f"/editions/{edition.id}").text)}
        path = f"/editions/{edition.id}/arrange"
        change = {"op": "split_report", "article": item.article.id, "version": edition.version}
        wrong = client.post(path, json={**change, "report": 999999}, headers=headers)
        assert wrong.status_code == 422 and "is not another report" in wrong.json()["error"]
        done = client.post(path, json={**change, "report": report.id}, headers=headers)
        assert done.status_code == 200
        assert f'id="article-{report.id}"' in done.json()["sections"]
    stored = app.store.get_edition(edition.id)
    _, ids = section_of(stored, item.article.id)
    assert ids[ids.index(item.article.id) + 1] == report.id
    assert not next(i for i in stored.items if i.article.id == item.article.id).also
    app.close()
