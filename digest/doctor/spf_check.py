"""The SPF findings for a newsletter's From domain: one record, within the lookup limit, ending
sensibly, and authorising the sender (the provider's include, or the SMTP host's addresses)."""

from __future__ import annotations

import ipaddress

from digest.doctor import spf
from digest.doctor.dns_lookup import DnsClient, DnsFailure
from digest.doctor.findings import Finding, error, ok, warning
from digest.doctor.providers import Provider, in_domain

RETRY = "ask again later; if it persists, check the zone"


def check_spf(
    dns: DnsClient,
    domain: str,
    provider: Provider,
    smtp_host: str = "",
    automated_security: bool = False,
) -> tuple[list[Finding], bool]:
    """The findings, and whether the sender's mail passes SPF on `domain` (for SMTP, whose
    envelope sender is the From address, and Mailgun's sending domain: DMARC may align
    through it). For a provider whose envelope is its own domain, the From domain's record
    is checked as a record only: that mail's SPF passes on the provider's domain."""
    try:
        records, why = spf.records_at(dns, domain)
    except DnsFailure as failure:
        return [error("spf", str(failure), RETRY)], False
    suggested = _suggested(domain, provider, smtp_host)
    if not records and provider.envelope == "own":
        others = (
            "publish one naming the servers of the domain's other mail "
            f'(none: TXT {domain} "v=spf1 -all"), so that nobody else can send as it'
        )
        return [
            _elsewhere(domain, provider),
            warning("spf", f"no SPF record at {domain} ({why})", others),
        ], False
    if not records:
        return [error("spf", f"no SPF record at {domain} ({why})", f"publish {suggested}")], False
    if len(records) > 1:
        quoted = " and ".join(f'"{r}"' for r in records)
        return [
            error(
                "spf",
                f"{domain} has {len(records)} SPF records ({quoted}): receivers treat that as "
                "a permanent error and fail SPF for every message",
                f'merge them into one: TXT {domain} "{_merged(records)}"',
            )
        ], False
    record = records[0]
    tree = spf.walk(dns, domain, record)
    findings = _tree_findings(domain, record, tree)
    if provider.envelope == "own":
        named = any(in_domain(target, provider.spf_include) for target in tree.targets)
        found = _provider_finding(domain, record, tree, provider, False)
        return [*findings, found if named else _elsewhere(domain, provider)], False
    if provider.spf_include:
        found = _provider_finding(domain, record, tree, provider, automated_security)
        # Mailgun's envelope sender is this (sending) domain: passing here may align.
        passes = provider.envelope == "sending" and found.severity == "ok"
        return [*findings, found], passes
    host_findings, passes = _smtp_findings(dns, domain, smtp_host)
    return findings + host_findings, passes


def _tree_findings(domain: str, record: str, tree: spf.Walk) -> list[Finding]:
    findings = []
    count = len(tree.lookups)
    if tree.problems:
        findings.append(
            error(
                "spf",
                f'{domain}: "{record}": {tree.problems[0]} (a permanent error)',
                "fix the record so that every include: and redirect= names a domain with "
                "one SPF record",
            )
        )
    for failure in tree.failures:
        findings.append(error("spf", f"{domain}: following its record: {failure}", RETRY))
    if count > spf.LOOKUP_LIMIT:
        listed = ", ".join(tree.lookups)
        findings.append(
            error(
                "spf",
                f'{domain}: "{record}" needs {count} DNS lookups, over RFC 7208\'s limit of '
                f"{spf.LOOKUP_LIMIT}: receivers fail SPF (permerror). Lookups: {listed}",
                "drop include:s of services you no longer send with, and write a: and mx: "
                "as ip4:/ip6: addresses",
            )
        )
    if tree.ending == "+":
        findings.append(
            warning(
                "spf",
                f'{domain}: "{record}" ends with +all: every server on the internet may send '
                f"as {domain}",
                "end the record with ~all (or -all)",
            )
        )
    elif tree.ending == "?":
        findings.append(
            warning(
                "spf",
                f'{domain}: "{record}" ends with ?all: unlisted servers are neutral, so SPF '
                "protects nothing",
                "end the record with ~all (or -all)",
            )
        )
    elif tree.ending is None and not tree.problems:
        findings.append(
            warning(
                "spf",
                f'{domain}: "{record}" has no all at the end: unlisted servers are neutral',
                "end the record with ~all (or -all)",
            )
        )
    if tree.macros:
        findings.append(
            warning("spf", f'{domain}: "{record}" uses macros (%{{…}}): not followed here')
        )
    if tree.ptr:
        findings.append(
            warning(
                "spf",
                f'{domain}: "{record}" uses ptr, which RFC 7208 says not to use (slow, '
                "often ignored)",
                "replace ptr with ip4:/ip6: or a:",
            )
        )
    return findings


def _provider_finding(
    domain: str, record: str, tree: spf.Walk, provider: Provider, automated_security: bool
) -> Finding:
    count = f"{len(tree.lookups)} of {spf.LOOKUP_LIMIT} DNS lookups"
    if any(in_domain(target, provider.spf_include) for target in tree.targets):
        return ok(
            "spf",
            f'{domain}: "{record}" authorises {provider.label} '
            f"(include:{provider.spf_include}; {count})",
        )
    if automated_security:
        return ok(
            "spf",
            f'{domain}: "{record}" does not include {provider.spf_include}, and need not: with '
            f"{provider.label}'s automated security (its DKIM CNAMEs), SPF is checked on the "
            "return-path subdomain it manages",
        )
    include = provider.spf_include
    return error(
        "spf",
        f'{domain}: "{record}" does not authorise {provider.label} (no include:{include})',
        f'add include:{include}: TXT {domain} "{_with_include(record, include)}"',
    )


def _elsewhere(domain: str, provider: Provider) -> Finding:
    return ok(
        "spf",
        f"{provider.label}'s mail is checked for SPF on its own return-path domain "
        f"({provider.return_path}), where it passes: {domain} need not include "
        f"{provider.spf_include}; DMARC passes through DKIM's alignment (a custom return-path "
        f"under {domain} would align SPF too)",
    )


def _smtp_findings(dns: DnsClient, domain: str, host: str) -> tuple[list[Finding], bool]:
    """Whether smtp_host's addresses pass SPF for the From domain (its envelope sender)."""
    try:
        addresses = [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        try:
            addresses = dns.addresses(host)
        except DnsFailure as failure:
            return [error("spf", f"smtp_host {host}: {failure}", RETRY)], False
    if not addresses:
        return [
            error(
                "spf",
                f"smtp_host {host} has no address in DNS",
                "set smtp_host to your mail server",
            )
        ], False
    local = [a for a in addresses if _not_public(a)]
    if local:
        return [
            warning(
                "spf",
                f"smtp_host {host} is {local[0]}, a local address: receivers see the address your "
                "relay sends from, which is not known here, so it was not checked",
                f"make sure {domain}'s SPF record lists the relay's public address",
            )
        ], False
    findings, passes = [], True
    for address in addresses:
        try:
            result = spf.check_host(dns, address, domain)
        except spf.Unevaluated as why:
            findings.append(warning("spf", f"{address} ({host}) not evaluated: {why}"))
            passes = False
            continue
        if result == "pass":
            findings.append(ok("spf", f"{address} ({host}) passes SPF for {domain}"))
            continue
        passes = False
        net = "ip6" if ":" in address else "ip4"
        findings.append(
            error(
                "spf",
                f"{address} ({host}) gets SPF {result} for {domain}: receivers may refuse its mail",
                f"add {net}:{address} to the SPF record of {domain}"
                if result in ("fail", "softfail", "neutral")
                else RETRY,
            )
        )
    return findings, passes


def _not_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    private = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
    return ip.is_loopback or ip.is_link_local or any(ip in ipaddress.ip_network(n) for n in private)


def _suggested(domain: str, provider: Provider, smtp_host: str) -> str:
    if provider.spf_include:
        return f'TXT {domain} "v=spf1 include:{provider.spf_include} ~all"'
    try:
        address = ipaddress.ip_address(smtp_host.strip("[]"))
        term = f"ip{address.version}:{address}"
    except ValueError:
        term = f"a:{smtp_host}"
    return f'TXT {domain} "v=spf1 {term} ~all"'


def _with_include(record: str, include: str) -> str:
    words = record.split()
    at = next(
        (
            i
            for i, w in enumerate(words)
            if w.lower().lstrip("+-~?") == "all" or w.lower().startswith("redirect=")
        ),
        len(words),
    )
    return " ".join([*words[:at], f"include:{include}", *words[at:]])


def _merged(records: list[str]) -> str:
    terms: list[str] = []
    ending = "~all"
    for record in records:
        for word in record.split()[1:]:
            if word.lower().lstrip("+-~?") == "all":
                ending = word if word.startswith("-") else ending
            elif word not in terms:
                terms.append(word)
    return " ".join(["v=spf1", *terms, ending])
