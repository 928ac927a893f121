"""Which hosts the local platform counts as loopback: every address they name must be."""

from __future__ import annotations

import socket

import pytest

from localplatform.network import Resolver, is_loopback, url_host


def _resolving_to(*addresses: str) -> Resolver:
    def resolve(_host: str) -> list[str]:
        return list(addresses)

    return resolve


def _not_resolving(_host: str) -> list[str]:
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "::1", "localhost"])
def test_loopback_addresses_and_names(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "10.0.0.5", "192.168.1.20", "fe80::1", "2001:db8::1"])  # noqa: S104
def test_every_interface_and_other_addresses_are_not(host: str) -> None:
    assert not is_loopback(host)


def test_a_name_counts_for_what_it_resolves_to() -> None:
    assert is_loopback("box", resolve=_resolving_to("127.0.1.1", "::1"))
    assert is_loopback("box", resolve=_resolving_to("::ffff:127.0.0.1"))
    assert not is_loopback("box", resolve=_resolving_to("10.1.2.3"))
    assert not is_loopback("box", resolve=_resolving_to("127.0.0.1", "192.168.1.20"))
    assert not is_loopback("box", resolve=_resolving_to("::ffff:10.1.2.3"))
    assert not is_loopback("box", resolve=_resolving_to())
    assert not is_loopback("nowhere", resolve=_not_resolving)


def test_an_ipv6_address_is_bracketed_in_urls() -> None:
    assert url_host("::1") == "[::1]"
    assert url_host("127.0.0.1") == "127.0.0.1"
    assert url_host("localhost") == "localhost"
