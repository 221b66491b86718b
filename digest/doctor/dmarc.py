"""DMARC (RFC 7489): the policy published at _dmarc.FROM-DOMAIN, or at the organisational
domain's when the From domain has none, and whether the domains that authenticate the mail
(DKIM's d=, SPF's envelope domain) align with From."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from digest.doctor.dns_lookup import DnsClient, DnsFailure
from digest.doctor.findings import Finding, error, ok, warning

if TYPE_CHECKING:
    from publicsuffixlist import PublicSuffixList

POLICIES = ("none", "quarantine", "reject")


@cache
def _suffixes() -> PublicSuffixList:
    # The list bundled with the package: nothing is downloaded at run time.
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList()


def organisational_domain(domain: str) -> str:
    """The registered domain above `domain` (news.example.co.uk → example.co.uk), by the
    Public Suffix List; a name that is itself a public suffix stands for itself."""
    return _suffixes().privatesuffix(domain.lower().rstrip(".")) or domain.lower()


def aligned(domain: str, from_domain: str, mode: str) -> bool:
    if mode == "s":
        return domain.lower() == from_domain.lower()
    return organisational_domain(domain) == organisational_domain(from_domain)


@dataclass(frozen=True)
class Policy:
    name: str  # where it was found
    record: str
    policy: str  # the one that applies to the From domain (sp= for a subdomain)
    adkim: str
    aspf: str
    tags: dict[str, str]


def dmarc_tags(record: str) -> dict[str, str]:
    found = {}
    for part in record.split(";"):
        name, equals, value = part.partition("=")
        if equals:
            found[name.strip().lower()] = value.strip()
    return found


def find_policy(dns: DnsClient, domain: str) -> tuple[Policy | None, Finding]:
    """The policy for mail From `domain`, and the finding on it."""
    organisational = organisational_domain(domain)
    suggested = (
        f'publish TXT _dmarc.{organisational} "v=DMARC1; p=quarantine; '
        f'rua=mailto:dmarc-reports@{organisational}" (rua: an address that reads the reports)'
    )
    names = [f"_dmarc.{domain}"]
    if organisational != domain:
        names.append(f"_dmarc.{organisational}")
    for name in names:
        try:
            found = dns.txt(name)
        except DnsFailure as failure:
            return None, error(
                "dmarc", str(failure), "ask again later; if it persists, check the zone"
            )
        records = [
            r.strip() for r in found.records if r.strip().replace(" ", "").startswith("v=DMARC1")
        ]
        if len(records) > 1:
            return None, error(
                "dmarc",
                f"{name} has {len(records)} DMARC records: receivers ignore them all",
                f"keep one TXT record at {name}",
            )
        if records:
            return _judge(name, records[0], domain, organisational, suggested)
    where = " or ".join(names)
    return None, error(
        "dmarc",
        f"no DMARC record at {where}: Gmail and Yahoo refuse bulk mail without one",
        suggested,
    )


def _judge(
    name: str, record: str, domain: str, organisational: str, suggested: str
) -> tuple[Policy | None, Finding]:
    values = dmarc_tags(record)
    at_organisation = name != f"_dmarc.{domain}"
    chosen = values.get("sp", values.get("p", "")) if at_organisation else values.get("p", "")
    chosen = chosen.lower()
    if chosen not in POLICIES:
        return None, error(
            "dmarc",
            f'{name}: "{record}" has no valid policy (p=none, quarantine or reject)',
            suggested,
        )
    policy = Policy(
        name,
        record,
        chosen,
        values.get("adkim", "r").lower(),
        values.get("aspf", "r").lower(),
        values,
    )
    described = f'{name}: "{record}" (policy {chosen} for {domain})'
    if chosen == "none":
        stricter = record.replace("p=none", "p=quarantine", 1) if "p=none" in record else suggested
        return policy, warning(
            "dmarc",
            f"{described}: monitoring only: mail forged in {domain}'s name is still "
            "delivered; bulk senders are expected to move on to quarantine or reject",
            f'once the reports show your mail passing, publish TXT {name} "{stricter}"',
        )
    pct = values.get("pct", "100")
    if pct.isdigit() and int(pct) < 100:
        return policy, warning(
            "dmarc",
            f"{described}: applied to {pct}% of failing mail only",
            f"take pct={pct} out of the record at {name}",
        )
    return policy, ok("dmarc", described)


def check_alignment(
    policy: Policy, from_domain: str, dkim_domains: list[str], spf_domain: str | None
) -> Finding:
    """DMARC passes when a valid DKIM signature's d= aligns with From, or SPF passes for an
    envelope domain that aligns: `spf_domain` is that domain when SPF passes, else None."""
    mode = "strict" if policy.adkim == "s" else "relaxed"
    good = [d for d in dkim_domains if aligned(d, from_domain, policy.adkim)]
    if good:
        return ok("dmarc", f"DKIM d={good[0]} is aligned with From {from_domain} ({mode})")
    spf_aligned = spf_domain is not None and aligned(spf_domain, from_domain, policy.aspf)
    if spf_aligned:
        return warning(
            "dmarc",
            f"only SPF ({spf_domain}) aligns with From {from_domain}: DMARC fails on any "
            "forwarded copy, and bulk senders are asked to sign with DKIM",
            f"sign with a DKIM key under {from_domain} and list its selector in dkim_selectors",
        )
    if dkim_domains:
        listed = ", ".join(f"d={d}" for d in dkim_domains)
        return error(
            "dmarc",
            f"no DKIM signing domain ({listed}) is aligned with From {from_domain} "
            f"({mode} mode{', adkim=s' if policy.adkim == 's' else ''}): DMARC fails for "
            "every message",
            f"sign with a key published under {from_domain}"
            + (" (or relax to adkim=r)" if policy.adkim == "s" else "")
            + f", and list it in dkim_selectors as SELECTOR._domainkey.{from_domain}",
        )
    return error(
        "dmarc",
        f"nothing aligned with From {from_domain} can pass: no valid DKIM key was found",
        "publish the DKIM key(s) above",
    )
