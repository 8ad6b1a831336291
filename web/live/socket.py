"""`/live`: the websocket that keeps a signed-in browser up to date (protocol.py says
what travels on it).

The browser's login cookie opens it; a page of another site cannot (its Origin must be
this server's). The socket receives the live events of the inboxes its user sees, filtered
before they are queued for it, and tells others what its user is viewing or replying to.
Every LOGIN_CHECK_SECONDS the login is checked again and the scope re-read: a logged out
or deactivated user's socket closes, a new membership shows at once.

Presence is kept on a board per process and hub (`PresenceTracker`), fed by the presence
events the hub delivers, so a browser that opens a conversation is told who is already
there; with Redis every server's board hears every server's sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState

from accounts.models import User
from accounts.service import resolve_login_session
from core import clock
from core.db import transaction
from core.errors import NotFound
from core.live import LiveEvent, LocalHub, Subscription
from core.runtime import Runtime
from inbox.access import Scope, require_conversation, visible_inboxes
from web.api.common import SESSION_COOKIE
from web.live.presence import PresenceBoard
from web.live.protocol import Action, Announce, Close, LiveProtocol, Send, Tell

log = logging.getLogger(__name__)
router = APIRouter()

LOGIN_CHECK_SECONDS = 30.0


def allowed_origin(websocket: WebSocket, public_url: str) -> bool:
    """A browser's socket must come from a page of this server: its Origin is the
    public URL's, or (without one configured) the Host it connected to. A client that
    sends no Origin is not a browser page and holds its cookie itself."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True
    if public_url:
        expected = urlsplit(public_url)
        return origin.rstrip("/") == f"{expected.scheme}://{expected.netloc}"
    return urlsplit(origin).netloc == websocket.headers.get("host", "")


async def _login(runtime: Runtime, cookie: str | None) -> tuple[User, Scope] | None:
    """The user behind a live login cookie and their scope, or None."""
    if not cookie:
        return None
    async with transaction(runtime.sessions) as session:
        found = await resolve_login_session(session, cookie)
        if found is None:
            return None
        user, _ = found
        return user, await visible_inboxes(session, user)


class PresenceTracker:
    """A hub's presence board in this process, listening while sockets are open here.
    Its subscription queues nothing: the filter records presence as events pass."""

    def __init__(self, hub: LocalHub):
        self.hub = hub
        self.board = PresenceBoard()
        self._subscription: Subscription | None = None
        self._sockets = 0

    def _hear(self, event: LiveEvent) -> bool:
        if event.kind == "presence":
            self.board.heard(event, clock.now())
        return False

    def joined(self) -> None:
        """A socket opened: listen (from the first one on)."""
        self._sockets += 1
        if self._subscription is None:
            self._subscription = self.hub.subscribe(self._hear)

    def left(self) -> None:
        """A socket closed: stop listening after the last one, so that a process with
        no socket makes the publishers no work (they skip events nobody hears)."""
        self._sockets = max(0, self._sockets - 1)
        if self._sockets == 0 and self._subscription is not None:
            self._subscription.close()
            self._subscription = None
            self.board = PresenceBoard()


_trackers: weakref.WeakKeyDictionary[LocalHub, PresenceTracker] = weakref.WeakKeyDictionary()


def presence_tracker(hub: LocalHub) -> PresenceTracker:
    """The presence tracker of `hub` in this process (made on first use)."""
    tracker = _trackers.get(hub)
    if tracker is None:
        tracker = _trackers[hub] = PresenceTracker(hub)
    return tracker


class _Connection:
    """One open socket: its protocol, its subscription, its user's current scope."""

    def __init__(self, runtime: Runtime, websocket: WebSocket, user: User, scope: Scope):
        self.runtime, self.websocket = runtime, websocket
        self.user, self.scope = user, scope
        self.protocol = LiveProtocol(user.id)
        self.presence = presence_tracker(runtime.live)
        self.presence.joined()
        self.subscription: Subscription = runtime.live.subscribe(self.accepts)

    def accepts(self, event: LiveEvent) -> bool:
        if event.user_id is not None:
            return event.user_id == self.user.id
        return event.inbox_id is not None and self.scope.allows(event.inbox_id)

    async def act(self, actions: list[Action]) -> bool:
        """Carry out `actions`; False once the socket is to be closed."""
        for action in actions:
            if isinstance(action, Send):
                await self.websocket.send_json(action.frame)
            elif isinstance(action, Announce):
                await self._announce(action)
            elif isinstance(action, Tell):
                await self._tell(action)
            elif isinstance(action, Close):
                with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                    await self.websocket.close(action.code, action.reason)
                return False
        return True

    async def _inbox_of(self, conversation_id: int) -> int | None:
        """The inbox of a conversation the user sees; None for any other."""
        async with transaction(self.runtime.sessions) as session:
            try:
                conversation = await require_conversation(session, self.scope, conversation_id)
            except NotFound:
                return None
        return conversation.inbox_id

    async def _tell(self, action: Tell) -> None:
        if await self._inbox_of(action.conversation_id) is None:
            return  # not one the user sees: nothing to tell them
        claims = self.presence.board.present(action.conversation_id, clock.now())
        for send in self.protocol.present([claim.frame() for claim in claims]):
            if isinstance(send, Send):
                await self.websocket.send_json(send.frame)

    async def _announce(self, action: Announce) -> None:
        inbox_id = await self._inbox_of(action.conversation_id)
        if inbox_id is None:
            return  # not one the user sees: nothing to tell anyone
        presence = LiveEvent("presence", inbox_id=inbox_id, data={
            "conversation_id": action.conversation_id, "user_id": self.user.id,
            "name": self.user.name, "state": action.state})
        await self.runtime.live.publish([presence])

    async def read(self) -> None:
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("text")
            frame = data if data is not None else message.get("bytes") or b""
            if not await self.act(self.protocol.received(frame)):
                return

    async def write(self) -> None:
        while True:
            event = await self.subscription.next()
            actions = (self.protocol.fell_behind() if event is None
                       else self.protocol.event(event))
            if not await self.act(actions):
                return

    async def check_login(self, cookie: str) -> None:
        while True:
            await asyncio.sleep(LOGIN_CHECK_SECONDS)
            found = await _login(self.runtime, cookie)
            if found is None:
                await self.act(self.protocol.logged_out())
                return
            self.user, self.scope = found

    async def serve(self, cookie: str) -> None:
        """Greet, then read, write and check the login until one of them ends (the
        browser left, a close was sent, the login ended); then say where the user was."""
        tasks: list[asyncio.Task[None]] = []
        try:
            if not await self.act(self.protocol.start()):
                return
            tasks = [asyncio.create_task(work) for work in (self.read(), self.write(),
                                                            self.check_login(cookie))]
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                if task.done() and not task.cancelled() and task.exception() is not None:
                    error = task.exception()
                    if not isinstance(error, WebSocketDisconnect):
                        log.error("live socket of user %s failed", self.user.id,
                                  exc_info=error)
        except WebSocketDisconnect:
            pass
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.subscription.close()
            await self._end()
            self.presence.left()

    async def _end(self) -> None:
        for action in self.protocol.ended():
            if isinstance(action, Announce):
                await self._announce(action)
        if self.websocket.client_state is WebSocketState.CONNECTED:
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await self.websocket.close()


def _runtime(websocket: WebSocket) -> Runtime:
    runtime: Runtime = websocket.app.state.runtime
    return runtime


@router.websocket("/live")
async def live(websocket: WebSocket) -> None:
    """The live socket of a signed-in browser (see web/live/protocol.py)."""
    runtime = _runtime(websocket)
    if not allowed_origin(websocket, runtime.settings.http.public_url):
        await websocket.close(code=1008, reason="cross-site socket refused")  # a 403
        return
    cookie = websocket.cookies.get(SESSION_COOKIE, "")
    found = await _login(runtime, cookie)
    await websocket.accept()
    if found is None:
        await websocket.close(code=4401, reason="log in first")
        return
    await _Connection(runtime, websocket, *found).serve(cookie)
