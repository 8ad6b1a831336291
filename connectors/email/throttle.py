"""Per client limits of the SMTP receiver: connections and messages per client address per
minute (`[smtp_in]`), counted by every receiver together (`core.throttle`).

Answered as Postfix's anvil answers them, before anything is stored, and temporary, so a
sending server tries again later and nothing is lost: a connection over the limit hears
`421 4.7.0` instead of the greeting and is closed; a message over the limit hears `450
4.7.1` to its MAIL FROM. Clients in `unthrottled_clients` (the relays in front) are spared.
"""

from __future__ import annotations

from typing import Any

from core.addresses import in_networks, parse_address
from core.settings import SmtpInSettings
from core.throttle import Throttle
from core.windows import Window, whole_seconds

MINUTE = 60


class ClientLimits:
    """The `[smtp_in]` per client limits, on the shared counters of `throttle`."""

    def __init__(self, throttle: Throttle, config: SmtpInSettings, hostname: str):
        self.throttle = throttle
        self.spared = config.unthrottled_clients
        self.hostname = hostname
        self.connections = Window(config.client_connections_per_minute, MINUTE)
        self.messages = Window(config.client_messages_per_minute, MINUTE)

    def _client(self, peer: Any) -> str | None:
        """The address a limit counts for `peer` (aiosmtpd's: `(host, port, ...)`), or None
        when it is spared."""
        host = peer[0] if isinstance(peer, tuple) and peer else str(peer)
        address = parse_address(str(host))
        if address is not None and in_networks(address, self.spared):
            return None
        return str(address or host)

    async def refuse_connection(self, peer: Any) -> str | None:
        """The reply that refuses a new connection from `peer` (then close it), or None."""
        client = self._client(peer)
        if client is None or not await self.throttle.hit("smtp-connection", client,
                                                         self.connections):
            return None
        return (f"421 4.7.0 {self.hostname} Too many connections from your address, "
                f"try again later")

    async def refuse_message(self, peer: Any) -> str | None:
        """The reply to MAIL FROM that refuses one more message from `peer`, or None."""
        client = self._client(peer)
        if client is None:
            return None
        wait = await self.throttle.hit("smtp-message", client, self.messages)
        if not wait:
            return None
        return (f"450 4.7.1 Too many messages from your address, try again in "
                f"{whole_seconds(wait)} s")
