"""Mail people their links to set a password: invitations and password resets.

The outbox handler of kind `accounts.invites.MAIL_KIND`. It loads the link, and sends it
only while it still works (a link replaced by a resend meanwhile is not sent: its
successor has its own mail); the token is derived again from the service's secret key and
the link's nonce (it is stored nowhere). The mail comes from the first inbox's address (or
`frontdesk@<public host>` when there is none) through the global relay, with the null
envelope sender so a bounce never becomes a conversation; the Message-ID is derived from
the link, so a retry sends the same one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.invites import MAIL_KIND, link_state, link_token
from accounts.models import PasswordLink, User
from connectors.email.compose import (
    InvalidAddress,
    Notice,
    Undeliverable,
    compose_notice,
    domain_of,
)
from connectors.email.ids import make_message_id
from core import clock
from core.db import transaction
from core.outbox import Outcome
from core.settings import Settings
from inbox.directory import ChannelDirectory, current_directory

if TYPE_CHECKING:
    from connectors.email.autoack import Transport

log = logging.getLogger(__name__)

KIND = MAIL_KIND


@dataclass(frozen=True)
class _Loaded:
    link_id: int
    purpose: str
    nonce: str
    expires_at: datetime
    to_address: str
    to_name: str
    inviter: str | None


def site_url(settings: Settings) -> str:
    """Where people reach the server: `[http] public_url`, else the address it serves on."""
    if settings.http.public_url:
        return settings.http.public_url.rstrip("/")
    return f"http://{settings.http.host}:{settings.http.port}"


def sender(settings: Settings, directory: ChannelDirectory) -> tuple[str, str]:
    """(address, display name) of account mail: the first inbox's first address, else
    frontdesk@ the public host (or localhost)."""
    for inbox in directory.inboxes:
        if inbox.addresses:
            return inbox.addresses[0], "Frontdesk"
    host = urlsplit(settings.http.public_url).hostname or "localhost"
    return f"frontdesk@{host}", "Frontdesk"


def mail_text(loaded: _Loaded, link: str) -> tuple[str, str]:
    """The subject and body of the mail carrying `link`. Pure."""
    until = loaded.expires_at.strftime("%Y-%m-%d %H:%M UTC")
    if loaded.purpose == "invite":
        who = f"{loaded.inviter} invited you" if loaded.inviter else "You are invited"
        return ("You are invited to Frontdesk",
                f"Hello {loaded.to_name},\n\n{who} to join Frontdesk, the team's shared "
                f"inbox. Choose your password here:\n\n{link}\n\nThe link works once, until "
                f"{until}. Your login is this address, {loaded.to_address}.\n")
    return ("Reset your Frontdesk password",
            f"Hello {loaded.to_name},\n\nAn administrator sent you a link to choose a new "
            f"Frontdesk password:\n\n{link}\n\nThe link works once, until {until}. "
            f"Choosing a new password signs you out everywhere else.\n")


class AccountMail:
    """Outbox handler: mail one password link through `relay`."""

    def __init__(self, settings: Settings, relay: Transport):
        self.settings = settings
        self.relay = relay

    async def deliver(self, ctx: dict[str, Any], payload: dict[str, Any]) -> Outcome:
        loaded = await _load(ctx["runtime"].sessions, int(payload["link_id"]))
        if loaded is None:
            return Outcome("failed", "the link no longer works (replaced, used or withdrawn)")
        token = link_token(self.settings.secret_key, loaded.nonce)
        subject, text = mail_text(loaded, f"{site_url(self.settings)}/password/{token}")
        from_address, from_name = sender(self.settings, current_directory(ctx["runtime"]))
        try:
            mail = compose_notice(Notice(
                from_address=from_address, from_name=from_name, to_address=loaded.to_address,
                to_name=loaded.to_name, subject=subject, text=text,
                message_id=make_message_id(self.settings.secret_key, domain_of(from_address),
                                           f"p{loaded.link_id}"),
                date=clock.now()))
        except (InvalidAddress, Undeliverable, ValueError) as exc:
            return Outcome("failed", str(exc))
        return await self.relay.send(mail, sender="", recipient=loaded.to_address)

    async def record(self, session: AsyncSession, payload: dict[str, Any],
                     outcome: Outcome) -> None:
        if outcome.result != "sent":
            log.warning("password link %s not mailed (%s): %s", payload.get("link_id"),
                        outcome.result, outcome.detail)


async def _load(sessions: async_sessionmaker[AsyncSession], link_id: int) -> _Loaded | None:
    async with transaction(sessions) as session:
        link = await session.get(PasswordLink, link_id)
        if link is None or link_state(used_at=link.used_at, revoked_at=link.revoked_at,
                                      expires_at=link.expires_at, now=clock.now()) != "live":
            return None
        user = await session.get(User, link.user_id)
        if user is None:
            return None
        inviter = (await session.get(User, link.created_by_id)
                   if link.created_by_id is not None else None)
    return _Loaded(link.id, link.purpose, link.nonce, link.expires_at, user.email, user.name,
                   inviter.name if inviter is not None else None)
