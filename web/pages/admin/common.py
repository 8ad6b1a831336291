"""What every admin page shares: the caller (an admin), the console's sections, rendering.

An admin page answers anyone else as if it did not exist (404), like every other object a
caller may not see. `ADMIN_SECTIONS` is the console's navigation, in order; a page names its
section (`key`) so the navigation marks it current.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse

from core.errors import NotFound
from web.pages.common import PageCaller, page_caller, render


@dataclass(frozen=True)
class AdminSection:
    """One entry of the console's navigation."""

    key: str
    label: str
    path: str
    about: str
    """One line on the overview page: what an admin does there."""


ADMIN_SECTIONS: tuple[AdminSection, ...] = (
    AdminSection("inboxes", "Inboxes", "/admin/inboxes",
                 "Addresses and catch-all domains, outgoing name, automatic "
                 "acknowledgment, and who can see each inbox."),
    AdminSection("mail", "Outgoing mail", "/admin/mail",
                 "The global relay replies leave through, and a test message."),
    AdminSection("forms", "Forms", "/admin/forms",
                 "Public web forms: their fields, inbox, rate limit and embed snippet."),
    AdminSection("chat", "Chat widget", "/admin/chat",
                 "The chat on your sites: where it runs, what it asks, office hours."),
    AdminSection("slack", "Slack", "/admin/slack",
                 "Connect a Slack workspace and pick the channels customers write in."),
    AdminSection("people", "People", "/admin/people",
                 "Invite people, change roles, reset passwords, deactivate."),
    AdminSection("teams", "Teams", "/admin/teams",
                 "Group people into teams and choose their members."),
    AdminSection("queues", "Queues", "/admin/queues",
                 "Queues cases wait in until an agent picks them; public or private."),
    AdminSection("routing", "Routing rules", "/admin/routing",
                 "Ordered rules that send cases to a queue, a person or a team."),
    AdminSection("sla", "SLA", "/admin/sla",
                 "Working hours, holidays and goals, with a preview of the deadlines."),
    AdminSection("sla-reports", "SLA reports", "/admin/sla/reports",
                 "Goals met per week, time to first response, breaches by team; CSV."),
    AdminSection("companies", "Companies", "/admin/companies",
                 "Customer accounts and the contacts in each."),
    AdminSection("subjects", "Subjects", "/admin/subjects",
                 "The subject tree cases are filed under."),
    AdminSection("products", "Products", "/admin/products",
                 "The products a case can be about."),
    AdminSection("cases", "Cases", "/admin/cases",
                 "What child cases inherit, closing children with their parent, "
                 "when entitlements go down."),
    AdminSection("entitlements", "Entitlements", "/admin/entitlements",
                 "What each customer is entitled to: terms, dates, channels, own SLA goals."),
    AdminSection("status-reasons", "Status reasons", "/admin/status-reasons",
                 "The reasons of each status, their order, and which may follow which."),
    AdminSection("canned-replies", "Canned replies", "/admin/canned-replies",
                 "The answers agents insert with a click, with placeholders."),
    AdminSection("webhooks", "Webhooks", "/admin/webhooks",
                 "Tell other systems of events, signed; see each delivery and replay it."),
    AdminSection("audit", "Audit log", "/admin/audit",
                 "Who changed what in the console, and when."),
)


async def admin_page_caller(caller: Annotated[PageCaller, Depends(page_caller)]) -> PageCaller:
    """The caller of an admin page; anyone who is not an admin gets NotFound (404)."""
    if not caller.user.is_admin:
        raise NotFound("no such page")
    return caller


CurrentAdminPage = Annotated[PageCaller, Depends(admin_page_caller)]


def render_admin(request: Request, template: str, caller: PageCaller, section: str,
                 context: dict[str, Any], *, status_code: int = 200) -> HTMLResponse:
    """The admin page `template` (extending admin/layout.html) with the console's
    navigation, `section` marked current."""
    return render(request, template, {"caller": caller, "section": section, "q": "",
                                      "sections": ADMIN_SECTIONS, **context},
                  status_code=status_code)
