"""The case side of the agent's pages: the case fields on the ticket card, choosing the
customer by a few letters, opening a case by hand ("New case") and making a case from a
message. Each handler calls the services the API (`web.api.case_fields`) calls; every
form works on a full page load and htmx swaps only the customer matches in place."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import transaction
from core.errors import InvalidInput, UserError
from core.runtime import Runtime
from inbox import access, companies
from inbox import queries as inbox_queries
from tickets import case_fields, case_rules, catalog
from tickets import service as tickets
from tickets.models import Product, Ticket
from tickets.queries import visible_ticket
from tickets.state import CASE_TYPES
from web.api.common import IdPath, RuntimeDep
from web.pages.common import CurrentPageCaller, PageCaller, render, see_other

router = APIRouter(include_in_schema=False)

ORIGIN_LABELS = {"email": "Email", "chat": "Chat", "slack": "Slack", "form": "Form",
                 "api": "API", "phone": "Phone", "walk_in": "Walk-in"}
Short = Annotated[str, Form(max_length=1000)]
Long = Annotated[str, Form(max_length=100_000)]
SearchQuery = Annotated[str, Query(max_length=200)]


@dataclass
class CaseCard:
    """What the ticket card shows of the case."""

    fields: case_fields.CaseFields
    subjects: list[catalog.SubjectNode]
    products: list[Product]
    origin_choices: list[str]
    case_types: tuple[str, ...] = CASE_TYPES
    origin_labels: dict[str, str] = field(default_factory=lambda: dict(ORIGIN_LABELS))


async def case_card(session: AsyncSession, ticket: Ticket) -> CaseCard:
    """The case fields of `ticket` and the choices the card offers: the subject tree,
    the active products (and the case's own), the origins it may take."""
    products = [p for p in await catalog.list_products(session)
                if p.active or p.id == ticket.product_id]
    origins = (list(case_rules.BY_HAND_ORIGINS) if ticket.origin in case_rules.BY_HAND_ORIGINS
               else [ticket.origin] if ticket.origin else [])
    return CaseCard(await case_fields.fields_of(session, ticket),
                    await catalog.subject_tree(session), products, origins)


def _number(value: str, name: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    if not (value.isascii() and value.isdigit()) or len(value) > 12:
        raise InvalidInput(f"{name} must be an id", field=name)
    return int(value)


def _back(conversation_id: int, text: str, *, error: bool = False) -> Response:
    key = "problem" if error else "notice"
    return see_other(f"/conversations/{conversation_id}?{urlencode({key: text})}")


@router.post("/tickets/{ticket_id}/case")
async def save_case(ticket_id: IdPath, caller: CurrentPageCaller, runtime: RuntimeDep,
                    conversation_id: Annotated[int, Form()], title: Short = "",
                    subject_id: Short = "", product_id: Short = "", origin: Short = "",
                    case_type: Short = "") -> Response:
    """Save the case fields of the ticket card (title, subject, product, origin, type)."""
    try:
        async with transaction(runtime.sessions) as session:
            ticket = await visible_ticket(session, ticket_id, scope=caller.scope)
            changes: dict[str, Any] = {
                "subject_id": _number(subject_id, "subject_id"),
                "product_id": _number(product_id, "product_id"),
                "case_type": case_type.strip() or None}
            if origin.strip():
                changes["origin"] = origin.strip()
            await case_fields.set_case_fields(session, ticket.id, changes,
                                              actor_id=caller.user.id, cause="agent")
            await tickets.update_ticket(session, ticket.id, {"name": title.strip()},
                                        actor_id=caller.user.id, cause="agent")
    except UserError as exc:
        return _back(conversation_id, exc.message, error=True)
    return _back(conversation_id, "Case saved")


async def _hits(runtime: Runtime, caller: PageCaller, q: str) -> list[companies.CustomerHit]:
    async with transaction(runtime.sessions) as session:
        return await companies.find_customers(session, q, scope=caller.scope)


@router.get("/cases/customers")
async def customer_matches(request: Request, caller: CurrentPageCaller, runtime: RuntimeDep,
                           q: SearchQuery = "") -> Response:
    """The customers matching `q` as choices of a form (what htmx swaps in)."""
    return render(request, "cases/customer_results.html", {
        "hits": await _hits(runtime, caller, q), "customer_q": q, "chosen": ""})


@router.get("/tickets/{ticket_id}/customer")
async def choose_customer(request: Request, ticket_id: IdPath, caller: CurrentPageCaller,
                          runtime: RuntimeDep, conversation_id: int,
                          q: SearchQuery = "") -> Response:
    """The customer chooser of a ticket on a page of its own (the card's search without
    a script)."""
    async with transaction(runtime.sessions) as session:
        ticket = await visible_ticket(session, ticket_id, scope=caller.scope)
        current = await case_fields.fields_of(session, ticket)
    return render(request, "cases/customer.html", {
        "caller": caller, "ticket": ticket, "current": current, "customer_q": q, "q": "",
        "conversation_id": conversation_id, "hits": await _hits(runtime, caller, q)})


@router.post("/tickets/{ticket_id}/customer")
async def set_customer(ticket_id: IdPath, caller: CurrentPageCaller, runtime: RuntimeDep,
                       conversation_id: Annotated[int, Form()],
                       customer: Annotated[str | None, Form(max_length=40)] = None) -> Response:
    """Set the ticket's customer (a new one clears its entitlement); empty: none; not
    sent (no match chosen): refused."""
    if customer is None:
        return _back(conversation_id, "Choose a customer among the matches first", error=True)
    try:
        chosen = case_rules.parse_customer(customer)
        async with transaction(runtime.sessions) as session:
            await visible_ticket(session, ticket_id, scope=caller.scope)
            if chosen is not None and chosen.kind == "contact":
                await companies.visible_contact(session, chosen.id, scope=caller.scope)
            await case_fields.set_case_fields(session, ticket_id, {"customer": chosen},
                                              actor_id=caller.user.id, cause="agent")
    except ValueError as exc:
        return _back(conversation_id, str(exc), error=True)
    except UserError as exc:
        return _back(conversation_id, exc.message, error=True)
    return _back(conversation_id, "Customer set" if chosen else "Customer removed")


@dataclass
class CaseDraft:
    """What the New case form holds (kept when it comes back)."""

    inbox: str = ""
    origin: str = "phone"
    customer: str = ""
    caller_name: str = ""
    caller_email: str = ""
    caller_phone: str = ""
    title: str = ""
    notes: str = ""


async def _new_case_page(request: Request, caller: PageCaller, runtime: Runtime,
                         draft: CaseDraft, q: str, error: UserError | None = None) -> Response:
    async with transaction(runtime.sessions) as session:
        inboxes = await access.list_inboxes(session, caller.scope)
        hits = await companies.find_customers(session, q, scope=caller.scope)
    return render(request, "cases/new.html", {
        "caller": caller, "customer_q": q, "q": "", "draft": draft, "inboxes": inboxes,
        "hits": hits,
        "error": error, "origins": case_rules.BY_HAND_ORIGINS, "origin_labels": ORIGIN_LABELS},
        status_code=422 if error else 200)


@router.get("/cases/new")
async def new_case(request: Request, caller: CurrentPageCaller, runtime: RuntimeDep,
                   q: SearchQuery = "", inbox: SearchQuery = "", origin: SearchQuery = "phone",
                   customer: SearchQuery = "", caller_name: SearchQuery = "",
                   caller_email: SearchQuery = "", caller_phone: SearchQuery = "",
                   title: Annotated[str, Query(max_length=998)] = "",
                   notes: Annotated[str, Query(max_length=4000)] = "") -> Response:
    """The New case form (a call, a walk-in); its Find button comes back here with the
    matching customers and everything typed so far."""
    draft = CaseDraft(inbox, origin, customer, caller_name, caller_email, caller_phone,
                      title, notes)
    return await _new_case_page(request, caller, runtime, draft, q)


@router.post("/cases")
async def open_case(request: Request, caller: CurrentPageCaller, runtime: RuntimeDep,
                    inbox: Short = "", origin: Short = "", customer: Short = "",
                    caller_name: Short = "", caller_email: Short = "", caller_phone: Short = "",
                    title: Short = "", notes: Long = "") -> Response:
    """Open the case and go to it; a refusal shows the form again with the reason."""
    draft = CaseDraft(inbox, origin, customer, caller_name, caller_email, caller_phone,
                      title, notes)
    try:
        chosen = case_rules.parse_customer(customer)
    except ValueError as exc:
        return await _new_case_page(request, caller, runtime, draft, "",
                                    InvalidInput(str(exc), field="customer"))
    try:
        async with transaction(runtime.sessions) as session:
            target = await access.require_inbox(session, caller.scope, inbox)
            if chosen is not None and chosen.kind == "contact":
                await companies.visible_contact(session, chosen.id, scope=caller.scope)
            ticket = await case_fields.open_case(session, case_fields.NewCase(
                inbox_id=target.id, origin=origin, title=title, notes=notes, customer=chosen,
                caller_name=caller_name, caller_email=caller_email,
                caller_phone=caller_phone), actor_id=caller.user.id)
            conversation_id = await case_fields.conversation_of_case(session, ticket.id)
    except UserError as exc:
        return await _new_case_page(request, caller, runtime, draft, "", exc)
    return _back(conversation_id, f"Case #{ticket.number} opened")


@router.post("/messages/{message_id}/case")
async def case_from_message(message_id: IdPath, caller: CurrentPageCaller,
                            runtime: RuntimeDep,
                            conversation_id: Annotated[int, Form()]) -> Response:
    """Make a new case of a message and go to it."""
    try:
        async with transaction(runtime.sessions) as session:
            await inbox_queries.visible_message(session, message_id, scope=caller.scope)
            ticket = await case_fields.case_from_message(session, message_id,
                                                         actor_id=caller.user.id)
            opened = await case_fields.conversation_of_case(session, ticket.id)
    except UserError as exc:
        return _back(conversation_id, exc.message, error=True)
    return _back(opened, f"Case #{ticket.number} made from a message")
