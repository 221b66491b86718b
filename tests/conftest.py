"""Shared fixtures: the real-world material in ../shared/data, stores on SQLite and PostgreSQL,
and settings for an example newsletter."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from digest.config import NewsletterConfig, Settings
from digest.store import Store, open_store

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
IN_CI = os.environ.get("CI") == "true"
# The browser fixture and its helpers (chromium, screenshots, axe-core).
pytest_plugins = ["tests.browser_support"]
# Where tmp_path lives when the machine has memory-backed storage with room to spare.
MEMORY_TEMP = Path("/dev/shm")
MEMORY_TEMP_ROOM = 4 * 1024**3


def pytest_configure(config: pytest.Config) -> None:
    """tmp_path in memory (/dev/shm) when it has room: the send, run and fault tests write
    thousands of outbox files and SQLite commits, each fsync'd, and on disk those waits were
    about a quarter of the suite's time. What the tests assert (processes killed, never the
    power cut) holds the same either way. PYTEST_DEBUG_TEMPROOT or --basetemp still decide."""
    if config.option.basetemp or os.environ.get("PYTEST_DEBUG_TEMPROOT"):
        return
    if (
        MEMORY_TEMP.is_dir()
        and os.access(MEMORY_TEMP, os.W_OK)
        and shutil.disk_usage(MEMORY_TEMP).free >= MEMORY_TEMP_ROOM
    ):
        os.environ["PYTEST_DEBUG_TEMPROOT"] = str(MEMORY_TEMP)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        if IN_CI:
            pytest.fail(f"{SHARED_DATA} is missing: CI must have ../shared beside the clone")
        pytest.skip("../shared/data is not beside this checkout")
    return SHARED_DATA


@pytest.fixture
def example_workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh directory with the example settings and its own SQLite store, and no DIGEST_
    or SendGrid variables from the caller's environment (the test database's aside)."""
    for name in list(os.environ):
        if name.startswith(("DIGEST_", "SENDGRID_")) and not name.startswith("DIGEST_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    shutil.copy(ROOT / "digest.toml", tmp_path / "digest.toml")
    return tmp_path


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'digest.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A new, empty PostgreSQL database for one test, dropped afterwards."""
    admin_url = os.environ.get("DIGEST_TEST_POSTGRES_URL")
    if not admin_url:
        if IN_CI:
            pytest.fail("DIGEST_TEST_POSTGRES_URL is not set: PostgreSQL tests must run in CI")
        pytest.skip("DIGEST_TEST_POSTGRES_URL is not set")
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        if IN_CI:
            pytest.fail(f"PostgreSQL at DIGEST_TEST_POSTGRES_URL is unreachable: {error}")
        pytest.skip(f"PostgreSQL unreachable: {error}")
    name = f"digest_test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        base = admin_url.rsplit("/", 1)[0]
        try:
            yield f"{base}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = open_store(database_url)
    yield opened
    opened.close()


@pytest.fixture
def sqlite_store(sqlite_url: str) -> Iterator[Store]:
    opened = open_store(sqlite_url)
    yield opened
    opened.close()


def make_newsletter(**overrides: object) -> NewsletterConfig:
    values: dict[str, object] = {
        "name": "brief",
        "title": "The Test Brief",
        "theme": "Russia's war in Ukraine and its allies",
        "from_name": "Test Brief",
        "from_address": "brief@example.org",
        "reply_to": "editors@example.org",
        "postal_address": "1 Test Street, Testville TE1 1ST, United Kingdom",
        "base_url": "https://brief.example.org",
        "logo_url": "https://brief.example.org/logo.png",
    }
    values.update(overrides)
    return NewsletterConfig.model_validate(values)


@pytest.fixture
def newsletter() -> NewsletterConfig:
    return make_newsletter()


@pytest.fixture
def settings(sqlite_url: str, newsletter: NewsletterConfig) -> Settings:
    return Settings(database_url=sqlite_url, newsletters={"brief": newsletter})


def cli_environment(
    tmp_path: Path, config: str, database_url: str, secret: str, **extra: str
) -> dict[str, str]:
    """The environment of a `digest` process run the way cron runs it: a config file in
    tmp_path, this database, an outbox in tmp_path, and no DIGEST_ or SENDGRID_ variables from
    the test's own environment."""
    (tmp_path / "digest.toml").write_text(config, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SENDGRID_"))}
    env.update(
        {
            "DIGEST_CONFIG": str(tmp_path / "digest.toml"),
            "DIGEST_DATABASE_URL": database_url,
            "DIGEST_SECRET_KEY": secret,
            "DIGEST_OUTBOX_DIR": str(tmp_path / "outbox"),
            "DIGEST_SEND_RETRY_DELAY": "0.01",
            # The test feed and page servers listen on 127.0.0.1, which the guard refuses.
            "DIGEST_FETCH_ALLOWED_NETWORKS": '["127.0.0.1"]',
            # First sends to example.org, which has no DNS: tests/test_doctor*.py check that.
            "DIGEST_FIRST_SEND_CHECK": "false",
            **extra,
        }
    )
    return env


@contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    """os.environ replaced by `env` for the block (to set up a store as that process sees it)."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
