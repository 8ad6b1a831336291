"""`/`: the inbox. A rail of views with live counts, the list of the chosen view (or of a
search), sortable by any column, a page at a time, and bulk actions on a selection.

The rows come from the same listing the API answers (`web.listing`); the page only lays
them out. Every action is a plain form that works without a script; htmx upgrades them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from accounts.service import active_users
from core import clock
from core.db import transaction
from core.errors import UserError
from inbox import access, queries
from inbox import service as inbox
from inbox.access import require_assignable
from inbox.models import CHANNELS
from web.api.common import RuntimeDep
from web.listing import SORT_NAMES, ListingPage, conversation_filter, list_page
from web.pages import case_queue_data, saved_views
from web.pages.common import CurrentPageCaller, PageCaller, render, see_other
from web.pages.format import ago, count_label, sla_badge
from web.pages.views import DEFAULT_VIEW, DEFAULT_VIEWS, VIEWS, View, view_filter

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
COLUMNS = (("contact", "Contact"), ("subject", "Subject"), ("channel", "Channel"),
           ("sla_due_at", "SLA"), ("owner", "Owner"), ("priority", "Priority"),
           ("last_message_at", "Updated"))
"""The list's sortable columns: (sort name, heading)."""
FIRST_DESCENDING = {"last_message_at", "priority"}
"""Columns whose first click sorts descending (newest, most urgent first)."""


@dataclass(frozen=True)
class RailEntry:
    view: View
    count: int
    """Capped at `queries.COUNT_CAP`: that many or more."""
    current: bool

    @property
    def count_label(self) -> str:
        """The count as shown: "999+" from the cap on."""
        return count_label(self.count, queries.COUNT_CAP)


async def _rail(session: Any, caller: PageCaller, current: str | None) -> list[RailEntry]:
    now = clock.now()
    entries = []
    for view in DEFAULT_VIEWS:
        f = await view_filter(session, view, caller.user, now=now)
        count = await queries.count_conversations(session, f, scope=caller.scope,
                                                  cap=queries.COUNT_CAP)
        entries.append(RailEntry(view, count, view.key == current))
    return entries


def _sort_links(view_key: str | None, q: str | None, sort: str) -> dict[str, dict[str, str]]:
    """Per column: the URL that sorts by it (the other way round when it is the current
    sort) and its aria-sort state."""
    links = {}
    current, descending = sort.removeprefix("-"), sort.startswith("-")
    for name, _ in COLUMNS:
        if name == current:
            target = name if descending else f"-{name}"
            state = "descending" if descending else "ascending"
        else:
            target = f"-{name}" if name in FIRST_DESCENDING else name
            state = "none"
        params = {"sort": target} | ({"view": view_key} if view_key else {}) | (
            {"q": q} if q else {})
        links[name] = {"href": f"/?{urlencode(params)}", "state": state}
    return links


Sort = Annotated[str, Query(max_length=40)]


@router.get("/")
async def inbox_page(request: Request, caller: CurrentPageCaller, runtime: RuntimeDep,
                     view: Annotated[str, Query(max_length=40)] = DEFAULT_VIEW,
                     q: Annotated[str | None, Query(max_length=200)] = None,
                     sort: Sort = "-last_message_at",
                     cursor: Annotated[str | None, Query(max_length=512)] = None,
                     inbox_slug: Annotated[str | None, Query(alias="inbox", max_length=64)] = None,
                     channel: Annotated[str | None, Query(max_length=16)] = None,
                     notice: Annotated[str | None, Query(max_length=200)] = None) -> Response:
    """The inbox: the rail of views, and the list of a view or of a search."""
    searching = bool(q and q.strip())
    chosen = VIEWS.get(view, VIEWS[DEFAULT_VIEW])
    custom_id = None if searching else saved_views.view_id_of(view)
    if sort.removeprefix("-") not in SORT_NAMES:
        sort = "-last_message_at"
    if channel not in CHANNELS:
        channel = None
    now = clock.now()
    async with transaction(runtime.sessions) as session:
        custom = (None if custom_id is None
                  else await saved_views.chosen(session, caller, custom_id))
        if searching:
            f = conversation_filter(status="all", q=q, sort=sort, now=now, inbox=inbox_slug,
                                    channel=channel)
        elif custom is not None:
            f = saved_views.listing_filter(custom, caller, now=now, sort=sort,
                                           inbox=inbox_slug, channel=channel)
        else:
            f = await view_filter(session, chosen, caller.user, now=now, sort=sort,
                                  inbox=inbox_slug, channel=channel)
        listing = await list_page(session, f, scope=caller.scope, limit=PAGE_SIZE,
                                  cursor=cursor, now=now)
        rail = await _rail(session, caller, None if searching or custom else chosen.key)
        custom_rail = await saved_views.rail(session, caller, custom_id, now)
        inboxes = await access.list_inboxes(session, caller.scope)
        people = await active_users(session)
        queue_rail = await case_queue_data.rail(session, caller)
    title = f"Search: {q}" if searching else custom.view.name if custom else chosen.name
    view_key = None if searching else str(custom_id) if custom else chosen.key
    context = {
        "caller": caller, "q": q or "", "title": title, "rail": rail, "listing": listing,
        "rows": _rows(listing, now), "sort": sort, "columns": COLUMNS,
        "sort_links": _sort_links(view_key, q, sort), "view_key": view_key,
        "custom_rail": custom_rail, "custom": custom, "inboxes": inboxes,
        "channels": CHANNELS, "inbox_slug": inbox_slug or "", "channel": channel or "",
        "people": people, "notice": notice, "cursor": cursor, "queue_rail": queue_rail,
    }
    template = "inbox/rows.html" if request.headers.get("hx-target") == "rows" else (
        "inbox/list.html")
    return render(request, template, context)


@dataclass(frozen=True)
class Row:
    """One line of the list as the template shows it."""

    id: int
    contact: str
    contact_email: str
    subject: str
    preview: str
    match_html: str | None
    channel: str
    status: str
    sla_label: str | None
    sla_kind: str | None
    owner: str | None
    priority: str | None
    ticket_id: int | None
    updated: str
    updated_iso: str
    unread_inbound: bool


def _rows(listing: ListingPage, now: Any) -> list[Row]:
    rows = []
    for item in listing.items:
        c, contact = item.row.conversation, item.row.contact
        badge = sla_badge(item.sla)
        rows.append(Row(
            id=c.id, contact=contact.name or contact.email or "Unknown",
            contact_email=contact.email or "", subject=c.subject or "(no subject)",
            preview=item.preview.text if item.preview else "", match_html=item.match_html,
            channel=c.channel, status=c.status,
            sla_label=badge.label if badge else None, sla_kind=badge.kind if badge else None,
            owner=item.owner_name, priority=item.ticket.priority if item.ticket else None,
            ticket_id=item.ticket.id if item.ticket else None,
            updated=ago(c.last_message_at, now), updated_iso=c.last_message_at.isoformat(),
            unread_inbound=bool(item.preview and item.preview.direction == "inbound")))
    return rows


BULK_ACTIONS = ("assign", "unassign", "close", "reopen", "spam")


@router.post("/bulk")
async def bulk(request: Request, caller: CurrentPageCaller, runtime: RuntimeDep,
               action: Annotated[str, Form(max_length=16)],
               conversation_ids: Annotated[list[int], Form()] = [],  # noqa: B006
               owner_id: Annotated[int | None, Form()] = None,
               back: Annotated[str, Form(max_length=1000)] = "/") -> Response:
    """Apply one action to the selected conversations, each checked as if alone: one the
    caller does not see, or that refuses the change, is skipped and counted."""
    if action not in BULK_ACTIONS:
        action = ""
    done, skipped = 0, 0
    for conversation_id in dict.fromkeys(conversation_ids):
        try:
            async with transaction(runtime.sessions) as session:
                await _apply(session, caller, conversation_id, action, owner_id)
            done += 1
        except UserError:
            skipped += 1
    notice = f"{done} updated" + (f", {skipped} skipped" if skipped else "")
    target = back if back.startswith("/") and not back.startswith("//") else "/"
    separator = "&" if "?" in target else "?"
    return see_other(f"{target}{separator}notice={notice.replace(' ', '+')}")


async def _apply(session: Any, caller: PageCaller, conversation_id: int, action: str,
                 owner_id: int | None) -> None:
    conversation = await access.require_conversation(session, caller.scope, conversation_id)
    actor_id = caller.user.id
    if action == "assign" and owner_id is not None:
        await require_assignable(session, owner_id, [conversation.inbox_id])
        await inbox.set_owner(session, conversation_id, owner_id, actor_id=actor_id,
                              cause="agent")
    elif action == "unassign":
        await inbox.set_owner(session, conversation_id, None, actor_id=actor_id, cause="agent")
    elif action in ("close", "reopen", "spam"):
        status = {"close": "closed", "reopen": "open", "spam": "spam"}[action]
        await inbox.set_status(session, conversation_id, status, actor_id=actor_id,
                               cause="agent")
    else:
        raise UserError("choose an action")
