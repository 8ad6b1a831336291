"""IMAP mailboxes in the database: the one writer of `ImapMailbox`, and what the poller reads.

A mailbox belongs to an inbox and is polled while `enabled`. Its password is either sealed
in the row (`core.secrets`, set by an admin) or, for a mailbox seeded from `[[imap]]` in the
configuration file, read from the environment variable its `password_env` names at each
poll. Setting a password in the console replaces the variable for good.

`seed_mailboxes` copies the file's `[[imap]]` entries into the table once: an entry whose
name is there already is left as the database has it (the database wins).

The poller (`connectors.email.imap`) reads the enabled rows at every tick, so a new mailbox
is polled without a restart, a disabled or deleted one is not polled again, and an edited
one is polled with its new values from its next poll on.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from connectors.email.models import ImapCursor, ImapMailbox, ImapPoll
from core import clock
from core.errors import Conflict, InvalidInput, NotFound
from core.secrets import SecretBox, SecretUnreadable
from core.settings import SLUG, ImapSettings
from inbox.models import Inbox

SECURITY = ("ssl", "starttls", "none")
AFTER_IMPORT = ("leave", "seen", "move")
MIN_POLL_SECONDS = 5.0
MAX_POLL_SECONDS = 86_400.0
UNREADABLE = "the stored password cannot be read; enter it again"
_HOST = re.compile(r"^[A-Za-z0-9._:-]{1,253}$")


@dataclass(frozen=True)
class MailboxValues:
    """What an admin sets on a mailbox (everything but its name, inbox and password)."""

    host: str
    username: str
    port: int = 993
    security: str = "ssl"
    ca_file: str = ""
    folder: str = "INBOX"
    poll_seconds: float = 60.0
    after_import: str = "seen"
    move_to: str = ""
    enabled: bool = True


VALUE_FIELDS = tuple(f.name for f in fields(MailboxValues))


def _problem(values: MailboxValues) -> tuple[str, str] | None:
    """The first field of `values` that cannot be used, with why; None when all can."""
    if not _HOST.match(values.host.strip()):
        return "host", "give a host name or address, like imap.example.com"
    if not 1 <= values.port <= 65535:
        return "port", "a port is a number from 1 to 65535"
    if values.security not in SECURITY:
        return "security", "choose ssl, starttls or none"
    if values.ca_file and not Path(values.ca_file).is_file():
        return "ca_file", f"no such file on the server: {values.ca_file}"
    if not values.username.strip() or len(values.username) > 255:
        return "username", "give the user name to log in with"
    if not values.folder.strip() or len(values.folder) > 255:
        return "folder", "give the folder to read, like INBOX"
    if not MIN_POLL_SECONDS <= values.poll_seconds <= MAX_POLL_SECONDS:
        return "poll_seconds", (f"poll every {MIN_POLL_SECONDS:.0f} to "
                                f"{MAX_POLL_SECONDS:.0f} seconds")
    if values.after_import not in AFTER_IMPORT:
        return "after_import", "choose leave, seen or move"
    if values.after_import == "move" and not values.move_to.strip():
        return "move_to", "name the folder to move imported mail to"
    return None


def check_values(values: MailboxValues) -> MailboxValues:
    """`values` trimmed; InvalidInput naming the first field that cannot be used."""
    values = replace(values, host=values.host.strip(), username=values.username.strip(),
                     folder=values.folder.strip(), move_to=values.move_to.strip(),
                     ca_file=values.ca_file.strip())
    problem = _problem(values)
    if problem is not None:
        raise InvalidInput(problem[1], field=problem[0])
    return values


def check_name(name: str) -> str:
    """A mailbox name: lower-case letters, digits, '-' and '_' (it keys the import)."""
    if not re.match(SLUG, name):
        raise InvalidInput("a name of lower-case letters, digits, '-' and '_' (like "
                           "support-imap)", field="name")
    return name


def values_of(row: ImapMailbox) -> MailboxValues:
    """The admin-set values of a stored mailbox."""
    return MailboxValues(**{name: getattr(row, name) for name in VALUE_FIELDS})


def conf_of(row: ImapMailbox, inbox_slug: str) -> ImapSettings:
    """The mailbox as the poller takes it (checked when written, so not again here)."""
    return ImapSettings.model_construct(
        name=row.name, inbox=inbox_slug, host=row.host, port=row.port,
        security=row.security, ca_file=row.ca_file, username=row.username,
        password_env=row.password_env, folder=row.folder, poll_seconds=row.poll_seconds,
        after_import=row.after_import, move_to=row.move_to)


@dataclass(frozen=True)
class Password:
    """A mailbox's password as the poller or a test finds it: the text, or why there is none."""

    text: str | None
    problem: str | None = None


def password_of(row: ImapMailbox, box: SecretBox,
                env: Mapping[str, str] | None = None) -> Password:
    """The password of `row`: opened from the row, else read from its variable."""
    if row.password_sealed:
        try:
            return Password(box.open(row.password_sealed))
        except SecretUnreadable:
            return Password(None, UNREADABLE)
    env = os.environ if env is None else env
    if row.password_env:
        found = env.get(row.password_env, "")
        if found:
            return Password(found)
        return Password(None, f"the environment variable {row.password_env} (password_env) "
                              "is not set")
    return Password(None, "no password is set")


def password_state(row: ImapMailbox, box: SecretBox) -> str:
    """What the API and pages say of the password: "set", "environment", "unreadable"
    or "missing" (never the password)."""
    if row.password_sealed:
        try:
            box.open(row.password_sealed)
        except SecretUnreadable:
            return "unreadable"
        return "set"
    return "environment" if row.password_env else "missing"


# ----------------------------------------------------------------------------- reading


async def list_mailboxes(session: AsyncSession, inbox_id: int | None = None
                         ) -> list[tuple[ImapMailbox, str]]:
    """Mailboxes with their inbox's slug, by inbox then name (of one inbox if given)."""
    query = (select(ImapMailbox, Inbox.slug).join(Inbox, Inbox.id == ImapMailbox.inbox_id)
             .order_by(Inbox.slug, ImapMailbox.name))
    if inbox_id is not None:
        query = query.where(ImapMailbox.inbox_id == inbox_id)
    return [(row, slug) for row, slug in (await session.execute(query)).all()]


async def get_mailbox(session: AsyncSession, mailbox_id: int) -> tuple[ImapMailbox, str]:
    """A mailbox and its inbox's slug; NotFound when there is none."""
    found = (await session.execute(
        select(ImapMailbox, Inbox.slug).join(Inbox, Inbox.id == ImapMailbox.inbox_id)
        .where(ImapMailbox.id == mailbox_id))).first()
    if found is None:
        raise NotFound(f"no mailbox {mailbox_id}")
    return found[0], found[1]


async def mailbox_named(session: AsyncSession, name: str) -> tuple[ImapMailbox, str] | None:
    """The mailbox `name` and its inbox's slug, or None."""
    found = (await session.execute(
        select(ImapMailbox, Inbox.slug).join(Inbox, Inbox.id == ImapMailbox.inbox_id)
        .where(ImapMailbox.name == name))).first()
    return None if found is None else (found[0], found[1])


async def enabled_mailboxes(session: AsyncSession) -> list[tuple[ImapMailbox, str]]:
    """The mailboxes to poll, with their inbox's slug."""
    return [(row, slug) for row, slug in await list_mailboxes(session) if row.enabled]


# ----------------------------------------------------------------------------- writing


def snapshot(row: ImapMailbox, slug: str) -> dict[str, Any]:
    """A mailbox as the audit log records it: its values, and only whether a password is set."""
    return {"name": row.name, "inbox": slug, **{n: getattr(row, n) for n in VALUE_FIELDS},
            "password": "(set)" if row.password_sealed else
            (f"(from {row.password_env})" if row.password_env else "(none)")}


async def create_mailbox(session: AsyncSession, *, name: str, inbox_id: int,
                         values: MailboxValues, password: str, box: SecretBox) -> ImapMailbox:
    """Add a mailbox with a sealed password; InvalidInput for a value that cannot be used,
    Conflict when the name is taken."""
    check_name(name)
    values = check_values(values)
    if not password:
        raise InvalidInput("give the password to log in with", field="password")
    if await session.scalar(select(ImapMailbox.id).where(ImapMailbox.name == name)):
        raise Conflict(f"a mailbox named {name!r} exists already", code="name_taken")
    now = clock.now()
    row = ImapMailbox(name=name, inbox_id=inbox_id, password_sealed=box.seal(password),
                      password_env="", created_at=now, updated_at=now,
                      **{n: getattr(values, n) for n in VALUE_FIELDS})
    session.add(row)
    await session.flush()
    return row


async def update_mailbox(session: AsyncSession, row: ImapMailbox, *, values: MailboxValues,
                         password: str | None, box: SecretBox) -> bool:
    """Set `values` (and a new sealed password unless `password` is empty); returns whether
    anything changed."""
    values = check_values(values)
    changed = values != values_of(row)
    for name in VALUE_FIELDS:
        setattr(row, name, getattr(values, name))
    if password:
        row.password_sealed, row.password_env, changed = box.seal(password), "", True
    if changed:
        row.updated_at = clock.now()
        await session.flush()
    return changed


async def delete_mailbox(session: AsyncSession, row: ImapMailbox) -> None:
    """Remove a mailbox and where its import stood (the mail it imported stays)."""
    await session.execute(delete(ImapCursor).where(ImapCursor.mailbox == row.name))
    await session.execute(delete(ImapPoll).where(ImapPoll.mailbox == row.name))
    await session.delete(row)
    await session.flush()


async def seed_mailboxes(session: AsyncSession, configured: Sequence[ImapSettings]) -> int:
    """Add the configuration file's `[[imap]]` mailboxes the table does not name yet (their
    password stays in the variable `password_env` names); returns how many were added."""
    if not configured:
        return 0
    known = set((await session.scalars(select(ImapMailbox.name))).all())
    inboxes = {slug: id_ for id_, slug in (await session.execute(
        select(Inbox.id, Inbox.slug))).all()}
    now, added = clock.now(), 0
    for conf in configured:
        if conf.name in known or conf.inbox not in inboxes:
            continue
        session.add(ImapMailbox(
            name=conf.name, inbox_id=inboxes[conf.inbox], host=conf.host, port=conf.port,
            security=conf.security, ca_file=conf.ca_file, username=conf.username,
            password_sealed=None, password_env=conf.password_env, folder=conf.folder,
            poll_seconds=conf.poll_seconds, after_import=conf.after_import,
            move_to=conf.move_to, enabled=True, created_at=now, updated_at=now))
        added += 1
    await session.flush()
    return added
