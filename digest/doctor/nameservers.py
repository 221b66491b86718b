"""Where `digest doctor` asks DNS: "IP", "IP:PORT" or "[IPv6]:PORT", as dns_nameservers
writes them."""

from __future__ import annotations

import ipaddress
from typing import NamedTuple

DNS_PORT = 53


class Nameserver(NamedTuple):
    address: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return host if self.port == DNS_PORT else f"{host}:{self.port}"


def parse_nameserver(entry: str) -> Nameserver:
    """A dns_nameservers entry; ValueError naming it when it is not an address (a name would
    need DNS to be found)."""
    text = entry.strip()
    host, port = text, DNS_PORT
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(_shape(entry))
        port = _port(rest[1:], entry) if rest else DNS_PORT
    elif text.count(":") == 1:
        host, _, number = text.partition(":")
        port = _port(number, entry)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(_shape(entry)) from None
    return Nameserver(str(address), port)


def _port(text: str, entry: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(_shape(entry))
    return int(text)


def _shape(entry: str) -> str:
    return (
        f"{entry!r}: a nameserver's address, like 192.0.2.53, 192.0.2.53:5353 or [2001:db8::53]:53"
    )
