"""The client address a request is counted under.

The peer of the connection, unless that peer is a trusted proxy: then ``X-Forwarded-For`` is read
from the right (each proxy appends the address it received from) and the first address that is
not itself a trusted proxy is the client. Anything left of it was written by the client and is
never believed. IPv6 clients count per /64, the block one subscriber is normally given.
"""

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

from starlette.types import Scope

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@lru_cache(maxsize=4096)
def _parse(text: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@lru_cache(maxsize=4096)
def _bucket(address: IPAddress) -> str:
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class ClientAddress:
    def __init__(self, trusted_proxies: Iterable[str]) -> None:
        self._trusted = tuple(ipaddress.ip_network(n, strict=False) for n in trusted_proxies)

    def _is_trusted(self, address: IPAddress) -> bool:
        return any(address in network for network in self._trusted)

    def __call__(self, scope: Scope) -> str:
        client = scope.get("client")
        peer_text = client[0] if client else ""
        peer = _parse(peer_text)
        if peer is None:
            return peer_text or "unknown"
        if not self._trusted or not self._is_trusted(peer):
            return _bucket(peer)
        hops = [
            hop
            for name, value in scope["headers"]
            if name == b"x-forwarded-for"
            for hop in value.decode("latin-1").split(",")
        ]
        client_address = peer
        for hop in reversed(hops):
            address = _parse(hop)
            if address is None:
                break
            client_address = address
            if not self._is_trusted(address):
                break
        return _bucket(client_address)
