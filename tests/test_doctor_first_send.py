"""The doctor before a newsletter's first send: `digest send` refuses it while the doctor finds
errors (one line naming them, `--force` overrides), a second edition is not asked again, the
outbox is never asked, and `digest run` refuses an automatic newsletter's first send and says
so. Against the local DNS server and the local SendGrid server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from digest.app import App
from digest.cli import app as cli
from digest.config import Settings
from digest.errors import DigestError
from digest.runner import run_due
from digest.store.subscribers import NewSubscriber
from tests.servers.dns import DnsServer, running_dns
from tests.servers.sendgrid import SendGridState, running_sendgrid
from tests.test_doctor import nothing_listening, passing, public_key

ROOT = Path(__file__).resolve().parent.parent
SECRET = "first-send-secret-0123456789"


@pytest.fixture
def broken_dns() -> Iterator[DnsServer]:
    """example.org without a DMARC record."""
    records = passing(public_key())
    del records["_dmarc.example.org"]
    with running_dns(records) as server:
        yield server


@pytest.fixture
def sendgrid() -> Iterator[tuple[str, SendGridState]]:
    with running_sendgrid() as server:
        yield server


def write_config(
    tmp_path: Path, dns: DnsServer, sendgrid_host: str, database_url: str = "", **newsletter: str
) -> Path:
    values = {
        "title": '"The Test Brief"',
        "theme": '"Russia\'s war in Ukraine and its allies"',
        "from_name": '"Test Brief"',
        "from_address": '"brief@example.org"',
        "postal_address": '"1 Test Street, Testville TE1 1ST, United Kingdom"',
        "base_url": f'"{nothing_listening()}"',
        "lists": '["readers"]',
        "sender": '"sendgrid"',
        **newsletter,
    }
    config = tmp_path / "digest.toml"
    sqlite = f"sqlite:///{tmp_path / 'digest.db'}"
    config.write_text(
        "\n".join(
            [
                f'database_url = "{database_url or sqlite}"',
                f'secret_key = "{SECRET}"',
                f'outbox_dir = "{tmp_path / "outbox"}"',
                f'sendgrid_host = "{sendgrid_host}"',
                f'dns_nameservers = ["{dns.address}"]',
                "dns_timeout = 1.0",
                "[newsletters.brief]",
                *(f"{key} = {value}" for key, value in values.items()),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    return config


def digest(config: Path, state: SendGridState, *args: str) -> tuple[int, str, BaseException | None]:
    result = CliRunner().invoke(
        cli, ["--config", str(config), *args], env={"SENDGRID_API_KEY": state.api_key}
    )
    return result.exit_code, result.output, result.exception


def prepare(config: Path, state: SendGridState, readers: int = 2) -> None:
    people = config.parent / "people.csv"
    people.write_text(
        "email,name\n" + "".join(f"r{n}@example.org,R{n}\n" for n in range(readers)),
        encoding="utf-8",
    )
    for args in (
        ["add", str(ROOT / "examples/articles/sanctions.jsonl")],
        ["build"],
        ["approve", "latest"],
        ["subscribers", "import", str(people), "--list", "readers"],
    ):
        code, output, _ = digest(config, state, *args)
        assert code == 0, output


def test_first_send_refused_on_errors_forced_and_not_asked_again(
    tmp_path: Path,
    database_url: str,
    broken_dns: DnsServer,
    sendgrid: tuple[str, SendGridState],
) -> None:
    host, state = sendgrid
    config = write_config(tmp_path, broken_dns, host, database_url)
    prepare(config, state)
    for dry in ([], ["--dry-run"]):
        code, _, refused = digest(config, state, "send", "latest", "--yes", "--now", *dry)
        assert code == 1 and isinstance(refused, DigestError)
        message = str(refused)
        assert "\n" not in message
        assert message.startswith(
            "edition 1 would be brief's first send, and the doctor found 4 errors: "
            "dmarc: no DMARC record at _dmarc.example.org"
        )
        # Nothing answers at base_url, and the email's links point at that local address.
        assert "; unsubscribe: POST http://127.0.0.1:" in message
        assert "; edition: edition 1: link to a local address no reader can open: " in message
        assert message.endswith(
            "(`digest doctor --newsletter brief` says what to publish; "
            "`digest send 1 --force` sends anyway)"
        )
    assert state.accepted_requests == 0
    code, output, _ = digest(config, state, "send", "latest", "--yes", "--now", "--force")
    assert code == 0, output
    assert sorted(state.recipients) == ["r0@example.org", "r1@example.org"]
    # The second edition: the first send is behind the newsletter, the doctor is not asked.
    (tmp_path / "more.md").write_text(
        "---\ntitle: Ukraine gets more air defence from allies\nsource: Example Wire\n---\n"
        "Allies pledged more air defence systems to Ukraine on Tuesday, officials said.\n",
        encoding="utf-8",
    )
    for args in (["add", str(tmp_path / "more.md")], ["build"], ["approve", "latest"]):
        code, output, _ = digest(config, state, *args)
        assert code == 0, output
    asked = len(broken_dns.state.asked)
    code, output, _ = digest(config, state, "send", "latest", "--yes", "--now")
    assert code == 0, output
    assert state.accepted_requests == 2
    assert len(broken_dns.state.asked) == asked


def test_a_clean_doctor_lets_the_first_send_go(
    tmp_path: Path, sendgrid: tuple[str, SendGridState]
) -> None:
    from tests.web_support import serving

    host, state = sendgrid
    with running_dns(passing(public_key())) as dns:
        config = write_config(tmp_path, dns, host)
        prepare(config, state, readers=3)
        app = App(Settings.model_validate({"secret_key": SECRET, "database_url": "sqlite://"}))
        with serving(app.settings) as base:
            # The email links to base_url (view in browser): a local one is an error there.
            config = write_config(tmp_path, dns, host, base_url=f'"{base}"')
            code, _, refused = digest(config, state, "send", "latest", "--yes", "--now")
            assert code == 1 and "link to a local address no reader can open" in str(refused)
            assert "dmarc" not in str(refused) and "unsubscribe" not in str(refused)
        app.close()
    assert state.accepted_requests == 0


def test_the_outbox_is_never_asked(tmp_path: Path, broken_dns: DnsServer) -> None:
    state = SendGridState(api_key="unused")
    config = write_config(tmp_path, broken_dns, "http://127.0.0.1:9", sender='"outbox"')
    prepare(config, state)
    code, output, _ = digest(config, state, "send", "latest", "--yes", "--now")
    assert code == 0, output
    assert len(list((tmp_path / "outbox").rglob("*.eml"))) == 2
    assert broken_dns.state.asked == []


def test_first_send_check_off(
    tmp_path: Path, broken_dns: DnsServer, sendgrid: tuple[str, SendGridState]
) -> None:
    host, state = sendgrid
    config = write_config(tmp_path, broken_dns, host)
    config.write_text("first_send_check = false\n" + config.read_text(), encoding="utf-8")
    prepare(config, state)
    code, output, _ = digest(config, state, "send", "latest", "--yes", "--now")
    assert code == 0, output
    assert state.accepted_requests == 1 and broken_dns.state.asked == []


def test_digest_run_refuses_an_automatic_first_send_and_says_so(
    tmp_path: Path, broken_dns: DnsServer, sendgrid: tuple[str, SendGridState]
) -> None:
    host, state = sendgrid
    settings = Settings.model_validate(
        {
            "database_url": f"sqlite:///{tmp_path / 'digest.db'}",
            "secret_key": SECRET,
            "sendgrid_host": host,
            "sendgrid_api_key": state.api_key,
            "dns_nameservers": [broken_dns.address],
            "dns_timeout": 1.0,
            "newsletters": {
                "brief": {
                    "title": "The Test Brief",
                    "theme": "Russia's war in Ukraine and its allies",
                    "from_name": "Test Brief",
                    "from_address": "brief@example.org",
                    "postal_address": "1 Test Street, Testville TE1 1ST, United Kingdom",
                    "base_url": nothing_listening(),
                    "lists": ["readers"],
                    "sender": "sendgrid",
                    "mode": "automatic",
                    "schedule": "0 7 * * *",
                    "lookback": "P30D",
                }
            },
        }
    )
    app = App(settings)
    app.add([str(ROOT / "examples/articles/sanctions.jsonl")])
    list_id = app.store.subscribers.ensure_list("readers")
    app.store.subscribers.upsert(list_id, [NewSubscriber(email="r0@example.org")])
    slot = datetime(2026, 11, 24, 7, 0, tzinfo=UTC)
    actions = run_due(app, now=slot)
    sends = [a for a in actions if a.action == "send"]
    assert sends and sends[0].status == "failed", [a.line() for a in actions]
    assert "would be brief's first send, and the doctor found" in sends[0].detail
    assert "`digest send 1 --force` sends anyway" in sends[0].line()
    assert state.accepted_requests == 0
    # Not final: the next tick asks the doctor again (once DNS is fixed, it sends).
    again = [a for a in run_due(app, now=slot + timedelta(minutes=5)) if a.action == "send"]
    assert [a.status for a in again] == ["failed"]
    assert "first send" in again[0].detail
    # Forced once by the operator, the newsletter's later editions go out by themselves.
    app.send(app.store.get_edition(1), force=True)
    assert state.accepted_requests == 1
    app.close()
    assert date(2026, 11, 24) == slot.date()
