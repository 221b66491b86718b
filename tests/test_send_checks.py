"""`digest send --dry-run` runs the checks a send runs, and fails where the send would: no
secret_key, a sender without its settings, lint errors, an unknown list. In-process, through
the real command (Typer's CliRunner)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from digest.cli import app
from digest.errors import DigestError

ROOT = Path(__file__).resolve().parent.parent
SECRET = "dry-run-secret-0123456789"


@pytest.fixture
def workdir(example_workdir: Path) -> Path:
    """The example config, an approved edition and two readers, in a fresh directory."""
    tmp_path = example_workdir
    people = tmp_path / "people.csv"
    people.write_text("email,name\nana@example.org,Ana\nben@example.org,Ben\n", encoding="utf-8")
    for args in (
        ["add", str(ROOT / "examples/articles/sanctions.jsonl")],
        ["build"],
        ["approve", "latest"],
        ["subscribers", "import", str(people), "--list", "readers"],
    ):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
    return tmp_path


def send(*args: str, **env: str) -> DigestError | None:
    """The error `digest send` stopped with (None when it succeeded)."""
    result = CliRunner().invoke(app, ["send", "latest", "--yes", "--now", *args], env=env)
    if result.exception is None:
        return None
    assert isinstance(result.exception, DigestError), result.exception
    return result.exception


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        ((), {}, "secret_key must be set"),
        (
            ("--via", "sendgrid"),
            {"DIGEST_SECRET_KEY": SECRET},
            "SendGrid needs an API key",
        ),
        (
            ("--via", "smtp"),
            {"DIGEST_SECRET_KEY": SECRET, "DIGEST_SMTP_CA_FILE": "/nonexistent/ca.pem"},
            "smtp_ca_file /nonexistent/ca.pem:",
        ),
        (("--list", "nobody"), {"DIGEST_SECRET_KEY": SECRET}, "no subscriber list named"),
    ],
)
def test_dry_run_fails_where_the_send_would(
    workdir: Path, args: tuple[str, ...], env: dict[str, str], message: str
) -> None:
    dry = send("--dry-run", *args, **env)
    real = send(*args, **env)
    assert dry is not None and real is not None
    assert message in str(dry)
    assert str(dry) == str(real)
    assert not (workdir / "outbox").exists()


def test_dry_run_refuses_lint_errors_like_a_send(workdir: Path) -> None:
    partials = workdir / "tpl" / "partials"
    partials.mkdir(parents=True)
    (partials / "footer.mjml.j2").write_text(
        "<mj-section><mj-column><mj-text>no way out</mj-text></mj-column></mj-section>",
        encoding="utf-8",
    )
    env = {"DIGEST_SECRET_KEY": SECRET, "DIGEST_TEMPLATES_DIR": str(workdir / "tpl")}
    dry = send("--dry-run", **env)
    assert dry is not None and "has lint errors, not sent" in str(dry)
    assert str(dry) == str(send(**env))


def test_a_dry_run_that_passes_is_followed_by_a_send_that_goes(workdir: Path) -> None:
    result = CliRunner().invoke(
        app, ["send", "latest", "--dry-run"], env={"DIGEST_SECRET_KEY": SECRET}
    )
    assert result.exit_code == 0, result.output
    assert "dry run: edition 1 via outbox to readers (2 subscribed)" in result.output
    assert not (workdir / "outbox").exists()
    assert send(DIGEST_SECRET_KEY=SECRET) is None
    assert len(list((workdir / "outbox").rglob("*.eml"))) == 2
