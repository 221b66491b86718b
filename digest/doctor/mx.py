"""MX of the From domain: replies to the newsletter and bounces go there. A null MX ("0 .",
RFC 7505) says the domain takes no mail, which receivers hold against a From address."""

from __future__ import annotations

from digest.doctor.dns_lookup import DnsClient, DnsFailure
from digest.doctor.findings import Finding, error, ok, warning


def check_mx(dns: DnsClient, domain: str) -> Finding:
    fix = f"publish MX {domain} 10 MAILHOST (the server that takes {domain}'s mail)"
    try:
        found, hosts = dns.mx(domain)
        if not hosts:
            addresses = [] if found.missing == "nxdomain" else dns.addresses(domain)
    except DnsFailure as failure:
        return error("mx", str(failure), "ask again later; if it persists, check the zone")
    if any(host.exchange == "." for host in hosts):
        return error(
            "mx",
            f"{domain} publishes a null MX (0 .): it takes no mail, so replies and bounces to "
            "the From address are lost and receivers distrust it",
            f"replace the null MX with {fix.removeprefix('publish ')}",
        )
    if hosts:
        listed = ", ".join(f"{h.preference} {h.exchange}" for h in hosts)
        return ok("mx", f"{domain} takes mail at {listed}")
    if found.missing == "nxdomain":
        return error("mx", f"{found.describe_missing()}: the From address cannot exist", fix)
    if addresses:
        return warning(
            "mx",
            f"{domain} has no MX record: mail to it goes to its own address "
            f"({addresses[0]}), which may not take mail",
            fix,
        )
    return error("mx", f"{domain} has neither MX nor address records: no mail reaches it", fix)
