"""A DNS server on 127.0.0.1 for the doctor's tests: dnslib's DNSServer with a resolver of our
own that answers from a dict of names, over UDP and TCP on one free port, as a recursive
resolver would (CNAMEs followed, NXDOMAIN for a name it does not hold, NODATA for a type a
name lacks). A UDP answer over 512 bytes is truncated, so the client asks again over TCP (as
with a 2048-bit DKIM key). A name can be made to time out (no answer at all) or to SERVFAIL.

Records: {"example.org": [("TXT", "v=spf1 …"), ("MX", "10 mx.example.org"), ("A", "…")]};
("TIMEOUT", "") or ("SERVFAIL", "") as a name's records makes every question about it do so.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from dnslib import AAAA, CNAME, MX, QTYPE, RCODE, RR, TXT, A, DNSError, DNSRecord
from dnslib.server import BaseResolver, DNSHandler, DNSLogger, DNSServer

Records = dict[str, list[tuple[str, str]]]
UDP_LIMIT = 512  # RFC 1035 §4.2.1: longer answers are truncated (TC) and asked over TCP
TTL = 60


@dataclass
class DnsState:
    records: Records
    # Every question: (name, type, "udp" or "tcp").
    asked: list[tuple[str, str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _ZoneResolver(BaseResolver):  # type: ignore[misc]
    def __init__(self, state: DnsState) -> None:
        self.state = state

    def resolve(self, request: Any, handler: Any) -> Any:
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        wanted = QTYPE[request.q.qtype]
        with self.state.lock:
            self.state.asked.append((name, wanted, handler.protocol))
        for _hop in range(8):  # a CNAME chain, as a recursive resolver follows it
            entries = self.state.records.get(name)
            if entries is None:
                reply.header.rcode = RCODE.NXDOMAIN
                return reply
            kinds = {kind for kind, _ in entries}
            if "TIMEOUT" in kinds:
                raise DNSError(f"{name}: dropped, as a server that never answers")
            if "SERVFAIL" in kinds:
                reply.header.rcode = RCODE.SERVFAIL
                return reply
            alias = [value for kind, value in entries if kind == "CNAME"]
            if alias and wanted != "CNAME":
                reply.add_answer(RR(name, QTYPE.CNAME, rdata=CNAME(alias[0]), ttl=TTL))
                name = alias[0].lower()
                continue
            for kind, value in entries:
                if kind == wanted:
                    reply.add_answer(
                        RR(name, getattr(QTYPE, kind), rdata=_rdata(kind, value), ttl=TTL)
                    )
            return reply
        reply.header.rcode = RCODE.SERVFAIL
        return reply


def _rdata(kind: str, value: str) -> Any:
    if kind == "TXT":  # one TXT record of strings of at most 255 bytes each
        data = value.encode()
        return TXT([data[i : i + 255] for i in range(0, len(data), 255)] or [b""])
    if kind == "MX":
        preference, exchange = value.split()
        return MX(exchange, int(preference))
    if kind == "CNAME":
        return CNAME(value)
    return {"A": A, "AAAA": AAAA}[kind](value)


class _Handler(DNSHandler):  # type: ignore[misc]
    def get_reply(self, data: bytes) -> bytes:
        """As dnslib's, but a truncated UDP answer keeps its question: clients match answers to
        questions by it (dnslib's own truncation drops it, and dnspython waits on)."""
        request = DNSRecord.parse(data)
        reply = self.server.resolver.resolve(request, self)
        packed: bytes = reply.pack()
        if self.protocol == "udp" and len(packed) > UDP_LIMIT:
            cut = request.reply()
            cut.header.tc = 1
            packed = cut.pack()
        return packed


class _Quiet(DNSLogger):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__(log="-request,-reply,-truncated,-error", prefix=False)


@dataclass
class DnsServer:
    address: str  # "127.0.0.1:PORT", as dns_nameservers takes it
    state: DnsState

    @property
    def records(self) -> Records:
        return self.state.records

    def asked_over(self, protocol: str) -> list[tuple[str, str]]:
        return [(name, kind) for name, kind, proto in self.state.asked if proto == protocol]


@contextmanager
def running_dns(records: Records) -> Iterator[DnsServer]:
    """A server answering from `records` (which the test may change while it runs)."""
    state = DnsState({name.lower(): entries for name, entries in records.items()})
    resolver = _ZoneResolver(state)
    servers = _bind_both(resolver)
    for server in servers:
        server.start_thread()
    port = servers[0].server.server_address[1]
    try:
        yield DnsServer(f"127.0.0.1:{port}", state)
    finally:
        for server in servers:
            server.stop()
            server.server.server_close()


def _bind_both(resolver: _ZoneResolver) -> list[Any]:
    """UDP and TCP servers on the same free port (tried again if another process took it)."""
    last: OSError | None = None
    for _attempt in range(20):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        try:
            udp = DNSServer(
                resolver, address="127.0.0.1", port=port, logger=_Quiet(), handler=_Handler
            )
        except OSError as error:
            last = error
            continue
        try:
            tcp = DNSServer(
                resolver,
                address="127.0.0.1",
                port=port,
                tcp=True,
                logger=_Quiet(),
                handler=_Handler,
            )
        except OSError as error:
            udp.server.server_close()
            last = error
            continue
        return [udp, tcp]
    raise RuntimeError(f"no free port for the DNS server: {last}")
