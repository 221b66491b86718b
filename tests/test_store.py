"""The store on SQLite and on PostgreSQL: migrations, dedup, editions round-trip, unused
articles, numbering, and that nothing stored is lost when an edit fails."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import inspect, text

from digest.app import App
from digest.articles import Article
from digest.config import NewsletterConfig, Settings
from digest.edition import Edition, EditionStatus, Item, Section
from digest.errors import DigestError, NotFoundError
from digest.store import Store, open_store
from digest.store.db import MIGRATIONS
from digest.summarize import Summary


def article(n: int, **extra: object) -> Article:
    values: dict[str, object] = {
        "title": f"Story number {n}",
        "text": f"Body of story {n}. It has two sentences.",
        "url": f"https://news.example.org/{n}",
    }
    values.update(extra)
    return Article.model_validate(values)


def edition_of(articles: list[Article], newsletter: str = "brief") -> Edition:
    return Edition(
        newsletter=newsletter,
        number=1,
        date=date(2026, 11, 24),
        subject="Subject",
        preheader="Pre",
        intro="Intro",
        sections=[
            Section(
                title="Only",
                items=[
                    Item(article=a, summary=Summary(text=f"S {a.id}", method="extractive"))
                    for a in articles
                ],
            )
        ],
    )


def test_migrations_create_the_schema_once(database_url: str) -> None:
    first = open_store(database_url)
    tables = set(inspect(first.engine).get_table_names())
    assert {
        "articles",
        "editions",
        "edition_sections",
        "edition_items",
        "lists",
        "subscribers",
        "send_batches",
        "deliveries",
        "alembic_version",
    } <= tables
    versions = sorted(p.name for p in (MIGRATIONS / "versions").glob("0*.py"))
    with first.engine.connect() as connection:
        current = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    assert current == versions[-1].split("_")[0]
    first.close()
    # Opening again is a no-op, not a second migration.
    second = open_store(database_url)
    assert set(inspect(second.engine).get_table_names()) == tables
    second.close()


def test_the_head_revision_read_from_file_names_is_alembics(database_url: str) -> None:
    """The up-to-date check never imports alembic: the revision it expects must be the one
    alembic upgrades to, and a database one revision behind is brought up to it."""
    from alembic import command
    from alembic.script import ScriptDirectory

    from digest.store.db import _alembic_config, head_revision, make_engine

    assert head_revision() == ScriptDirectory.from_config(_alembic_config()).get_current_head()
    open_store(database_url).close()
    engine = make_engine(database_url)
    with engine.begin() as connection:
        config = _alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "-1")
    with engine.connect() as connection:
        behind = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    assert behind != head_revision()
    open_store(database_url).close()
    with engine.connect() as connection:
        current = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    engine.dispose()
    assert current == head_revision()


def test_articles_round_trip_with_aware_times(store: Store) -> None:
    published = datetime(2026, 11, 20, 9, 30, tzinfo=timezone(timedelta(hours=2)))
    [outcome] = store.add_articles(
        [
            article(
                1, published=published, tags=["War", "Drones"], author="A. Writer", source="Example"
            )
        ]
    )
    assert outcome.added and outcome.article.id is not None
    loaded = store.get_article(outcome.article.id)
    assert loaded.published == published
    assert loaded.published is not None and loaded.published.tzinfo is not None
    assert loaded.tags == ["war", "drones"]
    assert (loaded.author, loaded.source, loaded.url) == (
        "A. Writer",
        "Example",
        "https://news.example.org/1",
    )


def test_duplicates_by_url_or_text(store: Store) -> None:
    [first] = store.add_articles([article(1)])
    again = store.add_articles(
        [
            article(2, url="http://NEWS.example.org/1/?utm_source=feed#top"),  # same page
            article(3, text="body of  story 1 —  it has two sentences", url=None),  # same words
            article(4),
        ]
    )
    assert [o.duplicate_of for o in again] == [first.article.id, first.article.id, None]
    assert len(store.list_articles()) == 2


def test_concurrent_adds_of_one_article_store_it_once(database_url: str) -> None:
    stores = [open_store(database_url) for _ in range(4)]
    results: list[bool] = []

    def add(s: Store) -> None:
        results.extend(o.added for o in s.add_articles([article(7)]))

    threads = [threading.Thread(target=add, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, False, False, True]
    assert len(stores[0].list_articles()) == 1
    for s in stores:
        s.close()


def test_edition_round_trip_and_unused_articles(store: Store) -> None:
    stored = [o.article for o in store.add_articles([article(n) for n in range(1, 5)])]
    created = store.create_edition(edition_of(stored[:2]))
    assert created.id is not None and created.number == 1
    loaded = store.get_edition(created.id)
    assert loaded == created
    assert [i.article.id for i in loaded.items] == [stored[0].id, stored[1].id]
    assert loaded.items[0].summary == Summary(text=f"S {stored[0].id}", method="extractive")
    unused = store.unused_articles("brief", limit=10)
    assert sorted(a.id or 0 for a in unused) == sorted(a.id or 0 for a in stored[2:])
    # Another newsletter has used none of them.
    assert len(store.unused_articles("other", limit=10)) == 4
    second = store.create_edition(edition_of(stored[2:3]))
    assert second.number == 2


def test_update_replaces_content_of_a_draft(store: Store) -> None:
    stored = [o.article for o in store.add_articles([article(n) for n in range(1, 4)])]
    created = store.create_edition(edition_of(stored[:2]))
    changed = created.model_copy(
        update={
            "subject": "New subject",
            "sections": [
                Section(
                    title="B",
                    items=[Item(article=stored[2], summary=Summary(text="x", method="edited"))],
                ),
                Section(title="A", items=[created.items[1], created.items[0]]),
            ],
        }
    )
    updated = store.update_edition(changed)
    assert updated.subject == "New subject"
    assert [s.title for s in updated.sections] == ["B", "A"]
    assert [i.article.id for i in updated.items] == [stored[2].id, stored[1].id, stored[0].id]
    assert store.get_edition(created.id or 0) == updated


def test_update_refuses_non_drafts_and_keeps_what_was_stored(store: Store) -> None:
    stored = [o.article for o in store.add_articles([article(1)])]
    created = store.create_edition(
        edition_of(stored).model_copy(update={"status": EditionStatus.APPROVED})
    )
    with pytest.raises(DigestError, match="only a draft can be edited"):
        store.update_edition(created.model_copy(update={"subject": "Changed"}))
    assert store.get_edition(created.id or 0).subject == "Subject"


def test_update_with_unknown_article_keeps_the_old_edition(store: Store) -> None:
    stored = [o.article for o in store.add_articles([article(1)])]
    created = store.create_edition(edition_of(stored))
    ghost = stored[0].model_copy(update={"id": 9999})
    bad = created.model_copy(
        update={
            "sections": [
                Section(
                    title="X",
                    items=[Item(article=ghost, summary=Summary(text="s", method="edited"))],
                )
            ]
        }
    )
    with pytest.raises(DigestError, match="no article with id 9999"):
        store.update_edition(bad)
    assert store.get_edition(created.id or 0) == created


def test_missing_records(store: Store) -> None:
    with pytest.raises(NotFoundError):
        store.get_article(404)
    with pytest.raises(NotFoundError):
        store.get_edition(404)


def test_concurrent_builds_get_distinct_numbers(database_url: str) -> None:
    setup = open_store(database_url)
    stored = [o.article for o in setup.add_articles([article(n) for n in range(1, 5)])]
    stores = [open_store(database_url) for _ in range(4)]
    numbers: list[int] = []

    def create(s: Store, a: Article) -> None:
        numbers.append(s.create_edition(edition_of([a])).number)

    threads = [
        threading.Thread(target=create, args=(s, a)) for s, a in zip(stores, stored, strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(numbers) == [1, 2, 3, 4]
    for s in [setup, *stores]:
        s.close()


def _race(stores: list[Store], base: Edition, label: str) -> list[str]:
    """Each store saves its own intro on `base`'s version at the same moment: what each
    saved, or "stale"."""
    from digest.errors import StaleEdition

    start = threading.Barrier(len(stores))
    outcomes: list[str] = []

    def save(s: Store, n: int) -> None:
        changed = base.model_copy(update={"intro": f"{label}, editor {n}"})
        start.wait()
        try:
            s.update_edition(changed, expected_version=base.version)
            outcomes.append(changed.intro)
        except StaleEdition:
            outcomes.append("stale")

    threads = [threading.Thread(target=save, args=(s, n)) for n, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def test_saves_made_on_one_version_land_once_and_the_others_are_told(database_url: str) -> None:
    """Editors' saves made on the same version at the same moment: exactly one lands, the
    others get StaleEdition (and look again), never a silent overwrite of the first."""
    setup = open_store(database_url)
    stored = [o.article for o in setup.add_articles([article(n) for n in range(1, 3)])]
    edition = setup.create_edition(edition_of(stored))
    stores = [open_store(database_url) for _ in range(3)]
    for round_number in range(8):
        current = setup.get_edition(edition.id or 0)
        outcomes = _race(stores, current, f"Round {round_number}")
        landed = [outcome for outcome in outcomes if outcome != "stale"]
        assert len(landed) == 1, (round_number, outcomes)
        after = setup.get_edition(edition.id or 0)
        assert after.intro == landed[0] and after.version == current.version + 1
    for s in [setup, *stores]:
        s.close()


def test_unreachable_database_is_a_clear_error() -> None:
    with pytest.raises(DigestError, match=r"cannot open database postgresql\+psycopg://u:\*\*\*@"):
        open_store("postgresql://u:secret@127.0.0.1:9/none?connect_timeout=2")


def test_sqlite_waits_ten_seconds_for_a_lock_unless_configured(
    sqlite_url: str, newsletter: NewsletterConfig
) -> None:
    def busy_timeout(store: Store) -> int:
        with store.engine.connect() as connection:
            return int(connection.execute(text("PRAGMA busy_timeout")).scalar_one())

    default = App(Settings(database_url=sqlite_url, newsletters={"brief": newsletter}))
    assert busy_timeout(default.store) == 10_000
    default.close()
    short = App(
        Settings(
            database_url=sqlite_url,
            database_busy_timeout=0.5,
            newsletters={"brief": newsletter},
        )
    )
    assert busy_timeout(short.store) == 500
    short.close()


def test_published_times_come_back_in_utc(store: Store) -> None:
    [o] = store.add_articles([article(1, published=datetime(2026, 1, 1, 12, 0))])
    assert store.get_article(o.article.id or 0).published == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def test_upgrade_from_the_first_revision_keeps_data(database_url: str) -> None:
    from alembic import command

    from digest.store.db import _alembic_config, make_engine

    engine = make_engine(database_url)
    with engine.begin() as connection:
        config = _alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        connection.execute(
            text(
                "INSERT INTO articles (title, content_hash, text, tags, added_at) "
                "VALUES ('Kept', 'abc', 'Body.', '[]', CURRENT_TIMESTAMP)"
            )
        )
    engine.dispose()
    store = open_store(database_url)
    assert [a.title for a in store.list_articles()] == ["Kept"]
    assert "deliveries" in inspect(store.engine).get_table_names()
    store.close()


def test_keywords_round_trip_apart_from_tags(store: Store) -> None:
    [o] = store.add_articles([article(1, tags=["Pick"], keywords=["World", "news", "world"])])
    stored = store.get_article(o.article.id or 0)
    assert (stored.tags, stored.keywords) == (["pick"], ["world", "news"])


def test_upgrade_makes_feed_categories_keywords_and_keeps_editors_tags(database_url: str) -> None:
    from alembic import command

    from digest.store.db import _alembic_config, make_engine

    insert = text(
        "INSERT INTO articles (title, content_hash, text, tags, feed, added_at) "
        "VALUES (:title, :hash, 'Body.', :tags, :feed, CURRENT_TIMESTAMP)"
    )
    engine = make_engine(database_url)
    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0006")
        connection.execute(
            insert,
            {"title": "From a feed", "hash": "a", "tags": '["economy"]', "feed": "https://f"},
        )
        connection.execute(
            insert, {"title": "By hand", "hash": "b", "tags": '["frontline"]', "feed": None}
        )
    store = open_store(database_url)
    stored = {a.title: a for a in store.list_articles()}
    assert (stored["From a feed"].tags, stored["From a feed"].keywords) == ([], ["economy"])
    assert (stored["By hand"].tags, stored["By hand"].keywords) == (["frontline"], [])
    [new] = store.add_articles([article(3)])
    assert store.get_article(new.article.id or 0).keywords == []
    store.close()

    # And back: the categories are a feed item's tags again, as the old code expects.
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0006")
        rows = connection.execute(text("SELECT title, tags FROM articles ORDER BY id")).all()
        columns = {c["name"] for c in inspect(connection).get_columns("articles")}
    engine.dispose()
    assert "keywords" not in columns
    tags = [(title, json.loads(v) if isinstance(v, str) else v) for title, v in rows]
    assert tags == [
        ("From a feed", ["economy"]),
        ("By hand", ["frontline"]),
        ("Story number 3", []),
    ]
