"""DNS as the doctor asks it (dnspython): TXT, MX, addresses and CNAMEs, each answer kept for
the rest of the check-up, and every failure one line (never a traceback).

A name that does not exist (NXDOMAIN) or has no record of the type asked (NODATA) is an
answer: an empty list, with `missing` saying which. A timeout, a SERVFAIL or a refusal is a
DnsFailure, which the checks turn into a finding."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import dns.exception
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver

from digest.doctor.nameservers import Nameserver

Missing = Literal["", "nxdomain", "nodata"]
# Questions left unanswered before the rest of a check-up is not asked (each would wait out
# dns_timeout: a dead server would hold `digest run` for a minute).
GIVE_UP_AFTER = 2


class DnsFailure(Exception):
    """DNS gave no answer that says whether a record exists (timeout, SERVFAIL, refused)."""


@dataclass(frozen=True)
class Lookup:
    name: str
    rdtype: str
    records: list[str] = field(default_factory=list)
    missing: Missing = ""

    def describe_missing(self) -> str:
        if self.missing == "nxdomain":
            return f"{self.name} does not exist in DNS (NXDOMAIN)"
        return f"{self.name} has no {self.rdtype} record"


@dataclass(frozen=True)
class MxHost:
    preference: int
    exchange: str  # "." for a null MX (RFC 7505)


class DnsClient:
    """Asks `nameservers` (the system's when none are given), `timeout` seconds per question.
    Not thread-safe: one check-up at a time."""

    def __init__(self, nameservers: Sequence[Nameserver] = (), timeout: float = 5.0) -> None:
        self.timeout = timeout
        self._cache: dict[tuple[str, str], Lookup | DnsFailure] = {}
        self._timeouts = 0
        self._resolver: dns.resolver.Resolver | None = None
        self._setup_error = ""
        try:
            resolver = dns.resolver.Resolver(configure=not nameservers)
        except dns.exception.DNSException as failure:  # no /etc/resolv.conf
            self._setup_error = f"no DNS server configured ({failure}): set dns_nameservers"
            return
        if nameservers:
            resolver.nameservers = [
                dns.nameserver.Do53Nameserver(server.address, server.port) for server in nameservers
            ]
        resolver.timeout = timeout
        resolver.lifetime = timeout
        resolver.cache = None  # answers are kept here, per check-up
        self._resolver = resolver
        self.asked = ", ".join(str(s) for s in nameservers) or "the system's DNS servers"

    def txt(self, name: str) -> Lookup:
        return self._lookup(name, "TXT")

    def cname(self, name: str) -> Lookup:
        return self._lookup(name, "CNAME")

    def addresses(self, name: str, version: int | None = None) -> list[str]:
        """A and AAAA addresses of a name (only one family when `version` is 4 or 6)."""
        types = {4: ["A"], 6: ["AAAA"]}.get(version or 0, ["A", "AAAA"])
        return [address for rdtype in types for address in self._lookup(name, rdtype).records]

    def address_lookup(self, name: str, rdtype: str) -> Lookup:
        return self._lookup(name, rdtype)

    def mx(self, name: str) -> tuple[Lookup, list[MxHost]]:
        found = self._lookup(name, "MX")
        hosts = []
        for record in found.records:
            preference, _, exchange = record.partition(" ")
            hosts.append(MxHost(int(preference), exchange))
        return found, sorted(hosts, key=lambda host: host.preference)

    def _lookup(self, name: str, rdtype: str) -> Lookup:
        key = (name.lower().rstrip("."), rdtype)
        if key not in self._cache:
            self._cache[key] = self._ask(key[0], rdtype)
        cached = self._cache[key]
        if isinstance(cached, DnsFailure):
            raise cached
        return cached

    def _ask(self, name: str, rdtype: str) -> Lookup | DnsFailure:
        if self._resolver is None:
            return DnsFailure(self._setup_error)
        question = f"{rdtype} {name}"
        if self._timeouts >= GIVE_UP_AFTER:  # a check-up does not wait on a dead server forever
            return DnsFailure(f"{question}: not asked: {self.asked} did not answer twice already")
        try:
            answer = self._resolver.resolve(name, rdtype, search=False, lifetime=self.timeout)
        except dns.resolver.NXDOMAIN:
            return Lookup(name, rdtype, missing="nxdomain")
        except dns.resolver.NoAnswer:
            return Lookup(name, rdtype, missing="nodata")
        except dns.exception.Timeout:
            self._timeouts += 1
            return DnsFailure(f"{question}: no answer within {self.timeout:g} s from {self.asked}")
        except dns.resolver.NoNameservers as failure:
            return DnsFailure(f"{question}: {_servers_said(failure)} (asked {self.asked})")
        except (dns.name.NameTooLong, dns.name.EmptyLabel, dns.name.LabelTooLong):
            return DnsFailure(f"{question}: not a name DNS can hold")
        except dns.exception.DNSException as failure:
            return DnsFailure(f"{question}: {failure}")
        return Lookup(name, rdtype, [_text(rdata, rdtype) for rdata in answer])


def _text(rdata: object, rdtype: str) -> str:
    """A record's value: TXT strings joined (RFC 7208 §3.3, RFC 6376 §3.6.2.2: a long value is
    split into several strings), names without the final dot."""
    if rdtype == "TXT":
        strings: tuple[bytes, ...] = rdata.strings  # type: ignore[attr-defined]
        return b"".join(strings).decode("utf-8", errors="replace")
    if rdtype == "MX":
        exchange = rdata.exchange.to_text()  # type: ignore[attr-defined]
        preference: int = rdata.preference  # type: ignore[attr-defined]
        return f"{preference} {exchange if exchange == '.' else exchange.rstrip('.')}"
    if rdtype == "CNAME":
        target: str = rdata.target.to_text()  # type: ignore[attr-defined]
        return target.rstrip(".")
    return str(rdata)


def _servers_said(failure: dns.resolver.NoNameservers) -> str:
    """What the servers answered, as the operator would read it: SERVFAIL, REFUSED…"""
    errors = failure.kwargs.get("errors") or []
    for entry in reversed(errors):  # (server, tcp, port, error or rcode text, response)
        text = str(entry[3])
        for rcode in ("SERVFAIL", "REFUSED", "NOTIMP", "FORMERR"):
            if rcode in text:
                return f"the DNS server answered {rcode}"
    return "no DNS server could answer"
