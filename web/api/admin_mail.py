"""Mail channels (admins): IMAP mailboxes of the inboxes and the outgoing relays, each with
a Test connection that reports its steps in plain words.

Passwords are write-only: an answer says `password_set` (and `password_state`: "set",
"environment" for a mailbox seeded from the configuration file, "unreadable" when it was
sealed under another secret key and must be entered again, "missing"), never the password.
Every change is in the audit log, without the password. Changes take effect without a
restart: the poller reads the mailboxes at every tick, a reply picks its relay as it leaves.

The gathering functions here (`mailbox_json`, `try_values`, ...) are also what the admin
pages call (`web.pages.admin.mail`).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from connectors.email import diagnose, mailboxes, relays
from connectors.email.compose import (
    InvalidAddress,
    Undeliverable,
    sender_identity,
    validate_address,
)
from connectors.email.mailboxes import MailboxValues
from connectors.email.models import ImapMailbox, OutgoingRelay
from connectors.email.relays import RelayValues
from connectors.email.smtp_out import Relay
from core.db import transaction
from core.errors import InvalidInput, NotFound
from core.runtime import Runtime
from core.secrets import SecretBox
from core.settings import SLUG
from inbox.directory import current_directory
from inbox.models import Inbox
from web.api.common import JSON, CurrentAdmin, IdPath, RequestModel, RuntimeDep, Text, page

router = APIRouter(tags=["mail channels"])

Host = Annotated[Text, Field(min_length=1, max_length=253, examples=["imap.example.com"])]
Port = Annotated[int, Field(ge=1, le=65535, examples=[993])]
Short = Annotated[Text, Field(max_length=255)]
Password = Annotated[Text, Field(max_length=1024, json_schema_extra={"writeOnly": True})]
Security = Literal["ssl", "starttls", "none"]
AfterImport = Literal["leave", "seen", "move"]
PollSeconds = Annotated[float, Field(ge=mailboxes.MIN_POLL_SECONDS,
                                     le=mailboxes.MAX_POLL_SECONDS)]
MailboxName = Annotated[str, Field(pattern=SLUG, examples=["support-imap"])]
InboxSlug = Annotated[str, Path(pattern=SLUG, max_length=64)]
Address = Annotated[Text, Field(min_length=3, max_length=254, examples=["admin@example.org"])]


def box_of(runtime: Runtime) -> SecretBox:
    """The runtime's sealing box for mail passwords."""
    box: SecretBox = runtime.extras.setdefault("mail_secrets",
                                               SecretBox(runtime.settings.secret_key))
    return box


# ----------------------------------------------------------------------------- mailboxes


class MailboxFields(RequestModel):
    host: Host
    port: Port = 993
    security: Security = "ssl"
    ca_file: Short = ""
    username: Annotated[Text, Field(min_length=1, max_length=255)]
    folder: Annotated[Text, Field(min_length=1, max_length=255)] = "INBOX"
    poll_seconds: PollSeconds = Field(default=60.0, strict=False)
    after_import: AfterImport = "seen"
    move_to: Short = ""
    enabled: bool = True

    def values(self) -> MailboxValues:
        return MailboxValues(**self.model_dump(include=set(mailboxes.VALUE_FIELDS)))


class NewMailbox(MailboxFields):
    name: MailboxName
    inbox: Annotated[str, Field(pattern=SLUG, examples=["support"])]
    password: Annotated[Password, Field(min_length=1)]


class MailboxPatch(RequestModel):
    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    host: Host | None = None
    port: Port | None = None
    security: Security | None = None
    ca_file: Short | None = None
    username: Annotated[Text, Field(min_length=1, max_length=255)] | None = None
    folder: Annotated[Text, Field(min_length=1, max_length=255)] | None = None
    poll_seconds: PollSeconds | None = Field(default=None, strict=False)
    after_import: AfterImport | None = None
    move_to: Short | None = None
    enabled: bool | None = None
    password: Password | None = None
    """A new password; absent or empty keeps the stored one."""


class MailboxTest(MailboxFields):
    password: Password = ""
    """The password to try; empty: the stored one of `mailbox_id`."""
    mailbox_id: Annotated[int | None, Field(ge=1)] = None


def mailbox_json(row: ImapMailbox, slug: str, box: SecretBox) -> JSON:
    """A mailbox as the API answers it (never its password)."""
    state = mailboxes.password_state(row, box)
    return {"id": row.id, "name": row.name, "inbox": slug,
            **{name: getattr(row, name) for name in mailboxes.VALUE_FIELDS},
            "password_set": state in ("set", "environment"), "password_state": state,
            "password_env": row.password_env or None,
            "created_at": row.created_at.isoformat(), "updated_at": row.updated_at.isoformat()}


async def inbox_by_slug(session: AsyncSession, slug: str) -> Inbox:
    """The inbox `slug`; NotFound when there is none."""
    row = await session.scalar(select(Inbox).where(Inbox.slug == slug))
    if row is None:
        raise NotFound(f"no inbox {slug!r}")
    return row


async def create_mailbox(runtime: Runtime, actor: User, body: NewMailbox) -> JSON:
    """Add a mailbox (the API's and the page's one way to)."""
    async with transaction(runtime.sessions) as session:
        inbox = await session.scalar(select(Inbox).where(Inbox.slug == body.inbox))
        if inbox is None:
            raise InvalidInput(f"no inbox {body.inbox!r}", field="inbox")
        row = await mailboxes.create_mailbox(
            session, name=body.name, inbox_id=inbox.id, values=body.values(),
            password=body.password, box=box_of(runtime), actor=actor)
    return mailbox_json(row, inbox.slug, box_of(runtime))


async def update_mailbox(runtime: Runtime, actor: User, mailbox_id: int,
                         changes: dict[str, object], password: str | None) -> JSON:
    """Change a mailbox's values (`changes` over the stored ones) and maybe its password."""
    async with transaction(runtime.sessions) as session:
        row, slug = await mailboxes.get_mailbox(session, mailbox_id)
        values = MailboxValues(**(asdict(mailboxes.values_of(row)) | changes))
        await mailboxes.update_mailbox(session, row, values=values, password=password,
                                       box=box_of(runtime), actor=actor)
    return mailbox_json(row, slug, box_of(runtime))


async def try_values(runtime: Runtime, values: MailboxValues, password: str,
                      mailbox_id: int | None) -> diagnose.Diagnosis:
    """Test connection with values not saved (yet); an empty `password` means the stored
    one of `mailbox_id`."""
    values = mailboxes.check_values(values)
    if not password and mailbox_id is not None:
        async with transaction(runtime.sessions) as session:
            row, _ = await mailboxes.get_mailbox(session, mailbox_id)
        found = mailboxes.password_of(row, box_of(runtime))
        if found.text is None:
            return _no_password(found.problem)
        password = found.text
    if not password:
        return _no_password("give the password to test with")
    return await diagnose.probe_mailbox(values, password)


async def try_saved(runtime: Runtime, mailbox_id: int) -> diagnose.Diagnosis:
    """Test connection of a saved mailbox, with its stored password."""
    async with transaction(runtime.sessions) as session:
        row, _ = await mailboxes.get_mailbox(session, mailbox_id)
    found = mailboxes.password_of(row, box_of(runtime))
    if found.text is None:
        return _no_password(found.problem)
    return await diagnose.probe_mailbox(mailboxes.values_of(row), found.text)


def _no_password(problem: str | None) -> diagnose.Diagnosis:
    report = diagnose.Diagnosis()
    report.add("login", "failed", problem or "no password is set")
    return report


@router.get("/api/admin/mailboxes")
async def list_mailboxes(admin: CurrentAdmin, runtime: RuntimeDep,
                         inbox: Annotated[str | None, Query(pattern=SLUG)] = None) -> JSON:
    """Every IMAP mailbox (of inbox `inbox` if given), by inbox and name."""
    async with transaction(runtime.sessions) as session:
        inbox_id = None if inbox is None else (await inbox_by_slug(session, inbox)).id
        rows = await mailboxes.list_mailboxes(session, inbox_id)
    return page([mailbox_json(row, slug, box_of(runtime)) for row, slug in rows], None)


@router.post("/api/admin/mailboxes", status_code=201)
async def add_mailbox(body: NewMailbox, admin: CurrentAdmin, runtime: RuntimeDep) -> JSON:
    """Add an IMAP mailbox to an inbox; it is polled from the next tick on. 409 when the
    name is taken; 422 naming the field that cannot be used."""
    return await create_mailbox(runtime, admin, body)


@router.post("/api/admin/mailboxes/test")
async def test_mailbox_values(body: MailboxTest, admin: CurrentAdmin,
                              runtime: RuntimeDep) -> JSON:
    """Test connection with values not saved: DNS, connection, TLS, login, folder, each ok,
    failed or skipped with a sentence, and the folder's message count. Without `password`,
    the stored one of `mailbox_id` is used."""
    report = await try_values(runtime, body.values(), body.password, body.mailbox_id)
    return report.as_json()


@router.get("/api/admin/mailboxes/{mailbox_id}")
async def get_mailbox(mailbox_id: IdPath, admin: CurrentAdmin, runtime: RuntimeDep) -> JSON:
    """One IMAP mailbox (never its password)."""
    async with transaction(runtime.sessions) as session:
        row, slug = await mailboxes.get_mailbox(session, mailbox_id)
    return mailbox_json(row, slug, box_of(runtime))


@router.patch("/api/admin/mailboxes/{mailbox_id}")
async def patch_mailbox(mailbox_id: IdPath, body: MailboxPatch, admin: CurrentAdmin,
                        runtime: RuntimeDep) -> JSON:
    """Change a mailbox; its next poll uses the new values. A `password` replaces the
    stored one (and the environment variable of a seeded mailbox)."""
    changes = body.model_dump(exclude_none=True, exclude={"password"})
    return await update_mailbox(runtime, admin, mailbox_id, changes, body.password)


@router.delete("/api/admin/mailboxes/{mailbox_id}", status_code=204)
async def delete_mailbox(mailbox_id: IdPath, admin: CurrentAdmin,
                         runtime: RuntimeDep) -> Response:
    """Remove a mailbox: it is not polled again (the mail it brought stays)."""
    async with transaction(runtime.sessions) as session:
        row, _ = await mailboxes.get_mailbox(session, mailbox_id)
        await mailboxes.delete_mailbox(session, row, actor=admin)
    return Response(status_code=204)


@router.post("/api/admin/mailboxes/{mailbox_id}/test")
async def test_mailbox(mailbox_id: IdPath, admin: CurrentAdmin, runtime: RuntimeDep) -> JSON:
    """Test connection of a saved mailbox with its stored password (steps as for
    `POST /api/admin/mailboxes/test`)."""
    return (await try_saved(runtime, mailbox_id)).as_json()


# ----------------------------------------------------------------------------- relays


class RelayBody(RequestModel):
    host: Host
    port: Port = 587
    security: Security = "starttls"
    ca_file: Short = ""
    username: Short = ""
    password: Password = ""
    """A new password; empty keeps the stored one (no `username` drops it)."""
    from_address: Annotated[Text, Field(max_length=254)] = ""
    """Send from this address instead of the inbox's; empty for the inbox's."""

    def values(self) -> RelayValues:
        return RelayValues(**self.model_dump(include=set(relays.VALUE_FIELDS)))


class RelayTest(RequestModel):
    to: Address


def relay_json(row: OutgoingRelay, slug: str | None, box: SecretBox) -> JSON:
    """A relay as the API answers it (never its password)."""
    state = relays.password_state(row, box)
    return {"scope": "global" if slug is None else "inbox", "inbox": slug,
            **{name: getattr(row, name) for name in relays.VALUE_FIELDS},
            "password_set": state == "set", "password_state": state,
            "updated_at": row.updated_at.isoformat()}


def file_relay_json(runtime: Runtime) -> JSON:
    conf = runtime.settings.smtp_out
    return {"host": conf.host, "port": conf.port, "security": conf.security,
            "username": conf.username}


async def relays_overview(runtime: Runtime) -> JSON:
    """The global relay, the inboxes' own, and `[smtp_out]` of the file (used when no
    global relay is set)."""
    async with transaction(runtime.sessions) as session:
        rows = await relays.list_relays(session)
    box = box_of(runtime)
    return {"global": next((relay_json(r, s, box) for r, s in rows if s is None), None),
            "inboxes": [relay_json(r, s, box) for r, s in rows if s is not None],
            "file": file_relay_json(runtime)}


async def set_relay(runtime: Runtime, actor: User, slug: str | None, body: RelayBody) -> JSON:
    """Set the global relay (`slug` None) or inbox `slug`'s."""
    async with transaction(runtime.sessions) as session:
        inbox_id = None if slug is None else (await inbox_by_slug(session, slug)).id
        row, _ = await relays.set_relay(session, inbox_id, body.values(),
                                        password=body.password, box=box_of(runtime),
                                        actor=actor, inbox_slug=slug)
    return relay_json(row, slug, box_of(runtime))


async def remove_relay(runtime: Runtime, actor: User, slug: str | None) -> None:
    async with transaction(runtime.sessions) as session:
        inbox_id = None if slug is None else (await inbox_by_slug(session, slug)).id
        await relays.remove_relay(session, inbox_id, actor=actor, inbox_slug=slug)


def _default_sender(runtime: Runtime, slug: str | None) -> str:
    """The inbox's sending address (for the global relay: the first inbox with one)."""
    directory = current_directory(runtime)
    candidates = [directory.inbox(slug)] if slug else list(directory.inboxes)
    for conf in candidates:
        if conf is None:
            continue
        try:
            return sender_identity(conf)[0]
        except Undeliverable:
            continue
    raise InvalidInput("no address to send from: give the relay a sender address",
                       field="from_address")


async def try_relay(runtime: Runtime, slug: str | None, to: str) -> diagnose.Diagnosis:
    """Send a test message to `to` through the relay mail of inbox `slug` (None: mail of
    no inbox) leaves through now: its own, the global one, or `[smtp_out]`."""
    try:
        recipient = validate_address(to)
    except InvalidAddress as exc:
        raise InvalidInput(str(exc), field="to") from None
    async with transaction(runtime.sessions) as session:
        inbox_id = None if slug is None else (await inbox_by_slug(session, slug)).id
        file_relay = Relay.from_settings(runtime.settings.smtp_out)
        chosen = await relays.choose(session, inbox_id, file_relay.settings,
                                     file_relay.password, box_of(runtime))
    sender = chosen.from_address or _default_sender(runtime, slug)
    values = RelayValues(host=chosen.settings.host, port=chosen.settings.port,
                         security=chosen.settings.security, ca_file=chosen.settings.ca_file,
                         username=chosen.settings.username)
    if chosen.problem is not None:
        report = diagnose.Diagnosis()
        report.add("auth", "failed", chosen.problem)
        return report
    return await diagnose.probe_relay(values, chosen.password, sender=sender,
                                      recipient=recipient)


@router.get("/api/admin/relays")
async def list_relays(admin: CurrentAdmin, runtime: RuntimeDep) -> JSON:
    """The global relay (null when unset), the inboxes' own relays, and the file's
    `[smtp_out]` (what mail leaves through when no global relay is set)."""
    return await relays_overview(runtime)


@router.put("/api/admin/relays/global")
async def put_global_relay(body: RelayBody, admin: CurrentAdmin, runtime: RuntimeDep) -> JSON:
    """Set the global relay: mail of every inbox without one of its own leaves through it."""
    return await set_relay(runtime, admin, None, body)


@router.delete("/api/admin/relays/global", status_code=204)
async def delete_global_relay(admin: CurrentAdmin, runtime: RuntimeDep) -> Response:
    """Remove the global relay: mail leaves through `[smtp_out]` of the file again."""
    await remove_relay(runtime, admin, None)
    return Response(status_code=204)


@router.post("/api/admin/relays/global/test")
async def test_global_relay(body: RelayTest, admin: CurrentAdmin, runtime: RuntimeDep) -> JSON:
    """Send a test message to `to` through the global relay (else `[smtp_out]`): DNS,
    connection, TLS, greeting, AUTH, MAIL FROM, RCPT TO, DATA, each with the relay's answer."""
    return (await try_relay(runtime, None, body.to)).as_json()


@router.put("/api/admin/relays/inboxes/{slug}")
async def put_inbox_relay(slug: InboxSlug, body: RelayBody, admin: CurrentAdmin,
                          runtime: RuntimeDep) -> JSON:
    """Set inbox `slug`'s own relay: its replies leave through it."""
    return await set_relay(runtime, admin, slug, body)


@router.delete("/api/admin/relays/inboxes/{slug}", status_code=204)
async def delete_inbox_relay(slug: InboxSlug, admin: CurrentAdmin,
                             runtime: RuntimeDep) -> Response:
    """Remove inbox `slug`'s relay: its replies leave through the global one again."""
    await remove_relay(runtime, admin, slug)
    return Response(status_code=204)


@router.post("/api/admin/relays/inboxes/{slug}/test")
async def test_inbox_relay(slug: InboxSlug, body: RelayTest, admin: CurrentAdmin,
                           runtime: RuntimeDep) -> JSON:
    """Send a test message to `to` the way inbox `slug`'s replies leave (its relay, else the
    global one, else `[smtp_out]`)."""
    return (await try_relay(runtime, slug, body.to)).as_json()
