"""SPF (RFC 7208) as far as a sender's check needs it: the one `v=spf1` record of a domain, the
tree of its include: and redirect= (with the 10-lookup limit counted over the whole tree), and
whether an address passes.

Evaluated here rather than with pyspf: pyspf resolves through dnspython's process-wide default
resolver (`dns.resolver.query`, deprecated), so it cannot be pointed at the nameservers the
settings name, and it has not been released since 2020. What is evaluated: ip4, ip6, a, mx,
include, exists, all and redirect; ptr (deprecated by the RFC) never matches here, and a
record whose domains use macros (%{…}) is reported, not evaluated."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from digest.doctor.dns_lookup import DnsClient, DnsFailure

LOOKUP_LIMIT = 10  # RFC 7208 §4.6.4: include, a, mx, ptr, exists and redirect
MAX_DEPTH = 10
MECHANISMS = frozenset({"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"})
LOOKUP_TERMS = frozenset({"include", "a", "mx", "ptr", "exists", "redirect"})
RESULTS = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}
_MODIFIER = re.compile(r"([A-Za-z][A-Za-z0-9_.-]*)=(.*)")
_MECHANISM = re.compile(r"([+?~-]?)([A-Za-z][A-Za-z0-9_.-]*)(?::([^/]*))?((?:/\d+)?(?://\d+)?)$")


class SpfSyntax(Exception):
    """A record receivers would reject as a permerror."""


@dataclass(frozen=True)
class Term:
    name: str  # a mechanism ("include", "ip4"…) or a modifier ("redirect", "exp")
    value: str = ""
    qualifier: str = "+"
    modifier: bool = False
    cidr4: int | None = None
    cidr6: int | None = None

    def __str__(self) -> str:
        if self.modifier:
            return f"{self.name}={self.value}"
        shown = "" if self.qualifier == "+" else self.qualifier
        return f"{shown}{self.name}{':' + self.value if self.value else ''}"


def is_spf(text: str) -> bool:
    return text.lower() == "v=spf1" or text.lower().startswith("v=spf1 ")


def parse(text: str) -> list[Term]:
    """The terms of a `v=spf1` record; SpfSyntax names the first one a receiver would refuse."""
    terms = []
    seen_modifiers: set[str] = set()
    for word in text.split()[1:]:
        modifier = _MODIFIER.fullmatch(word)
        if modifier and ":" not in modifier.group(1):
            name = modifier.group(1).lower()
            if name in seen_modifiers and name in ("redirect", "exp"):
                raise SpfSyntax(f"{name}= appears twice")
            seen_modifiers.add(name)
            terms.append(Term(name, modifier.group(2), modifier=True))
            continue
        found = _MECHANISM.fullmatch(word)
        if found is None or found.group(2).lower() not in MECHANISMS:
            raise SpfSyntax(f"{word!r} is not an SPF mechanism")
        qualifier, name, value, cidr = found.groups()
        name = name.lower()
        terms.append(_mechanism(word, qualifier or "+", name, value or "", cidr))
    return terms


def _mechanism(word: str, qualifier: str, name: str, value: str, cidr: str) -> Term:
    if name in ("ip4", "ip6"):
        try:
            network = ipaddress.ip_network(value + cidr, strict=False)
        except ValueError:
            raise SpfSyntax(f"{word!r}: not an IPv{name[-1]} address or network") from None
        if network.version != int(name[-1]):
            raise SpfSyntax(f"{word!r}: not an IPv{name[-1]} address")
        return Term(name, value + cidr, qualifier)
    if name in ("include", "exists") and not value:
        raise SpfSyntax(f"{word!r} needs a domain")
    if name == "all" and (value or cidr):
        raise SpfSyntax(f"{word!r}: all takes nothing")
    cidr4 = cidr6 = None
    if cidr:
        four, _, six = cidr.partition("//")
        cidr4 = int(four[1:]) if four else None
        cidr6 = int(six) if six else None
        if (cidr4 is not None and cidr4 > 32) or (cidr6 is not None and cidr6 > 128):
            raise SpfSyntax(f"{word!r}: prefix length out of range")
    return Term(name, value, qualifier, cidr4=cidr4, cidr6=cidr6)


def records_at(dns: DnsClient, domain: str) -> tuple[list[str], str]:
    """The `v=spf1` TXT records of a domain, and "" or why there are none (the DNS answer's
    own words: no such name, no TXT record). DnsFailure when DNS could not say."""
    found = dns.txt(domain)
    records = [text.strip() for text in found.records if is_spf(text.strip())]
    return records, "" if records else (found.describe_missing() if found.missing else "")


@dataclass
class Walk:
    """The whole tree under a domain's record, as a receiver may have to follow it."""

    record: str = ""
    lookups: list[str] = field(default_factory=list)  # each lookup term, where it was met
    targets: list[str] = field(default_factory=list)  # every include: and redirect= domain
    problems: list[str] = field(default_factory=list)  # permerrors met along the way
    failures: list[str] = field(default_factory=list)  # DNS that could not answer
    ending: str | None = None  # the qualifier of the `all` that ends the record (or its redirect)
    macros: bool = False
    ptr: bool = False


def walk(dns: DnsClient, domain: str, record: str) -> Walk:
    result = Walk(record=record)
    result.ending = _visit(dns, domain, record, result, [domain])
    return result


def _visit(dns: DnsClient, domain: str, record: str, walk: Walk, path: list[str]) -> str | None:
    """Counts the lookups of one record and those it leads to; returns its `all` qualifier."""
    try:
        terms = parse(record)
    except SpfSyntax as problem:
        walk.problems.append(f"{domain}: {problem}")
        return None
    ending = None
    redirect = None
    for term in terms:
        if term.name in LOOKUP_TERMS and term.name != "redirect":
            walk.lookups.append(f"{term} (in {domain})")
        if "%" in term.value:
            walk.macros = True
            continue
        if term.name == "ptr":
            walk.ptr = True
        if term.name == "all" and not term.modifier:
            ending = term.qualifier
        elif term.name == "include" and not term.modifier:
            walk.targets.append(term.value.lower())
            _follow(dns, term.value, walk, path, f"include:{term.value}")
        elif term.name == "redirect" and term.modifier:
            redirect = term.value
    if redirect is not None and ending is None:  # with an all, redirect= is never followed
        walk.lookups.append(f"redirect={redirect} (in {domain})")
        walk.targets.append(redirect.lower())
        return _follow(dns, redirect, walk, path, f"redirect={redirect}")
    return ending


def _follow(dns: DnsClient, target: str, walk: Walk, path: list[str], term: str) -> str | None:
    target = target.lower().rstrip(".")
    if target in path or len(path) > MAX_DEPTH:
        walk.problems.append(f"{term} loops back to {target}")
        return None
    try:
        records, why = records_at(dns, target)
    except DnsFailure as failure:
        walk.failures.append(str(failure))
        return None
    if len(records) != 1:
        walk.problems.append(
            f"{term}: {target} has {len(records)} SPF records" if records else f"{term}: {why}"
        )
        return None
    return _visit(dns, target, records[0], walk, [*path, target])


class Unevaluated(Exception):
    """A record this evaluation does not follow (macros)."""


def check_host(dns: DnsClient, address: str, domain: str, depth: int = 0) -> str:
    """The SPF result for mail from `address` with `domain` on the envelope: pass, fail,
    softfail, neutral, none, permerror or temperror (RFC 7208 §2.6)."""
    if depth > MAX_DEPTH:
        return "permerror"
    ip = ipaddress.ip_address(address)
    try:
        records, _ = records_at(dns, domain)
    except DnsFailure:
        return "temperror"
    if not records:
        return "none"
    if len(records) > 1:
        return "permerror"
    try:
        terms = parse(records[0])
    except SpfSyntax:
        return "permerror"
    redirect = None
    for term in terms:
        if term.modifier:
            redirect = term.value if term.name == "redirect" else redirect
            continue
        if "%" in term.value:
            raise Unevaluated(f"{term} uses macros")
        try:
            matched = _matches(dns, ip, domain, term, depth)
        except DnsFailure:
            return "temperror"
        if matched in ("temperror", "permerror"):
            return matched
        if matched == "match":
            return RESULTS[term.qualifier]
    if redirect is not None:
        result = check_host(dns, address, redirect, depth + 1)
        return "permerror" if result == "none" else result
    return "neutral"


def _matches(
    dns: DnsClient,
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
    domain: str,
    term: Term,
    depth: int,
) -> str:
    """ "match", "" (no match), or the error an include passes up."""
    name = term.name
    if name == "all":
        return "match"
    if name in ("ip4", "ip6"):
        return "match" if ip in ipaddress.ip_network(term.value, strict=False) else ""
    target = term.value or domain
    if name == "include":
        result = check_host(dns, str(ip), target, depth + 1)
        if result in ("temperror", "permerror"):
            return result
        return "match" if result == "pass" else ("permerror" if result == "none" else "")
    if name == "exists":
        return "match" if dns.addresses(target, 4) else ""
    if name == "a":
        hosts = [target]
    elif name == "mx":
        _, mx_hosts = dns.mx(target)
        hosts = [host.exchange for host in mx_hosts if host.exchange != "."][:10]
    else:  # ptr: deprecated (RFC 7208 §5.5), never matches here
        return ""
    prefix = term.cidr4 if ip.version == 4 else term.cidr6
    for host in hosts:
        for found in dns.addresses(host, ip.version):
            network = ipaddress.ip_network(
                f"{found}/{prefix if prefix is not None else ip.max_prefixlen}", strict=False
            )
            if ip in network:
                return "match"
    return ""
