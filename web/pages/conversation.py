"""`/conversations/{id}`: one conversation — the thread, the reply and comment editors,
and beside it the ticket card (owner, team, priority, category, status, SLA clocks, the
timeline, merge), the contact and their other conversations.

Everything it shows comes from the services the API calls, through the caller's scope; an
out-of-scope id is a 404 page. Every change is a form posted here, which the services
check exactly as the API does (the sync rules apply, owners must see the inbox).
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.service import active_teams, active_users, user_names
from core import clock
from core.db import transaction
from core.errors import InvalidInput, NotFound, UserError
from core.runtime import Runtime
from inbox import access, queries
from inbox import service as inbox
from inbox.collision import NewerMessages
from inbox.models import Message, MessageAttachment
from inbox.placeholders import fill_in, values_for
from inbox.snippets import list_snippets
from sla.queries import clocks_of
from tickets import service as tickets
from tickets.case_fields import SPLIT_FROM, SPLIT_TO
from tickets.queries import history_of, tickets_of_conversations, visible_ticket
from tickets.state import PRIORITIES
from web.api.common import RuntimeDep
from web.pages import case_queue_data
from web.pages.case_entitlements import CaseEntitlementCard, gather_case_entitlement
from web.pages.case_entitlements import history_text as case_history_text
from web.pages.case_fields import case_card
from web.pages.case_view import case_change_text, gather_case
from web.pages.common import CurrentPageCaller, PageCaller, render, see_other
from web.pages.format import GOAL_NAMES, ago, duration, size
from web.uploads import read_uploads

router = APIRouter(include_in_schema=False)

RECENT_CONVERSATIONS = 10


@dataclass(frozen=True)
class Attached:
    id: int
    name: str
    size: str
    url: str


@dataclass(frozen=True)
class ThreadEntry:
    """One message of the thread, as the page shows it."""

    id: int
    kind: str
    """inbound, reply, comment or automatic."""
    author: str
    when: str
    when_iso: str
    text: str
    quoted: str
    has_html: bool
    attachments: list[Attached]
    failed: str | None
    delivery: str | None
    unverified: bool
    original_url: str | None
    truncated: bool


@dataclass(frozen=True)
class Clock:
    goal: str
    state: str
    label: str


@dataclass(frozen=True)
class Change:
    when: str
    when_iso: str
    text: str


@dataclass(frozen=True)
class CannedReply:
    """A canned reply as this agent would insert it here: its placeholders filled in."""

    id: int
    name: str
    text: str


@dataclass
class ConversationView:
    """What the conversation page shows."""

    row: queries.ConversationRow
    thread: list[ThreadEntry]
    ticket: Any
    statuses: list[tuple[str, str]] = field(default_factory=list)
    clocks: list[Clock] = field(default_factory=list)
    timeline: list[Change] = field(default_factory=list)
    others: list[queries.ConversationRow] = field(default_factory=list)
    owners: list[Any] = field(default_factory=list)
    teams: list[Any] = field(default_factory=list)
    inboxes: list[Any] = field(default_factory=list)
    newest_message_id: int = 0
    snippets: list[CannedReply] = field(default_factory=list)
    case: Any = None
    case_queue: dict[str, Any] | None = None
    case_work: Any = None
    case_entitlement: CaseEntitlementCard | None = None


def _kind(m: Message) -> str:
    if m.direction == "comment":
        return "comment"
    if m.automatic:
        return "automatic"
    return "inbound" if m.direction == "inbound" else "reply"


def _entry(m: Message, files: list[MessageAttachment], contact: str,
           agents: dict[int, str], now: datetime) -> ThreadEntry:
    kind = _kind(m)
    if kind == "inbound":
        author = contact
    elif kind == "automatic":
        author = "Automatic message"
    else:
        author = agents.get(m.author_id or 0, "An agent")
    split = m.quoted_text_start if m.quoted_text_start is not None else len(m.text)
    return ThreadEntry(
        id=m.id, kind=kind, author=author, when=ago(m.created_at, now),
        when_iso=m.created_at.isoformat(), text=m.text[:split].rstrip(),
        quoted=m.text[split:].strip(), has_html=bool(m.html),
        attachments=[Attached(a.id, a.filename, size(a.size), f"/api/attachments/{a.id}")
                     for a in files if not a.inline],
        failed=(m.delivery_error or "not delivered") if m.delivery_status == "failed" else None,
        delivery=m.delivery_status, unverified=m.unverified_sender,
        original_url=(f"/api/messages/{m.id}/original"
                      if m.channel == "email" and m.direction == "inbound" else None),
        truncated=bool(m.truncated))


def _clock(c: dict[str, Any]) -> Clock:
    goal = GOAL_NAMES.get(c["goal"], c["goal"])
    if c.get("met_at"):
        state = "met late" if c["status"] == "met_late" else "met"
        return Clock(goal, c["status"], f"{goal}: {state}")
    if not c.get("due_at"):
        return Clock(goal, "paused", f"{goal}: paused")
    remaining = int(c["remaining_seconds"])
    if remaining <= 0:
        return Clock(goal, "overdue", f"{goal}: overdue by {duration(remaining)}")
    return Clock(goal, c["status"], f"{goal}: due in {duration(remaining)}")


def _change(h: Any, names: dict[int, str], labels: dict[str, str], now: datetime) -> Change:
    who = names.get(h.actor_id, "Frontdesk") if h.actor_id else "Frontdesk"
    if (case_text := case_history_text(h, who, labels)) is not None:
        text = case_text
    elif h.action == "changed" and h.field:
        old, new = h.old_value, h.new_value
        if h.field == "status":
            old, new = labels.get(old or "", old), labels.get(new or "", new)
        if h.field == "owner_id":
            old = names.get(int(old), old) if old else None
            new = names.get(int(new), new) if new else None
        what = h.field.removesuffix("_id").replace("_", " ")
        text = f"{who} changed {what} from {old or 'none'} to {new or 'none'}"
    elif h.action == "merged":
        text = f"{who} merged ticket #{h.old_value} into this one"
    elif h.action == SPLIT_FROM:
        text = f"{who} made this case from a message of ticket #{h.old_value}"
    elif h.action == SPLIT_TO:
        text = f"{who} made case #{h.new_value} from a message of this ticket"
    elif (queued := case_queue_data.timeline_text(h, who)) is not None:
        text = queued
    elif (case_text := case_change_text(who, h)) is not None:
        text = case_text
    else:
        text = f"{who}: ticket {h.action}"
    return Change(ago(h.at, now), h.at.isoformat(), text)


async def _thread(session: Any, row: queries.ConversationRow, messages: list[Message],
                  now: datetime) -> list[ThreadEntry]:
    """`messages` of the conversation of `row` as the thread shows them."""
    files = await queries.attachments_of(session, [m.id for m in messages])
    agents = await user_names(session, [m.author_id for m in messages if m.author_id])
    contact = row.contact.name or row.contact.email or "Customer"
    return [_entry(m, files.get(m.id, []), contact, agents, now) for m in messages]


async def gather(session: Any, caller: PageCaller, conversation_id: int) -> ConversationView:
    """Everything the page shows, read in the caller's scope; NotFound when out of it."""
    now = clock.now()
    row = await queries.conversation_row(session, conversation_id, scope=caller.scope)
    messages = await queries.messages_of(session, conversation_id)
    view = ConversationView(row=row, thread=await _thread(session, row, messages, now),
                            ticket=None, newest_message_id=max((m.id for m in messages),
                                                               default=0))
    ticket = (await tickets_of_conversations(session, [conversation_id])).get(conversation_id)
    if ticket is not None and ticket.deleted_at is None:
        view.ticket = ticket
        statuses = await tickets.pipeline_status_labels(session, ticket.pipeline_id)
        view.statuses = statuses
        view.case_entitlement = await gather_case_entitlement(session, ticket)
        view.clocks = [_clock(c) for c in (await clocks_of(session, [ticket], now))[ticket.id]]
        history = await history_of(session, ticket.id)
        names = await user_names(session, [h.actor_id for h in history if h.actor_id] + [
            int(v) for h in history if h.field == "owner_id"
            for v in (h.old_value, h.new_value) if v and v.isdigit()])
        labels = dict(statuses) | view.case_entitlement.labels
        view.timeline = [_change(h, names, labels, now) for h in reversed(history)]
        view.case = await case_card(session, ticket)
        view.case_work = await gather_case(session, ticket, caller.scope)
    others, _ = await queries.list_conversations(
        session, queries.ConversationFilter(status="all", contact_id=row.contact.id),
        scope=caller.scope, limit=RECENT_CONVERSATIONS + 1, cursor=None)
    view.others = [o for o in others if o.conversation.id != conversation_id][
        :RECENT_CONVERSATIONS]
    view.owners = [u for u in await active_users(session)
                   if (await access.visible_inboxes(session, u)).allows(
                       row.conversation.inbox_id)]
    view.teams = await active_teams(session)
    view.inboxes = await access.list_inboxes(session, caller.scope)
    values = values_for(contact_name=row.contact.name, contact_email=row.contact.email,
                        agent_name=caller.user.name,
                        ticket_number=view.ticket.number if view.ticket else None)
    view.snippets = [CannedReply(s.id, s.name, fill_in(s.body, values))
                     for s in await list_snippets(session)]
    view.case_queue = await case_queue_data.gather_card(session, caller, view.ticket)
    return view


@router.get("/conversations/{conversation_id}")
async def conversation_page(request: Request, conversation_id: int, caller: CurrentPageCaller,
                            runtime: RuntimeDep, notice: str | None = None,
                            problem: str | None = None, snippet: int | None = None) -> Response:
    """The conversation page; with `snippet`, the reply editor holds that canned reply
    (how it is inserted without a script)."""
    return await _page(request, caller, runtime, conversation_id, notice=notice,
                       problem=problem, snippet=snippet)


@dataclass(frozen=True)
class ThreadAfter:
    """The messages newer than one the page shows, and the newest message's id."""

    row: queries.ConversationRow
    thread: list[ThreadEntry]
    newest_message_id: int
    has_ticket: bool
    """Whether its messages can be made into cases (as the page offers them)."""


async def gather_thread_after(session: Any, caller: PageCaller, conversation_id: int,
                              after: int) -> ThreadAfter:
    """The thread's messages with an id above `after`, read as `gather` reads the page's
    (the caller's scope; NotFound when out of it)."""
    row = await queries.conversation_row(session, conversation_id, scope=caller.scope)
    messages = await queries.messages_of(session, conversation_id)
    newer = [m for m in messages if m.id > after]
    ticket = (await tickets_of_conversations(session, [conversation_id])).get(conversation_id)
    return ThreadAfter(row, await _thread(session, row, newer, clock.now()),
                       max((m.id for m in messages), default=0),
                       ticket is not None and ticket.deleted_at is None)


@router.get("/conversations/{conversation_id}/thread")
async def thread_after(request: Request, conversation_id: int, caller: CurrentPageCaller,
                       runtime: RuntimeDep, after: int = 0) -> Response:
    """The messages after message `after`, as `li` items of the page's thread (one
    template renders a message for both): what the live page inserts as they arrive."""
    async with transaction(runtime.sessions) as session:
        found = await gather_thread_after(session, caller, conversation_id, after)
    return render(request, "conversation/thread_after.html", {
        "caller": caller, "c": found.row.conversation, "thread": found.thread,
        "newest": found.newest_message_id, "held": None, "make_case": found.has_ticket})


@dataclass(frozen=True)
class HeldReply:
    """A reply held back by newer messages: what the agent wrote, under the same form
    key, and the messages they had not seen."""

    text: str
    client_key: str
    new_ids: frozenset[int]


async def _page(request: Request, caller: PageCaller, runtime: Runtime, conversation_id: int,
                *, notice: str | None = None, problem: str | None = None,
                snippet: int | None = None, held: HeldReply | None = None,
                status_code: int = 200) -> Response:
    async with transaction(runtime.sessions) as session:
        view = await gather(session, caller, conversation_id)
    draft = next((s.text for s in view.snippets if s.id == snippet), "")
    return render(request, "conversation/page.html", {
        "caller": caller, "view": view, "c": view.row.conversation, "contact": view.row.contact,
        "priorities": PRIORITIES, "notice": notice, "problem": problem, "q": "",
        "draft": held.text if held else draft,
        "held": held, "first_new": min(held.new_ids) if held else None,
        # Each form's own key: posted twice (a double click, a resubmit), it sends once.
        "reply_key": held.client_key if held else secrets.token_urlsafe(16),
        "comment_key": secrets.token_urlsafe(16)}, status_code=status_code)


def _back(conversation_id: int, notice: str, *, error: bool = False) -> Response:
    key = "problem" if error else "notice"
    return see_other(f"/conversations/{conversation_id}?{urlencode({key: notice})}")


Work = Callable[[AsyncSession], Awaitable[str]]


async def _attempt(runtime: Runtime, conversation_id: int, work: Work,
                   keep: type[UserError] | None = None) -> Response:
    """Do `work` in one transaction and come back to the conversation saying what it did,
    or what was wrong (a refused change is shown on the page, not as an error document);
    a refusal of type `keep` is raised for the caller to answer."""
    try:
        async with transaction(runtime.sessions) as session:
            done = await work(session)
    except UserError as exc:
        if keep is not None and isinstance(exc, keep):
            raise
        return _back(conversation_id, exc.message, error=True)
    return _back(conversation_id, done)


Text = Annotated[str, Form(max_length=100_000)]


@router.post("/conversations/{conversation_id}/messages")
async def add_message(request: Request, conversation_id: int, caller: CurrentPageCaller,
                      runtime: RuntimeDep, kind: Annotated[str, Form(max_length=16)],
                      text: Text = "",
                      attachments: Annotated[list[UploadFile] | None, File()] = None,
                      seen_message_id: Annotated[str, Form(max_length=12)] = "",
                      client_key: Annotated[str, Form(max_length=64)] = "",
                      send_anyway: Annotated[str, Form(max_length=8)] = "") -> Response:
    """A reply (sent through the outbox, with the files attached) or an internal comment,
    from the page's editors. A reply written before newer messages arrived is not sent:
    the page comes back (409) showing them, the reply kept (its files to be chosen again),
    asking to send anyway or review."""
    files = await read_uploads(attachments)
    seen = int(seen_message_id) if seen_message_id.isdigit() else None

    async def work(session: AsyncSession) -> str:
        await access.require_conversation(session, caller.scope, conversation_id)
        await inbox.add_agent_message(session, conversation_id, author_id=caller.user.id,
                                      kind=kind, text=text, attachments=files,
                                      seen_message_id=seen, client_key=client_key or None,
                                      send_anyway=bool(send_anyway))
        return "Reply queued" if kind == "reply" else "Comment added"

    try:
        return await _attempt(runtime, conversation_id, work, keep=NewerMessages)
    except NewerMessages as held:
        return await _page(request, caller, runtime, conversation_id, problem=held.message,
                           held=HeldReply(text, client_key, frozenset(held.message_ids)),
                           status_code=409)


STATUS_DONE = {"closed": "Closed", "open": "Reopened", "spam": "Marked as spam"}


@router.post("/conversations/{conversation_id}/status")
async def set_status(conversation_id: int, caller: CurrentPageCaller, runtime: RuntimeDep,
                     status: Annotated[str, Form(max_length=16)]) -> Response:
    """Close, reopen or mark spam (the ticket follows by the sync rules)."""
    async def work(session: AsyncSession) -> str:
        await access.require_conversation(session, caller.scope, conversation_id)
        await inbox.set_status(session, conversation_id, status, actor_id=caller.user.id,
                               cause="agent")
        return STATUS_DONE.get(status, "Saved")

    return await _attempt(runtime, conversation_id, work)


@router.post("/conversations/{conversation_id}/owner")
async def set_owner(conversation_id: int, caller: CurrentPageCaller, runtime: RuntimeDep,
                    owner_id: Annotated[str, Form(max_length=12)] = "") -> Response:
    """Assign the conversation (its ticket follows), or unassign with an empty owner."""
    owner = int(owner_id) if owner_id.isdigit() else None

    async def work(session: AsyncSession) -> str:
        conversation = await access.require_conversation(session, caller.scope,
                                                         conversation_id)
        if owner is not None:
            await access.require_assignable(session, owner, [conversation.inbox_id])
        await inbox.set_owner(session, conversation_id, owner, actor_id=caller.user.id,
                              cause="agent")
        return "Assigned" if owner else "Unassigned"

    return await _attempt(runtime, conversation_id, work)


@router.post("/conversations/{conversation_id}/move")
async def move(conversation_id: int, caller: CurrentPageCaller, runtime: RuntimeDep,
               inbox_slug: Annotated[str, Form(alias="inbox", max_length=64)]) -> Response:
    """Move the conversation to another inbox the caller sees."""
    async def work(session: AsyncSession) -> str:
        await access.require_conversation(session, caller.scope, conversation_id)
        target = await access.require_inbox(session, caller.scope, inbox_slug)
        await inbox.move_conversation(session, conversation_id, target.id,
                                      actor_id=caller.user.id)
        return f"Moved to {target.name}"

    return await _attempt(runtime, conversation_id, work)


@router.post("/conversations/{conversation_id}/messages/{message_id}/resend")
async def resend(conversation_id: int, message_id: int, caller: CurrentPageCaller,
                 runtime: RuntimeDep) -> Response:
    """Send a failed reply once more."""
    async def work(session: AsyncSession) -> str:
        await access.require_conversation(session, caller.scope, conversation_id)
        await queries.visible_message(session, message_id, scope=caller.scope)
        await inbox.resend_reply(session, message_id)
        return "Sending again"

    return await _attempt(runtime, conversation_id, work)


TICKET_FIELDS = ("owner_id", "team_id", "priority", "category", "status")


def ticket_changes(form: Mapping[str, Any]) -> dict[str, Any]:
    """The ticket card's fields as the API's PATCH takes them (an empty owner, team or
    category clears it)."""
    changes: dict[str, Any] = {}
    for name in TICKET_FIELDS:
        if name not in form:
            continue
        value = str(form[name]).strip()
        if name in ("owner_id", "team_id"):
            changes[name] = int(value) if value.isdigit() else None
        else:
            changes[name] = value or None if name == "category" else value
    return changes


@router.post("/tickets/{ticket_id}")
async def update_ticket(request: Request, ticket_id: int, caller: CurrentPageCaller,
                        runtime: RuntimeDep,
                        conversation_id: Annotated[int, Form()]) -> Response:
    """Save the ticket card, as the API's PATCH would."""
    changes = ticket_changes(await request.form())

    async def work(session: AsyncSession) -> str:
        await visible_ticket(session, ticket_id, scope=caller.scope)
        if changes.get("owner_id") is not None:
            conversation = await access.require_conversation(session, caller.scope,
                                                             conversation_id)
            await access.require_assignable(session, changes["owner_id"],
                                            [conversation.inbox_id])
        await tickets.update_ticket(session, ticket_id, changes, actor_id=caller.user.id,
                                    cause="agent")
        return "Ticket saved"

    return await _attempt(runtime, conversation_id, work)


@router.post("/tickets/{ticket_id}/merge")
async def merge(ticket_id: int, caller: CurrentPageCaller, runtime: RuntimeDep,
                conversation_id: Annotated[int, Form()],
                other: Annotated[str, Form(max_length=12)]) -> Response:
    """Merge another ticket (by number) into this one; this one's values win."""
    number = other.strip().lstrip("#")

    async def work(session: AsyncSession) -> str:
        if not (number.isascii() and number.isdigit()):
            raise InvalidInput("give the number of the ticket to merge", field="other")
        await visible_ticket(session, ticket_id, scope=caller.scope)
        await visible_ticket(session, int(number), scope=caller.scope)
        await tickets.merge_tickets(session, ticket_id, int(number), primary_id=ticket_id,
                                    actor_id=caller.user.id)
        return f"Ticket #{number} merged into #{ticket_id}"

    return await _attempt(runtime, conversation_id, work)


BODY_STYLE = ("body{margin:0;font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,"
              "sans-serif;color:#1b1f24;overflow-wrap:anywhere}img{max-width:100%;height:auto}"
              "blockquote{margin:.5em 0;padding-left:.8em;border-left:3px solid #d0d7de;"
              "color:#57606a}")
"""The frame's own look: the app's font, images that fit (its policy allows inline style,
as the frame runs no script)."""
BODY_POLICY = ("default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
               "frame-ancestors 'self'; base-uri 'none'; form-action 'none'")
BODY_POLICY_WITH_IMAGES = BODY_POLICY.replace("img-src 'self' data:",
                                              "img-src 'self' data: https: http:")


@router.get("/conversations/{conversation_id}/messages/{message_id}/body")
async def message_body(conversation_id: int, message_id: int, caller: CurrentPageCaller,
                       runtime: RuntimeDep, images: int = 0) -> Response:
    """A message's HTML (sanitized when it arrived), as a document of its own for a
    sandboxed frame: no script runs in it, nothing it holds is fetched from elsewhere
    unless the agent asked for its images (`images=1`)."""
    async with transaction(runtime.sessions) as session:
        message = await queries.visible_message(session, message_id, scope=caller.scope)
        files = (await queries.attachments_of(session, [message.id])).get(message.id, [])
    if message.conversation_id != conversation_id or not message.html:
        raise NotFound(f"message {message_id} has no HTML")
    html = inline_images(message.html, {a.content_id: a.id for a in files if a.content_id})
    document = ("<!doctype html><html><head><meta charset=\"utf-8\">"
                "<base target=\"_blank\"><style>" + BODY_STYLE + "</style></head><body>"
                + html + "</body></html>")
    return HTMLResponse(document, headers={
        "Content-Security-Policy": BODY_POLICY_WITH_IMAGES if images else BODY_POLICY,
        "X-Frame-Options": "SAMEORIGIN", "Cache-Control": "private, no-store"})


def inline_images(html: str, by_content_id: dict[str, int]) -> str:
    """`cid:` image sources pointing at the message's own attachments (which the app
    serves); unknown ones stay as they are and show nothing."""
    for content_id, attachment_id in by_content_id.items():
        bare = content_id.strip("<>")
        html = html.replace(f"cid:{bare}", f"/api/attachments/{attachment_id}")
    return html
