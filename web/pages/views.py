"""The inbox's views: the default ones every agent has, as data.

A view is a named set of conditions on conversations, AND-combined. Its conditions are
turned into the listing's filter (`web.listing.conversation_filter`) for the signed-in
user: "me" and "my teams" mean whoever looks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from accounts.service import team_ids_of
from inbox.queries import ConversationFilter
from tickets.queries import conversations_of_teams, conversations_with_ticket_status
from web.listing import conversation_filter


@dataclass(frozen=True)
class View:
    """A default view: its key (in the URL), its name, and its conditions."""

    key: str
    name: str
    status: str
    unassigned: bool = False
    mine: bool = False
    my_teams: bool = False
    ticket_status: str | None = None


DEFAULT_VIEWS = (
    View("unassigned", "Unassigned", "open", unassigned=True),
    View("mine", "Assigned to me", "open", mine=True),
    View("teams", "My teams", "open", my_teams=True),
    View("open", "All open", "open"),
    View("waiting", "Waiting on contact", "open", ticket_status="waiting_on_contact"),
    View("closed", "Closed", "closed"),
    View("spam", "Spam", "spam"),
)
VIEWS = {view.key: view for view in DEFAULT_VIEWS}
DEFAULT_VIEW = "open"


async def view_filter(session: AsyncSession, view: View, user: User, *, now: datetime,
                      sort: str = "-last_message_at", inbox: str | None = None,
                      channel: str | None = None) -> ConversationFilter:
    """The listing filter of `view` as `user` sees it (with the page's sort and
    narrowing by inbox and channel)."""
    where = []
    if view.my_teams:
        where.append(conversations_of_teams(await team_ids_of(session, user.id)))
    if view.ticket_status is not None:
        where.append(conversations_with_ticket_status(view.ticket_status))
    return conversation_filter(status=view.status, owner_id=user.id if view.mine else None,
                               unassigned=view.unassigned, inbox=inbox, channel=channel,
                               sort=sort, now=now, where=where)
