"""Outgoing relays in the database: the one writer of `OutgoingRelay`, and which relay a
message leaves through.

There is at most one global relay and at most one per inbox. Mail of an inbox leaves through
the inbox's relay, else the global one, else `[smtp_out]` of the configuration file
(`choose`). A relay's password is sealed (`core.secrets`); a relay with a user name but no
readable password is still chosen, and its sends are retried with the reason, so mail waits
for the admin to enter the password again instead of leaving through another relay.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from connectors.email.models import GLOBAL_RELAY, OutgoingRelay
from core import clock
from core.errors import InvalidInput, NotFound
from core.secrets import SecretBox, SecretUnreadable
from core.settings import SmtpOutSettings
from inbox.models import Inbox

SECURITY = ("starttls", "ssl", "none")
UNREADABLE = "the stored relay password cannot be read; enter it again"
_HOST = re.compile(r"^[A-Za-z0-9._:-]{1,253}$")
_ADDRESS = re.compile(r"^[^@\s<>\"(),;:]{1,64}@[A-Za-z0-9.-]{1,253}$")


@dataclass(frozen=True)
class RelayValues:
    """What an admin sets on a relay (everything but its password)."""

    host: str
    port: int = 587
    security: str = "starttls"
    ca_file: str = ""
    username: str = ""
    from_address: str = ""


VALUE_FIELDS = tuple(f.name for f in fields(RelayValues))


def _problem(values: RelayValues) -> tuple[str, str] | None:
    if not _HOST.match(values.host):
        return "host", "give a host name or address, like smtp.example.com"
    if not 1 <= values.port <= 65535:
        return "port", "a port is a number from 1 to 65535"
    if values.security not in SECURITY:
        return "security", "choose starttls, ssl or none"
    if values.ca_file and not Path(values.ca_file).is_file():
        return "ca_file", f"no such file on the server: {values.ca_file}"
    if len(values.username) > 255:
        return "username", "at most 255 characters"
    if values.from_address and not _ADDRESS.match(values.from_address):
        return "from_address", "not an email address"
    return None


def check_values(values: RelayValues) -> RelayValues:
    """`values` trimmed; InvalidInput naming the first field that cannot be used."""
    values = replace(values, host=values.host.strip(), username=values.username.strip(),
                     ca_file=values.ca_file.strip(),
                     from_address=values.from_address.strip().lower())
    problem = _problem(values)
    if problem is not None:
        raise InvalidInput(problem[1], field=problem[0])
    return values


def scope_of(inbox_id: int | None) -> str:
    return GLOBAL_RELAY if inbox_id is None else f"inbox:{inbox_id}"


def values_of(row: OutgoingRelay) -> RelayValues:
    return RelayValues(**{name: getattr(row, name) for name in VALUE_FIELDS})


def password_state(row: OutgoingRelay, box: SecretBox) -> str:
    """"set", "unreadable" or "missing" (never the password)."""
    if not row.password_sealed:
        return "missing"
    try:
        box.open(row.password_sealed)
    except SecretUnreadable:
        return "unreadable"
    return "set"


def snapshot(row: OutgoingRelay) -> dict[str, Any]:
    """A relay as the audit log records it: only whether a password is set."""
    return {**{n: getattr(row, n) for n in VALUE_FIELDS},
            "password": "(set)" if row.password_sealed else "(none)"}


@dataclass(frozen=True)
class Chosen:
    """The relay a message leaves through, as `connectors.email.smtp_out.Relay` takes it."""

    settings: SmtpOutSettings
    password: str | None
    from_address: str
    """The sender address to use instead of the inbox's; empty for the inbox's."""
    problem: str | None = None
    source: str = "file"
    """"inbox", "global" or "file"."""


def chosen_of(row: OutgoingRelay, box: SecretBox, timeout_seconds: float) -> Chosen:
    """A stored relay, with its password opened."""
    settings = SmtpOutSettings.model_construct(
        host=row.host, port=row.port, security=row.security, username=row.username,
        password_env="", ca_file=row.ca_file, timeout_seconds=timeout_seconds)
    password, problem = None, None
    if row.username:
        if row.password_sealed:
            try:
                password = box.open(row.password_sealed)
            except SecretUnreadable:
                problem = UNREADABLE
        else:
            problem = "the relay has a user name but no password; enter it"
    return Chosen(settings, password, row.from_address, problem,
                  "global" if row.inbox_id is None else "inbox")


# ----------------------------------------------------------------------------- reading


async def get_relay(session: AsyncSession, inbox_id: int | None) -> OutgoingRelay | None:
    """The global relay (None) or inbox `inbox_id`'s own, if one is set."""
    row: OutgoingRelay | None = await session.scalar(
        select(OutgoingRelay).where(OutgoingRelay.scope == scope_of(inbox_id)))
    return row


async def list_relays(session: AsyncSession) -> list[tuple[OutgoingRelay, str | None]]:
    """Every relay with its inbox's slug (None for the global one), global first."""
    rows = (await session.execute(
        select(OutgoingRelay, Inbox.slug).outerjoin(Inbox, Inbox.id == OutgoingRelay.inbox_id)
        .order_by(OutgoingRelay.inbox_id.is_not(None), Inbox.slug))).all()
    return [(row, slug) for row, slug in rows]


async def choose(session: AsyncSession, inbox_id: int | None, fallback: SmtpOutSettings,
                 fallback_password: str | None, box: SecretBox) -> Chosen:
    """The relay mail of inbox `inbox_id` (None: mail of no inbox) leaves through: the
    inbox's, else the global one, else `fallback` (`[smtp_out]`)."""
    scopes = [scope_of(None)] if inbox_id is None else [scope_of(inbox_id), scope_of(None)]
    rows = {row.scope: row for row in (await session.scalars(
        select(OutgoingRelay).where(OutgoingRelay.scope.in_(scopes)))).all()}
    for scope in scopes:
        if scope in rows:
            return chosen_of(rows[scope], box, fallback.timeout_seconds)
    return Chosen(fallback, fallback_password, "")


# ----------------------------------------------------------------------------- writing


async def set_relay(session: AsyncSession, inbox_id: int | None, values: RelayValues, *,
                    password: str | None, box: SecretBox) -> tuple[OutgoingRelay, bool]:
    """Create or change the global relay (None) or inbox `inbox_id`'s. An empty `password`
    keeps the one stored; no user name drops it. Returns (the row, whether it is new)."""
    values = check_values(values)
    row, now = await get_relay(session, inbox_id), clock.now()
    created = row is None
    if row is None:
        row = OutgoingRelay(scope=scope_of(inbox_id), inbox_id=inbox_id, created_at=now,
                            password_sealed=None)
        session.add(row)
    for name in VALUE_FIELDS:
        setattr(row, name, getattr(values, name))
    if password:
        row.password_sealed = box.seal(password)
    if not values.username:
        row.password_sealed = None
    row.updated_at = now
    await session.flush()
    return row, created


async def remove_relay(session: AsyncSession, inbox_id: int | None) -> OutgoingRelay:
    """Remove the global relay (None) or inbox `inbox_id`'s; NotFound when none is set."""
    row = await get_relay(session, inbox_id)
    if row is None:
        raise NotFound("no relay is set here")
    await session.delete(row)
    await session.flush()
    return row
