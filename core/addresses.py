"""IP addresses as peers and headers give them, and whether they belong to configured
networks (trusted proxies, unthrottled relays). Pure: no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network


def parse_address(text: str) -> Address | None:
    """An address as a peer or an X-Forwarded-For entry gives it (`[v6]` or `v4:port`
    allowed), IPv4-mapped IPv6 as IPv4; None when it is not an address."""
    text = text.strip()
    if text.startswith("[") and "]" in text:
        text = text[1:text.index("]")]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def in_networks(address: Address, networks: Sequence[Network]) -> bool:
    """Whether `address` belongs to one of `networks`."""
    return any(address in network for network in networks if network.version == address.version)
