"""The addresses the local platform listens on: which are this machine's alone, and how to name
them in a URL or open a socket on them."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable

# A host's addresses, as `addresses_of` finds them; tests give their own.
Resolver = Callable[[str], list[str]]


def addresses_of(host: str) -> list[str]:
    """Every address `host` names: itself if it is one, else what the name resolves to.

    Raises OSError (socket.gaierror) for a name that does not resolve.
    """
    return sorted({info[4][0] for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)})


def is_loopback(host: str, resolve: Resolver = addresses_of) -> bool:
    """Whether listening on `host` is reachable from this machine only: every address it names
    is a loopback address (127.0.0.0/8, ::1).

    An empty host, like 0.0.0.0 or ::, means every interface. A name counts for what it
    resolves to: one address elsewhere is enough to make it not loopback, and so is resolving
    to nothing at all.
    """
    if not host:
        return False
    try:
        addresses = resolve(host)
    except OSError:
        return False
    return bool(addresses) and all(_is_loopback_address(address) for address in addresses)


def _is_loopback_address(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is IPv4's loopback, which ip.is_loopback does not say
    return ip.is_loopback


def address_family(host: str) -> socket.AddressFamily:
    """The socket family for listening on `host`; werkzeug's rule too (an IPv6 address has a ':')."""
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def url_host(host: str) -> str:
    """`host` as a URL names it: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host else host
