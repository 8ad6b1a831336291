"""The channel directory: which inbox owns an address, and how each inbox answers mail.

A `ChannelDirectory` is a plain value built from the inboxes table (`inbox.channels`) —
or, for a test or a tool, from the configuration (`from_settings`). Everything that asks
"whose address is this?" or "what does this inbox send as?" asks it: the SMTP receiver in
RCPT, the router of inbound mail, the automatic acknowledgment and outgoing mail. Each
process keeps its current directory in a `Channels` holder and replaces it whole when the
settings version moves (`core.settings_version`); a reader takes `channels.current` once
and works with that value, so one decision never sees half of a change.

An address belongs to one inbox; a catch-all domain takes any address at it that no inbox
names exactly. Addresses and domains are kept lower-case. No I/O here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.settings import Settings

DEFAULT_ACK_TEXT = ("Thank you for your message. We have received it and will answer as "
                    "soon as we can.")
DEFAULT_ACK_WINDOW_MINUTES = 1440
CHANNELS = "channels"
"""Where a runtime's `Channels` is found in `session.info` and `runtime.extras`."""


@dataclass(frozen=True)
class InboxChannel:
    """One inbox's email channel: its own addresses (the first is the one it sends from),
    catch-all domains, display name for outgoing mail and automatic acknowledgment."""

    slug: str
    name: str
    addresses: tuple[str, ...] = ()
    catch_all_domains: tuple[str, ...] = ()
    from_name: str = ""
    auto_ack: bool = False
    auto_ack_window_minutes: int = DEFAULT_ACK_WINDOW_MINUTES
    auto_ack_text: str = DEFAULT_ACK_TEXT


def domain_of_address(address: str) -> str:
    """The lower-case domain of `address` ("" without an @)."""
    return address.strip().lower().rpartition("@")[2] if "@" in address else ""


@dataclass(frozen=True)
class ChannelDirectory:
    """Every inbox's channel, with lookups by slug, address and domain."""

    inboxes: tuple[InboxChannel, ...] = ()
    _by_slug: Mapping[str, InboxChannel] = field(init=False, repr=False, compare=False)
    _by_address: Mapping[str, InboxChannel] = field(init=False, repr=False, compare=False)
    _by_domain: Mapping[str, InboxChannel] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_address: dict[str, InboxChannel] = {}
        by_domain: dict[str, InboxChannel] = {}
        for inbox in self.inboxes:
            for address in inbox.addresses:
                by_address.setdefault(address.lower(), inbox)
            for domain in inbox.catch_all_domains:
                by_domain.setdefault(domain.lower(), inbox)
        object.__setattr__(self, "_by_slug", {i.slug: i for i in self.inboxes})
        object.__setattr__(self, "_by_address", by_address)
        object.__setattr__(self, "_by_domain", by_domain)

    def inbox(self, slug: str) -> InboxChannel | None:
        """The channel of inbox `slug`, or None."""
        return self._by_slug.get(slug)

    def inbox_for_address(self, address: str) -> InboxChannel | None:
        """The inbox that owns `address`: the one naming it exactly, else the one whose
        catch-all domain it is at; None when no inbox takes it."""
        address = address.strip().lower()
        exact = self._by_address.get(address)
        if exact is not None:
            return exact
        domain = domain_of_address(address)
        return self._by_domain.get(domain) if domain else None

    def owns(self, address: str) -> bool:
        """Whether mail to `address` lands in an inbox."""
        return self.inbox_for_address(address) is not None

    @property
    def own_addresses(self) -> frozenset[str]:
        """Every inbox's exact addresses."""
        return frozenset(self._by_address)

    @property
    def own_domains(self) -> frozenset[str]:
        """Every catch-all domain."""
        return frozenset(self._by_domain)

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled (to the SMTP receiver's process) as its inboxes; the lookups are rebuilt.
        return (ChannelDirectory, (self.inboxes,))

    @classmethod
    def from_settings(cls, settings: Settings) -> ChannelDirectory:
        """The directory the configuration file describes (what seeds a fresh database):
        `[smtp_in] catch_all_domains` belong to the first inbox."""
        legacy = tuple(d.lower() for d in settings.smtp_in.catch_all_domains)
        inboxes = []
        for index, conf in enumerate(settings.inboxes):
            domains = (*conf.catch_all_domains, *(legacy if index == 0 else ()))
            inboxes.append(InboxChannel(
                slug=conf.slug, name=conf.name, addresses=tuple(conf.addresses),
                catch_all_domains=tuple(dict.fromkeys(domains)), from_name=conf.from_name,
                auto_ack=conf.auto_ack, auto_ack_window_minutes=conf.auto_ack_window_minutes,
                auto_ack_text=conf.auto_ack_text))
        return cls(tuple(inboxes))


Listener = Callable[[ChannelDirectory], None]


class Channels:
    """This process's current directory, replaced whole on a reload; listeners (the SMTP
    receiver's pipe) hear each new one."""

    def __init__(self, directory: ChannelDirectory | None = None):
        self.current = directory if directory is not None else ChannelDirectory()
        self._listeners: list[Listener] = []

    def replace(self, directory: ChannelDirectory) -> None:
        """Make `directory` current and tell the listeners."""
        self.current = directory
        for listener in list(self._listeners):
            listener(directory)

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` with every new directory; returns what stops it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)


def channels_in(info: Mapping[str, Any]) -> Channels:
    """The `Channels` of a runtime from its sessions' info (an empty one when none)."""
    channels = info.get(CHANNELS)
    return channels if isinstance(channels, Channels) else Channels()


def current_directory(runtime: Any) -> ChannelDirectory:
    """The directory a runtime keeps current (`runtime.extras[CHANNELS]`); without one (a
    runtime a test put together), the configuration file's."""
    channels = runtime.extras.get(CHANNELS)
    if isinstance(channels, Channels):
        return channels.current
    return ChannelDirectory.from_settings(runtime.settings)


def duplicates(values: Iterable[str]) -> list[str]:
    """The values that occur more than once (lower-cased), in first-seen order."""
    seen: set[str] = set()
    repeated: dict[str, None] = {}
    for value in values:
        key = value.lower()
        if key in seen:
            repeated[key] = None
        seen.add(key)
    return list(repeated)
