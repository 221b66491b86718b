"""DKIM (RFC 6376): is each of the sender's selectors published under the domain it signs
with, as a key (TXT with p=) or a CNAME to the provider's, and is that key usable (present,
not revoked, long enough)?"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from digest.doctor.dns_lookup import DnsClient, DnsFailure
from digest.doctor.findings import Finding, error, ok, warning
from digest.doctor.providers import Provider, in_domain

MIN_RSA_BITS = 1024  # Gmail's bulk-sender rules ask for at least 1024 (2048 advised)
_DOMAINKEY = "._domainkey."


@dataclass(frozen=True)
class Selector:
    selector: str
    domain: str  # the signing domain (d=): where the selector is published

    @property
    def name(self) -> str:
        return f"{self.selector}{_DOMAINKEY}{self.domain}"


def selectors_for(configured: list[str], provider: Provider, from_domain: str) -> list[Selector]:
    """The newsletter's dkim_selectors, else the provider's fixed ones, under the From domain
    unless a whole record name says another."""
    chosen = configured or list(provider.dkim_selectors)
    selectors = []
    for entry in chosen:
        if _DOMAINKEY in entry:
            selector, _, domain = entry.partition(_DOMAINKEY)
            selectors.append(Selector(selector, domain))
        else:
            selectors.append(Selector(entry, from_domain))
    return selectors


def tags(record: str) -> dict[str, str]:
    """A DKIM tag list ("v=DKIM1; k=rsa; p=…"): whitespace inside values is folding, dropped."""
    found = {}
    for part in record.split(";"):
        name, equals, value = part.partition("=")
        if equals:
            found[name.strip().lower()] = "".join(value.split())
    return found


def check_selectors(
    dns: DnsClient, selectors: list[Selector], provider: Provider, newsletter: str
) -> tuple[list[Finding], list[Selector]]:
    """A finding per selector, and the selectors whose key is good (their domains sign)."""
    if not selectors:
        return [
            error(
                "dkim",
                f"no DKIM selector to look up: {provider.label} gives each domain its own",
                f'set dkim_selectors = ["SELECTOR"] under [newsletters.{newsletter}], '
                f"SELECTOR being the first part of SELECTOR._domainkey.… in {provider.where}",
            )
        ], []
    findings, good = [], []
    for selector in selectors:
        finding = _check(dns, selector, provider)
        findings.append(finding)
        if finding.severity != "error":
            good.append(selector)
    return findings, good


def _check(dns: DnsClient, selector: Selector, provider: Provider) -> Finding:
    name = selector.name
    try:
        delegated = dns.cname(name).records
        found = dns.txt(name)
    except DnsFailure as failure:
        return error(
            "dkim", f"{name}: {failure}", "ask again later; if it persists, check the zone"
        )
    via = ""
    if delegated:
        owner = (
            f" ({provider.label})"
            if any(in_domain(delegated[0], d) for d in provider.dkim_domains)
            else ""
        )
        via = f" → {delegated[0]}{owner}"
    keys = [text for text in found.records if "p=" in text.replace(" ", "")]
    if not keys:
        missing = found.describe_missing() if found.missing else f"{name} has no DKIM key (no p=)"
        return error("dkim", f"{missing}{via}", _publish_hint(selector, provider))
    if len(keys) > 1:
        return error(
            "dkim",
            f"{name}{via} has {len(keys)} DKIM keys: receivers may take either",
            f"keep one TXT record at {name}",
        )
    return _judge_key(name + via, tags(keys[0]), selector, provider)


def _judge_key(where: str, key: dict[str, str], selector: Selector, provider: Provider) -> Finding:
    public = key.get("p", "")
    if not public:
        return error(
            "dkim",
            f"{where}: the key is revoked (p= is empty): nothing signed with it verifies",
            f"publish the current key for {selector.selector} from {provider.where}, or take "
            f"{selector.selector} out of dkim_selectors",
        )
    kind = key.get("k", "rsa").lower()
    bits = _key_bits(kind, public)
    if bits is None:
        return error(
            "dkim",
            f"{where}: p= is not a {kind} public key",
            f"publish the key exactly as {provider.where} gives it",
        )
    described = f"{where}: {kind} key of {bits} bits"
    if kind == "rsa" and bits < MIN_RSA_BITS:
        return error(
            "dkim",
            f"{described}: receivers refuse RSA keys under {MIN_RSA_BITS} bits",
            "make a 2048-bit key and publish it",
        )
    if "y" in key.get("t", "").split(":"):
        return warning(
            "dkim",
            f"{described}, in testing mode (t=y): receivers may ignore its signatures",
            f"take t=y out of the record at {selector.name}",
        )
    return ok("dkim", described)


def _key_bits(kind: str, public: str) -> int | None:
    try:
        data = base64.b64decode(public, validate=True)
    except (binascii.Error, ValueError):
        return None
    if kind == "ed25519":
        return 256 if len(data) == 32 else None
    if kind != "rsa":
        return None
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    try:
        loaded = load_der_public_key(data)
    except ValueError:
        return None
    return loaded.key_size if isinstance(loaded, rsa.RSAPublicKey) else None


def _publish_hint(selector: Selector, provider: Provider) -> str:
    if provider.dkim_domains and provider.dkim_selectors:  # SendGrid's automated security
        target = f"{selector.selector}.domainkey.uNNNN.wlNNN.{provider.dkim_domains[0]}"
        return f"publish CNAME {selector.name} {target} (the exact target is on {provider.where})"
    return (
        f"publish the DKIM record {provider.where} shows for {selector.name} (a TXT "
        f'"v=DKIM1; k=rsa; p=…", or a CNAME to {provider.label}\'s key)'
    )
