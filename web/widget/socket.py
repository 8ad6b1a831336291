"""`/chat/socket`: the websocket of a visitor's chat widget (connectors/webchat/protocol.py
says what travels on it); this module only feeds that protocol.

Before anything is read, the page's Origin must be one the inbox allows (4403 otherwise).
A visitor's message is stored through `connectors.ingest.accept_then` (contact,
conversation, ticket, SLA clocks: the same path as every channel), and acked only after
that commit. The socket hears, through the live hub, what concerns its conversation: an
agent's reply as soon as it is committed (the inbox's live event), and again when the
outbox delivers it (`connectors.webchat.send`: the durable path, should the first event
be lost with a process stopped between commit and publish); a message of the visitor's
other tab; the conversation closed; an agent opening it or writing in it. For each
message it reads what follows its last sequence number from the database, so nothing is
skipped or repeated.

Limits (core.throttle, shared by every server): per client address, messages a minute and
new conversations an hour; per visitor session, messages a minute. Past one, the socket is
closed with 4429.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import cast

from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.websockets import WebSocketState

from connectors.ingest import accept_then
from connectors.webchat import protocol, service, tokens
from connectors.webchat.protocol import (
    Action,
    ChatProtocol,
    Close,
    MarkRead,
    Resume,
    SaveDetails,
    Send,
    Store,
    Typing,
    Welcome,
)
from core import clock
from core.db import reading, transaction
from core.errors import SystemFault, UserError
from core.live import LiveEvent, Subscription, announce
from core.runtime import Runtime
from core.throttle import Value, counter_key, dump, load
from core.windows import Window, WindowCount, count_at, whole_seconds, window_wait, with_hit
from inbox.models import Inbox
from inbox.service import IngestResult
from sla.service import calendar_for, current_policy
from web.forwarded import client_of

log = logging.getLogger(__name__)
router = APIRouter()


@dataclass(frozen=True)
class Limits:
    """How much one client address and one visitor session may send."""

    messages_per_minute_per_address: int = 60
    messages_per_minute_per_visitor: int = 30
    new_chats_per_hour_per_address: int = 20


LIMITS = Limits()
"""The limits in force (tests and the bench replace them)."""


@dataclass(frozen=True)
class _Chat:
    """The inbox a socket talks to."""

    inbox_id: int
    slug: str
    name: str
    values: service.ChatValues


def hits_within(windows: list[Window], now: float, values: list[Value | None]
                ) -> tuple[float, list[Value | None] | None]:
    """One hit against each of `windows` (their stored counts `values`, at `now`): when
    every window has room, (0, the counts with the hit); else (seconds to wait, None:
    nothing counted)."""
    counts = [count_at(load(WindowCount, value), now, window)
              for value, window in zip(values, windows, strict=True)]
    wait = max((window_wait(count, now, window)
                for count, window in zip(counts, windows, strict=True)), default=0.0)
    if wait:
        return wait, None
    return 0.0, [dump(with_hit(count)) for count in counts]


async def _chat_of(runtime: Runtime, slug: str) -> _Chat | None:
    async with transaction(runtime.sessions) as session:
        inbox = await session.scalar(select(Inbox).where(Inbox.slug == slug))
        if inbox is None:
            return None
        values = await service.get_settings(session, inbox.id)
    return _Chat(inbox.id, inbox.slug, inbox.name, values)


async def office_open(session: AsyncSession, values: service.ChatValues) -> bool:
    """Whether the widget offers a chat now: always, unless the inbox follows office hours
    (the SLA policy's default calendar) and now is outside them."""
    if not values.office_hours:
        return True
    version, policy = await current_policy(session)
    return calendar_for(session, version, policy, None).is_working(clock.now())


class _Visitor:
    """One open widget socket."""

    def __init__(self, runtime: Runtime, websocket: WebSocket, chat: _Chat, address: str):
        self.runtime, self.websocket, self.chat, self.address = runtime, websocket, chat, address
        self.protocol = ChatProtocol()
        self.signer = tokens.TokenSigner(runtime.settings.secret_key)
        self.visitor = ""
        self.name: str | None = None
        self.email: str | None = None
        self.subscription: Subscription | None = None
        self.outgoing = asyncio.Lock()
        self.wake = asyncio.Event()

    # ---- what the hub delivers

    def accepts(self, event: LiveEvent) -> bool:
        data = event.data
        conversation = self.protocol.conversation
        if event.kind == "webchat":
            return (data.get("conversation_id") == conversation and conversation is not None) \
                or data.get("visitor") == self.visitor
        if conversation is None or data.get("conversation_id") != conversation:
            return False
        if event.kind == "conversation":
            # A message of the visitor's other tab, or an agent's reply as soon as it is
            # committed; the reply's delivery through the outbox tells again later (the
            # fallback), and finds nothing after the last sequence number sent.
            return (data.get("change") in ("message", "opened")
                    and data.get("direction") in ("inbound", "outbound")) \
                or data.get("change") == "status"
        return event.kind == "presence" and data.get("state") in ("viewing", "replying")

    async def heard(self, event: LiveEvent) -> bool:
        data = event.data
        if event.kind == "presence":
            actions = self.protocol.agent_present(int(data.get("user_id") or 0),
                                                  str(data.get("name") or "An agent"))
            if data.get("state") == "replying":
                actions += self.protocol.agent_typing(str(data.get("name") or "An agent"))
            return await self.send(actions)
        if event.kind == "conversation" and data.get("change") == "status":
            if data.get("status") == "closed":
                return await self.send(self.protocol.conversation_closed())
            return True
        if event.kind == "webchat" and self.protocol.conversation is None:
            self.protocol.conversation = int(data["conversation_id"])
            await self.send(self.protocol.renewed(await self._welcome()))
        return await self.catch_up()

    # ---- carrying out actions

    async def send(self, actions: list[Action]) -> bool:
        """Send the frames of `actions` in order; False once the socket is to be closed."""
        async with self.outgoing:
            return await self._send(actions)

    async def _send(self, actions: list[Action]) -> bool:
        for action in actions:
            if isinstance(action, Send):
                await self.websocket.send_json(action.frame)
            elif isinstance(action, Close):
                with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                    await self.websocket.close(action.code, action.reason)
                return False
        return True

    async def act(self, actions: list[Action]) -> bool:
        """Carry out what the protocol asked for a frame of the widget."""
        for action in actions:
            if isinstance(action, Resume):
                ok = await self._resume(action)
            elif isinstance(action, Store):
                ok = await self._store(action)
            elif isinstance(action, SaveDetails):
                ok = await self._details(action)
            elif isinstance(action, Typing):
                ok = await self._typing()
            elif isinstance(action, MarkRead):
                ok = await self._read(action)
            else:
                ok = await self.send([action])
            if not ok:
                return False
        return True

    async def catch_up(self) -> bool:
        """Send every message after the last one sent, in order."""
        conversation = self.protocol.conversation
        if conversation is None:
            return True
        async with self.outgoing:
            while True:
                async with reading(self.runtime.sessions) as session:
                    messages = await service.messages_after(
                        session, conversation, self.protocol.sent_seq, self.visitor, self.name)
                if not await self._send(self.protocol.deliver(messages)):
                    return False
                if len(messages) < service.HISTORY_PAGE:
                    return True

    async def _welcome(self) -> Welcome:
        conversation = self.protocol.conversation
        async with reading(self.runtime.sessions) as session:
            is_open = await office_open(session, self.chat.values)
            seq = await service.newest_seq(session, conversation)
        return Welcome(
            token=self.signer.issue(self.chat.inbox_id, self.visitor, conversation,
                                    clock.now()),
            conversation=conversation, seq=seq, open=is_open,
            ask=cast(protocol.Ask, self.chat.values.ask_details),
            greeting=self.chat.values.greeting, name=self.chat.name, email=self.email)

    async def _resume(self, action: Resume) -> bool:
        conversation = None
        if action.token is None:
            self.visitor = tokens.new_visitor()
        else:
            session_of = self.signer.check(action.token, self.chat.inbox_id, clock.now())
            if session_of is None:
                return await self.send(self.protocol.refused_token())
            self.visitor, conversation = session_of.visitor, session_of.conversation
            async with transaction(self.runtime.sessions) as session:
                row = await service.find_visitor(session, self.chat.inbox_id, self.visitor)
                if row is not None:
                    conversation = row.conversation_id
                    self.name, self.email = row.name, row.email
                if conversation is not None and not await service.chat_continues(
                        session, conversation, self.chat.inbox_id):
                    # Trashed or moved away: a new chat, with what the visitor told us.
                    self.visitor, conversation = tokens.new_visitor(), None
                    if self.name or self.email:
                        await service.save_details(session, self.chat.inbox_id, self.visitor,
                                                   self.name, self.email)
        self.protocol.conversation = conversation
        self.subscription = self.runtime.live.subscribe(self.accepts)
        self.wake.set()
        welcome = await self._welcome()
        if not await self.send(self.protocol.welcomed(welcome, action.last_seq)):
            return False
        return await self.catch_up()

    async def _limited(self) -> float:
        """Seconds to wait before this message may be taken (0: take it now). Every limit
        is checked and counted in one change of the shared counters."""
        limits = LIMITS
        checks = [(counter_key("chat-address", self.address),
                   Window(limits.messages_per_minute_per_address, 60)),
                  (counter_key("chat-visitor", self.visitor),
                   Window(limits.messages_per_minute_per_visitor, 60))]
        if self.protocol.conversation is None:
            checks.append((counter_key("chat-new", self.address),
                           Window(limits.new_chats_per_hour_per_address, 3600)))
        windows = [window for _, window in checks]
        wait = 0.0

        def decide(now: float, values: list[Value | None]) -> list[Value | None] | None:
            nonlocal wait
            wait, counted = hits_within(windows, now, values)
            return counted

        try:
            await self.runtime.throttle.change([key for key, _ in checks],
                                               [2 * w.seconds for w in windows], decide)
        except SystemFault:
            return 0.0  # the counters are out of reach: let visitors through
        return wait

    async def _store(self, action: Store) -> bool:
        if self.chat.values.ask_details == "yes" and not (self.name and self.email):
            return await self.send([Send({
                "type": "error", "code": "details_required",
                "message": "leave your name and email address first"})])
        wait = await self._limited()
        if wait:
            return await self.send(self.protocol.rate_limited(whole_seconds(wait)))
        message = service.to_inbound(self.chat.slug, self.chat.inbox_id, self.visitor,
                                     action.client_id, action.text, self.name, self.email)
        visitor = self.visitor

        async def follow_up(session: AsyncSession, result: IngestResult) -> int:
            if result.opened:
                announce(session, LiveEvent("webchat", data={
                    "visitor": visitor, "conversation_id": result.conversation_id}))
            return await service.seq_of(session, result.message_id) or 0

        try:
            result, seq = await accept_then(self.runtime.sessions, message, follow_up)
        except (IntegrityError, UserError) as exc:
            log.warning("a chat message was not stored: %s", exc)
            return await self.send([Send({"type": "error", "code": "not_stored",
                                          "message": "your message was not sent; reconnect "
                                                     "and try again"})])
        if self.protocol.conversation != result.conversation_id:
            self.protocol.conversation = result.conversation_id
            if not await self.send(self.protocol.renewed(await self._welcome())):
                return False
        if not await self.catch_up():
            return False
        return await self.send(self.protocol.stored(action.client_id, seq))

    async def _details(self, action: SaveDetails) -> bool:
        async with transaction(self.runtime.sessions) as session:
            row = await service.save_details(session, self.chat.inbox_id, self.visitor,
                                             action.name, action.email)
            self.name, self.email = row.name, row.email
        return await self.send(self.protocol.renewed(await self._welcome()))

    async def _typing(self) -> bool:
        conversation = self.protocol.conversation
        if conversation is not None:
            await self.runtime.live.publish([LiveEvent("typing", inbox_id=self.chat.inbox_id,
                                                       data={"conversation_id": conversation,
                                                             "name": self.name or "Visitor"})])
        return True

    async def _read(self, action: MarkRead) -> bool:
        conversation = self.protocol.conversation
        if conversation is not None:
            async with transaction(self.runtime.sessions) as session:
                await service.mark_read(session, conversation, action.seq)
        return True

    # ---- the loops

    async def read(self) -> None:
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            data: str | bytes = text if text is not None else message.get("bytes") or b""
            if not await self.act(self.protocol.received(data, clock.now())):
                return

    async def write(self) -> None:
        await self.wake.wait()
        assert self.subscription is not None
        while True:
            event = await self.subscription.next()
            if event is None:  # fell behind: the widget reconnects and resumes
                await self.send(self.protocol.going_away())
                return
            if not await self.heard(event):
                return

    async def serve(self) -> None:
        """Read and write until either ends (the widget left, a close was sent)."""
        tasks = [asyncio.create_task(self.read()), asyncio.create_task(self.write())]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    exc = task.exception()
                    if not isinstance(exc, WebSocketDisconnect | RuntimeError):
                        log.error("chat socket failed", exc_info=exc)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self.subscription is not None:
                self.subscription.close()
            self.protocol.ended()
            if self.websocket.client_state is WebSocketState.CONNECTED:
                with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                    await self.websocket.close()


def _address(websocket: WebSocket) -> str:
    return client_of(cast(Request, websocket))


@router.websocket("/chat/socket")
async def chat_socket(websocket: WebSocket) -> None:
    """A visitor's chat widget (see connectors/webchat/protocol.py)."""
    runtime: Runtime = websocket.app.state.runtime
    slug = websocket.query_params.get("inbox", "")
    chat = await _chat_of(runtime, slug) if slug else None
    await websocket.accept()
    if chat is None or not service.origin_allowed(chat.values, websocket.headers.get("origin")):
        await websocket.close(code=protocol.CLOSE_ORIGIN, reason="not allowed from this site")
        return
    await _Visitor(runtime, websocket, chat, _address(websocket)).serve()
