"""Settings from digest.toml, .env and DIGEST_* variables; errors name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from digest.config import load_settings, mask_url_password
from digest.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent

GOOD = """
secret_key = "s3cret-value"
database_url = "postgresql://digest:hunter2@db.internal:5432/digest"

[newsletters.weekly]
title = "Weekly"
theme = "Things that happened"
from_name = "Weekly"
from_address = "weekly@example.org"
postal_address = "1 Road, Town"
base_url = "https://weekly.example.org/"
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("DIGEST_CONFIG", "DIGEST_DATABASE_URL", "DIGEST_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def write(tmp_path: Path, text: str, name: str = "digest.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_repository_example_is_valid() -> None:
    settings = load_settings(ROOT / "digest.toml")
    newsletter = settings.newsletter(None)
    assert newsletter.name == "ukraine"
    assert newsletter.theme == "Russia's war in Ukraine and its allies"
    assert settings.database_url == f"sqlite:///{ROOT / 'digest.db'}"


def test_defaults_and_working_directory_file(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    settings = load_settings()
    weekly = settings.newsletter("weekly")
    assert weekly.accent_color == "#1f6feb" and weekly.template == "digest"
    assert weekly.web_base == "https://weekly.example.org"


def test_environment_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, GOOD, "elsewhere.toml")
    monkeypatch.setenv("DIGEST_CONFIG", str(path))
    monkeypatch.setenv("DIGEST_DATABASE_URL", "sqlite:///x.db")
    monkeypatch.setenv("DIGEST_NEWSLETTERS__WEEKLY__ACCENT_COLOR", "#AA0000")
    settings = load_settings()
    assert settings.database_url == "sqlite:///x.db"
    assert settings.newsletter("weekly").accent_color == "#aa0000"
    assert settings.newsletter("weekly").title == "Weekly"


def test_dotenv_is_read(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    (tmp_path / ".env").write_text("DIGEST_FETCH_TIMEOUT=3.5\n", encoding="utf-8")
    assert load_settings().fetch_timeout == 3.5


def test_masked_output_hides_secrets(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    masked = load_settings().masked()
    assert masked["secret_key"] == "**********"
    assert masked["database_url"] == "postgresql://digest:***@db.internal:5432/digest"
    assert "s3cret-value" not in str(masked) and "hunter2" not in str(masked)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ('from_address = "weekly@example.org"', 'from_address = "not-an-address"'),
            "newsletters.weekly.from_address: value is not a valid email address",
        ),
        (
            ('base_url = "https://weekly.example.org/"', 'base_url = "weekly"'),
            "newsletters.weekly.base_url: Input should be a valid URL",
        ),
        (
            ('title = "Weekly"', 'title = "Weekly"\naccent_color = "blue"'),
            "newsletters.weekly.accent_color: must be a hex colour like #1f6feb",
        ),
        (
            ('title = "Weekly"', 'title = "Weekly"\ncolour = "x"'),
            "newsletters.weekly.colour: unknown setting",
        ),
        (
            ('postal_address = "1 Road, Town"\n', ""),
            "newsletters.weekly.postal_address: Field required",
        ),
    ],
)
def test_invalid_settings_name_the_key(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    path = write(tmp_path, GOOD.replace(*change))
    with pytest.raises(ConfigError) as raised:
        load_settings(path)
    assert f"{path}: {message}" in str(raised.value)


def test_invalid_environment_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, GOOD)
    monkeypatch.setenv("DIGEST_FETCH_TIMEOUT", "soon")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert str(raised.value).startswith(
        "environment variable DIGEST_FETCH_TIMEOUT: fetch_timeout: Input should be a valid number"
    )


def test_a_list_that_is_not_json_names_its_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, GOOD)
    monkeypatch.setenv("DIGEST_FETCH_ALLOWED_NETWORKS", "10.1.0.0/16")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert str(raised.value).startswith(
        "environment variable DIGEST_FETCH_ALLOWED_NETWORKS: fetch_allowed_networks: not valid JSON"
    )
    monkeypatch.delenv("DIGEST_FETCH_ALLOWED_NETWORKS")
    (tmp_path / ".env").write_text("DIGEST_FETCH_TIMEOUT=3\nDIGEST_FETCH_ALLOWED_NETWORKS=[x\n")
    with pytest.raises(ConfigError, match=r"^\.env:2: DIGEST_FETCH_ALLOWED_NETWORKS: .*JSON"):
        load_settings()


def test_toml_syntax_error(tmp_path: Path) -> None:
    path = write(tmp_path, "[newsletters.weekly\n")
    with pytest.raises(ConfigError, match=str(path)):
        load_settings(path)


def test_missing_explicit_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.toml")


def test_choosing_a_newsletter(tmp_path: Path) -> None:
    write(tmp_path, GOOD + GOOD.split("\n\n", 1)[1].replace("weekly]", "daily]"))
    settings = load_settings()
    with pytest.raises(ConfigError, match=r"several newsletters are configured \(daily, weekly\)"):
        settings.newsletter(None)
    with pytest.raises(ConfigError, match="no newsletter named 'monthly'"):
        settings.newsletter("monthly")


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ('catch_up_grace = "-01:00:00"', "newsletters.weekly.catch_up_grace"),
        ('lookback = "-P7D"', "newsletters.weekly.lookback"),
        ("lead_time = -3600", "newsletters.weekly.lead_time"),
    ],
)
def test_negative_durations_are_refused(tmp_path: Path, line: str, key: str) -> None:
    path = write(tmp_path, GOOD.replace('title = "Weekly"', f'title = "Weekly"\n{line}'))
    with pytest.raises(ConfigError) as raised:
        load_settings(path)
    assert str(raised.value) == f"{path}: {key}: must not be negative"


def test_negative_duration_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, GOOD)
    monkeypatch.setenv("DIGEST_CONFIRM_LINK_LIFETIME", "-PT1H")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert str(raised.value) == (
        "environment variable DIGEST_CONFIRM_LINK_LIFETIME: confirm_link_lifetime: "
        "must not be negative"
    )
    monkeypatch.setenv("DIGEST_CONFIRM_LINK_LIFETIME", "PT0S")  # zero is a duration
    load_settings()


def test_misspelt_environment_variables_are_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path, GOOD)
    monkeypatch.setenv("DIGEST_SMTP_PASWORD", "hunter2")
    monkeypatch.setenv("DIGEST_NEWSLETTERS__WEEKLY__ACCENT_COLOUR", "#aa0000")
    monkeypatch.setenv("DIGEST_NOTHING_LIKE_IT", "1")
    monkeypatch.setenv("DIGEST_TEST_ANYTHING", "1")  # left to test suites
    monkeypatch.setenv("DIGEST_SMTP_PASSWORD", "right")
    with caplog.at_level("WARNING", logger="digest.config"):
        settings = load_settings()  # a warning, not an error: the environment is shared
    assert settings.smtp_password.get_secret_value() == "right"
    assert settings.newsletter("weekly").accent_color == "#1f6feb"
    assert sorted(caplog.messages) == [
        "environment variable DIGEST_NEWSLETTERS__WEEKLY__ACCENT_COLOUR is not a setting; "
        "did you mean DIGEST_NEWSLETTERS__WEEKLY__ACCENT_COLOR?",
        "environment variable DIGEST_NOTHING_LIKE_IT is not a setting (ignored)",
        "environment variable DIGEST_SMTP_PASWORD is not a setting; "
        "did you mean DIGEST_SMTP_PASSWORD?",
    ]


def test_dotenv_typos_are_errors_blamed_on_dotenv(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "# ours\nOTHER_TOOL=1\nexport DIGEST_SMTP_PASWORD=hunter2\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError) as raised:
        load_settings(path)
    assert str(raised.value) == (
        ".env:3: DIGEST_SMTP_PASWORD: unknown setting; did you mean DIGEST_SMTP_PASSWORD?"
    )
    dotenv.write_text(
        "DIGEST_FETCH_TIMEOUT=3\nDIGEST_NEWSLETTERS__WEEKLY__ACCENT_COLOR=blue\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as raised:
        load_settings(path)
    assert str(raised.value) == (
        ".env:2: DIGEST_NEWSLETTERS__WEEKLY__ACCENT_COLOR: newsletters.weekly.accent_color: "
        "must be a hex colour like #1f6feb"
    )


def test_dotenv_keys_of_other_programs_are_left_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path, GOOD)
    (tmp_path / ".env").write_text(
        "POSTGRES_PASSWORD=x\nSMTP_PASSWORD=y\nSENDGRID_API_KEY=SG.key\n", encoding="utf-8"
    )
    with caplog.at_level("WARNING", logger="digest.config"):
        settings = load_settings()
    assert settings.sendgrid_api_key.get_secret_value() == "SG.key"
    assert settings.smtp_password.get_secret_value() == ""
    assert caplog.messages == [
        ".env:2: SMTP_PASSWORD is not read: did you mean DIGEST_SMTP_PASSWORD?"
    ]


def test_misspelt_key_in_the_file_gets_a_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('title = "Weekly"', 'title = "Weekly"\nacent_color = "x"'))
    with pytest.raises(ConfigError) as raised:
        load_settings(path)
    assert str(raised.value) == (
        f"{path}: newsletters.weekly.acent_color: unknown setting; did you mean accent_color?"
    )


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://:s3cret@db/digest", "postgresql://:***@db/digest"),
        ("postgresql://u:p@ss@db:5432/digest", "postgresql://u:***@db:5432/digest"),
        ("postgresql://u:p%40ss@db/digest", "postgresql://u:***@db/digest"),
        ("postgresql+psycopg://u:a/b?c#d@db/digest", "postgresql+psycopg://u:***@db/digest"),
        ("postgresql://db/digest?password=s3cret", "postgresql://db/digest?password=***"),
        ("postgresql://u@db/digest", "postgresql://u@db/digest"),
        ("sqlite:////srv/a@b/digest.db", "sqlite:////srv/a@b/digest.db"),
        ("not a url://u:s3cret@host", "not a url://u:***@host"),
    ],
)
def test_database_passwords_are_masked(url: str, shown: str) -> None:
    assert mask_url_password(url) == shown


def test_a_topic_that_matches_nothing_and_a_six_field_schedule_are_refused() -> None:
    from pydantic import ValidationError

    from tests.conftest import make_newsletter

    with pytest.raises(ValidationError, match="a topic needs sections, tags or query"):
        make_newsletter(topics={"culture": {"label": "Culture"}})
    with pytest.raises(ValidationError, match="five fields"):
        make_newsletter(frequencies={"daily": {"schedule": "0 7 * * * *"}})
    with pytest.raises(ValidationError, match="five fields"):
        make_newsletter(schedule="0 7 * * * *")


def test_a_bad_duration_and_a_misspelt_topic_key_are_said_plainly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from digest.config import load_settings
    from digest.errors import ConfigError

    base = """
[newsletters.brief]
title = "The Test Brief"
theme = "news of the day"
from_name = "Brief"
from_address = "brief@example.org"
postal_address = "1 Test Street"
base_url = "https://brief.example.org"
"""
    config = tmp_path / "digest.toml"
    config.write_text(base + 'lookback = "one day"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as bad_duration:
        load_settings(config)
    assert "'one day' is not a duration" in str(bad_duration.value)
    assert "Value error" not in str(bad_duration.value)
    config.write_text(
        base + '[newsletters.brief.topics.korea]\ntag = ["korea"]\n', encoding="utf-8"
    )
    with pytest.raises(ConfigError) as misspelt:
        load_settings(config)
    assert "unknown setting; did you mean tags?" in str(misspelt.value)
