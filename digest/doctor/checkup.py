"""One newsletter's check-up: the From domain's SPF, DKIM, DMARC and MX for its sender, the
one-click unsubscribe at base_url, and the edition about to go out."""

from __future__ import annotations

from dataclasses import dataclass

import idna

from digest.config import NewsletterConfig
from digest.doctor.dkim import Selector, check_selectors, selectors_for
from digest.doctor.dmarc import check_alignment, find_policy
from digest.doctor.dns_lookup import DnsClient, DnsFailure
from digest.doctor.edition import check_edition
from digest.doctor.findings import DoctorReport, Finding, error, ok
from digest.doctor.mx import check_mx
from digest.doctor.providers import in_domain, provider_for
from digest.doctor.spf_check import check_spf
from digest.doctor.unsubscribe import check_one_click, check_scheme
from digest.render import RenderedEmail


@dataclass(frozen=True)
class Probe:
    """The one-click POST to make: a probe token, or why none can be made (secret_key)."""

    token: str = ""
    problem: str = ""


def from_domain(newsletter: NewsletterConfig) -> str:
    """The From address's domain as DNS names it (IDNA for an internationalised one)."""
    domain = newsletter.from_address.rsplit("@", 1)[1].rstrip(".").lower()
    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError:
        return domain


def examine(
    newsletter: NewsletterConfig,
    sender: str,
    dns: DnsClient | None,
    probe: Probe,
    *,
    smtp_host: str = "",
    sending_domain: str = "",
    edition: tuple[str, RenderedEmail] | None = None,
) -> DoctorReport:
    """Every check, in the order an operator fixes them; `dns` None for the outbox sender
    (nothing leaves the machine: no DNS to check)."""
    domain = from_domain(newsletter)
    report = DoctorReport(newsletter.name, newsletter.from_address, domain, sender)
    if dns is None:
        report.findings.append(
            ok(
                "dns",
                "sender outbox writes files and sends nothing: SPF, DKIM, DMARC and MX not checked",
            )
        )
    else:
        report.findings += dns_findings(newsletter, sender, dns, domain, smtp_host, sending_domain)
    report.findings += unsubscribe_findings(newsletter, probe)
    if edition is None:
        report.findings.append(
            ok("edition", f"no draft or approved edition of {newsletter.name} to check")
        )
    else:
        report.findings += check_edition(*edition)
    return report


def dns_findings(
    newsletter: NewsletterConfig,
    sender: str,
    dns: DnsClient,
    domain: str,
    smtp_host: str,
    sending_domain: str = "",
) -> list[Finding]:
    """`sending_domain`: Mailgun's (`[mailgun] domain`), where its envelope sender, and so
    its SPF, is."""
    provider = provider_for(sender)
    selectors = selectors_for(newsletter.dkim_selectors, provider, domain)
    dkim, signing = check_selectors(dns, selectors, provider, newsletter.name)
    # SendGrid's automated security: its DKIM selectors are CNAMEs into sendgrid.net, and SPF
    # is published (by SendGrid) on the return-path subdomain those setups delegate.
    automated = sender == "sendgrid" and _delegated(dns, signing, provider.dkim_domains)
    envelope_domain = domain
    if provider.envelope == "sending":
        envelope_domain = sending_domain.rstrip(".").lower()
    if envelope_domain:
        spf, spf_passes = check_spf(dns, envelope_domain, provider, smtp_host, automated)
    else:
        no_domain = "the sending domain is not set, so its SPF cannot be checked"
        spf, spf_passes = [error("spf", no_domain, "set domain under [mailgun]")], False
    policy, dmarc = find_policy(dns, domain)
    findings = [*spf, *dkim, dmarc]
    if policy is not None:
        # SMTP's envelope sender is From; Mailgun's is its sending domain.
        envelope = envelope_domain if spf_passes else None
        findings.append(check_alignment(policy, domain, [s.domain for s in signing], envelope))
    findings.append(check_mx(dns, domain))
    return findings


def _delegated(dns: DnsClient, signing: list[Selector], domains: tuple[str, ...]) -> bool:
    for selector in signing:
        try:
            targets = dns.cname(selector.name).records
        except DnsFailure:
            continue
        if targets and any(in_domain(targets[0], d) for d in domains):
            return True
    return False


def unsubscribe_findings(newsletter: NewsletterConfig, probe: Probe) -> list[Finding]:
    findings: list[Finding] = []
    scheme = check_scheme(newsletter.web_base)
    if scheme is not None:
        findings.append(scheme)
    if probe.problem:
        findings.append(
            error(
                "unsubscribe",
                probe.problem,
                "set secret_key (DIGEST_SECRET_KEY), the same for digest serve and digest send",
            )
        )
    else:
        findings.append(check_one_click(newsletter.web_base, probe.token))
    return findings
