"""`digest doctor` against a real DNS server on 127.0.0.1 (tests/servers/dns.py) serving a
passing zone and broken ones: each missing or wrong record found, explained, and its fix
given; the one-click unsubscribe POST against a running `digest serve` and against a port
where nothing listens."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr
from typer.testing import CliRunner

from digest.app import App
from digest.cli import app as cli
from digest.config import Settings, load_settings
from digest.doctor.findings import DoctorReport, Finding
from digest.doctor.unsubscribe import check_scheme
from digest.errors import ConfigError
from digest.store.subscribers import NewSubscriber
from digest.subscribers.model import Status
from tests.conftest import make_newsletter
from tests.servers.dns import DnsServer, Records, running_dns
from tests.servers.smtp import free_port
from tests.web_support import serving

SECRET = "doctor-test-secret-0123456789"


def public_key(bits: int = 2048) -> str:
    if bits < 1024:  # too weak to be made: a modulus of that size stands for one
        public = rsa.RSAPublicNumbers(65537, (1 << (bits - 1)) | 0xFFFF_FFFF).public_key()
    else:
        public = rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key()
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


@pytest.fixture(scope="module")
def key() -> str:
    return public_key()


def passing(key: str) -> Records:
    """example.org set up for SendGrid as its docs say (automated security off: the include in
    the From domain's SPF), with a DMARC policy and MX; and SendGrid's side of the CNAMEs."""
    return {
        "example.org": [
            ("TXT", "v=spf1 include:sendgrid.net ~all"),
            ("TXT", "google-site-verification=abc"),
            ("MX", "10 mx.example.org"),
            ("A", "192.0.2.10"),
        ],
        "mx.example.org": [("A", "192.0.2.25")],
        "sendgrid.net": [("TXT", "v=spf1 ip4:167.89.0.0/17 ip4:208.117.48.0/20 ~all")],
        "s1._domainkey.example.org": [("CNAME", "s1.domainkey.u1.wl1.sendgrid.net")],
        "s2._domainkey.example.org": [("CNAME", "s2.domainkey.u1.wl1.sendgrid.net")],
        "s1.domainkey.u1.wl1.sendgrid.net": [("TXT", f"v=DKIM1; k=rsa; p={key}")],
        "s2.domainkey.u1.wl1.sendgrid.net": [("TXT", f"v=DKIM1; k=rsa; p={key}")],
        "_dmarc.example.org": [
            ("TXT", "v=DMARC1; p=quarantine; rua=mailto:dmarc@example.org"),
        ],
    }


def nothing_listening() -> str:
    return f"http://127.0.0.1:{free_port()}"


def make_settings(
    server: DnsServer,
    tmp_path: Path,
    base_url: str = "",
    dns_timeout: float = 1.0,
    mailgun_domain: str = "",
    **newsletter: object,
) -> Settings:
    values: dict[str, object] = {"sender": "sendgrid", "lists": ["readers"]}
    values.update(newsletter)
    return Settings.model_validate(
        {
            "database_url": f"sqlite:///{tmp_path / 'digest.db'}",
            "secret_key": SECRET,
            "outbox_dir": tmp_path / "outbox",
            "dns_nameservers": [server.address],
            "dns_timeout": dns_timeout,
            "mailgun": {"domain": mailgun_domain},
            "newsletters": {
                "brief": make_newsletter(base_url=base_url or nothing_listening(), **values)
            },
        }
    )


@pytest.fixture
def dns_server(key: str) -> Iterator[DnsServer]:
    with running_dns(passing(key)) as server:
        yield server


def checkup(server: DnsServer, tmp_path: Path, **newsletter: Any) -> DoctorReport:
    """`mailgun_domain=` sets [mailgun] domain; the other keywords are the newsletter's."""
    mailgun_domain = str(newsletter.pop("mailgun_domain", ""))
    app = App(make_settings(server, tmp_path, mailgun_domain=mailgun_domain, **newsletter))
    try:
        [report] = app.doctor("brief")
    finally:
        app.close()
    return report


def of(report: DoctorReport, check: str, severity: str | None = None) -> list[Finding]:
    return [
        f
        for f in report.findings
        if f.check == check and (severity is None or f.severity == severity)
    ]


def one(report: DoctorReport, check: str, severity: str) -> Finding:
    found = of(report, check, severity)
    assert len(found) == 1, "\n".join(report.lines())
    return found[0]


# A passing zone passes


def test_a_passing_zone_passes_with_a_running_serve(dns_server: DnsServer, tmp_path: Path) -> None:
    settings = make_settings(dns_server, tmp_path)
    with serving(settings) as base:
        settings.newsletters["brief"].base_url = base  # type: ignore[assignment]
        app = App(settings)
        [report] = app.doctor()
        app.close()
    assert report.errors == [], "\n".join(report.lines())
    assert report.domain == "example.org"
    assert "authorises SendGrid (include:sendgrid.net; 1 of 10 DNS lookups)" in (
        one(report, "spf", "ok").found
    )
    dkim = of(report, "dkim", "ok")
    assert [f.found.split(":")[0] for f in dkim] == [
        "s1._domainkey.example.org → s1.domainkey.u1.wl1.sendgrid.net (SendGrid)",
        "s2._domainkey.example.org → s2.domainkey.u1.wl1.sendgrid.net (SendGrid)",
    ]
    assert all("rsa key of 2048 bits" in f.found for f in dkim)
    dmarc = of(report, "dmarc", "ok")
    assert "policy quarantine for example.org" in dmarc[0].found
    assert dmarc[1].found == "DKIM d=example.org is aligned with From example.org (relaxed)"
    assert one(report, "mx", "ok").found == "example.org takes mail at 10 mx.example.org"
    assert "reached digest serve, which holds this secret_key" in (
        one(report, "unsubscribe", "ok").found
    )
    # Plain http on loopback: said, not refused.
    assert "plain http on a local address" in one(report, "unsubscribe", "warning").found
    # The 2048-bit key does not fit a UDP answer: it came over TCP.
    assert ("s1._domainkey.example.org", "TXT") in dns_server.asked_over("tcp")


def test_the_command_prints_lines_and_json_and_exits_by_errors(
    dns_server: DnsServer, tmp_path: Path
) -> None:
    settings = make_settings(dns_server, tmp_path)
    config = tmp_path / "digest.toml"
    config.write_text(
        "\n".join(
            [
                f'database_url = "{settings.database_url}"',
                f'secret_key = "{SECRET}"',
                f'dns_nameservers = ["{dns_server.address}"]',
                "dns_timeout = 1.0",
                "[newsletters.brief]",
                'title = "The Test Brief"',
                'theme = "Russia\'s war in Ukraine and its allies"',
                'from_name = "Test Brief"',
                'from_address = "brief@example.org"',
                'postal_address = "1 Test Street, Testville TE1 1ST, United Kingdom"',
                f'base_url = "{nothing_listening()}"',
                'sender = "sendgrid"',
            ]
        ),
        encoding="utf-8",
    )
    text = CliRunner().invoke(cli, ["--config", str(config), "doctor"])
    assert text.exit_code == 1  # nothing answers the one-click POST
    lines = text.output.splitlines()
    assert lines[0] == "brief: From brief@example.org, sent through sendgrid"
    assert any(line.startswith("ok: spf: example.org: ") for line in lines)
    refused = next(i for i, line in enumerate(lines) if line.startswith("error: unsubscribe: "))
    assert "could not connect" in lines[refused]
    assert lines[refused + 1].startswith("    fix: run digest serve where http://127.0.0.1:")
    assert lines[-1] == "1 error, 1 warning"
    data = json.loads(
        CliRunner().invoke(cli, ["--config", str(config), "doctor", "--json", "-n", "brief"]).output
    )
    assert data[0]["domain"] == "example.org" and data[0]["errors"] == 1
    assert {"check", "severity", "found", "fix"} <= set(data[0]["findings"][0])
    # --via checks another sender, as `digest send --via` would send.
    via = CliRunner().invoke(cli, ["--config", str(config), "doctor", "--via", "postmark"])
    assert via.output.splitlines()[0] == "brief: From brief@example.org, sent through postmark"
    assert "Postmark's mail is checked for SPF on its own return-path domain" in via.output
    wrong = CliRunner().invoke(cli, ["--config", str(config), "doctor", "--via", "carrier"])
    assert str(wrong.exception) == (
        "--via carrier: one of outbox, smtp, sendgrid, ses, postmark, mailgun"
    )


# SPF


def test_no_spf_record(dns_server: DnsServer, tmp_path: Path) -> None:
    dns_server.records["example.org"] = [("MX", "10 mx.example.org")]
    found = one(checkup(dns_server, tmp_path), "spf", "error")
    assert found.found == "no SPF record at example.org (example.org has no TXT record)"
    assert found.fix == 'publish TXT example.org "v=spf1 include:sendgrid.net ~all"'


def test_two_spf_records(dns_server: DnsServer, tmp_path: Path) -> None:
    dns_server.records["example.org"] += [("TXT", "v=spf1 ip4:198.51.100.7 -all")]
    found = one(checkup(dns_server, tmp_path), "spf", "error")
    assert "has 2 SPF records" in found.found and "permanent error" in found.found
    assert found.fix == (
        'merge them into one: TXT example.org "v=spf1 include:sendgrid.net ip4:198.51.100.7 -all"'
    )


def test_spf_without_the_providers_include(dns_server: DnsServer, tmp_path: Path, key: str) -> None:
    dns_server.records["example.org"][0] = ("TXT", "v=spf1 mx include:_spf.example.net ~all")
    dns_server.records["_spf.example.net"] = [("TXT", "v=spf1 ip4:198.51.100.0/24 -all")]
    # DKIM published as TXT (SendGrid's automated security off), so SPF must say SendGrid.
    for selector in ("s1", "s2"):
        dns_server.records[f"{selector}._domainkey.example.org"] = [
            ("TXT", f"v=DKIM1; k=rsa; p={key}")
        ]
    found = one(checkup(dns_server, tmp_path), "spf", "error")
    assert found.found == (
        'example.org: "v=spf1 mx include:_spf.example.net ~all" does not authorise SendGrid '
        "(no include:sendgrid.net)"
    )
    assert found.fix == (
        "add include:sendgrid.net: TXT example.org "
        '"v=spf1 mx include:_spf.example.net include:sendgrid.net ~all"'
    )


def test_sendgrid_automated_security_needs_no_include(
    dns_server: DnsServer, tmp_path: Path
) -> None:
    dns_server.records["example.org"][0] = ("TXT", "v=spf1 mx ~all")
    report = checkup(dns_server, tmp_path)
    assert "and need not" in one(report, "spf", "ok").found
    assert not of(report, "spf", "error")


def test_spf_over_ten_lookups(dns_server: DnsServer, tmp_path: Path) -> None:
    includes = " ".join(f"include:_spf{n}.example.net" for n in range(5))
    dns_server.records["example.org"][0] = (
        "TXT",
        f"v=spf1 a mx {includes} include:sendgrid.net -all",
    )
    for n in range(5):  # each include brings one lookup more: 2 + 5 + 5 + 1 = 13
        dns_server.records[f"_spf{n}.example.net"] = [("TXT", f"v=spf1 a:mail{n}.example.net -all")]
    report = checkup(dns_server, tmp_path)
    found = one(report, "spf", "error")
    assert "needs 13 DNS lookups, over RFC 7208's limit of 10" in found.found
    assert "a:mail4.example.net (in _spf4.example.net)" in found.found
    assert "ip4:/ip6:" in found.fix


@pytest.mark.parametrize(
    ("ending", "said"),
    [("+all", "every server on the internet may send as example.org"), ("?all", "neutral")],
)
def test_permissive_all_is_warned(
    dns_server: DnsServer, tmp_path: Path, ending: str, said: str
) -> None:
    dns_server.records["example.org"][0] = ("TXT", f"v=spf1 include:sendgrid.net {ending}")
    report = checkup(dns_server, tmp_path)
    found = one(report, "spf", "warning")
    assert said in found.found and found.fix == "end the record with ~all (or -all)"
    assert "authorises SendGrid" in one(report, "spf", "ok").found


def test_an_include_without_a_record_is_a_permanent_error(
    dns_server: DnsServer, tmp_path: Path
) -> None:
    dns_server.records["example.org"][0] = (
        "TXT",
        "v=spf1 include:gone.example.net include:sendgrid.net ~all",
    )
    found = one(checkup(dns_server, tmp_path), "spf", "error")
    assert "include:gone.example.net: gone.example.net does not exist in DNS" in found.found


def test_a_mechanism_receivers_do_not_know_and_macros(
    dns_server: DnsServer, tmp_path: Path
) -> None:
    dns_server.records["example.org"][0] = ("TXT", "v=spf1 include:sendgrid.net foo:bar -all")
    found = one(checkup(dns_server, tmp_path), "spf", "error")
    assert found.found == (
        "example.org: \"v=spf1 include:sendgrid.net foo:bar -all\": example.org: 'foo:bar' is "
        "not an SPF mechanism (a permanent error)"
    )
    # A redirect= beside an all is never followed (nor counted); macros are said.
    dns_server.records["example.org"][0] = (
        "TXT",
        "v=spf1 exists:%{i}._spf.example.org include:sendgrid.net redirect=gone.example.net ~all",
    )
    report = checkup(dns_server, tmp_path)
    assert "uses macros" in one(report, "spf", "warning").found
    assert "(include:sendgrid.net; 2 of 10 DNS lookups)" in one(report, "spf", "ok").found


@pytest.mark.parametrize(
    ("record", "passes"),
    [
        ("v=spf1 a:mail.example.org -all", True),
        ("v=spf1 mx -all", True),  # mx.example.org is the SMTP host's address too
        ("v=spf1 include:_spf.example.net -all", True),
        ("v=spf1 redirect=_spf.example.net", True),
        ("v=spf1 ip4:192.0.2.0/28 -all", True),
        ("v=spf1 ip4:198.51.100.0/24 ~all", False),
        ("v=spf1 include:sendgrid.net -all", False),
    ],
)
def test_smtp_host_addresses_evaluated(
    dns_server: DnsServer, tmp_path: Path, record: str, passes: bool
) -> None:
    dns_server.records["example.org"][0] = ("TXT", record)
    dns_server.records["mail.example.org"] = [("A", "192.0.2.9")]
    dns_server.records["mx.example.org"] = [("A", "192.0.2.9")]
    dns_server.records["_spf.example.net"] = [("TXT", "v=spf1 ip4:192.0.2.8/30 -all")]
    app = App(make_settings(dns_server, tmp_path, sender="smtp", dkim_selectors=["s1"]))
    app.settings.smtp_host = "mail.example.org"
    [report] = app.doctor()
    app.close()
    spf = of(report, "spf")
    if passes:
        assert [f.found for f in spf if f.severity != "warning"] == [
            "192.0.2.9 (mail.example.org) passes SPF for example.org"
        ]
        # DMARC may align through SPF for SMTP: From is the envelope sender.
    else:
        found = one(report, "spf", "error")
        assert "192.0.2.9 (mail.example.org) gets SPF" in found.found
        assert found.fix == "add ip4:192.0.2.9 to the SPF record of example.org"


def test_smtp_through_a_local_relay_is_said_not_evaluated(
    dns_server: DnsServer, tmp_path: Path
) -> None:
    report = checkup(dns_server, tmp_path, sender="smtp", dkim_selectors=["s1"])
    found = one(report, "spf", "warning")
    assert found.found.startswith("smtp_host 127.0.0.1 is 127.0.0.1, a local address")


# DKIM


def test_a_selector_not_published(dns_server: DnsServer, tmp_path: Path) -> None:
    del dns_server.records["s2._domainkey.example.org"]
    found = one(checkup(dns_server, tmp_path), "dkim", "error")
    assert found.found == "s2._domainkey.example.org does not exist in DNS (NXDOMAIN)"
    assert found.fix == (
        "publish CNAME s2._domainkey.example.org s2.domainkey.uNNNN.wlNNN.sendgrid.net "
        "(the exact target is on SendGrid's Sender Authentication page)"
    )


def test_a_revoked_key(dns_server: DnsServer, tmp_path: Path) -> None:
    dns_server.records["s1.domainkey.u1.wl1.sendgrid.net"] = [("TXT", "v=DKIM1; k=rsa; p=")]
    found = one(checkup(dns_server, tmp_path), "dkim", "error")
    assert "the key is revoked (p= is empty)" in found.found
    assert found.found.startswith("s1._domainkey.example.org → s1.domainkey.u1.wl1.sendgrid.net")


def test_a_short_key_and_a_broken_one(dns_server: DnsServer, tmp_path: Path) -> None:
    dns_server.records["s1.domainkey.u1.wl1.sendgrid.net"] = [
        ("TXT", f"v=DKIM1; k=rsa; p={public_key(512)}")
    ]
    dns_server.records["s2.domainkey.u1.wl1.sendgrid.net"] = [("TXT", "v=DKIM1; p=bm90IGEga2V5")]
    errors = of(checkup(dns_server, tmp_path), "dkim", "error")
    assert "rsa key of 512 bits: receivers refuse RSA keys under 1024 bits" in errors[0].found
    assert "p= is not a rsa public key" in errors[1].found


def test_a_provider_without_fixed_selectors_needs_them_set(
    dns_server: DnsServer, tmp_path: Path, key: str
) -> None:
    dns_server.records["example.org"][0] = ("TXT", "v=spf1 include:spf.mtasv.net ~all")
    dns_server.records["spf.mtasv.net"] = [("TXT", "v=spf1 ip4:50.31.156.0/24 ~all")]
    report = checkup(dns_server, tmp_path, sender="postmark")
    found = one(report, "dkim", "error")
    assert found.found == "no DKIM selector to look up: Postmark gives each domain its own"
    assert found.fix.startswith('set dkim_selectors = ["SELECTOR"] under [newsletters.brief]')
    dns_server.records["20240101pm._domainkey.example.org"] = [("TXT", f"k=rsa; p={key}")]
    report = checkup(dns_server, tmp_path, sender="postmark", dkim_selectors=["20240101pm"])
    assert report.errors == [] or all(f.check == "unsubscribe" for f in report.errors)
    assert "authorises Postmark (include:spf.mtasv.net" in one(report, "spf", "ok").found


@pytest.mark.parametrize(
    ("sender", "return_path"), [("postmark", "pm.mtasv.net"), ("ses", "amazonses.com")]
)
def test_a_provider_with_its_own_return_path_needs_no_include_on_the_from_domain(
    dns_server: DnsServer, tmp_path: Path, key: str, sender: str, return_path: str
) -> None:
    """SES's and Postmark's envelope sender is on their own domain by default: receivers check
    SPF there, so the From domain's record need not name them (DMARC rests on DKIM)."""
    dns_server.records["example.org"][0] = ("TXT", "v=spf1 include:_spf.google.com ~all")
    dns_server.records["_spf.google.com"] = [("TXT", "v=spf1 ip4:198.51.100.0/24 ~all")]
    dns_server.records["sel1._domainkey.example.org"] = [("TXT", f"k=rsa; p={key}")]
    report = checkup(dns_server, tmp_path, sender=sender, dkim_selectors=["sel1"])
    assert not of(report, "spf", "error") and not of(report, "spf", "warning")
    found = one(report, "spf", "ok").found
    assert f"own return-path domain ({return_path}), where it passes" in found
    assert "example.org need not include" in found
    assert any("DKIM d=example.org is aligned" in f.found for f in of(report, "dmarc", "ok"))
    # No SPF record at all: worth publishing for the domain's other mail, not this one's.
    dns_server.records["example.org"] = [("MX", "10 mx.example.org")]
    report = checkup(dns_server, tmp_path, sender=sender, dkim_selectors=["sel1"])
    assert not of(report, "spf", "error")
    assert one(report, "spf", "warning").found.startswith("no SPF record at example.org")


def test_mailgun_spf_is_checked_on_its_sending_domain(
    dns_server: DnsServer, tmp_path: Path, key: str
) -> None:
    dns_server.records["example.org"][0] = ("TXT", "v=spf1 include:_spf.google.com ~all")
    dns_server.records["_spf.google.com"] = [("TXT", "v=spf1 ip4:198.51.100.0/24 ~all")]
    dns_server.records["mailgun.org"] = [("TXT", "v=spf1 ip4:69.72.32.0/20 ~all")]
    dns_server.records["mg.example.org"] = [("TXT", "v=spf1 include:_spf.google.com ~all")]
    dns_server.records["pdk1._domainkey.example.org"] = [("TXT", f"k=rsa; p={key}")]
    settings: dict[str, Any] = {"sender": "mailgun", "dkim_selectors": ["pdk1"]}
    report = checkup(dns_server, tmp_path, mailgun_domain="mg.example.org", **settings)
    found = one(report, "spf", "error")
    assert found.found.startswith('mg.example.org: "v=spf1 include:_spf.google.com ~all"')
    assert "does not authorise Mailgun (no include:mailgun.org)" in found.found
    assert found.fix.startswith("add include:mailgun.org: TXT mg.example.org")
    dns_server.records["mg.example.org"] = [("TXT", "v=spf1 include:mailgun.org ~all")]
    report = checkup(dns_server, tmp_path, mailgun_domain="mg.example.org", **settings)
    assert not of(report, "spf", "error")
    assert "mg.example.org" in one(report, "spf", "ok").found
    # Without the sending domain there is nothing to check SPF on.
    report = checkup(dns_server, tmp_path, **settings)
    assert one(report, "spf", "error").fix == "set domain under [mailgun]"


# DMARC


def test_no_dmarc_record(dns_server: DnsServer, tmp_path: Path) -> None:
    del dns_server.records["_dmarc.example.org"]
    found = one(checkup(dns_server, tmp_path), "dmarc", "error")
    assert found.found.startswith("no DMARC record at _dmarc.example.org")
    assert found.fix.startswith(
        'publish TXT _dmarc.example.org "v=DMARC1; p=quarantine; '
        'rua=mailto:dmarc-reports@example.org"'
    )


def test_dmarc_p_none_is_a_warning(dns_server: DnsServer, tmp_path: Path) -> None:
    dns_server.records["_dmarc.example.org"] = [
        ("TXT", "v=DMARC1; p=none; rua=mailto:d@example.org")
    ]
    report = checkup(dns_server, tmp_path)
    found = one(report, "dmarc", "warning")
    assert "monitoring only" in found.found
    assert found.fix == (
        "once the reports show your mail passing, publish TXT _dmarc.example.org "
        '"v=DMARC1; p=quarantine; rua=mailto:d@example.org"'
    )
    assert not report.errors or all(f.check == "unsubscribe" for f in report.errors)


def test_dkim_not_aligned_with_from(dns_server: DnsServer, tmp_path: Path, key: str) -> None:
    # Signed by the provider's own domain (no domain authentication): d=sendgrid.net.
    dns_server.records["s1._domainkey.sendgrid.net"] = [("TXT", f"v=DKIM1; p={key}")]
    report = checkup(dns_server, tmp_path, dkim_selectors=["s1._domainkey.sendgrid.net"])
    found = one(report, "dmarc", "error")
    assert found.found == (
        "no DKIM signing domain (d=sendgrid.net) is aligned with From example.org (relaxed "
        "mode): DMARC fails for every message"
    )
    assert "SELECTOR._domainkey.example.org" in found.fix


def test_strict_alignment_and_a_subdomains_policy(
    dns_server: DnsServer, tmp_path: Path, key: str
) -> None:
    dns_server.records["s1._domainkey.mail.example.org"] = [("TXT", f"v=DKIM1; p={key}")]
    selectors = {"dkim_selectors": ["s1._domainkey.mail.example.org"]}
    relaxed = checkup(dns_server, tmp_path, **selectors)
    assert "DKIM d=mail.example.org is aligned with From example.org (relaxed)" in [
        f.found for f in of(relaxed, "dmarc", "ok")
    ]
    dns_server.records["_dmarc.example.org"] = [("TXT", "v=DMARC1; p=reject; adkim=s")]
    strict = checkup(dns_server, tmp_path, **selectors)
    assert "(strict mode, adkim=s)" in one(strict, "dmarc", "error").found
    # From a subdomain without a record of its own: the organisational domain's sp= applies.
    dns_server.records["_dmarc.example.org"] = [("TXT", "v=DMARC1; p=reject; sp=none")]
    dns_server.records["news.example.org"] = dns_server.records["example.org"]
    dns_server.records["s1._domainkey.news.example.org"] = [("TXT", f"v=DKIM1; p={key}")]
    sub = checkup(
        dns_server, tmp_path, from_address="brief@news.example.org", dkim_selectors=["s1"]
    )
    found = one(sub, "dmarc", "warning")
    assert found.found.startswith('_dmarc.example.org: "v=DMARC1; p=reject; sp=none" (policy none')


def test_two_dmarc_records(dns_server: DnsServer, tmp_path: Path) -> None:
    dns_server.records["_dmarc.example.org"] += [("TXT", "v=DMARC1; p=none")]
    found = one(checkup(dns_server, tmp_path), "dmarc", "error")
    assert "has 2 DMARC records: receivers ignore them all" in found.found


# MX


def test_no_mx(dns_server: DnsServer, tmp_path: Path) -> None:
    dns_server.records["example.org"] = [
        r for r in dns_server.records["example.org"] if r[0] != "MX"
    ]
    found = one(checkup(dns_server, tmp_path), "mx", "warning")
    assert "has no MX record: mail to it goes to its own address (192.0.2.10)" in found.found
    assert found.fix.startswith("publish MX example.org 10 MAILHOST")
    dns_server.records["example.org"] = [
        r for r in dns_server.records["example.org"] if r[0] != "A"
    ]
    found = one(checkup(dns_server, tmp_path), "mx", "error")
    assert found.found == "example.org has neither MX nor address records: no mail reaches it"


def test_null_mx(dns_server: DnsServer, tmp_path: Path) -> None:
    dns_server.records["example.org"][2] = ("MX", "0 .")
    found = one(checkup(dns_server, tmp_path), "mx", "error")
    assert found.found.startswith("example.org publishes a null MX (0 .): it takes no mail")


# DNS that does not answer


@pytest.mark.parametrize(
    ("failure", "said"),
    [
        ("TIMEOUT", "no answer within 1 s from 127.0.0.1:"),
        ("SERVFAIL", "the DNS server answered SERVFAIL"),
    ],
)
def test_dns_failures_are_one_line_findings(
    dns_server: DnsServer, tmp_path: Path, failure: str, said: str
) -> None:
    dns_server.records["_dmarc.example.org"] = [(failure, "")]
    found = one(checkup(dns_server, tmp_path), "dmarc", "error")
    assert found.found.startswith("TXT _dmarc.example.org: ") and said in found.found
    assert "\n" not in found.found


def test_a_domain_that_does_not_exist(dns_server: DnsServer, tmp_path: Path) -> None:
    report = checkup(dns_server, tmp_path, from_address="brief@nowhere.example.com")
    assert one(report, "mx", "error").found == (
        "nowhere.example.com does not exist in DNS (NXDOMAIN): the From address cannot exist"
    )
    assert "nowhere.example.com does not exist in DNS" in one(report, "spf", "error").found


def test_no_dns_server_answering_at_all(tmp_path: Path) -> None:
    silent = DnsServer(f"127.0.0.1:{free_port()}", None)  # type: ignore[arg-type]
    report = checkup(silent, tmp_path, dns_timeout=0.3)
    assert {f.check for f in report.errors} >= {"spf", "dkim", "dmarc", "mx"}
    assert all("\n" not in f.found for f in report.findings)
    said = [f.found for f in report.errors if f.check != "unsubscribe"]
    # Two questions wait out the timeout; the rest are not asked (a run is not held up).
    assert sum("no answer within 0.3 s" in line for line in said) == 2
    assert "did not answer twice already" in said[-1]


def test_nameserver_setting_is_checked(example_workdir: Path) -> None:
    config = example_workdir / "bad.toml"
    config.write_text('dns_nameservers = ["192.0.2.53", "dns.example.org"]\n', encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_settings(config)
    assert str(refused.value) == (
        f"{config}: dns_nameservers: 'dns.example.org': a nameserver's address, like "
        "192.0.2.53, 192.0.2.53:5353 or [2001:db8::53]:53"
    )
    config.write_text('dns_nameservers = ["[::1]:5353", "192.0.2.1"]\n', encoding="utf-8")
    assert load_settings(config).dns_nameservers == ["[::1]:5353", "192.0.2.1"]


# The one-click unsubscribe


def test_the_probe_changes_nothing_and_another_secret_is_found_out(
    dns_server: DnsServer, tmp_path: Path
) -> None:
    settings = make_settings(dns_server, tmp_path)
    app = App(settings)
    list_id = app.store.subscribers.ensure_list("readers")
    app.store.subscribers.upsert(list_id, [NewSubscriber(email="ana@example.org", name="Ana")])
    other = settings.model_copy(update={"secret_key": SecretStr("another-secret-0123456789")})
    with serving(other) as base:
        settings.newsletters["brief"].base_url = base  # type: ignore[assignment]
        [report] = app.doctor()
    found = one(report, "unsubscribe", "error")
    assert "404: what answers there is not a digest serve holding this secret_key" in found.found
    with serving(settings) as base:
        settings.newsletters["brief"].base_url = base  # type: ignore[assignment]
        [report] = app.doctor()
    assert of(report, "unsubscribe", "ok")
    ana = app.store.subscribers.find(list_id, "ana@example.org")
    assert ana is not None and ana.status == Status.SUBSCRIBED
    app.close()


def test_nothing_listening_at_base_url(dns_server: DnsServer, tmp_path: Path) -> None:
    url = nothing_listening()
    found = one(checkup(dns_server, tmp_path, base_url=url), "unsubscribe", "error")
    assert found.found.startswith(f"POST {url}/u/…: could not connect (")
    assert found.fix == f"run digest serve where {url} reaches it (behind your TLS proxy)"


def test_plain_http_is_an_error_off_loopback() -> None:
    # (checked without a POST: no test sends traffic off this machine)
    public = check_scheme("http://news.example.org")
    assert public is not None and public.severity == "error"
    assert "RFC 8058 one-click links must be https" in public.found
    local = check_scheme("http://127.0.0.1:8080")
    assert local is not None and local.severity == "warning"
    assert check_scheme("https://news.example.org") is None


# The edition about to go out


def test_the_latest_draft_is_checked_as_sent(dns_server: DnsServer, tmp_path: Path) -> None:
    from datetime import date

    root = Path(__file__).resolve().parent.parent
    base = nothing_listening()
    app = App(make_settings(dns_server, tmp_path, base_url=base))
    app.add([str(root / "examples/articles/sanctions.jsonl")])
    edition = app.build(app.settings.newsletter("brief"), date(2026, 11, 24))
    [report] = app.doctor()
    app.close()
    size = of(report, "edition", "ok")[0].found
    assert size.startswith(f"edition {edition.id} (draft): HTML ")
    assert "KB (Gmail clips over 102 KB), 1 image(s)" in size  # the logo
    local = [f.found for f in of(report, "edition", "error")]
    said = "link to a local address no reader can open"
    assert f"edition {edition.id} (draft): {said}: {base}/archive/brief/1" in local
    # The logo is https on the newsletter's public host: not named.
    assert not any("logo.png" in line for line in local)
