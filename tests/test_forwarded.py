"""The client address every limit counts (web.forwarded), as a table."""

from __future__ import annotations

from ipaddress import ip_network

import pytest

from core.addresses import parse_address
from web.forwarded import client_address

PROXIES = [ip_network("10.0.0.0/8"), ip_network("2001:db8::/32")]


@pytest.mark.parametrize("peer, headers, client", [
    ("198.51.100.7", [], "198.51.100.7"),
    ("198.51.100.7", ["192.0.2.1"], "198.51.100.7"),          # not a proxy: ignored
    ("10.1.2.3", [], "10.1.2.3"),                              # a proxy that says nothing
    ("10.1.2.3", ["192.0.2.1"], "192.0.2.1"),
    ("10.1.2.3", ["6.6.6.6, 192.0.2.1"], "192.0.2.1"),        # the client's own entry: ignored
    ("10.1.2.3", ["192.0.2.1, 10.9.9.9"], "192.0.2.1"),       # two proxies
    ("10.1.2.3", ["6.6.6.6", "192.0.2.1, 10.9.9.9"], "192.0.2.1"),  # headers in order
    ("10.1.2.3", ["10.5.5.5, 10.9.9.9"], "10.5.5.5"),         # proxies all the way
    ("10.1.2.3", ["192.0.2.1, bogus"], "10.1.2.3"),           # garbage stops at the proxy
    ("10.1.2.3", ["192.0.2.1:4711"], "192.0.2.1"),
    ("10.1.2.3", ["[2001:db8::1]:443, 192.0.2.1"], "192.0.2.1"),
    ("2001:db8::5", ["2001:db9::1"], "2001:db9::1"),
    ("::ffff:10.1.2.3", ["192.0.2.1"], "192.0.2.1"),           # IPv4-mapped peer
    (None, ["192.0.2.1"], "unknown"),
    ("testclient", ["192.0.2.1"], "testclient"),
])
def test_client_address(peer, headers, client):
    assert client_address(peer, headers, PROXIES) == client


def test_nothing_is_trusted_by_default():
    assert client_address("127.0.0.1", ["192.0.2.1"], []) == "127.0.0.1"


@pytest.mark.parametrize("text, parsed", [
    ("192.0.2.1", "192.0.2.1"), (" 192.0.2.1 ", "192.0.2.1"), ("192.0.2.1:25", "192.0.2.1"),
    ("[::1]:25", "::1"), ("::1", "::1"), ("::ffff:192.0.2.1", "192.0.2.1"),
    ("", None), ("example.org", None), ("[::1", None), ("300.1.1.1", None),
])
def test_parse_address(text, parsed):
    address = parse_address(text)
    assert (None if address is None else str(address)) == parsed
