"""Inboxes and their email channel in the database: the one writer, and the directory.

`config.toml` seeds the database (`seed_inboxes`, at every start): an inbox slug the
database does not have is created from the file; one it has is left as the admins set it
(the database wins), except an inbox made before channels lived in the database, which
takes its channel from the file once. After that, admins change inboxes through
`create_inbox`, `update_inbox` and `delete_inbox` (the admin API and pages), and each of
them, in the caller's transaction:

- claims the inbox's addresses and catch-all domains in `inbox_addresses`, whose unique
  key refuses one held by another inbox (InvalidInput, a 422, naming it — checked first,
  the key is the guard against two admins at once);
- records the change in the audit log;
- bumps the "channels" settings version, so every process reloads its directory
  (`core.settings_version`, `inbox.directory`).

`load_directory` reads the directory; `install_channels` wires a runtime to keep it current.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.models import User
from audit.service import changed_only, record_change
from core.db import savepoint, transaction
from core.errors import Conflict, InvalidInput, NotFound
from core.settings import SLUG, InboxSettings, Settings
from core.settings_version import WATCHER, VersionWatcher, bump
from inbox import access
from inbox.directory import (
    CHANNELS,
    DEFAULT_ACK_TEXT,
    DEFAULT_ACK_WINDOW_MINUTES,
    ChannelDirectory,
    Channels,
    InboxChannel,
    duplicates,
)
from inbox.models import Conversation, Inbox, InboxAddress

VERSION_NAME = "channels"
"""The settings version every channel change bumps."""
MAX_ADDRESSES = 100
MAX_ACK_TEXT = 10_000
MAX_WINDOW_MINUTES = 525_600  # a year

_ATOM = r"[^\s@<>()\[\]\\,;:\"/\x00-\x1f\x7f.]+"
_LOCAL = r"[^\s@<>()\[\]\\,;:\"\x00-\x1f\x7f]+"
_DOMAIN = re.compile(rf"{_ATOM}(\.{_ATOM})*")
_ADDRESS = re.compile(rf"{_LOCAL}@{_ATOM}(\.{_ATOM})*")


# ---------------------------------------------------------------- validation (pure)


@dataclass(frozen=True)
class ChannelValues:
    """What an admin sets on an inbox (every field; `clean` checks and normalizes)."""

    name: str
    addresses: tuple[str, ...] = ()
    catch_all_domains: tuple[str, ...] = ()
    from_name: str = ""
    auto_ack: bool = False
    auto_ack_window_minutes: int = DEFAULT_ACK_WINDOW_MINUTES
    auto_ack_text: str = DEFAULT_ACK_TEXT


def clean_address(text: str) -> str:
    """`text` as an inbox address (trimmed, lower-case); InvalidInput when it is none."""
    address = text.strip().lower()
    if not _ADDRESS.fullmatch(address) or len(address) > 254 or address.endswith("."):
        raise InvalidInput(f"not an email address: {text.strip()!r}", field="addresses")
    return address


def clean_domain(text: str) -> str:
    """`text` as a catch-all domain (trimmed, lower-case, a leading @ dropped)."""
    domain = text.strip().lower().removeprefix("@")
    if not _DOMAIN.fullmatch(domain) or len(domain) > 253:
        raise InvalidInput(f"not a domain: {text.strip()!r}", field="catch_all_domains")
    return domain


def clean(values: ChannelValues) -> ChannelValues:
    """`values` checked and normalized: a name, valid unique addresses and domains (blank
    entries dropped), a window of 1 minute to a year, a text when auto-ack is on.
    InvalidInput names the field of the first problem."""
    name = " ".join(values.name.split())
    if not name or len(name) > 200:
        raise InvalidInput("the name must be 1 to 200 characters", field="name")
    addresses = tuple(clean_address(a) for a in values.addresses if a.strip())
    domains = tuple(clean_domain(d) for d in values.catch_all_domains if d.strip())
    for field, items in (("addresses", addresses), ("catch_all_domains", domains)):
        if len(items) > MAX_ADDRESSES:
            raise InvalidInput(f"at most {MAX_ADDRESSES} {field.replace('_', ' ')}",
                               field=field)
        repeated = duplicates(items)
        if repeated:
            raise InvalidInput(f"{repeated[0]} is listed twice", field=field)
    from_name = " ".join(values.from_name.split())
    if len(from_name) > 200:
        raise InvalidInput("the from name must be at most 200 characters", field="from_name")
    if not 1 <= values.auto_ack_window_minutes <= MAX_WINDOW_MINUTES:
        raise InvalidInput(f"the window must be 1 to {MAX_WINDOW_MINUTES} minutes",
                           field="auto_ack_window_minutes")
    text = values.auto_ack_text.strip()
    if len(text) > MAX_ACK_TEXT:
        raise InvalidInput(f"the text must be at most {MAX_ACK_TEXT} characters",
                           field="auto_ack_text")
    if values.auto_ack and not text:
        raise InvalidInput("an automatic acknowledgment needs a text", field="auto_ack_text")
    return replace(values, name=name, addresses=addresses, catch_all_domains=domains,
                   from_name=from_name, auto_ack_text=text)


def clean_slug(slug: str) -> str:
    """`slug` when it is one (lower-case letters, digits, - and _); InvalidInput else."""
    if not re.fullmatch(SLUG, slug):
        raise InvalidInput("the slug must be lower-case letters, digits, - or _ "
                           "(at most 63, starting with a letter or digit)", field="slug")
    return slug


def values_of(inbox: Inbox) -> ChannelValues:
    """The channel values an inbox row holds."""
    return ChannelValues(
        name=inbox.name, addresses=tuple(inbox.addresses or ()),
        catch_all_domains=tuple(inbox.catch_all_domains or ()), from_name=inbox.from_name,
        auto_ack=inbox.auto_ack, auto_ack_window_minutes=inbox.auto_ack_window_minutes,
        auto_ack_text=inbox.auto_ack_text)


def channel_of(inbox: Inbox) -> InboxChannel:
    """The directory's view of an inbox row."""
    values = values_of(inbox)
    return InboxChannel(slug=inbox.slug, **asdict(values))


def _values_from_settings(conf: InboxSettings, extra_domains: Sequence[str]) -> ChannelValues:
    domains = tuple(dict.fromkeys((*conf.catch_all_domains, *extra_domains)))
    return ChannelValues(name=conf.name, addresses=tuple(conf.addresses),
                         catch_all_domains=domains, from_name=conf.from_name,
                         auto_ack=conf.auto_ack,
                         auto_ack_window_minutes=conf.auto_ack_window_minutes,
                         auto_ack_text=conf.auto_ack_text)


def _audit_view(values: ChannelValues) -> dict[str, Any]:
    return asdict(values)


# ---------------------------------------------------------------- reading


async def load_directory(session: AsyncSession) -> ChannelDirectory:
    """Every inbox's channel, in the order the inboxes were made."""
    rows = (await session.scalars(select(Inbox).order_by(Inbox.id))).all()
    return ChannelDirectory(tuple(channel_of(row) for row in rows))


async def list_inbox_rows(session: AsyncSession) -> list[Inbox]:
    """Every inbox, by name."""
    return list((await session.scalars(select(Inbox).order_by(Inbox.name, Inbox.id))).all())


async def get_inbox(session: AsyncSession, slug: str) -> Inbox:
    """The inbox `slug`; NotFound when there is none."""
    inbox = await session.scalar(select(Inbox).where(Inbox.slug == slug))
    if inbox is None:
        raise NotFound(f"no inbox {slug!r}")
    return inbox


async def conversation_count(session: AsyncSession, inbox_id: int) -> int:
    """How many conversations (trash included) the inbox holds."""
    return int(await session.scalar(select(func.count()).select_from(Conversation)
                                    .where(Conversation.inbox_id == inbox_id)) or 0)


# ---------------------------------------------------------------- writing


async def _claim(session: AsyncSession, inbox: Inbox, values: ChannelValues) -> None:
    """Make the inbox's claims exactly its addresses and domains; InvalidInput naming one
    another inbox holds."""
    wanted = [("address", a) for a in values.addresses] + [
        ("domain", d) for d in values.catch_all_domains]
    if wanted:
        held = (await session.execute(
            select(InboxAddress.kind, InboxAddress.value, Inbox.slug)
            .join(Inbox, Inbox.id == InboxAddress.inbox_id)
            .where(InboxAddress.value.in_([v for _, v in wanted]),
                   InboxAddress.inbox_id != inbox.id))).all()
        for kind, value, slug in held:
            if (kind, value) in wanted:
                field = "addresses" if kind == "address" else "catch_all_domains"
                raise InvalidInput(f"{value} belongs to the inbox {slug!r}", field=field)
    await session.execute(delete(InboxAddress).where(InboxAddress.inbox_id == inbox.id))
    if wanted:
        try:
            async with savepoint(session):
                await session.execute(insert(InboxAddress.__table__), [
                    {"inbox_id": inbox.id, "kind": kind, "value": value}
                    for kind, value in wanted])
        except IntegrityError:
            raise InvalidInput("an address or domain was just given to another inbox",
                               field="addresses") from None


def _apply(inbox: Inbox, values: ChannelValues) -> None:
    inbox.name = values.name
    inbox.addresses = list(values.addresses)
    inbox.catch_all_domains = list(values.catch_all_domains)
    inbox.from_name = values.from_name
    inbox.auto_ack = values.auto_ack
    inbox.auto_ack_window_minutes = values.auto_ack_window_minutes
    inbox.auto_ack_text = values.auto_ack_text


async def create_inbox(session: AsyncSession, actor: User | None, slug: str,
                       values: ChannelValues) -> Inbox:
    """A new inbox `slug` with `values` (Conflict when the slug is taken; InvalidInput for
    bad values or an address another inbox holds)."""
    slug, values = clean_slug(slug), clean(values)
    if await session.scalar(select(Inbox.id).where(Inbox.slug == slug)) is not None:
        raise Conflict(f"an inbox {slug!r} exists already", code="slug_taken")
    inbox = Inbox(slug=slug, name=values.name, addresses=[])
    session.add(inbox)
    await session.flush()
    _apply(inbox, values)
    await _claim(session, inbox, values)
    await record_change(session, actor=actor, action="inbox.created", subject_type="inbox",
                        subject_id=slug, summary=f"created the inbox {values.name!r}",
                        after=_audit_view(values))
    await bump(session, VERSION_NAME)
    return inbox


async def update_inbox(session: AsyncSession, actor: User | None, slug: str,
                       values: ChannelValues) -> Inbox:
    """Set the inbox's channel to `values` (NotFound, InvalidInput as for create). A change
    that changes nothing records nothing and bumps nothing."""
    inbox = await get_inbox(session, slug)
    values, before = clean(values), values_of(inbox)
    if values == before:
        return inbox
    await _claim(session, inbox, values)
    _apply(inbox, values)
    old, new = changed_only(_audit_view(before), _audit_view(values))
    await record_change(session, actor=actor, action="inbox.updated", subject_type="inbox",
                        subject_id=slug, summary=f"changed the inbox {values.name!r}: "
                        + ", ".join(sorted(new)).replace("_", " "), before=old, after=new)
    await bump(session, VERSION_NAME)
    return inbox


async def set_route_new_tickets(session: AsyncSession, actor: User | None, slug: str,
                                enabled: bool) -> Inbox:
    """Say whether the inbox's new tickets are routed by the active routing rules on
    creation; audited when it changes."""
    inbox = await get_inbox(session, slug)
    if inbox.route_new_tickets != enabled:
        inbox.route_new_tickets = enabled
        await record_change(session, actor=actor, action="inbox.updated", subject_type="inbox",
                            subject_id=slug, summary=f"changed the inbox {inbox.name!r}: "
                            "route new tickets", before={"route_new_tickets": not enabled},
                            after={"route_new_tickets": enabled})
    return inbox


async def delete_inbox(session: AsyncSession, actor: User | None, slug: str) -> None:
    """Delete an inbox that holds no conversation (Conflict when it holds some: its
    history stays; remove its addresses to stop new mail instead)."""
    inbox = await get_inbox(session, slug)
    count = await conversation_count(session, inbox.id)
    if count:
        raise Conflict(f"the inbox {slug!r} holds {count} conversation(s) and cannot be "
                       "deleted; remove its addresses to stop new mail", code="inbox_in_use")
    before = _audit_view(values_of(inbox))
    try:
        async with savepoint(session):
            await session.delete(inbox)
            await session.flush()
    except IntegrityError:  # a conversation arrived since it was counted
        raise Conflict(f"the inbox {slug!r} just received a conversation and cannot be "
                       "deleted", code="inbox_in_use") from None
    await record_change(session, actor=actor, action="inbox.deleted", subject_type="inbox",
                        subject_id=slug, summary=f"deleted the inbox {inbox.name!r}",
                        before=before)
    await bump(session, VERSION_NAME)


async def set_inbox_members(session: AsyncSession, actor: User | None, slug: str, *,
                            team_ids: Sequence[int], user_ids: Sequence[int]) -> access.Members:
    """Make these teams and users the only ones besides the admins who see inbox `slug`
    (`inbox.access.set_members`), recorded in the audit log when it changes anything."""
    inbox = await get_inbox(session, slug)
    before = (await access.members_of(session, [inbox.id]))[inbox.id]
    after = await access.set_members(session, inbox.id, team_ids=team_ids, user_ids=user_ids)
    if (set(before.team_ids), set(before.user_ids)) != (set(after.team_ids),
                                                        set(after.user_ids)):
        await record_change(session, actor=actor, action="inbox.members", subject_type="inbox",
                            subject_id=slug, summary=f"changed who sees the inbox {inbox.name!r}",
                            before=asdict(before), after=asdict(after))
    return after


async def seed_inboxes(session: AsyncSession, settings: Settings) -> None:
    """Create the inboxes of `config.toml` the database does not have; give an inbox made
    before channels lived in the database its channel from the file, once. Inboxes the
    admins manage are left alone (the database wins). `[smtp_in] catch_all_domains` go to
    the file's first inbox. Not an admin's change: nothing goes to the audit log."""
    legacy = tuple(d.lower() for d in settings.smtp_in.catch_all_domains)
    existing = {i.slug: i for i in (await session.scalars(select(Inbox))).all()}
    changed = False
    for index, conf in enumerate(settings.inboxes):
        values = clean(_values_from_settings(conf, legacy if index == 0 else ()))
        row = existing.get(conf.slug)
        if row is None:
            row = Inbox(slug=conf.slug, name=values.name, addresses=[])
            session.add(row)
            await session.flush()
        elif not row.settings_from_file:
            continue
        row.settings_from_file = False
        _apply(row, values)
        await _claim(session, row, values)
        changed = True
    if changed:
        await bump(session, VERSION_NAME)
    await session.flush()


# ---------------------------------------------------------------- a runtime's directory


def install_channels(runtime: Any) -> Channels:
    """Give the runtime its `Channels` (sessions' info and extras, under CHANNELS): the
    configuration file's directory until `start_channels` loads the database's."""
    channels = Channels(ChannelDirectory.from_settings(runtime.settings))
    runtime.provide(CHANNELS, channels)
    runtime.extras[CHANNELS] = channels
    return channels


def _forget_inbox_ids(sessions: async_sessionmaker[AsyncSession]) -> None:
    """Drop the inbox ids cached by slug (`inbox.service.inbox_id_by_slug`): a slug may
    now name another inbox, or none."""
    cache = sessions.kw.get("info", {}).get("cache")
    if isinstance(cache, dict):
        for key in [k for k in cache if isinstance(k, tuple) and k[:1] == ("inbox",)]:
            cache.pop(key, None)


async def start_channels(runtime: Any, watcher: VersionWatcher) -> Channels:
    """Load the directory now and keep it current through `watcher` from now on."""
    channels: Channels = runtime.extras[CHANNELS]
    sessions: async_sessionmaker[AsyncSession] = runtime.sessions

    async def reload() -> None:
        async with transaction(sessions) as session:
            directory = await load_directory(session)
        _forget_inbox_ids(sessions)
        channels.replace(directory)

    watcher.watch(VERSION_NAME, reload)
    runtime.provide(WATCHER, watcher)
    await watcher.start()
    return channels
