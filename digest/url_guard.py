"""The SSRF guard: what a URL found in third-party content may reach.

A feed, an item link or a redirect names any URL it likes; fetched blindly, one pointing at
http://127.0.0.1:8080/editions/2 stored the editor's own pages as articles. So every connection
the fetcher opens goes through `GuardedBackend`: the host is resolved once, each address is
checked (loopback, private, link-local, CGNAT, multicast, reserved… are refused unless listed in
`fetch_allowed_networks`), and the socket connects to a checked address: no second lookup that a
rebinding DNS server could answer differently. httpx opens its connections through it for every
redirect hop too, and keeps the URL's own name for the Host header, TLS SNI and certificate
checks.

The backend also enforces the caller's wall-clock deadline (`deadline_until`): each read, write
and connect waits at most until then, so a server trickling a byte a second is cut off.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import partial
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import Any, TypeVar

import httpcore
import httpx

from digest.errors import DigestError

Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network
# (host, port) → the addresses to try, in order; the system's resolver unless a test gives one.
Resolver = Callable[[str, int], list[str]]

_T = TypeVar("_T")
_CGNAT = IPv4Network("100.64.0.0/10")
_NAT64 = IPv6Network("64:ff9b::/96")
_deadline: ContextVar[float | None] = ContextVar("digest_fetch_deadline", default=None)


class Refused(DigestError):
    """A connection the guard would not open; `reason` says to what and why."""

    def __init__(self, host: str, address: str, kind: str) -> None:
        self.host, self.address, self.kind = host, address, kind
        super().__init__(self.reason)

    @property
    def reason(self) -> str:
        return (
            f"resolves to {self.address} ({self.kind}); "
            "add it to fetch_allowed_networks to allow it"
        )


class DeadlinePassed(httpcore.TimeoutException):
    """The caller's overall deadline passed (mapped by httpx to a TimeoutException)."""


def parse_networks(entries: Iterable[str]) -> list[Network]:
    """CIDR blocks or single addresses (`10.0.0.0/8`, `192.168.1.20`, `fd00::/8`)."""
    networks = []
    for entry in entries:
        try:
            networks.append(ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or network like 10.0.0.0/8") from None
    return networks


def non_public_kind(address: Address) -> str | None:
    """Why connecting to `address` could reach inside (a short name for the range), or None for
    a public address."""
    if isinstance(address, IPv6Address):
        # IPv4 carried in IPv6 (::ffff:127.0.0.1, NAT64 64:ff9b::a00:1, 6to4 2002:7f00:1::)
        # reaches the IPv4 address, and Python 3.11 does not classify those by it.
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return non_public_kind(embedded)
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if address in _CGNAT:
        return "shared CGNAT range"
    if address.is_reserved:
        return "reserved"
    if address.is_private:
        return "private"
    if not address.is_global:
        return "not globally routable"
    return None


def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise httpcore.ConnectError(f"cannot resolve {host}: {error}") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class UrlGuard:
    """Which addresses may be connected to: public ones, and those in the allow list."""

    def __init__(self, allowed: Iterable[str] = (), resolve: Resolver = system_resolver) -> None:
        self.allowed = parse_networks(allowed)
        self.resolve = resolve

    def addresses(self, host: str, port: int) -> list[str]:
        """The host's addresses that may be connected to; Refused if there is none. Addresses
        that are not allowed are dropped, so a name with a public and a loopback address is
        only ever reached at the public one."""
        allowed: list[str] = []
        refused: Refused | None = None
        for text in self.resolve(host, port):
            address = ip_address(text.split("%", 1)[0])  # a zone id (fe80::1%eth0) aside
            kind = non_public_kind(address)
            if kind is None or self._listed(address):
                allowed.append(text)
            elif refused is None:
                mapped = _mapped(address)
                refused = Refused(host, f"::ffff:{mapped}" if mapped else str(address), kind)
        if not allowed:
            raise refused or httpcore.ConnectError(f"{host} has no address")
        return allowed

    def _listed(self, address: Address) -> bool:
        candidates: list[Address] = [address]
        if mapped := _mapped(address):
            candidates.append(mapped)
        return any(a in network for a in candidates for network in self.allowed)


def _mapped(address: Address) -> IPv4Address | None:
    return address.ipv4_mapped if isinstance(address, IPv6Address) else None


@contextmanager
def deadline_until(instant: float | None) -> Iterator[None]:
    """Within the block, connections opened by GuardedBackend give up at `instant`
    (time.monotonic())."""
    token = _deadline.set(instant)
    try:
        yield
    finally:
        _deadline.reset(token)


def _within_deadline(operation: Callable[[float | None], _T], timeout: float | None) -> _T:
    """Run one socket operation with its timeout cut to what the deadline leaves; a timeout
    caused by the cut is reported as DeadlinePassed."""
    instant = _deadline.get()
    if instant is None:
        return operation(timeout)
    left = instant - time.monotonic()
    if left <= 0:
        raise DeadlinePassed("the overall deadline passed")
    if timeout is not None and timeout <= left:
        return operation(timeout)
    try:
        return operation(left)
    except httpcore.TimeoutException:
        raise DeadlinePassed("the overall deadline passed") from None


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self.stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return _within_deadline(lambda bounded: self.stream.read(max_bytes, bounded), timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        _within_deadline(lambda bounded: self.stream.write(buffer, bounded), timeout)

    def close(self) -> None:
        self.stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        wrapped = _within_deadline(
            lambda bounded: self.stream.start_tls(ssl_context, server_hostname, bounded), timeout
        )
        return _DeadlineStream(wrapped)

    def get_extra_info(self, info: str) -> Any:
        return self.stream.get_extra_info(info)


class GuardedBackend(httpcore.NetworkBackend):
    """httpcore's socket backend behind the guard: connects only to checked addresses."""

    def __init__(self, guard: UrlGuard) -> None:
        self.guard = guard
        self.sockets = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in self.guard.addresses(host, port):
            try:
                connect = partial(
                    self.sockets.connect_tcp,
                    address,
                    port,
                    local_address=local_address,
                    socket_options=socket_options,
                )
                stream = _within_deadline(connect, timeout)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error  # the next address may answer, as socket.create_connection does
                continue
            return _DeadlineStream(stream)
        assert failure is not None
        raise failure

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.UnsupportedProtocol("unix sockets are not fetched")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def guarded_transport(guard: UrlGuard, verify: ssl.SSLContext | None = None) -> httpx.HTTPTransport:
    """httpx's own transport, its connection pool opening connections through GuardedBackend.

    httpx 0.28 takes no network backend (encode/httpx#3749 would add the option), so the pool
    it built is replaced by one that uses ours; everything else (request and response
    conversion, error mapping) stays httpx's. No proxies from the environment: a proxy would
    resolve the names itself, past the guard."""
    context = verify or httpx.create_ssl_context()
    transport = httpx.HTTPTransport(verify=context, trust_env=False)
    transport._pool = httpcore.ConnectionPool(
        ssl_context=context,
        max_connections=20,
        max_keepalive_connections=10,
        keepalive_expiry=5.0,
        network_backend=GuardedBackend(guard),
    )
    return transport
