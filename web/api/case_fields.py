"""A ticket's case fields (customer, subject, product, origin, case type), cases opened by
hand (a call, a walk-in) and cases made from a message. A ticket or message the caller may
not see is a 404, as everywhere."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import transaction
from core.errors import InvalidInput, NotFound
from inbox import access, companies
from inbox import queries as inbox_queries
from tickets import case_fields, case_rules
from tickets.models import Ticket
from tickets.queries import visible_ticket
from web.api.common import (
    JSON,
    Caller,
    CurrentCaller,
    IdPath,
    IdValue,
    RequestModel,
    RuntimeDep,
    Text,
    answers,
)

router = APIRouter(tags=["cases"])

CustomerRef = Annotated[str, Field(pattern=r"^(contact|company):[0-9]{1,12}$",
                                   examples=["company:1"])]
CaseType = Literal["question", "problem", "request"]
Origin = Literal["email", "chat", "slack", "form", "api", "phone", "walk_in"]
CASE_EXAMPLE: JSON = {
    "ticket_id": 42, "title": "Printer on fire",
    "customer": {"kind": "company", "id": 1, "ref": "company:1", "name": "Acme Ltd"},
    "subject_id": 2, "subject_path": "Hardware › Printers", "product_id": 1,
    "product_name": "LaserJet 4", "origin": "email", "case_type": "problem",
    "entitlement_id": None, "conversation_id": 17}


async def case_json(session: AsyncSession, ticket: Ticket) -> JSON:
    fields = await case_fields.fields_of(session, ticket)
    customer = fields.customer
    return {"ticket_id": ticket.id, "title": ticket.name,
            "customer": None if customer is None else {
                "kind": customer.kind, "id": customer.id,
                "ref": f"{customer.kind}:{customer.id}", "name": fields.customer_name},
            "subject_id": ticket.subject_id, "subject_path": fields.subject_path,
            "product_id": ticket.product_id, "product_name": fields.product_name,
            "origin": ticket.origin, "case_type": ticket.case_type,
            "entitlement_id": ticket.entitlement_id,
            "conversation_id": await case_fields.conversation_of_case(session, ticket.id)}


class CasePatch(RequestModel):
    model_config = ConfigDict(json_schema_extra={"minProperties": 1, "examples": [
        {"customer": "company:1", "subject_id": 2, "product_id": 1, "case_type": "problem"},
        {"origin": "walk_in"}, {"customer": None}]})

    customer: CustomerRef | None = None
    subject_id: IdValue | None = None
    product_id: IdValue | None = None
    origin: Origin | None = None
    case_type: CaseType | None = None


class NewCase(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"inbox": "support", "origin": "phone", "customer": "company:1",
         "caller_name": "Rita Ruiz", "title": "Printer offline",
         "notes": "Called at 9:10: the printer on floor 2 shows offline."}]})

    inbox: Annotated[str, Field(min_length=1, max_length=64, examples=["support"])]
    origin: Literal["phone", "walk_in"]
    title: Annotated[Text, Field(min_length=1, max_length=998, examples=["Printer offline"])]
    notes: Annotated[Text, Field(min_length=1, max_length=100_000,
                                 examples=["Called about the printer."])]
    customer: CustomerRef | None = None
    caller_name: Annotated[Text, Field(max_length=200, examples=["Rita Ruiz"])] | None = None
    caller_email: Annotated[Text, Field(max_length=254,
                                        examples=["rita@acme.example"])] | None = None
    caller_phone: Annotated[Text, Field(max_length=64, examples=["+1 555 0100"])] | None = None


async def visible_customer(session: AsyncSession, customer: case_rules.Customer | None,
                           caller: Caller) -> None:
    """Refuse (InvalidInput naming `customer`) a contact the caller may not see."""
    if customer is None or customer.kind != "contact":
        return
    try:
        await companies.visible_contact(session, customer.id, scope=caller.scope)
    except NotFound:
        raise InvalidInput(f"no contact {customer.id}", field="customer") from None


def customer_of(ref: str | None) -> case_rules.Customer | None:
    """A customer ref of a request; InvalidInput naming `customer` for a bad one."""
    try:
        return case_rules.parse_customer(ref or "")
    except ValueError as exc:
        raise InvalidInput(str(exc), field="customer") from None


def patch_changes(sent: dict[str, Any]) -> dict[str, Any]:
    """A PATCH body as `case_fields.set_case_fields` takes it."""
    changes = dict(sent)
    if "customer" in changes:
        changes["customer"] = customer_of(changes["customer"])
    if "origin" in changes and changes["origin"] is None:
        raise InvalidInput("origin cannot be null", field="origin")
    return changes


@router.get("/api/tickets/{ticket_id}/case", responses=answers(CASE_EXAMPLE))
async def get_case(ticket_id: IdPath, caller: CurrentCaller, runtime: RuntimeDep) -> JSON:
    """A ticket's case fields, with names: the customer's, the subject's path, the
    product's."""
    async with transaction(runtime.sessions) as session:
        ticket = await visible_ticket(session, ticket_id, scope=caller.scope)
        return await case_json(session, ticket)


@router.patch("/api/tickets/{ticket_id}/case", responses=answers(CASE_EXAMPLE))
async def patch_case(ticket_id: IdPath, body: CasePatch, caller: CurrentCaller,
                     runtime: RuntimeDep) -> JSON:
    """Set the customer (`contact:<id>` or `company:<id>`; `null` for none; a new one
    clears the entitlement), subject, product (an active one), case type, or origin (only
    between `phone` and `walk_in`, for cases opened by hand). Each change is on the
    ticket's timeline."""
    changes = patch_changes(body.model_dump(exclude_unset=True))
    if not changes:
        raise InvalidInput("send at least one field to change")
    async with transaction(runtime.sessions) as session:
        await visible_ticket(session, ticket_id, scope=caller.scope)
        await visible_customer(session, changes.get("customer"), caller)
        ticket = await case_fields.set_case_fields(session, ticket_id, changes,
                                                   actor_id=caller.user.id, cause="agent")
        return await case_json(session, ticket)


@router.post("/api/cases", status_code=201, responses=answers(CASE_EXAMPLE, 201))
async def open_case(body: NewCase, caller: CurrentCaller, runtime: RuntimeDep) -> JSON:
    """Open a case by hand (a phone call, a walk-in) in an inbox the caller sees: a
    conversation on the `phone` channel whose first entry is the notes (an internal
    comment), its ticket titled `title`, for the customer (a contact; or a company, with a
    new contact made from the caller's details), or for a new contact from the caller's
    details."""
    async with transaction(runtime.sessions) as session:
        inbox = await access.require_inbox(session, caller.scope, body.inbox)
        customer = customer_of(body.customer)
        await visible_customer(session, customer, caller)
        ticket = await case_fields.open_case(session, case_fields.NewCase(
            inbox_id=inbox.id, origin=body.origin, title=body.title, notes=body.notes,
            customer=customer, caller_name=body.caller_name,
            caller_email=body.caller_email, caller_phone=body.caller_phone),
            actor_id=caller.user.id)
        return await case_json(session, ticket)


@router.post("/api/messages/{message_id}/case", status_code=201,
             responses=answers(CASE_EXAMPLE, 201))
async def case_from_message(message_id: IdPath, caller: CurrentCaller,
                            runtime: RuntimeDep) -> JSON:
    """Make a new case from a message: it holds the message's text, in the same inbox
    and channel, for the same customer; both tickets' timelines tell it."""
    async with transaction(runtime.sessions) as session:
        await inbox_queries.visible_message(session, message_id, scope=caller.scope)
        ticket = await case_fields.case_from_message(session, message_id,
                                                     actor_id=caller.user.id)
        return await case_json(session, ticket)
