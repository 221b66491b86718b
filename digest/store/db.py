"""Opening the database: engine options per backend, and migrations applied on first use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.pool import ConnectionPoolEntry

from digest.config import mask_url_password
from digest.errors import DigestError

MIGRATIONS = Path(__file__).parent / "migrations"
# Any fixed number; PostgreSQL advisory locks are per database, so concurrent first runs of
# `digest` migrate one at a time.
_MIGRATION_LOCK_ID = 0x64696765


def make_engine(url: str, busy_timeout: float = 10.0) -> Engine:
    """An engine for the URL: psycopg 3 for PostgreSQL; WAL, foreign keys and a wait of
    `busy_timeout` seconds for another process's write lock for SQLite."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    try:
        engine = create_engine(url, pool_pre_ping=True)
    except (ArgumentError, ImportError) as error:
        raise DigestError(f"database_url {mask_url_password(url)!r}: {error}") from None
    if engine.dialect.name == "sqlite":
        milliseconds = max(1, round(busy_timeout * 1000))

        def pragmas(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={milliseconds}")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        event.listen(engine, "connect", pragmas)
    return engine


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision; a no-op (one query) when it already is.

    Every `digest` command opens the store, and cron starts `digest run` each minute: the
    up-to-date check reads the revision itself and never imports alembic, whose import and
    loading of every migration cost a quarter of a second a process."""
    try:
        with engine.connect() as connection:
            if _stored_revision(connection) == head_revision():
                return
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID}
                )
            _upgrade(connection)
    except OperationalError as error:
        reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
        raise DigestError(
            f"cannot open database {mask_url_password(str(engine.url))}: {reason}"
        ) from None


def head_revision() -> str:
    """The newest migration's revision: each file in versions/ is named after its revision
    ("0017_send_workers.py" is "0017", tests/test_store.py checks it against alembic's head)."""
    names = (path.name for path in (MIGRATIONS / "versions").glob("[0-9]*_*.py"))
    return max(name.split("_", 1)[0] for name in names)


def _stored_revision(connection: Connection) -> str | None:
    """The revision the database is at; None for a database alembic never touched."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    versions = connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
    found = list(versions)
    return found[0] if len(found) == 1 else None


def _upgrade(connection: Connection) -> None:
    from alembic import command

    config = _alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _alembic_config() -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config
