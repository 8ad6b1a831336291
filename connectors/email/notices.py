"""Mail agents their notifications (those who asked: `users.notify_by_email`).

The outbox handler of kind `notifications.service.MAIL_KIND`: it loads the notification,
writes what it says and the conversation's subject to the agent from the conversation's
inbox address, and hands it to the `[smtp_out]` relay with the null envelope sender (a
bounce must not come back as a conversation). The Message-ID is derived from the
notification, so a retry sends the same one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.models import User
from connectors.email.compose import (
    InvalidAddress,
    Notice,
    Undeliverable,
    compose_notice,
    domain_of,
    sender_identity,
)
from connectors.email.ids import make_message_id

if TYPE_CHECKING:
    from connectors.email.autoack import Transport
from core import clock
from core.db import transaction
from core.outbox import Outcome
from core.settings import Settings
from inbox.directory import ChannelDirectory, current_directory
from inbox.models import Conversation, Inbox
from notifications.models import Notification
from notifications.service import MAIL_KIND, describe

log = logging.getLogger(__name__)

KIND = MAIL_KIND


@dataclass(frozen=True)
class _Loaded:
    notification_id: int
    conversation_id: int
    to_address: str
    to_name: str
    inbox_slug: str
    subject: str
    text: str


class NotificationMail:
    """Outbox handler: mail one notification to its user through `relay`."""

    def __init__(self, settings: Settings, relay: Transport):
        self.settings = settings
        self.relay = relay

    async def deliver(self, ctx: dict[str, Any], payload: dict[str, Any]) -> Outcome:
        loaded = await _load(ctx["runtime"].sessions, int(payload["notification_id"]))
        if loaded is None:
            return Outcome("failed", "the notification or its conversation no longer exists")
        try:
            mail = compose_notice(self._notice(loaded, current_directory(ctx["runtime"])))
        except (InvalidAddress, Undeliverable, ValueError) as exc:
            return Outcome("failed", str(exc))
        return await self.relay.send(mail, sender="", recipient=loaded.to_address)

    def _notice(self, loaded: _Loaded, directory: ChannelDirectory) -> Notice:
        conf = directory.inbox(loaded.inbox_slug)
        if conf is None:
            raise Undeliverable(f"inbox {loaded.inbox_slug!r} is not configured")
        from_address, from_name = sender_identity(conf)
        return Notice(
            from_address=from_address, from_name=from_name, to_address=loaded.to_address,
            to_name=loaded.to_name, subject=f"{loaded.text}: {loaded.subject}",
            text=notice_text(loaded, self.settings.http.public_url),
            message_id=make_message_id(self.settings.secret_key, domain_of(from_address),
                                       f"n{loaded.notification_id}"),
            date=clock.now())

    async def record(self, session: AsyncSession, payload: dict[str, Any],
                     outcome: Outcome) -> None:
        if outcome.result != "sent":
            log.warning("notification %s not mailed (%s): %s", payload.get("notification_id"),
                        outcome.result, outcome.detail)


def notice_text(loaded: _Loaded, public_url: str) -> str:
    """The body of the mail: what happened, and where to see it (a link when
    `[http] public_url` says where people reach the server)."""
    path = f"/conversations/{loaded.conversation_id}"
    where = (f"See it at {public_url.rstrip('/')}{path}" if public_url
             else f"It is conversation {loaded.conversation_id} in Frontdesk.")
    return f"{loaded.text}: {loaded.subject}\n\n{where}\n"


async def _load(sessions: async_sessionmaker[AsyncSession],
                notification_id: int) -> _Loaded | None:
    async with transaction(sessions) as session:
        notification = await session.get(Notification, notification_id)
        if notification is None or notification.conversation_id is None:
            return None
        user = await session.get(User, notification.user_id)
        conversation = await session.get(Conversation, notification.conversation_id)
        if user is None or conversation is None:
            return None
        slug = await session.scalar(select(Inbox.slug).where(Inbox.id == conversation.inbox_id))
        actor = await session.get(User, notification.actor_id) if notification.actor_id else None
    return _Loaded(notification_id, conversation.id, user.email, user.name, slug or "",
                   conversation.subject or "(no subject)",
                   describe(notification.kind, actor.name if actor else None,
                            notification.detail))
