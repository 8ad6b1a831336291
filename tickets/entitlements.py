"""Entitlements: the one writer of entitlements and of their terms.

Admins keep each customer's entitlements (a company or a contact; one default per
customer). A case takes one through the ticket write path (`tickets.service.update_ticket`
with `entitlement_id`), which runs `with_entitlement_checked`: the entitlement must belong
to the case's customer (or the company of its contact), be in force today and cover the
case's origin channel and product. A case without one is offered the customer's default
when it fits (`options_for`): the agent applies it, nothing is chosen behind their back.

`EntitlementRules` takes the terms down: cases at the case's creation (when it gets its
entitlement) or at its resolution, as the case settings say; hours at resolution by the
billable minutes. Each decrement is a history row on the case, and so is the warning
when the terms were short (they stop at zero).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from audit.service import changed_only, record_change
from core import clock
from core.errors import Conflict, InvalidInput, NotFound
from core.events import EventBus
from inbox.access import Scope
from inbox.companies import contact_in_scope
from inbox.models import Company, Contact
from tickets import entitlement_terms as terms
from tickets import state
from tickets.events import CaseResolved, TicketChanged
from tickets.models import CaseSettings, Entitlement, Product, Ticket, TicketHistory

FIELDS = ("name", "customer_contact_id", "customer_company_id", "starts_on", "ends_on",
          "terms_kind", "terms_total", "terms_remaining", "channels", "product_ids",
          "is_default", "sla_goals", "canceled")
NULLABLE = ("customer_contact_id", "customer_company_id", "sla_goals")
USED, SHORT = "entitlement_used", "entitlement_short"
"""History actions: terms taken off an entitlement; terms that fell short (stopped at 0)."""


def today() -> date:
    """The day entitlements are judged on (UTC)."""
    return clock.now().date()


async def get_entitlement(session: AsyncSession, entitlement_id: int) -> Entitlement:
    """The entitlement `entitlement_id`; NotFound when there is none."""
    row = await session.get(Entitlement, entitlement_id)
    if row is None:
        raise NotFound(f"no entitlement {entitlement_id}")
    return row


def _seen_in(scope: Scope) -> ColumnElement[bool]:
    """A SQL condition on `Entitlement`: a company's, or a contact's in `scope`."""
    return or_(Entitlement.customer_contact_id.is_(None), exists().where(
        Contact.id == Entitlement.customer_contact_id, contact_in_scope(scope)))


async def visible_entitlement(session: AsyncSession, entitlement_id: int, *,
                              scope: Scope) -> Entitlement:
    """The entitlement when it is a company's or a contact's in `scope`; NotFound otherwise
    (as for one that does not exist)."""
    row = await session.scalar(select(Entitlement).where(Entitlement.id == entitlement_id,
                                                         _seen_in(scope)))
    if row is None:
        raise NotFound(f"no entitlement {entitlement_id}")
    return row


async def list_entitlements(session: AsyncSession, *, company_id: int | None = None,
                            contact_id: int | None = None,
                            scope: Scope | None = None) -> list[Entitlement]:
    """Every entitlement (or those of one company / contact), by name; with `scope`, only
    companies' and those of contacts in it."""
    query = select(Entitlement).order_by(Entitlement.name, Entitlement.id)
    if scope is not None:
        query = query.where(_seen_in(scope))
    if company_id is not None:
        query = query.where(Entitlement.customer_company_id == company_id)
    if contact_id is not None:
        query = query.where(Entitlement.customer_contact_id == contact_id)
    return list((await session.scalars(query)).all())


def snapshot(row: Entitlement) -> dict[str, Any]:
    """The entitlement's fields as plain JSON values (audit, API)."""
    return {name: (value.isoformat() if isinstance(value, date) else value)
            for name in FIELDS for value in [getattr(row, name)]}


# ------------------------------------------------------------------ checks


def _check_text_fields(values: dict[str, Any]) -> None:
    if not 0 < len((values.get("name") or "").strip()) <= 200:
        raise InvalidInput("name must be 1 to 200 characters", field="name")
    if values.get("terms_kind") not in terms.TERMS_KINDS:
        raise InvalidInput(f"terms_kind must be one of {', '.join(terms.TERMS_KINDS)}",
                           field="terms_kind")
    for key in ("terms_total", "terms_remaining"):
        value = values.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 10**8:
            raise InvalidInput(f"{key} must be a whole number from 0", field=key)
    if not (isinstance(values.get("starts_on"), date) and isinstance(values.get("ends_on"),
                                                                      date)):
        raise InvalidInput("give the start and end dates", field="starts_on")
    if values["ends_on"] < values["starts_on"]:
        raise InvalidInput("the end date comes before the start date", field="ends_on")
    unknown = [c for c in values.get("channels") or [] if c not in state.ORIGINS]
    if unknown:
        raise InvalidInput(f"channels must be among {', '.join(state.ORIGINS)}",
                           field="channels")
    goals = values.get("sla_goals")
    if goals is not None and not isinstance(goals, dict):
        raise InvalidInput("sla_goals must be an object or null", field="sla_goals")


async def _check_references(session: AsyncSession, values: dict[str, Any]) -> None:
    company, contact = values.get("customer_company_id"), values.get("customer_contact_id")
    if (company is None) == (contact is None):
        raise InvalidInput("give the customer: a company or a contact", field="customer")
    if company is not None and await session.get(Company, company) is None:
        raise InvalidInput(f"no company {company}", field="customer_company_id")
    if contact is not None and await session.get(Contact, contact) is None:
        raise InvalidInput(f"no contact {contact}", field="customer_contact_id")
    product_ids = list(values.get("product_ids") or [])
    if product_ids:
        found = set((await session.scalars(select(Product.id)
                                           .where(Product.id.in_(product_ids)))).all())
        missing = [p for p in product_ids if p not in found]
        if missing:
            raise InvalidInput(f"no product {missing[0]}", field="product_ids")


async def _keep_one_default(session: AsyncSession, row: Entitlement) -> None:
    """A customer has at most one default: this one wins."""
    if not row.is_default:
        return
    same_customer = (Entitlement.customer_company_id == row.customer_company_id
                     if row.customer_company_id is not None
                     else Entitlement.customer_contact_id == row.customer_contact_id)
    await session.execute(update(Entitlement).where(same_customer, Entitlement.id != row.id)
                          .values(is_default=False))


# ------------------------------------------------------------------ admin writes


async def create_entitlement(session: AsyncSession, values: dict[str, Any], *,
                             actor: User | None) -> Entitlement:
    """A new entitlement from `values` (the FIELDS; `terms_remaining` defaults to the
    total), audited; InvalidInput names the field at fault. Made default, it takes over
    from the customer's previous default."""
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise InvalidInput(f"unknown field {sorted(unknown)[0]}", field=sorted(unknown)[0])
    values = {"channels": [], "product_ids": [], "is_default": False, "sla_goals": None,
              "canceled": False, **values}
    values.setdefault("terms_remaining", values.get("terms_total"))
    _check_text_fields(values)
    await _check_references(session, values)
    row = Entitlement(**{**values, "name": values["name"].strip()}, created_at=clock.now())
    session.add(row)
    await session.flush()
    await _keep_one_default(session, row)
    await record_change(session, actor=actor, action="entitlement.created",
                        subject_type="entitlement", subject_id=row.id,
                        summary=f"Entitlement {row.name!r} created", after=snapshot(row))
    return row


async def update_entitlement(session: AsyncSession, entitlement_id: int,
                             changes: dict[str, Any], *, actor: User | None) -> Entitlement:
    """Change some FIELDS of an entitlement (audited). A new total moves the remaining
    terms by as much (not below zero) unless `terms_remaining` is given too."""
    row = await get_entitlement(session, entitlement_id)
    unknown = set(changes) - set(FIELDS)
    if unknown:
        raise InvalidInput(f"unknown field {sorted(unknown)[0]}", field=sorted(unknown)[0])
    nulled = sorted(k for k, v in changes.items() if v is None and k not in NULLABLE)
    if nulled:
        raise InvalidInput(f"{nulled[0]} cannot be null", field=nulled[0])
    before = snapshot(row)
    values = {name: getattr(row, name) for name in FIELDS} | changes
    if "terms_total" in changes and "terms_remaining" not in changes and isinstance(
            changes["terms_total"], int):
        values["terms_remaining"] = max(row.terms_remaining + changes["terms_total"]
                                        - row.terms_total, 0)
    if "customer_company_id" in changes and changes["customer_company_id"] is not None:
        values["customer_contact_id"] = None
    if "customer_contact_id" in changes and changes["customer_contact_id"] is not None:
        values["customer_company_id"] = None
    _check_text_fields(values)
    await _check_references(session, values)
    for name in FIELDS:
        setattr(row, name, values[name].strip() if name == "name" else values[name])
    await session.flush()
    await _keep_one_default(session, row)
    old, new = changed_only(before, snapshot(row))
    if new or old:
        await record_change(session, actor=actor, action="entitlement.updated",
                            subject_type="entitlement", subject_id=row.id,
                            summary=f"Entitlement {row.name!r} changed", before=old, after=new)
    return row


async def delete_entitlement(session: AsyncSession, entitlement_id: int, *,
                             actor: User | None) -> None:
    """Delete an entitlement no case uses (audited); Conflict otherwise (cancel it)."""
    row = await get_entitlement(session, entitlement_id)
    if await session.scalar(select(exists().where(Ticket.entitlement_id == row.id))):
        raise Conflict("cases use this entitlement: cancel it instead", field="canceled")
    before = snapshot(row)
    await session.delete(row)
    await session.flush()
    await record_change(session, actor=actor, action="entitlement.deleted",
                        subject_type="entitlement", subject_id=entitlement_id,
                        summary=f"Entitlement {before['name']!r} deleted", before=before)


# ------------------------------------------------------------------ cases


async def _customer_keys(session: AsyncSession, ticket: Ticket,
                         changes: dict[str, Any] | None = None) -> tuple[int | None, int | None]:
    """(company id, contact id) whose entitlements a case may use: its customer, and for a
    contact customer also the contact's company."""
    changes = changes or {}
    contact_id = changes.get("customer_contact_id", ticket.customer_contact_id)
    company_id = changes.get("customer_company_id", ticket.customer_company_id)
    if contact_id is not None and company_id is None:
        contact = await session.get(Contact, contact_id)
        company_id = contact.company_id if contact is not None else None
    return company_id, contact_id


def _belongs(row: Entitlement, company_id: int | None, contact_id: int | None) -> bool:
    return ((row.customer_company_id is not None and row.customer_company_id == company_id)
            or (row.customer_contact_id is not None and row.customer_contact_id == contact_id))


def refusal(row: Entitlement, *, channel: str | None, product_id: int | None,
            on: date) -> str | None:
    """Why a case that came in by `channel` about `product_id` cannot use the entitlement
    on the day `on` (None: it can)."""
    return (terms.inactive_reason(row.starts_on, row.ends_on, row.canceled, on)
            or terms.uncovered_reason(row.channels, row.product_ids, channel, product_id))


def _channel(ticket: Ticket) -> str:
    return ticket.origin or ticket.source_channel


async def with_entitlement_checked(session: AsyncSession, ticket: Ticket,
                                   changes: dict[str, Any]) -> None:
    """The ticket write path's check of a new `entitlement_id`: it must be the case
    customer's, in force today and cover the case's channel and product; InvalidInput
    (422) says why not."""
    entitlement_id = changes.get("entitlement_id")
    if entitlement_id is None or entitlement_id == ticket.entitlement_id:
        return
    row = await session.get(Entitlement, entitlement_id)
    if row is None:
        raise InvalidInput(f"no entitlement {entitlement_id}", field="entitlement_id")
    company_id, contact_id = await _customer_keys(session, ticket, changes)
    problem = None if _belongs(row, company_id, contact_id) else (
        "it is not the case customer's")
    problem = problem or refusal(row, channel=changes.get("origin", _channel(ticket)),
                                 product_id=changes.get("product_id", ticket.product_id),
                                 on=today())
    if problem:
        raise InvalidInput(f"entitlement {row.name!r} cannot be used for this case: "
                           f"{problem}", field="entitlement_id")


@dataclass(frozen=True)
class Option:
    """One of the customer's entitlements as a case sees it."""

    entitlement: Entitlement
    problem: str | None
    """Why the case cannot use it (None: it can)."""

    @property
    def remaining(self) -> str:
        return terms.format_terms(self.entitlement.terms_kind,
                                  self.entitlement.terms_remaining)


@dataclass(frozen=True)
class CaseEntitlements:
    """The entitlement a case has, the customer's others, and the default offered."""

    current: Entitlement | None
    options: list[Option]
    suggested_id: int | None
    """The customer's default when the case has none and it fits."""


async def options_for(session: AsyncSession, ticket: Ticket) -> CaseEntitlements:
    """The case's entitlement, and every entitlement of its customer with why it cannot be
    used (if so); the customer's default is suggested when the case has none and it fits."""
    current = (await session.get(Entitlement, ticket.entitlement_id)
               if ticket.entitlement_id else None)
    company_id, contact_id = await _customer_keys(session, ticket)
    rows: list[Entitlement] = []
    if company_id is not None:
        rows += await list_entitlements(session, company_id=company_id)
    if contact_id is not None:
        rows += await list_entitlements(session, contact_id=contact_id)
    on = today()
    options = [Option(row, refusal(row, channel=_channel(ticket),
                                   product_id=ticket.product_id, on=on)) for row in rows]
    suggested = None
    if current is None:
        suggested = next((o.entitlement.id for o in options
                          if o.entitlement.is_default and o.problem is None), None)
    return CaseEntitlements(current, options, suggested)


async def decrement_setting(session: AsyncSession) -> str:
    """When terms go down (the case settings' `entitlement_decrement_on`; `creation` when
    no settings were saved)."""
    row = await session.get(CaseSettings, 1)
    return row.entitlement_decrement_on if row is not None else "creation"


async def _used_before(session: AsyncSession, ticket_id: int, entitlement_id: int) -> bool:
    return bool(await session.scalar(select(exists().where(
        TicketHistory.ticket_id == ticket_id, TicketHistory.action == USED,
        TicketHistory.old_value == str(entitlement_id)))))


def _history(ticket_id: int, action: str, entitlement_id: int, text: str,
             actor_id: int | None) -> TicketHistory:
    return TicketHistory(ticket_id=ticket_id, at=clock.now(), actor_id=actor_id,
                         action=action, field="entitlement_id", old_value=str(entitlement_id),
                         new_value=text, cause="system")


async def use_terms(session: AsyncSession, ticket_id: int, entitlement_id: int, *,
                    billable_minutes: int = 0, actor_id: int | None = None
                    ) -> terms.Decrement | None:
    """Take a case's use off the entitlement's terms (a case, or `billable_minutes`), never
    below zero; records it on the case's history, with a warning row when the terms fell
    short. A case is counted once per entitlement (None when it was already)."""
    row = await get_entitlement(session, entitlement_id)
    if row.terms_kind == "cases" and await _used_before(session, ticket_id, row.id):
        return None
    done = terms.decrement(row.terms_kind, row.terms_remaining,
                           billable_minutes=billable_minutes)
    row.terms_remaining = done.after
    session.add(_history(ticket_id, USED, row.id, (
        f"{terms.format_terms(row.terms_kind, done.used)} used of {row.name}: "
        f"{terms.format_terms(row.terms_kind, done.after)} left"), actor_id))
    if done.warning:
        session.add(_history(ticket_id, SHORT, row.id, f"{row.name}: {done.warning}",
                             actor_id))
    await session.flush()
    return done


class EntitlementRules:
    """Takes terms down when a case gets its entitlement or is resolved."""

    def install(self, bus: EventBus) -> None:
        bus.subscribe(TicketChanged, self.on_ticket_changed)
        bus.subscribe(CaseResolved, self.on_case_resolved)

    async def on_ticket_changed(self, session: AsyncSession, e: TicketChanged) -> None:
        if "entitlement_id" not in e.changes:
            return
        new_id = e.changes["entitlement_id"][1]
        if new_id is None:
            return
        row = await get_entitlement(session, new_id)
        if terms.decrements_on(row.terms_kind, await decrement_setting(session)) == "creation":
            await use_terms(session, e.ticket_id, row.id, actor_id=e.actor_id)

    async def on_case_resolved(self, session: AsyncSession, e: CaseResolved) -> None:
        ticket = await session.get(Ticket, e.ticket_id)
        if ticket is None or ticket.entitlement_id is None:
            return
        row = await get_entitlement(session, ticket.entitlement_id)
        if terms.decrements_on(row.terms_kind, await decrement_setting(session)) != (
                "resolution"):
            return
        await use_terms(session, ticket.id, row.id, billable_minutes=e.billable_minutes,
                        actor_id=e.actor_id)


async def own_sla_goals(session: AsyncSession, ticket: Ticket) -> dict[str, Any] | None:
    """The SLA goals the case's entitlement carries (None: the general ones apply)."""
    if ticket.entitlement_id is None:
        return None
    row = await session.get(Entitlement, ticket.entitlement_id)
    return row.sla_goals if row is not None and not row.canceled else None


@dataclass(frozen=True)
class CustomerChoice:
    """A company or contact an entitlement may be for, as a lookup lists it."""

    kind: str
    id: int
    label: str


async def customer_choices(session: AsyncSession, *, limit: int = 1000
                           ) -> list[CustomerChoice]:
    """Companies then contacts, by name, labelled `Company: Acme` / `Contact: Anna
    <anna@example.org>` (what the admin page's customer lookup offers)."""
    companies = await session.execute(select(Company.id, Company.name)
                                      .order_by(Company.name).limit(limit))
    contacts = await session.execute(select(Contact.id, Contact.name, Contact.email)
                                     .order_by(Contact.name, Contact.email).limit(limit))
    return [CustomerChoice("company", i, f"Company: {name}") for i, name in companies] + [
        CustomerChoice("contact", i, f"Contact: {name or email or i}"
                       + (f" <{email}>" if name and email else ""))
        for i, name, email in contacts]


async def product_choices(session: AsyncSession) -> list[Product]:
    """Active products, by name."""
    return list((await session.scalars(select(Product).where(Product.active.is_(True))
                                       .order_by(Product.name))).all())
