"""The case side of a ticket: customer, subject, product, origin and case type, written
through the ticket write path (history on the timeline, TicketChanged); a case opened by
hand (a call, a walk-in) and a case made from a message.

Each function takes the caller's session and never commits. Changing the customer clears
the case's entitlement (it belonged to the customer before), on the timeline too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.errors import InvalidInput, NotFound
from core.events import publish
from inbox import by_hand, companies
from inbox.models import Company, Contact, Conversation, Message
from tickets import case_rules, catalog
from tickets.case_rules import Customer
from tickets.events import TicketChanged
from tickets.models import Product, Ticket, TicketConversation, TicketHistory
from tickets.service import get_ticket, ticket_for_conversation

CASE_FIELDS = ("customer", "subject_id", "product_id", "origin", "case_type")
SPLIT_FROM, SPLIT_TO = "split_from", "split_to"
"""History actions of a case made from a message: on the new case (old: the ticket the
message was in, new: the message) and on that ticket (old: the message, new: the case)."""
MAX_TITLE = 200


@dataclass(frozen=True)
class CaseFields:
    """A case's fields as people read them (names, the subject's path)."""

    customer: Customer | None
    customer_name: str | None
    subject_path: str | None
    product_name: str | None
    origin: str | None
    case_type: str | None


async def _customer_label(session: AsyncSession, customer: Customer | None) -> str | None:
    if customer is None:
        return None
    return await companies.customer_name(session, customer.kind, customer.id)


async def _product_label(session: AsyncSession, product_id: int | None) -> str | None:
    return None if product_id is None else (await catalog.get_product(session, product_id)).name


async def _subject_label(session: AsyncSession, subject_id: int | None) -> str | None:
    return None if subject_id is None else await catalog.subject_path(session, subject_id)


async def fields_of(session: AsyncSession, ticket: Ticket) -> CaseFields:
    """The ticket's case fields, named."""
    customer = case_rules.customer_of(ticket.customer_contact_id, ticket.customer_company_id)
    return CaseFields(customer, await _customer_label(session, customer),
                      await _subject_label(session, ticket.subject_id),
                      await _product_label(session, ticket.product_id),
                      ticket.origin, ticket.case_type)


async def _check_customer(session: AsyncSession, customer: Customer | None) -> None:
    if customer is None:
        return
    model: type[Contact] | type[Company] = Contact if customer.kind == "contact" else Company
    if await session.get(model, customer.id) is None:
        raise InvalidInput(f"no {customer.kind} {customer.id}", field="customer")


async def _check(session: AsyncSession, ticket: Ticket, changes: dict[str, Any]) -> None:
    """Refuse (InvalidInput naming the field) what cannot be set."""
    unknown = sorted(set(changes) - set(CASE_FIELDS))
    if unknown:
        raise InvalidInput(f"cannot change {unknown[0]}", field=unknown[0])
    await _check_customer(session, changes.get("customer"))
    if changes.get("subject_id") is not None:
        try:
            await catalog.subject_path(session, changes["subject_id"])
        except NotFound as exc:
            raise InvalidInput(exc.message, field="subject_id") from None
    product_id = changes.get("product_id")
    if product_id is not None and product_id != ticket.product_id:
        product = await session.get(Product, product_id)
        if product is None or not product.active:
            raise InvalidInput(f"no active product {product_id}", field="product_id")
    if "origin" in changes:
        refusal = case_rules.origin_refusal(ticket.origin, changes["origin"])
        if refusal:
            raise InvalidInput(refusal, field="origin")
    if "case_type" in changes and (refusal := case_rules.case_type_refusal(
            changes["case_type"])):
        raise InvalidInput(refusal, field="case_type")


def _columns(changes: dict[str, Any]) -> dict[str, Any]:
    """`changes` as the ticket's columns."""
    columns = {k: v for k, v in changes.items() if k != "customer"}
    if "customer" in changes:
        columns.update(case_rules.customer_columns(changes["customer"]))
    return columns


async def _labels(session: AsyncSession, column: str, old: Any, new: Any
                  ) -> tuple[str, Any, Any] | None:
    """The history field and values of a changed column (None: told with another)."""
    if column == "customer_company_id" or column == "customer_contact_id":
        return None
    if column == "subject_id":
        return "subject", await _subject_label(session, old), await _subject_label(session, new)
    if column == "product_id":
        return "product", await _product_label(session, old), await _product_label(session, new)
    return column, old, new


async def set_case_fields(session: AsyncSession, ticket_id: int, changes: dict[str, Any], *,
                          actor_id: int | None, cause: str) -> Ticket:
    """Set case fields (keys of CASE_FIELDS; `customer` a `Customer` or None) on a live
    ticket: checked (InvalidInput naming the field; nothing written), recorded in its
    history with names rather than ids, announced as TicketChanged. A new customer clears
    the entitlement."""
    ticket = await get_ticket(session, ticket_id)
    await _check(session, ticket, changes)
    old_customer = case_rules.customer_of(ticket.customer_contact_id, ticket.customer_company_id)
    columns = _columns(changes)
    applied = {k: (getattr(ticket, k), v) for k, v in columns.items() if getattr(ticket, k) != v}
    if not applied:
        return ticket
    rows: list[tuple[str, Any, Any]] = []
    if "customer" in changes and changes["customer"] != old_customer:
        rows.append(("customer", await _customer_label(session, old_customer),
                     await _customer_label(session, changes["customer"])))
        if ticket.entitlement_id is not None:
            applied["entitlement_id"] = (ticket.entitlement_id, None)
            rows.append(("entitlement", f"#{ticket.entitlement_id}", None))
    for column, (old, new) in applied.items():
        labelled = None if column == "entitlement_id" else await _labels(session, column, old,
                                                                         new)
        if labelled is not None:
            rows.append(labelled)
    now = clock.now()
    for column, (_, new) in applied.items():
        setattr(ticket, column, new)
    for field, old, new in rows:
        session.add(_history(ticket.id, "changed", actor_id, cause, field, old, new, now))
    ticket.updated_at = now
    await session.flush()
    await publish(session, TicketChanged(ticket.id, applied, actor_id, cause))
    return ticket


def _history(ticket_id: int, action: str, actor_id: int | None, cause: str,
             field: str | None, old: Any, new: Any, now: Any) -> TicketHistory:
    return TicketHistory(ticket_id=ticket_id, at=now, actor_id=actor_id, action=action,
                         field=field, old_value=None if old is None else str(old),
                         new_value=None if new is None else str(new), cause=cause)


async def _ticket_of(session: AsyncSession, conversation_id: int) -> Ticket:
    ticket = await ticket_for_conversation(session, conversation_id)
    if ticket is None:  # the sync rules give every open conversation its ticket
        raise RuntimeError(f"conversation {conversation_id} got no ticket")
    return ticket


@dataclass(frozen=True)
class NewCase:
    """A case an agent opens by hand."""

    inbox_id: int
    origin: str
    title: str
    notes: str
    customer: Customer | None = None
    caller_name: str | None = None
    caller_email: str | None = None
    caller_phone: str | None = None


async def _contact_for(session: AsyncSession, case: NewCase) -> int:
    """The contact the case's conversation is with: the customer when a contact, else a
    new contact from the caller's details (in the customer company, if one)."""
    if case.customer is not None and case.customer.kind == "contact":
        if await session.get(Contact, case.customer.id) is None:
            raise InvalidInput(f"no contact {case.customer.id}", field="customer")
        return case.customer.id
    company_id = None
    if case.customer is not None:
        if await session.get(Company, case.customer.id) is None:
            raise InvalidInput(f"no company {case.customer.id}", field="customer")
        company_id = case.customer.id
    contact = await by_hand.new_contact(session, name=case.caller_name,
                                        email=case.caller_email, phone=case.caller_phone,
                                        company_id=company_id)
    return contact.id


async def open_case(session: AsyncSession, case: NewCase, *, actor_id: int) -> Ticket:
    """Open a case by hand: a conversation on the phone channel whose first entry is the
    agent's notes (so it is in the inbox like any other), its ticket titled `title`, for
    the customer (or a new contact made from the caller's details), with origin phone or
    walk-in. InvalidInput naming the field for what cannot be used; nothing is stored."""
    if case.origin not in case_rules.BY_HAND_ORIGINS:
        raise InvalidInput("origin must be phone or walk_in", field="origin")
    contact_id = await _contact_for(session, case)
    conversation, _ = await by_hand.open_conversation(
        session, inbox_id=case.inbox_id, contact_id=contact_id,
        channel=by_hand.PHONE_CHANNEL, subject=case.title, text=case.notes,
        author_id=actor_id, direction="comment")
    ticket = await _ticket_of(session, conversation.id)
    return await set_case_fields(
        session, ticket.id,
        {"customer": case.customer or Customer("contact", contact_id), "origin": case.origin},
        actor_id=actor_id, cause="agent")


def title_from(text: str, fallback: str) -> str:
    """A case's title from a message: its first line that holds something, cut to
    MAX_TITLE characters; `fallback` when it holds nothing."""
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    title = line or fallback.strip() or "(no subject)"
    return title if len(title) <= MAX_TITLE else title[:MAX_TITLE - 1] + "…"


async def case_from_message(session: AsyncSession, message_id: int, *, actor_id: int) -> Ticket:
    """A new case holding a message's text, in the same inbox and channel, for the same
    customer (the ticket's, else the conversation's contact). A customer's message stays
    theirs; an agent's becomes an internal note. Both tickets tell it on their timeline."""
    message = await session.get(Message, message_id)
    conversation = (None if message is None
                    else await session.get(Conversation, message.conversation_id))
    if message is None or conversation is None or conversation.deleted_at is not None:
        raise NotFound(f"no message {message_id}")
    source = await _ticket_of(session, conversation.id)
    inbound = message.direction == "inbound"
    opened, _ = await by_hand.open_conversation(
        session, inbox_id=conversation.inbox_id, contact_id=conversation.contact_id,
        channel=conversation.channel, subject=title_from(message.text, conversation.subject),
        text=message.text or "(empty message)", author_id=None if inbound else actor_id,
        direction="inbound" if inbound else "comment")
    case = await _ticket_of(session, opened.id)
    customer = case_rules.customer_of(source.customer_contact_id,
                                      source.customer_company_id)
    await set_case_fields(session, case.id,
                          {"customer": customer or Customer("contact", conversation.contact_id)},
                          actor_id=actor_id, cause="agent")
    now = clock.now()
    session.add(_history(case.id, SPLIT_FROM, actor_id, "agent", "ticket", source.id,
                         message.id, now))
    session.add(_history(source.id, SPLIT_TO, actor_id, "agent", "ticket", message.id, case.id,
                         now))
    await session.flush()
    return case


async def conversation_of_case(session: AsyncSession, ticket_id: int) -> int:
    """The first conversation of a case (where its page is)."""
    found = await session.scalar(select(TicketConversation.conversation_id)
                                 .where(TicketConversation.ticket_id == ticket_id)
                                 .order_by(TicketConversation.conversation_id))
    if found is None:
        raise NotFound(f"no conversation of ticket {ticket_id}")
    return found
