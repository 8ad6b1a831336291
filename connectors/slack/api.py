"""The Slack Web API as the connector uses it: slack-sdk's AsyncWebClient at `[slack]
api_url`, and its failures turned into ours at this edge.

    SlackError                      something Slack (or the way to it) said no to
    ├── SlackRefused                Slack answered `ok: false` (`code`: its error, e.g.
    │                               `invalid_auth`, `channel_not_found`)
    ├── SlackRateLimited            429: `retry_after` seconds to wait
    └── SlackUnreachable            no answer (connection, timeout, a server error)

Files are downloaded with the bot token from their `url_private`, only from Slack's own
hosts (or the API's host), and never more than the caller's byte limit. Files are uploaded
as slack-sdk's `files_upload_v2` does it (files.getUploadURLExternal, the bytes to the
address it gives, files.completeUploadExternal), the steps apart, so that a sender can
record the file ids before it completes and never share a file twice.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httpx
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from core.errors import FrontdeskError
from core.settings import SlackSettings

log = logging.getLogger(__name__)

REPLY_EVENT_TYPE = "frontdesk_reply"
"""The message metadata event type of an agent's reply posted by Frontdesk; its payload
names the message (`message_id`), which is how a reply already posted is found again."""


class SlackError(FrontdeskError):
    """A Slack Web API call did not do what was asked."""


class SlackRefused(SlackError):
    def __init__(self, method: str, code: str) -> None:
        super().__init__(f"Slack refused {method}: {code}")
        self.code = code


class SlackRateLimited(SlackError):
    def __init__(self, method: str, retry_after: int) -> None:
        super().__init__(f"Slack rate-limited {method}; retry after {retry_after} s")
        self.retry_after = retry_after


class SlackUnreachable(SlackError):
    pass


@dataclass(frozen=True)
class Identity:
    """Who a bot token is (auth.test)."""

    team_id: str
    team_name: str
    bot_user_id: str
    bot_id: str


@dataclass(frozen=True)
class Profile:
    """What users.info says of a user."""

    name: str | None
    email: str | None
    is_bot: bool


@dataclass(frozen=True)
class Channel:
    id: str
    name: str
    is_member: bool = False


def client(settings: SlackSettings, token: str) -> AsyncWebClient:
    """The real slack-sdk client for `token`, at the configured API url. It retries
    nothing by itself: rate limits go back to the caller (the outbox honours them)."""
    return AsyncWebClient(token=token, base_url=settings.api_url,
                          timeout=settings.timeout_seconds, retry_handlers=[])


def _header(headers: Any, name: str) -> str | None:
    for key, value in dict(headers or {}).items():
        if str(key).lower() == name.lower():
            return str(value[0] if isinstance(value, list) else value)
    return None


async def call(web: AsyncWebClient, method: str, **params: Any) -> dict[str, Any]:
    """`method` with `params` (as JSON); its answer's data, or a SlackError."""
    return await answer(method, web.api_call(method, json=params))


async def answer(method: str, request: Awaitable[Any]) -> dict[str, Any]:
    """The data of Slack's answer to `request` (a call of `method` by the client), or the
    SlackError it comes to."""
    try:
        response = await request
    except SlackApiError as exc:
        status = exc.response.status_code
        if status == 429 or exc.response.get("error") == "ratelimited":
            retry_after = _header(exc.response.headers, "Retry-After") or "30"
            raise SlackRateLimited(method, max(1, int(retry_after) if retry_after.isdigit()
                                               else 30)) from None
        if status >= 500:
            raise SlackUnreachable(f"Slack answered {method} with {status}") from None
        raise SlackRefused(method, str(exc.response.get("error") or status)) from None
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise SlackUnreachable(f"Slack did not answer {method}: {type(exc).__name__}"
                               ) from None
    return dict(response.data) if isinstance(response.data, dict) else {}


async def auth_test(web: AsyncWebClient) -> Identity:
    """Who the client's token is; SlackRefused (`invalid_auth`...) for a bad one."""
    data = await call(web, "auth.test")
    if not data.get("team_id") or not data.get("user_id"):
        raise SlackRefused("auth.test", "not a bot token of a workspace")
    return Identity(str(data["team_id"]), str(data.get("team") or ""),
                    str(data["user_id"]), str(data.get("bot_id") or ""))


async def user_info(web: AsyncWebClient, user: str) -> Profile:
    """The name and email (when the app may read it) of `user`."""
    data = (await call(web, "users.info", user=user)).get("user") or {}
    profile = data.get("profile") or {}
    name = (profile.get("display_name") or profile.get("real_name") or data.get("real_name")
            or data.get("name") or None)
    email = profile.get("email") or None
    return Profile(str(name)[:200] if name else None,
                   str(email).strip().lower()[:254] if email else None,
                   bool(data.get("is_bot")))


async def channel_info(web: AsyncWebClient, channel: str) -> Channel:
    """One channel by id; SlackRefused `channel_not_found` when the bot cannot see it."""
    data = (await call(web, "conversations.info", channel=channel)).get("channel") or {}
    return Channel(str(data.get("id") or channel), str(data.get("name") or channel),
                   bool(data.get("is_member")))


async def list_channels(web: AsyncWebClient, *, most: int = 1000) -> list[Channel]:
    """The workspace's channels the bot can see (public and the private ones it is in),
    by name, up to `most`."""
    found: list[Channel] = []
    cursor = ""
    while len(found) < most:
        data = await call(web, "conversations.list", types="public_channel,private_channel",
                          exclude_archived=True, limit=200, cursor=cursor)
        found += [Channel(str(c["id"]), str(c.get("name") or c["id"]),
                          bool(c.get("is_member"))) for c in data.get("channels") or []
                  if isinstance(c, dict) and c.get("id")]
        cursor = str((data.get("response_metadata") or {}).get("next_cursor") or "")
        if not cursor:
            break
    return sorted(found[:most], key=lambda c: c.name)


async def post_reply(web: AsyncWebClient, *, channel: str, thread_ts: str, text: str,
                     message_id: int) -> str:
    """Post `text` into the thread; returns the new message's ts. The message carries
    metadata naming `message_id`, so that `find_reply` can tell it was posted."""
    data = await call(web, "chat.postMessage", channel=channel, thread_ts=thread_ts,
                      text=text, unfurl_links=False, unfurl_media=False,
                      metadata={"event_type": REPLY_EVENT_TYPE,
                                "event_payload": {"message_id": message_id}})
    ts = data.get("ts")
    if not ts:
        raise SlackRefused("chat.postMessage", "no ts in the answer")
    return str(ts)


async def _thread(web: AsyncWebClient, channel: str, thread_ts: str,
                  since: datetime) -> AsyncIterator[dict[str, Any]]:
    """The messages of the thread written at `since` or later (a minute's slack), with
    their metadata."""
    cursor = ""
    while True:
        data = await call(web, "conversations.replies", channel=channel, ts=thread_ts,
                          oldest=f"{since.timestamp() - 60:.6f}", include_all_metadata=True,
                          limit=200, cursor=cursor)
        for message in data.get("messages") or []:
            if isinstance(message, dict):
                yield message
        cursor = str((data.get("response_metadata") or {}).get("next_cursor") or "")
        if not cursor:
            return


async def find_reply(web: AsyncWebClient, *, channel: str, thread_ts: str, message_id: int,
                     since: datetime) -> str | None:
    """The ts of the reply posted for `message_id` in the thread (written at `since` or
    later), or None when the thread holds none."""
    async for message in _thread(web, channel, thread_ts, since):
        metadata = message.get("metadata") or {}
        if (metadata.get("event_type") == REPLY_EVENT_TYPE
                and (metadata.get("event_payload") or {}).get("message_id") == message_id):
            return str(message.get("ts"))
    return None


async def files_shared(web: AsyncWebClient, *, channel: str, thread_ts: str,
                       file_ids: Sequence[str], since: datetime) -> bool:
    """Whether a message of the thread (written at `since` or later) shares any of the
    files `file_ids`: their upload was completed."""
    wanted = set(file_ids)
    async for message in _thread(web, channel, thread_ts, since):
        if any(isinstance(file, dict) and file.get("id") in wanted
               for file in message.get("files") or []):
            return True
    return False


async def start_upload(settings: SlackSettings, web: AsyncWebClient, *, filename: str,
                       content: bytes) -> str:
    """Upload a file's bytes to Slack, not shared anywhere yet (files.getUploadURLExternal,
    then the bytes to the address it gives); returns the file's id for
    `complete_upload`. An upload never completed is dropped by Slack."""
    data = await answer("files.getUploadURLExternal", web.files_getUploadURLExternal(
        filename=filename, length=len(content)))
    url, file_id = str(data.get("upload_url") or ""), str(data.get("file_id") or "")
    if not url or not file_id:
        raise SlackRefused("files.getUploadURLExternal", "no upload_url in the answer")
    if not may_receive_token(url, settings.api_url):
        raise SlackRefused("file upload", f"not a Slack upload address: {url[:200]}")
    try:
        async with httpx.AsyncClient(timeout=settings.timeout_seconds,
                                     follow_redirects=False) as http:
            response = await http.post(url, content=content)
    except httpx.HTTPError as exc:
        raise SlackUnreachable(f"the file could not be uploaded: {type(exc).__name__}"
                               ) from None
    if response.status_code == 429:
        raise SlackRateLimited("file upload", int(response.headers.get("Retry-After", "30")
                                                  or 30))
    if response.status_code != 200:
        raise SlackRefused("file upload", f"HTTP {response.status_code}")
    return file_id


async def complete_upload(web: AsyncWebClient, *, channel: str, thread_ts: str,
                          files: Sequence[tuple[str, str]]) -> None:
    """Share the uploaded files, (file id, title) each, in the thread as one message
    (files.completeUploadExternal)."""
    await answer("files.completeUploadExternal", web.files_completeUploadExternal(
        files=[{"id": file_id, "title": title} for file_id, title in files],
        channel_id=channel, thread_ts=thread_ts))


def may_receive_token(url: str, api_url: str) -> bool:
    """Whether the bot token may be sent to `url`: https on slack.com or its subdomains,
    or the configured API's own scheme and host (a deployment's proxy, a test double)."""
    target, api = urlsplit(url), urlsplit(api_url)
    host = (target.hostname or "").lower()
    if target.scheme == "https" and (host == "slack.com" or host.endswith(".slack.com")):
        return True
    return (target.scheme, target.netloc) == (api.scheme, api.netloc)


class FileTooLarge(SlackError):
    pass


async def download(settings: SlackSettings, url: str, token: str, max_bytes: int) -> bytes:
    """The bytes of a Slack file (`url_private`), fetched with the bot token; FileTooLarge
    past `max_bytes`, SlackRefused for a url the token may not go to or a refusal."""
    if not may_receive_token(url, settings.api_url):
        raise SlackRefused("file download", f"not a Slack file address: {url[:200]}")
    try:
        async with httpx.AsyncClient(timeout=settings.timeout_seconds,
                                     follow_redirects=False) as http, http.stream(
                "GET", url, headers={"Authorization": f"Bearer {token}"}) as response:
            if response.status_code == 429:
                raise SlackRateLimited("file download", int(
                    response.headers.get("Retry-After", "30") or 30))
            if response.status_code != 200:
                raise SlackRefused("file download", f"HTTP {response.status_code}")
            chunks, size = [], 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise FileTooLarge(f"the file is over {max_bytes} bytes")
                chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise SlackUnreachable(f"the file could not be downloaded: {type(exc).__name__}"
                               ) from None
    return b"".join(chunks)
