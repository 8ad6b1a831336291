"""A local HTTP double of the Slack Web API, for the real slack-sdk client (`base_url`).

It answers the methods the connector calls with the documented JSON shapes, records every
call (method, parameters, token), serves files from `/files/<name>` to the bot token, and
answers the methods in `limited_methods` (chat.postMessage unless told) with 429 and
`Retry-After` while `rate_limited` counts down. Messages posted are kept per thread, with
their metadata, for conversations.replies. Files are uploaded as Slack takes them:
files.getUploadURLExternal gives an address on the double (`/upload/<file id>`), the bytes
are POSTed there (kept in `uploads`), files.completeUploadExternal shares them in a thread
as one message (its `files`), which conversations.replies then shows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TEAM, TEAM_NAME, BOT_USER, BOT_ID = "T0ACME01", "Acme", "UBOT0001", "BBOT0001"
TOKEN = "xoxb-1111-2222-acmetesttoken"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
APP_TOKEN = "xapp-1-A0APP001-3333-acmeapptoken"


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    token: str


@dataclass
class SlackDouble:
    users: dict[str, dict[str, Any]] = field(default_factory=lambda: {
        "U0ANNA01": {"id": "U0ANNA01", "name": "anna", "real_name": "Anna Berg",
                     "profile": {"display_name": "Anna B", "real_name": "Anna Berg",
                                 "email": "Anna@Customer.example"}},
        "U0BOB002": {"id": "U0BOB002", "name": "bob", "real_name": "Bob Ek",
                     "profile": {"real_name": "Bob Ek"}},
        "U0HOOK01": {"id": "U0HOOK01", "name": "deploybot", "is_bot": True,
                     "profile": {"real_name": "Deploy bot"}},
    })
    channels: dict[str, dict[str, Any]] = field(default_factory=lambda: {
        "C0HELP01": {"id": "C0HELP01", "name": "help", "is_member": True},
        "C0RAND02": {"id": "C0RAND02", "name": "random", "is_member": False},
    })
    files: dict[str, bytes] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    threads: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    rate_limited: int = 0
    retry_after: int = 30
    limited_methods: set[str] = field(default_factory=lambda: {"chat.postMessage"})
    uploads: dict[str, bytes] = field(default_factory=dict)
    """The bytes POSTed to each upload address, by file id."""
    upload_names: dict[str, str] = field(default_factory=dict)
    failing: set[str] = field(default_factory=set)
    """Methods answered `ok: false` with `fatal_error`."""
    url: str = ""
    sockets: list[web.WebSocketResponse] = field(default_factory=list)
    """Socket Mode connections open now (apps.connections.open, then /link)."""
    acks: list[dict[str, Any]] = field(default_factory=list)
    """What Socket Mode clients sent back (acknowledgements), in order."""
    _runner: web.AppRunner | None = None
    _posts: int = 0
    _file_ids: int = 0

    def called(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    @property
    def posted(self) -> list[Call]:
        """chat.postMessage calls that posted (not those answered 429)."""
        return [c for c in self.called("chat.postMessage") if c.params.get("_posted")]

    @property
    def shared(self) -> list[Call]:
        """files.completeUploadExternal calls that shared files (not those answered 429)."""
        return [c for c in self.called("files.completeUploadExternal")
                if c.params.get("_posted")]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/files/{name}", self._file)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/link", self._socket)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base = f"http://127.0.0.1:{port}"
        self.url = f"{self.base}/api/"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def file_url(self, name: str) -> str:
        return f"{self.base}/files/{name}"

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        raw = await request.read()
        if request.content_type == "application/json" and raw:
            params = json.loads(raw)
        else:
            params = dict(await request.post())
        params = {**dict(request.query), **params}  # slack-sdk's `params=` go in the URL
        call = Call(method, params, token)
        self.calls.append(call)
        if method == "apps.connections.open":
            if token != APP_TOKEN:
                return web.json_response({"ok": False, "error": "invalid_auth"})
            return web.json_response({"ok": True, "url": self.base.replace("http", "ws")
                                      + "/link"})
        if token != TOKEN:
            return web.json_response({"ok": False, "error": "invalid_auth"})
        if method in self.failing:
            return web.json_response({"ok": False, "error": "fatal_error"})
        if method in self.limited_methods and self.rate_limited > 0:
            self.rate_limited -= 1
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429,
                                     headers={"Retry-After": str(self.retry_after)})
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        return await handler(call)

    async def _auth_test(self, call: Call) -> web.Response:
        return web.json_response({"ok": True, "url": "https://acme.slack.com/",
                                  "team": TEAM_NAME, "user": "frontdesk", "team_id": TEAM,
                                  "user_id": BOT_USER, "bot_id": BOT_ID})

    async def _users_info(self, call: Call) -> web.Response:
        user = self.users.get(str(call.params.get("user")))
        if user is None:
            return web.json_response({"ok": False, "error": "user_not_found"})
        return web.json_response({"ok": True, "user": user})

    async def _conversations_info(self, call: Call) -> web.Response:
        channel = self.channels.get(str(call.params.get("channel")))
        if channel is None:
            return web.json_response({"ok": False, "error": "channel_not_found"})
        return web.json_response({"ok": True, "channel": channel})

    async def _conversations_list(self, call: Call) -> web.Response:
        return web.json_response({"ok": True, "channels": list(self.channels.values()),
                                  "response_metadata": {"next_cursor": ""}})

    def _next_ts(self) -> str:
        self._posts += 1
        return f"{1772442000 + self._posts}.000200"

    async def _chat_postMessage(self, call: Call) -> web.Response:
        call.params["_posted"] = True
        ts = self._next_ts()
        channel, thread_ts = str(call.params["channel"]), str(call.params.get("thread_ts"))
        message = {"type": "message", "user": BOT_USER, "bot_id": BOT_ID, "ts": ts,
                   "thread_ts": thread_ts, "text": call.params.get("text", "")}
        if call.params.get("metadata"):
            message["metadata"] = call.params["metadata"]
        self.threads.setdefault((channel, thread_ts), []).append(message)
        return web.json_response({"ok": True, "channel": channel, "ts": ts,
                                  "message": message})

    async def _files_getUploadURLExternal(self, call: Call) -> web.Response:
        if not call.params.get("filename") or not str(call.params.get("length", "")).isdigit():
            return web.json_response({"ok": False, "error": "invalid_arguments"})
        self._file_ids += 1
        file_id = f"F0UP{self._file_ids:05d}"
        self.upload_names[file_id] = str(call.params["filename"])
        return web.json_response({"ok": True, "file_id": file_id,
                                  "upload_url": f"{self.base}/upload/{file_id}"})

    async def _upload(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        if file_id not in self.upload_names:
            return web.Response(status=404)
        self.uploads[file_id] = await request.read()
        return web.Response(text=f"OK - {len(self.uploads[file_id])}")

    async def _files_completeUploadExternal(self, call: Call) -> web.Response:
        files = json.loads(str(call.params.get("files") or "[]"))
        if not files or any(f.get("id") not in self.uploads for f in files):
            return web.json_response({"ok": False, "error": "file_not_found"})
        call.params["_posted"] = True
        shown = [{"id": f["id"], "name": self.upload_names[f["id"]],
                  "title": f.get("title") or self.upload_names[f["id"]],
                  "size": len(self.uploads[f["id"]])} for f in files]
        channel, thread_ts = str(call.params["channel_id"]), str(call.params.get("thread_ts"))
        self.threads.setdefault((channel, thread_ts), []).append({
            "type": "message", "user": BOT_USER, "bot_id": BOT_ID, "ts": self._next_ts(),
            "thread_ts": thread_ts, "text": "", "files": shown})
        return web.json_response({"ok": True, "files": shown})

    async def _conversations_replies(self, call: Call) -> web.Response:
        key = (str(call.params["channel"]), str(call.params["ts"]))
        messages = [{"type": "message", "ts": key[1], "user": "U0ANNA01", "text": "..."}]
        for message in self.threads.get(key, []):
            shown = dict(message)
            if not call.params.get("include_all_metadata"):
                shown.pop("metadata", None)
            messages.append(shown)
        return web.json_response({"ok": True, "messages": messages, "has_more": False,
                                  "response_metadata": {"next_cursor": ""}})

    async def _file(self, request: web.Request) -> web.Response:
        self.calls.append(Call("file", {"name": request.match_info["name"]},
                               request.headers.get("Authorization", "")))
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.Response(status=403)
        content = self.files.get(request.match_info["name"])
        if content is None:
            return web.Response(status=404)
        return web.Response(body=content, content_type="application/octet-stream")

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self.sockets.append(socket)
        await socket.send_json({"type": "hello", "num_connections": len(self.sockets),
                                "connection_info": {"app_id": "A0APP001"}})
        try:
            async for frame in socket:
                if frame.type == web.WSMsgType.TEXT:
                    self.acks.append(json.loads(frame.data))
        finally:
            self.sockets.remove(socket)
        return socket

    async def push(self, envelope: dict[str, Any]) -> None:
        """Send a Socket Mode envelope to the (first) connected client."""
        await self.sockets[0].send_json(envelope)
