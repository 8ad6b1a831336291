"""Every route of the OpenAPI document, for every kind of caller: a table.

Callers: anonymous, an agent of the inbox the objects live in (`agent_in`), an agent of
another inbox only (`agent_out`), a user deactivated since they got their token, and an
admin. Each route's row says what kind of route it is, and so what each caller gets:

    public   everyone gets `ok`
    signed   signed-in users get `ok`; anonymous and deactivated 401
    admin    admins get `ok`; agents 403; anonymous and deactivated 401
    scoped   an object of the `support` inbox: agent_in and admin `ok`, agent_out 404
             (as if it did not exist); anonymous and deactivated 401
    listed   a listing: everyone signed in gets 200, and the `support` object is in it
             for agent_in and admin, not for agent_out; anonymous and deactivated 401

A route missing from the table, or a row for a route that is gone, fails the suite.
Each request gets fresh objects, so a delete or merge by one caller leaves the next one
something to act on.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import select

import server
from accounts.models import User
from accounts.service import update_user
from connectors.email.inbound import store_raw
from core.db import transaction
from inbox.messages import Attachment, InboundMessage
from inbox.models import Contact, Conversation, Inbox, Message
from inbox.service import ingest, record_delivery
from tests.support import PASSWORD, add_to_inbox, add_user, run_jobs
from tickets.service import ticket_for_conversation
from webhooks import service as webhooks

CALLERS = ("anonymous", "agent_in", "agent_out", "deactivated", "admin")


@pytest.fixture
def settings_overrides() -> dict:
    return {"inboxes": [
        {"slug": "support", "name": "Support", "addresses": ["help@example.com"]},
        {"slug": "sales", "name": "Sales", "addresses": ["sales@example.com"]}],
        # /metrics on, and no address admitted without a token (the test client is loopback).
        "http": {"metrics": True, "metrics_allowed": []}}


@dataclass(frozen=True)
class Thread:
    """A conversation of the `support` inbox with its ticket, message and attachment."""

    conversation_id: int
    ticket_id: int
    message_id: int
    attachment_id: int


@dataclass
class World:
    runtime: Any
    client: httpx.AsyncClient
    users: dict[str, int] = field(default_factory=dict)
    headers: dict[str, dict[str, str]] = field(default_factory=dict)

    async def thread(self, inbox: str = "support") -> Thread:
        """A new email conversation (with an attachment) and its ticket in `inbox`."""
        key = uuid.uuid4().hex
        message = InboundMessage(
            inbox=inbox, channel="email", sender_email=f"{key[:8]}@customer.example",
            sender_name="Cleo Customer", subject=f"Help {key[:6]}", text="The printer is on fire.",
            external_id=f"{key}@customer.example",
            attachments=(Attachment("photo.png", "image/png", b"\x89PNG fake"),))
        async with transaction(self.runtime.sessions) as session:
            result = await ingest(session, message)
            ticket = await ticket_for_conversation(session, result.conversation_id)
        assert ticket is not None
        detail = (await self.client.get(f"/api/conversations/{result.conversation_id}",
                                        headers=self.headers["admin"])).json()
        [attachment] = detail["messages"][0]["attachments"]
        return Thread(result.conversation_id, ticket.id, result.message_id, attachment["id"])

    async def token_of(self, caller: str) -> int:
        """A new token of `caller`'s own (made by the admin for the anonymous caller)."""
        owner = "admin" if caller in ("anonymous", "deactivated") else caller
        response = await self.client.post("/api/tokens", headers=self.headers[owner],
                                          json={"name": "to revoke"})
        assert response.status_code == 201, response.text
        return response.json()["id"]

    async def new_user(self) -> int:
        user_id, _ = await add_user(self.runtime, f"u{uuid.uuid4().hex[:8]}@example.com")
        return user_id

    async def new_team(self) -> int:
        response = await self.client.post("/api/teams", headers=self.headers["admin"],
                                          json={"name": f"Team {uuid.uuid4().hex[:8]}"})
        return response.json()["id"]

    async def emailed_message(self) -> int:
        """A message of the `support` inbox that came by email, as SMTP hands it over."""
        key = f"{uuid.uuid4().hex}@customer.example"
        raw = (f"From: cleo@customer.example\r\nTo: help@example.com\r\nSubject: Help\r\n"
               f"Message-ID: <{key}>\r\n\r\nThe printer is on fire.\r\n").encode()
        await store_raw(self.runtime.raw_sessions, inbox_slug="support", source="smtp", raw=raw)
        await run_jobs(self.runtime)
        async with transaction(self.runtime.sessions) as session:
            message_id = await session.scalar(select(Message.id).where(Message.external_id == key))
        assert message_id is not None
        return message_id

    async def failed_raw_mail(self) -> int:
        raw_id = await store_raw(self.runtime.raw_sessions, inbox_slug="support", source="smtp",
                                 raw=b"not an email at all", status="failed", error="test")
        assert raw_id is not None
        return raw_id


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    json: Any = None
    needle: Any = None
    """For a listing: what identifies the `support` object in its answer."""
    files: Any = None
    """For a multipart form: its parts, as httpx takes them."""


@dataclass(frozen=True)
class Row:
    kind: str
    build: Callable[[World, str], Awaitable[Request]]
    ok: int = 200


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


async def _conversation_list(w: World, _: str) -> Request:
    return Request("GET", "/api/conversations?status=all",
                   needle=("id", (await w.thread()).conversation_id))


async def _ticket_list(w: World, _: str) -> Request:
    return Request("GET", "/api/tickets", needle=("id", (await w.thread()).ticket_id))


async def _sla_report(w: World, _: str) -> Request:
    answered = await w.thread()  # a reply meets its first-response goal: a line to report
    response = await w.client.post(f"/api/conversations/{answered.conversation_id}/messages",
                                   headers=w.headers["admin"], json={"kind": "reply",
                                                                     "text": "On it"})
    assert response.status_code == 201
    return Request("GET", "/api/sla/report?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z",
                   needle=("goal", "first_response"))


async def _merge(w: World, _: str) -> Request:
    first, second = await w.thread(), await w.thread()
    return Request("POST", f"/api/tickets/{first.ticket_id}/merge",
                   {"other_id": second.ticket_id, "primary_id": first.ticket_id})


async def _patch_conversation(w: World, caller: str) -> Request:
    owner = w.users["agent_in"]
    return Request("PATCH", f"/api/conversations/{(await w.thread()).conversation_id}",
                   {"owner_id": owner, "status": "closed"})


async def _reply(w: World, _: str) -> Request:
    return Request("POST", f"/api/conversations/{(await w.thread()).conversation_id}/messages",
                   {"kind": "comment", "text": "Looking into it"})


async def _reply_with_file(w: World, _: str) -> Request:
    conversation_id = (await w.thread()).conversation_id
    return Request("POST", f"/api/conversations/{conversation_id}/messages/multipart",
                   files={"kind": (None, "comment"), "text": (None, "See the log"),
                          "attachments": ("log.txt", b"line 1\n", "text/plain")})


def _static(method: str, url: str, body: Any = None) -> Callable[[World, str], Awaitable[Request]]:
    async def build(w: World, caller: str) -> Request:
        return Request(method, url, body)
    return build


def _on_thread(method: str, url: str, body: Any = None
               ) -> Callable[[World, str], Awaitable[Request]]:
    async def build(w: World, caller: str) -> Request:
        thread = await w.thread()
        return Request(method, url.format(**vars(thread)), body)
    return build


async def _login(w: World, _: str) -> Request:
    return Request("POST", "/api/session", {"email": "in@example.com", "password": PASSWORD})


async def _new_user(w: World, _: str) -> Request:
    return Request("POST", "/api/users", {"email": f"{unique('n')}@example.com", "name": "New",
                                          "password": PASSWORD})


async def _patch_user(w: World, _: str) -> Request:
    return Request("PATCH", f"/api/users/{await w.new_user()}", {"name": "Renamed"})


async def _get_user(w: World, _: str) -> Request:
    return Request("GET", f"/api/users/{await w.new_user()}")


async def _new_team(w: World, _: str) -> Request:
    return Request("POST", "/api/teams", {"name": unique("Team ")})


async def _patch_team(w: World, _: str) -> Request:
    return Request("PATCH", f"/api/teams/{await w.new_team()}", {"name": unique("Team ")})


async def _get_team(w: World, _: str) -> Request:
    return Request("GET", f"/api/teams/{await w.new_team()}")


async def _revoke_token(w: World, caller: str) -> Request:
    return Request("DELETE", f"/api/tokens/{await w.token_of(caller)}")


async def _resend(w: World, _: str) -> Request:
    thread = await w.thread()
    reply = await w.client.post(f"/api/conversations/{thread.conversation_id}/messages",
                                headers=w.headers["admin"], json={"kind": "reply", "text": "Hi"})
    await run_jobs(w.runtime)  # its first attempt: no relay listens
    async with transaction(w.runtime.sessions) as session:
        await record_delivery(session, reply.json()["id"], "failed", "relay refused")
    return Request("POST", f"/api/messages/{reply.json()['id']}/resend")


async def _retry_raw(w: World, _: str) -> Request:
    return Request("POST", f"/api/admin/failed-inbound/{await w.failed_raw_mail()}/retry")


async def _original(w: World, _: str) -> Request:
    return Request("GET", f"/api/messages/{await w.emailed_message()}/original")


async def _inbox_list(w: World, _: str) -> Request:
    return Request("GET", "/api/inboxes", needle=("slug", "support"))


async def _own_view(w: World, caller: str) -> int:
    """A new private view of `caller`'s own (made by the admin for the anonymous caller)."""
    owner = "admin" if caller in ("anonymous", "deactivated") else caller
    response = await w.client.post("/api/views", headers=w.headers[owner],
                                   json={"name": unique("View "), "filters": {"status": "open"}})
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def _snippet(w: World) -> int:
    response = await w.client.post("/api/snippets", headers=w.headers["admin"],
                                   json={"name": unique("Canned "), "body": "Hi!"})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _on_own_view(method: str, body: Any = None) -> Callable[[World, str], Awaitable[Request]]:
    async def build(w: World, caller: str) -> Request:
        return Request(method, f"/api/views/{await _own_view(w, caller)}", body)
    return build


async def _new_snippet(w: World, _: str) -> Request:
    return Request("POST", "/api/snippets", {"name": unique("Canned "), "body": "Hello"})


async def _patch_snippet(w: World, _: str) -> Request:
    return Request("PATCH", f"/api/snippets/{await _snippet(w)}", {"body": "Hello again"})


async def _delete_snippet(w: World, _: str) -> Request:
    return Request("DELETE", f"/api/snippets/{await _snippet(w)}")


async def _webhook(w: World) -> int:
    """A new webhook (to a loopback port: its deliveries are refused without a request)."""
    async with transaction(w.runtime.sessions) as session:
        row = await webhooks.create_subscription(
            session, url="http://127.0.0.1:9/hook", events=["ticket.changed"],
            created_by_id=None, allow_private=True)
    return row.id


async def _webhook_delivery(w: World) -> int:
    async with transaction(w.runtime.sessions) as session:
        hook = await webhooks.get_subscription(session, await _webhook(w))
        [delivery] = await webhooks.emit(session, "ticket.changed", {"ticket_id": 1}, [hook])
    return delivery.id


def _on_webhook(method: str, suffix: str = "",
                body: Any = None) -> Callable[[World, str], Awaitable[Request]]:
    async def build(w: World, _: str) -> Request:
        return Request(method, f"/api/webhooks/{await _webhook(w)}{suffix}", body)
    return build


async def _replay_delivery(w: World, _: str) -> Request:
    return Request("POST", f"/api/webhooks/deliveries/{await _webhook_delivery(w)}/replay")


async def _new_form(w: World, _: str) -> Request:
    return Request("POST", "/api/admin/forms", {"slug": unique("form-"), "title": "Form",
                                                "inbox": "support"})


async def _delete_form(w: World, caller: str) -> Request:
    slug = unique("gone-")
    created = await w.client.post("/api/admin/forms", headers=w.headers["admin"], json={
        "slug": slug, "title": "Form", "inbox": "support"})
    assert created.status_code == 201, created.text
    return Request("DELETE", f"/api/admin/forms/{slug}")


async def _mailbox(w: World) -> int:
    """A new IMAP mailbox of `support` on a loopback port nothing listens on."""
    from connectors.email import mailboxes
    from core.secrets import SecretBox

    async with transaction(w.runtime.sessions) as session:
        inbox_id = await session.scalar(select(Inbox.id).where(Inbox.slug == "support"))
        row = await mailboxes.create_mailbox(
            session, name=unique("mb-"), inbox_id=inbox_id, actor=None,
            values=mailboxes.MailboxValues(host="127.0.0.1", port=9, security="none",
                                           username="desk"),
            password="x", box=SecretBox(w.runtime.settings.secret_key))
    return row.id


def _on_mailbox(method: str, suffix: str = "",
                body: Any = None) -> Callable[[World, str], Awaitable[Request]]:
    async def build(w: World, _: str) -> Request:
        return Request(method, f"/api/admin/mailboxes/{await _mailbox(w)}{suffix}", body)
    return build


async def _new_mailbox(w: World, _: str) -> Request:
    return Request("POST", "/api/admin/mailboxes", {
        "name": unique("mb-"), "inbox": "support", "host": "127.0.0.1", "port": 9,
        "security": "none", "username": "desk", "password": "x"})


RELAY = {"host": "127.0.0.1", "port": 9, "security": "none"}


def _relay_set(method: str, url: str, body: Any = None
               ) -> Callable[[World, str], Awaitable[Request]]:
    """A request on a relay that is set first (through the admin's own PUT)."""
    async def build(w: World, _: str) -> Request:
        put_url = url.removesuffix("/test")
        answer = await w.client.put(put_url, headers=w.headers["admin"], json=RELAY)
        assert answer.status_code == 200, answer.text
        return Request(method, url, body)
    return build


CONTACT_FORM = {"name": "Anna Berg", "email": "anna@example.org", "subject": "Printer",
                "message": "It smokes."}

TABLE: dict[tuple[str, str], Row] = {
    ("GET", "/healthz"): Row("public", _static("GET", "/healthz")),
    ("GET", "/readyz"): Row("public", _static("GET", "/readyz")),
    ("GET", "/forms/{slug}"): Row("public", _static("GET", "/forms/contact")),
    ("POST", "/forms/{slug}"): Row("public", _static("POST", "/forms/contact", CONTACT_FORM),
                                   ok=201),
    ("POST", "/api/session"): Row("public", _login),
    ("DELETE", "/api/session"): Row("signed", _static("DELETE", "/api/session"), ok=204),
    ("GET", "/api/me"): Row("signed", _static("GET", "/api/me")),
    ("PATCH", "/api/me"): Row("signed", _static("PATCH", "/api/me", {"notify_by_email": True})),
    ("GET", "/api/users"): Row("signed", _static("GET", "/api/users")),
    ("POST", "/api/users"): Row("admin", _new_user, ok=201),
    ("GET", "/api/users/{user_id}"): Row("signed", _get_user),
    ("PATCH", "/api/users/{user_id}"): Row("admin", _patch_user),
    ("GET", "/api/teams"): Row("signed", _static("GET", "/api/teams")),
    ("POST", "/api/teams"): Row("admin", _new_team, ok=201),
    ("GET", "/api/teams/{team_id}"): Row("signed", _get_team),
    ("PATCH", "/api/teams/{team_id}"): Row("admin", _patch_team),
    ("GET", "/api/tokens"): Row("signed", _static("GET", "/api/tokens")),
    ("POST", "/api/tokens"): Row("signed", _static("POST", "/api/tokens", {"name": "ci"}),
                                 ok=201),
    ("DELETE", "/api/tokens/{token_id}"): Row("signed", _revoke_token),
    ("GET", "/api/inboxes"): Row("listed", _inbox_list),
    ("GET", "/api/inboxes/{slug}"): Row("scoped", _static("GET", "/api/inboxes/support")),
    ("PUT", "/api/inboxes/{slug}/members"): Row(
        "admin", _static("PUT", "/api/inboxes/sales/members", {"team_ids": [], "user_ids": []})),
    ("GET", "/api/conversations"): Row("listed", _conversation_list),
    ("GET", "/api/conversations/{conversation_id}"): Row(
        "scoped", _on_thread("GET", "/api/conversations/{conversation_id}")),
    ("PATCH", "/api/conversations/{conversation_id}"): Row("scoped", _patch_conversation),
    ("DELETE", "/api/conversations/{conversation_id}"): Row(
        "scoped", _on_thread("DELETE", "/api/conversations/{conversation_id}"), ok=204),
    ("POST", "/api/conversations/{conversation_id}/messages"): Row("scoped", _reply, ok=201),
    ("POST", "/api/conversations/{conversation_id}/messages/multipart"): Row(
        "scoped", _reply_with_file, ok=201),
    ("GET", "/api/tickets"): Row("listed", _ticket_list),
    ("GET", "/api/tickets/{ticket_id}"): Row(
        "scoped", _on_thread("GET", "/api/tickets/{ticket_id}")),
    ("PATCH", "/api/tickets/{ticket_id}"): Row(
        "scoped", _on_thread("PATCH", "/api/tickets/{ticket_id}", {"priority": "high"})),
    ("DELETE", "/api/tickets/{ticket_id}"): Row(
        "scoped", _on_thread("DELETE", "/api/tickets/{ticket_id}"), ok=204),
    ("POST", "/api/tickets/{ticket_id}/merge"): Row("scoped", _merge),
    ("GET", "/api/attachments/{attachment_id}"): Row(
        "scoped", _on_thread("GET", "/api/attachments/{attachment_id}")),
    ("GET", "/api/messages/{message_id}/original"): Row("scoped", _original),
    ("POST", "/api/messages/{message_id}/resend"): Row("scoped", _resend),
    ("GET", "/api/sla/settings"): Row("admin", _static("GET", "/api/sla/settings")),
    ("PUT", "/api/sla/settings"): Row("admin", _static("PUT", "/api/sla/settings", {})),
    ("GET", "/api/sla/report"): Row("listed", _sla_report),
    ("GET", "/api/views"): Row("signed", _static("GET", "/api/views")),
    ("POST", "/api/views"): Row("signed", _static("POST", "/api/views", {"name": "Mine"}),
                                ok=201),
    ("GET", "/api/views/{view_id}"): Row("signed", _on_own_view("GET")),
    ("PATCH", "/api/views/{view_id}"): Row("signed", _on_own_view("PATCH", {"name": "Renamed"})),
    ("DELETE", "/api/views/{view_id}"): Row("signed", _on_own_view("DELETE"), ok=204),
    ("GET", "/api/admin/failed-inbound"): Row("admin", _static("GET", "/api/admin/failed-inbound")),
    ("GET", "/api/snippets"): Row("signed", _static("GET", "/api/snippets")),
    ("GET", "/api/notifications"): Row("signed", _static("GET", "/api/notifications")),
    ("POST", "/api/notifications/mark-read"): Row(
        "signed", _static("POST", "/api/notifications/mark-read", {})),
    ("POST", "/api/snippets"): Row("admin", _new_snippet, ok=201),
    ("PATCH", "/api/snippets/{snippet_id}"): Row("admin", _patch_snippet),
    ("DELETE", "/api/snippets/{snippet_id}"): Row("admin", _delete_snippet, ok=204),
    ("POST", "/api/admin/failed-inbound/{raw_id}/retry"): Row("admin", _retry_raw, ok=202),
    ("GET", "/metrics"): Row("admin", _static("GET", "/metrics")),
    ("GET", "/api/webhooks"): Row("admin", _static("GET", "/api/webhooks")),
    ("POST", "/api/webhooks"): Row("admin", _static("POST", "/api/webhooks", {
        "url": "https://hooks.example.org/frontdesk", "events": ["ticket.changed"],
        "active": False}), ok=201),
    ("GET", "/api/webhooks/{webhook_id}"): Row("admin", _on_webhook("GET")),
    ("PATCH", "/api/webhooks/{webhook_id}"): Row(
        "admin", _on_webhook("PATCH", body={"active": False})),
    ("DELETE", "/api/webhooks/{webhook_id}"): Row("admin", _on_webhook("DELETE"), ok=204),
    ("POST", "/api/webhooks/{webhook_id}/rotate-secret"): Row(
        "admin", _on_webhook("POST", "/rotate-secret")),
    ("GET", "/api/webhooks/{webhook_id}/deliveries"): Row(
        "admin", _on_webhook("GET", "/deliveries")),
    ("POST", "/api/webhooks/deliveries/{delivery_id}/replay"): Row(
        "admin", _replay_delivery, ok=202),
    ("GET", "/api/admin/audit"): Row("admin", _static("GET", "/api/admin/audit")),
    # forms admin
    ("GET", "/api/admin/forms"): Row("admin", _static("GET", "/api/admin/forms")),
    ("POST", "/api/admin/forms"): Row("admin", _new_form, ok=201),
    ("GET", "/api/admin/forms/{slug}"): Row("admin", _static("GET", "/api/admin/forms/contact")),
    ("PATCH", "/api/admin/forms/{slug}"): Row(
        "admin", _static("PATCH", "/api/admin/forms/contact", {"intro": "Hello"})),
    ("DELETE", "/api/admin/forms/{slug}"): Row("admin", _delete_form, ok=204),
    ("GET", "/api/admin/mailboxes"): Row("admin", _static("GET", "/api/admin/mailboxes")),
    ("POST", "/api/admin/mailboxes"): Row("admin", _new_mailbox, ok=201),
    ("POST", "/api/admin/mailboxes/test"): Row("admin", _static(
        "POST", "/api/admin/mailboxes/test", {"host": "127.0.0.1", "port": 9,
                                               "security": "none", "username": "desk",
                                               "password": "x"})),
    ("GET", "/api/admin/mailboxes/{mailbox_id}"): Row("admin", _on_mailbox("GET")),
    ("PATCH", "/api/admin/mailboxes/{mailbox_id}"): Row(
        "admin", _on_mailbox("PATCH", body={"enabled": False})),
    ("DELETE", "/api/admin/mailboxes/{mailbox_id}"): Row("admin", _on_mailbox("DELETE"),
                                                         ok=204),
    ("POST", "/api/admin/mailboxes/{mailbox_id}/test"): Row("admin",
                                                            _on_mailbox("POST", "/test")),
    ("GET", "/api/admin/relays"): Row("admin", _static("GET", "/api/admin/relays")),
    ("PUT", "/api/admin/relays/global"): Row("admin", _static(
        "PUT", "/api/admin/relays/global", RELAY)),
    ("DELETE", "/api/admin/relays/global"): Row(
        "admin", _relay_set("DELETE", "/api/admin/relays/global"), ok=204),
    ("POST", "/api/admin/relays/global/test"): Row("admin", _relay_set(
        "POST", "/api/admin/relays/global/test", {"to": "admin@example.org"})),
    ("PUT", "/api/admin/relays/inboxes/{slug}"): Row("admin", _static(
        "PUT", "/api/admin/relays/inboxes/support", RELAY)),
    ("DELETE", "/api/admin/relays/inboxes/{slug}"): Row(
        "admin", _relay_set("DELETE", "/api/admin/relays/inboxes/support"), ok=204),
    ("POST", "/api/admin/relays/inboxes/{slug}/test"): Row("admin", _relay_set(
        "POST", "/api/admin/relays/inboxes/support/test", {"to": "admin@example.org"})),
    ("GET", "/api/admin/chat/{slug}"): Row("admin", _static("GET", "/api/admin/chat/support")),
    ("PUT", "/api/admin/chat/{slug}"): Row("admin", _static("PUT", "/api/admin/chat/support", {
        "enabled": True, "allowed_origins": ["https://shop.example.org"]})),
    ("GET", "/api/admin/inboxes"): Row("admin", _static("GET", "/api/admin/inboxes")),
    ("POST", "/api/admin/inboxes"): Row("admin", _static("POST", "/api/admin/inboxes", {
        "slug": "billing", "name": "Billing", "addresses": ["billing@example.com"]}), ok=201),
    ("GET", "/api/admin/inboxes/{slug}"): Row("admin", _static("GET", "/api/admin/inboxes/sales")),
    ("PATCH", "/api/admin/inboxes/{slug}"): Row(
        "admin", _static("PATCH", "/api/admin/inboxes/sales", {"from_name": "Sales team"})),
    ("DELETE", "/api/admin/inboxes/{slug}"): Row(
        "admin", _static("DELETE", "/api/admin/inboxes/sales"), ok=204),
}


# ---------------------------------------------------------------- Slack (no Slack reached)


async def _slack_workspace(w: World, _: str) -> Request:
    from connectors.slack import workspace
    from connectors.slack.api import Identity

    async with transaction(w.runtime.sessions) as session:
        await workspace.connect(
            session, w.runtime.settings.secret_key, actor=None,
            identity=Identity("T0AUTH01", "Auth", "UBOT0001", "BBOT0001"),
            bot_token="xoxb-1111-2222-authtesttoken",
            signing_secret="8f742231b10e8888abcd99yyyzzz85a5", inbox="support")
    return Request("DELETE", "/api/admin/slack")


async def _failed_slack_event(w: World, _: str) -> Request:
    from connectors.slack.models import SlackEvent
    from core import clock

    async with transaction(w.runtime.sessions) as session:
        row = SlackEvent(event_id=unique("Ev"), team_id="T0AUTH01", event_type="message",
                         body={}, received_at=clock.now(), status="failed", attempts=1)
        session.add(row)
        await session.flush()
    return Request("POST", f"/api/admin/slack/events/{row.id}/retry")


TABLE |= {
    ("GET", "/api/admin/slack"): Row("admin", _static("GET", "/api/admin/slack")),
    # Input that is checked before Slack is asked: a 422 for the admin.
    ("PUT", "/api/admin/slack"): Row("admin", _static("PUT", "/api/admin/slack", {
        "bot_token": "xoxb-1111-2222-authtesttoken",
        "signing_secret": "8f742231b10e8888abcd99yyyzzz85a5", "inbox": "nowhere"}), ok=422),
    ("DELETE", "/api/admin/slack"): Row("admin", _slack_workspace, ok=204),
    ("GET", "/api/admin/slack/channels"): Row(
        "admin", _static("GET", "/api/admin/slack/channels"), ok=404),
    ("PUT", "/api/admin/slack/channels"): Row(
        "admin", _static("PUT", "/api/admin/slack/channels", {"channels": ["#help"]}), ok=422),
    ("GET", "/api/admin/slack/events"): Row("admin", _static("GET", "/api/admin/slack/events")),
    ("POST", "/api/admin/slack/events/{event_id}/retry"): Row(
        "admin", _failed_slack_event, ok=202),
}


def documented_routes() -> set[tuple[str, str]]:
    from tests.support import make_settings

    app = server.create_app(make_settings("sqlite+aiosqlite:///:memory:"))
    return {(method.upper(), path) for path, operations in app.openapi()["paths"].items()
            for method in operations}


def test_the_table_covers_every_documented_route_and_no_other():
    documented = documented_routes()
    assert sorted(documented - TABLE.keys()) == [], "routes the table does not cover"
    assert sorted(TABLE.keys() - documented) == [], "rows for routes that are gone"


def test_every_kind_of_row_is_known():
    assert {row.kind for row in TABLE.values()} <= {"public", "signed", "admin", "scoped",
                                                    "listed"}


@pytest.fixture
async def world(runtime, client) -> World:
    w = World(runtime, client)
    w.headers["anonymous"] = {}
    for caller, email, role in (("admin", "boss@example.com", "admin"),
                                ("agent_in", "in@example.com", "agent"),
                                ("agent_out", "out@example.com", "agent"),
                                ("deactivated", "gone@example.com", "agent")):
        w.users[caller], w.headers[caller] = await add_user(runtime, email, role)
    team_in = (await client.post("/api/teams", headers=w.headers["admin"], json={
        "name": "Support team", "member_ids": [w.users["agent_in"]]})).json()["id"]
    await add_to_inbox(runtime, "support", team_ids=(team_in,),
                       user_ids=(w.users["deactivated"],))
    await add_to_inbox(runtime, "sales", user_ids=(w.users["agent_out"],))
    async with transaction(runtime.sessions) as session:
        admin = await session.get(User, w.users["admin"])
        await update_user(session, w.users["deactivated"], {"active": False}, actor=admin)
    await client.put("/api/sla/settings", headers=w.headers["admin"], json={
        "mode": "always", "goals": {"first_response": {"minutes": 60}}})
    return w


def expected(row: Row, caller: str) -> int:
    if row.kind == "public":
        return row.ok
    if caller in ("anonymous", "deactivated"):
        return 401
    if row.kind == "admin" and caller != "admin":
        return 403
    if row.kind == "scoped" and caller == "agent_out":
        return 404
    return row.ok


def found_in(body: dict, needle: tuple[str, Any]) -> bool:
    key, value = needle
    return any(item.get(key) == value for item in body["items"])


# People: invitations and password resets.


async def _invited(w: World) -> int:
    response = await w.client.post("/api/invites", headers=w.headers["admin"], json={
        "email": f"{unique('inv')}@example.com", "name": "Invited"})
    assert response.status_code == 201, response.text
    return response.json()["user"]["id"]


def _on_invite(method: str, suffix: str = "") -> Callable[[World, str], Awaitable[Request]]:
    async def build(w: World, _: str) -> Request:
        return Request(method, f"/api/invites/{await _invited(w)}{suffix}")
    return build


async def _new_invite(w: World, _: str) -> Request:
    return Request("POST", "/api/invites", {"email": f"{unique('inv')}@example.com",
                                            "name": "Invited"})


async def _reset_password(w: World, _: str) -> Request:
    return Request("POST", f"/api/users/{await w.new_user()}/password-reset")


TABLE.update({
    ("GET", "/api/invites"): Row("admin", _static("GET", "/api/invites")),
    ("POST", "/api/invites"): Row("admin", _new_invite, ok=201),
    ("POST", "/api/invites/{user_id}/resend"): Row("admin", _on_invite("POST", "/resend")),
    ("DELETE", "/api/invites/{user_id}"): Row("admin", _on_invite("DELETE"), ok=204),
    ("POST", "/api/users/{user_id}/password-reset"): Row("admin", _reset_password, ok=202),
})


# ------------------------------------------------------------------ SLA reports (weekly, CSV)


def _weekly_report(path: str, *, listed: bool) -> Callable[[World, str], Awaitable[Request]]:
    async def build(w: World, caller: str) -> Request:
        request = await _sla_report(w, caller)  # an answered thread: a first response met
        from core import clock

        today = clock.now().date()
        url = f"{path}?from={today.replace(day=1).isoformat()}&to={today.isoformat()}"
        if not listed:
            return Request("GET", url, needle=request.needle)
        # Every answered thread so far is of `support`: the admin's count is agent_in's too.
        seen = (await w.client.get(url, headers=w.headers["admin"])).json()["items"]
        met = max(item["met"] for item in seen if item["goal"] == "first_response")
        return Request("GET", url, needle=("met", met))
    return build


TABLE.update({
    ("GET", "/api/sla/report/weekly"): Row("listed",
                                           _weekly_report("/api/sla/report/weekly", listed=True)),
    ("GET", "/api/sla/report.csv"): Row("signed",
                                        _weekly_report("/api/sla/report.csv", listed=False)),
})


# --------------------------------------------------------- Case management (issue 14)
# Case work on a ticket of `support` is scoped; the catalog agents pick from (subjects,
# products, queues, status reasons, companies, entitlements) is signed; what shapes it
# (and routing, case settings) is admin; the customer lookup and a queue's items list only
# what the caller sees.

Made = Callable[[World], Awaitable[Any]]


async def _admin_made(w: World, url: str, body: Any) -> Any:
    """What the admin's POST of `body` to `url` answers (it must be a 201)."""
    response = await w.client.post(url, headers=w.headers["admin"], json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def _company(w: World) -> int:
    return int((await _admin_made(w, "/api/companies", {"name": unique("Acme ")}))["id"])


async def _subject(w: World) -> int:
    return int((await _admin_made(w, "/api/subjects", {"name": unique("Subject ")}))["id"])


async def _product(w: World) -> int:
    return int((await _admin_made(w, "/api/products", {"name": unique("Printer ")}))["id"])


async def _queue(w: World) -> int:
    """A new public queue."""
    return int((await _admin_made(w, "/api/queues", {"name": unique("Queue ")}))["id"])


async def _reason(w: World) -> int:
    return int((await _admin_made(w, "/api/status-reasons", {
        "status": "waiting_on_contact", "label": unique("Waiting ")}))["id"])


async def _rule_set(w: World) -> int:
    return int((await _admin_made(w, "/api/routing/rule-sets",
                                  {"name": unique("Rules ")}))["id"])


async def _rule(w: World) -> int:
    return int((await _admin_made(w, f"/api/routing/rule-sets/{await _rule_set(w)}/rules", {
        "name": unique("Rule "), "action": {"kind": "user", "id": w.users["admin"]}}))["id"])


async def _entitlement(w: World) -> int:
    return int((await _admin_made(w, "/api/entitlements", {
        "name": unique("Gold "), "customer_company_id": await _company(w),
        "starts_on": "2026-01-01", "ends_on": "2026-12-31", "terms_kind": "cases",
        "terms_total": 10}))["id"])


async def _contact_entitlement(w: World) -> int:
    """A new entitlement of the contact of a new conversation of `support`."""
    return int((await _admin_made(w, "/api/entitlements", NEW_ENTITLEMENT | {
        "customer_contact_id": await _contact(w)}))["id"])


async def _entitlement_list(w: World, _: str) -> Request:
    return Request("GET", "/api/entitlements", needle=("id", await _contact_entitlement(w)))


async def _ticket(w: World) -> int:
    return (await w.thread()).ticket_id


async def _contact(w: World) -> int:
    """The contact who wrote a new conversation of `support`."""
    conversation_id = (await w.thread()).conversation_id
    async with transaction(w.runtime.sessions) as session:
        contact_id = await session.scalar(
            select(Conversation.contact_id).where(Conversation.id == conversation_id))
    assert contact_id is not None
    return contact_id


async def _activity(w: World) -> tuple[int, int]:
    """(ticket id, activity id): an open task on a new case of `support`."""
    ticket_id = await _ticket(w)
    made = await _admin_made(w, f"/api/tickets/{ticket_id}/activities",
                             {"kind": "task", "subject": "Call back"})
    return ticket_id, int(made["id"])


async def _resolved(w: World) -> int:
    ticket_id = await _ticket(w)
    response = await w.client.post(f"/api/tickets/{ticket_id}/resolve",
                                   headers=w.headers["admin"], json={})
    assert response.status_code == 200, response.text
    return ticket_id


async def _queued(w: World) -> tuple[int, int, int]:
    """(queue id, ticket id, item id): a new case of `support` unclaimed in a new queue."""
    queue_id, ticket_id = await _queue(w), await _ticket(w)
    item = await _admin_made(w, f"/api/tickets/{ticket_id}/queues", {"queue_id": queue_id})
    return queue_id, ticket_id, int(item["id"])


def _made(method: str, url: str, body: Any = None, **made: Made
          ) -> Callable[[World, str], Awaitable[Request]]:
    """A request on objects made fresh: `url` is formatted with what each of `made`
    answers, and so is `body` when it is a function of those values."""
    async def build(w: World, _: str) -> Request:
        values = {name: await make(w) for name, make in made.items()}
        sent = body(values) if callable(body) else body
        return Request(method, url.format(**values), sent)
    return build


async def _customer_lookup(w: World, _: str) -> Request:
    contact_id = await _contact(w)
    async with transaction(w.runtime.sessions) as session:
        contact = await session.get(Contact, contact_id)
    assert contact is not None and contact.email
    return Request("GET", f"/api/customers?q={contact.email}",
                   needle=("ref", f"contact:{contact_id}"))


async def _queue_items(w: World, _: str) -> Request:
    queue_id, ticket_id, _item = await _queued(w)
    return Request("GET", f"/api/queues/{queue_id}/items", needle=("ticket_id", ticket_id))


async def _open_case(w: World, _: str) -> Request:
    return Request("POST", "/api/cases", {
        "inbox": "support", "origin": "phone", "title": "Printer offline",
        "notes": "Called about the printer.", "caller_name": "Rita Ruiz"})


async def _case_from_message(w: World, _: str) -> Request:
    return Request("POST", f"/api/messages/{(await w.thread()).message_id}/case")


def _on_activity(suffix: str, body: Any = None) -> Callable[[World, str], Awaitable[Request]]:
    async def build(w: World, _: str) -> Request:
        ticket_id, activity_id = await _activity(w)
        return Request("PUT" if not suffix else "POST",
                       f"/api/tickets/{ticket_id}/activities/{activity_id}{suffix}", body)
    return build


def _on_item(action: str, body: Made | None = None) -> Callable[[World, str], Awaitable[Request]]:
    async def build(w: World, _: str) -> Request:
        _queue_id, _ticket_id, item_id = await _queued(w)
        sent = None if body is None else {"queue_id": await body(w)}
        return Request("POST", f"/api/queue-items/{item_id}/{action}", sent)
    return build


NEW_ENTITLEMENT = {"name": "Silver", "starts_on": "2026-01-01", "ends_on": "2026-12-31",
                   "terms_kind": "hours", "terms_total": 600}
CASE_SETTINGS = {"inherited_fields": ["customer"], "close_children_with_parent": False,
                 "entitlement_decrement_on": "resolution"}

TABLE.update({
    # customers: the lookup lists only the contacts of conversations the caller sees
    ("GET", "/api/customers"): Row("listed", _customer_lookup),
    ("GET", "/api/companies"): Row("signed", _static("GET", "/api/companies")),
    ("GET", "/api/companies/{company_id}"): Row(
        "signed", _made("GET", "/api/companies/{c}", c=_company)),
    ("POST", "/api/companies"): Row("admin", _made(
        "POST", "/api/companies", lambda _: {"name": unique("Acme ")}), ok=201),
    ("PATCH", "/api/companies/{company_id}"): Row("admin", _made(
        "PATCH", "/api/companies/{c}", {"domain": "acme.example"}, c=_company)),
    ("PUT", "/api/contacts/{contact_id}/company"): Row("admin", _made(
        "PUT", "/api/contacts/{c}/company", {"company_id": None}, c=_contact)),
    # case fields, cases by hand and from a message
    ("GET", "/api/tickets/{ticket_id}/case"): Row(
        "scoped", _on_thread("GET", "/api/tickets/{ticket_id}/case")),
    ("PATCH", "/api/tickets/{ticket_id}/case"): Row(
        "scoped", _on_thread("PATCH", "/api/tickets/{ticket_id}/case",
                             {"case_type": "problem"})),
    ("POST", "/api/cases"): Row("scoped", _open_case, ok=201),
    ("POST", "/api/messages/{message_id}/case"): Row("scoped", _case_from_message, ok=201),
    # catalog: subjects and products
    ("GET", "/api/subjects"): Row("signed", _static("GET", "/api/subjects")),
    ("POST", "/api/subjects"): Row("admin", _made(
        "POST", "/api/subjects", lambda _: {"name": unique("Subject ")}), ok=201),
    ("PATCH", "/api/subjects/{subject_id}"): Row("admin", _made(
        "PATCH", "/api/subjects/{s}", lambda _: {"name": unique("Renamed ")}, s=_subject)),
    ("DELETE", "/api/subjects/{subject_id}"): Row(
        "admin", _made("DELETE", "/api/subjects/{s}", s=_subject), ok=204),
    ("GET", "/api/products"): Row("signed", _static("GET", "/api/products")),
    ("POST", "/api/products"): Row("admin", _made(
        "POST", "/api/products", lambda _: {"name": unique("Printer ")}), ok=201),
    ("PATCH", "/api/products/{product_id}"): Row("admin", _made(
        "PATCH", "/api/products/{p}", {"active": False}, p=_product)),
    # queues: admins shape them; agents work the cases they see in them
    ("GET", "/api/queues"): Row("signed", _static("GET", "/api/queues")),
    ("POST", "/api/queues"): Row("admin", _made(
        "POST", "/api/queues", lambda _: {"name": unique("Queue ")}), ok=201),
    ("PATCH", "/api/queues/{queue_id}"): Row("admin", _made(
        "PATCH", "/api/queues/{q}", {"description": "Second line"}, q=_queue)),
    ("DELETE", "/api/queues/{queue_id}"): Row(
        "admin", _made("DELETE", "/api/queues/{q}", q=_queue), ok=204),
    ("GET", "/api/queues/{queue_id}/items"): Row("listed", _queue_items),
    ("GET", "/api/tickets/{ticket_id}/queues"): Row(
        "scoped", _on_thread("GET", "/api/tickets/{ticket_id}/queues")),
    ("POST", "/api/tickets/{ticket_id}/queues"): Row("scoped", _made(
        "POST", "/api/tickets/{t}/queues", lambda v: {"queue_id": v["q"]}, t=_ticket,
        q=_queue), ok=201),
    ("POST", "/api/queue-items/{item_id}/pick"): Row("scoped", _on_item("pick")),
    ("POST", "/api/queue-items/{item_id}/release"): Row("scoped", _on_item("release")),
    ("POST", "/api/queue-items/{item_id}/move"): Row("scoped", _on_item("move", _queue)),
    # routing: rule sets are admin settings; routing a case is case work
    ("GET", "/api/routing/rule-sets"): Row("admin", _static("GET", "/api/routing/rule-sets")),
    ("POST", "/api/routing/rule-sets"): Row("admin", _static(
        "POST", "/api/routing/rule-sets", {"name": "Printers"}), ok=201),
    ("GET", "/api/routing/rule-sets/{set_id}"): Row(
        "admin", _made("GET", "/api/routing/rule-sets/{s}", s=_rule_set)),
    ("PATCH", "/api/routing/rule-sets/{set_id}"): Row("admin", _made(
        "PATCH", "/api/routing/rule-sets/{s}", {"active": False}, s=_rule_set)),
    ("DELETE", "/api/routing/rule-sets/{set_id}"): Row(
        "admin", _made("DELETE", "/api/routing/rule-sets/{s}", s=_rule_set), ok=204),
    ("POST", "/api/routing/rule-sets/{set_id}/rules"): Row("admin", _made(
        "POST", "/api/routing/rule-sets/{s}/rules",
        lambda v: {"name": "Mine", "action": {"kind": "queue", "id": v["q"]}},
        s=_rule_set, q=_queue), ok=201),
    ("PUT", "/api/routing/rules/{rule_id}"): Row("admin", _made(
        "PUT", "/api/routing/rules/{r}", lambda v: {"name": "Theirs", "action": {
            "kind": "queue", "id": v["q"]}}, r=_rule, q=_queue)),
    ("POST", "/api/routing/rules/{rule_id}/move"): Row("admin", _made(
        "POST", "/api/routing/rules/{r}/move", {"direction": "up"}, r=_rule)),
    ("DELETE", "/api/routing/rules/{rule_id}"): Row(
        "admin", _made("DELETE", "/api/routing/rules/{r}", r=_rule), ok=204),
    ("POST", "/api/tickets/{ticket_id}/route"): Row(
        "scoped", _on_thread("POST", "/api/tickets/{ticket_id}/route")),
    ("POST", "/api/tickets/route"): Row("scoped", _made(
        "POST", "/api/tickets/route", lambda v: {"ticket_ids": [v["t"]]}, t=_ticket)),
    ("PUT", "/api/admin/inboxes/{slug}/routing"): Row("admin", _static(
        "PUT", "/api/admin/inboxes/support/routing", {"route_new_tickets": False})),
    # activities, resolve / cancel / reactivate, parent and child cases, similar cases
    ("GET", "/api/tickets/{ticket_id}/activities"): Row(
        "scoped", _on_thread("GET", "/api/tickets/{ticket_id}/activities")),
    ("POST", "/api/tickets/{ticket_id}/activities"): Row("scoped", _on_thread(
        "POST", "/api/tickets/{ticket_id}/activities", {"kind": "task", "subject": "Call"}),
        ok=201),
    ("PUT", "/api/tickets/{ticket_id}/activities/{activity_id}"): Row(
        "scoped", _on_activity("", {"kind": "phone_call", "subject": "Call again"})),
    ("POST", "/api/tickets/{ticket_id}/activities/{activity_id}/complete"): Row(
        "scoped", _on_activity("/complete", {"duration_minutes": 15})),
    ("POST", "/api/tickets/{ticket_id}/activities/{activity_id}/cancel"): Row(
        "scoped", _on_activity("/cancel")),
    ("GET", "/api/tickets/{ticket_id}/resolution"): Row(
        "scoped", _on_thread("GET", "/api/tickets/{ticket_id}/resolution")),
    ("POST", "/api/tickets/{ticket_id}/resolve"): Row("scoped", _on_thread(
        "POST", "/api/tickets/{ticket_id}/resolve", {"billable_minutes": 90})),
    ("POST", "/api/tickets/{ticket_id}/cancel"): Row(
        "scoped", _on_thread("POST", "/api/tickets/{ticket_id}/cancel")),
    ("POST", "/api/tickets/{ticket_id}/reactivate"): Row(
        "scoped", _made("POST", "/api/tickets/{t}/reactivate", t=_resolved)),
    ("GET", "/api/tickets/{ticket_id}/children"): Row(
        "scoped", _on_thread("GET", "/api/tickets/{ticket_id}/children")),
    ("POST", "/api/tickets/{ticket_id}/children"): Row("scoped", _on_thread(
        "POST", "/api/tickets/{ticket_id}/children", {"title": "Replace the part"}), ok=201),
    ("POST", "/api/tickets/{ticket_id}/children/attach"): Row("scoped", _made(
        "POST", "/api/tickets/{t}/children/attach", lambda v: {"child_id": v["c"]},
        t=_ticket, c=_ticket)),
    ("GET", "/api/tickets/{ticket_id}/similar"): Row(
        "scoped", _on_thread("GET", "/api/tickets/{ticket_id}/similar")),
    ("POST", "/api/tickets/{ticket_id}/similar"): Row("scoped", _made(
        "POST", "/api/tickets/{t}/similar", lambda v: {"similar_id": v["s"]}, t=_ticket,
        s=_resolved), ok=201),
    ("GET", "/api/admin/case-settings"): Row(
        "admin", _static("GET", "/api/admin/case-settings")),
    ("PUT", "/api/admin/case-settings"): Row(
        "admin", _static("PUT", "/api/admin/case-settings", CASE_SETTINGS)),
    # entitlements: agents read them and choose one for a case; admins keep them
    # (a company's are there for everyone signed in; a contact's go with its conversations)
    ("GET", "/api/entitlements"): Row("listed", _entitlement_list),
    ("GET", "/api/entitlements/{entitlement_id}"): Row(
        "scoped", _made("GET", "/api/entitlements/{e}", e=_contact_entitlement)),
    ("POST", "/api/entitlements"): Row("admin", _made(
        "POST", "/api/entitlements", lambda v: NEW_ENTITLEMENT | {
            "customer_company_id": v["c"]}, c=_company), ok=201),
    ("PATCH", "/api/entitlements/{entitlement_id}"): Row("admin", _made(
        "PATCH", "/api/entitlements/{e}", {"terms_remaining": 5}, e=_entitlement)),
    ("DELETE", "/api/entitlements/{entitlement_id}"): Row(
        "admin", _made("DELETE", "/api/entitlements/{e}", e=_entitlement), ok=204),
    ("GET", "/api/tickets/{ticket_id}/entitlement"): Row(
        "scoped", _on_thread("GET", "/api/tickets/{ticket_id}/entitlement")),
    ("PUT", "/api/tickets/{ticket_id}/entitlement"): Row("scoped", _on_thread(
        "PUT", "/api/tickets/{ticket_id}/entitlement", {"entitlement_id": None})),
    # status reasons: agents read them (and a case's allowed ones); admins keep them
    ("GET", "/api/status-reasons"): Row("signed", _static("GET", "/api/status-reasons")),
    ("POST", "/api/status-reasons"): Row("admin", _made(
        "POST", "/api/status-reasons", lambda _: {"status": "waiting_on_contact",
                                                  "label": unique("Waiting ")}), ok=201),
    ("PATCH", "/api/status-reasons/{reason_id}"): Row("admin", _made(
        "PATCH", "/api/status-reasons/{r}", lambda _: {"label": unique("Label ")},
        r=_reason)),
    ("POST", "/api/status-reasons/{reason_id}/move"): Row("admin", _made(
        "POST", "/api/status-reasons/{r}/move?direction=up", r=_reason)),
    ("DELETE", "/api/status-reasons/{reason_id}"): Row(
        "admin", _made("DELETE", "/api/status-reasons/{r}", r=_reason), ok=204),
    ("PUT", "/api/status-reasons/transitions"): Row("admin", _static(
        "PUT", "/api/status-reasons/transitions", {"pairs": []})),
    ("GET", "/api/tickets/{ticket_id}/status-reasons"): Row(
        "scoped", _on_thread("GET", "/api/tickets/{ticket_id}/status-reasons")),
})


async def test_a_case_names_only_the_linked_cases_the_caller_sees(world: World):
    """An admin may link a case of `sales` to one of `support` (as similar, as a child);
    an agent of `support` only is not shown it, an admin is."""
    case = (await world.thread()).ticket_id
    similar, child = await _resolved_in(world, "sales"), (await world.thread("sales")).ticket_id
    admin = world.headers["admin"]
    linked = await world.client.post(f"/api/tickets/{case}/similar", headers=admin,
                                     json={"similar_id": similar})
    attached = await world.client.post(f"/api/tickets/{case}/children/attach", headers=admin,
                                       json={"child_id": child})
    assert (linked.status_code, attached.status_code) == (201, 200), attached.text
    for caller, shown in (("agent_in", False), ("admin", True)):
        found = await world.client.get(f"/api/tickets/{case}/similar",
                                       headers=world.headers[caller])
        family = await world.client.get(f"/api/tickets/{case}/children",
                                        headers=world.headers[caller])
        assert ([s["id"] for s in found.json()["linked"]] == [similar]) == shown, caller
        assert ([c["id"] for c in family.json()["items"]] == [child]) == shown, caller


async def _resolved_in(w: World, inbox: str) -> int:
    ticket_id = (await w.thread(inbox)).ticket_id
    response = await w.client.post(f"/api/tickets/{ticket_id}/resolve",
                                   headers=w.headers["admin"], json={})
    assert response.status_code == 200, response.text
    return ticket_id


# Last in the module: the rows of every section above are in TABLE by now.
ROUTES = sorted(TABLE)


def test_every_row_of_the_table_is_run():
    assert ROUTES == sorted(TABLE)


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r[0]} {r[1]}")
async def test_route_answers_each_caller_as_its_row_says(world: World, route):
    row = TABLE[route]
    for caller in CALLERS:
        request = await row.build(world, caller)
        response = await world.client.request(request.method, request.url, json=request.json,
                                              files=request.files,
                                              headers=world.headers[caller])
        assert response.status_code == expected(row, caller), (caller, response.text)
        if row.kind == "listed" and response.status_code == 200:
            assert found_in(response.json(), request.needle) == (caller != "agent_out"), caller
