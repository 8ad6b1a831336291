"""Companies (accounts) and the contacts in them; looking up customers by a few letters.

The one writer of companies and of which company a contact belongs to (the rest of a
contact is written by `inbox.service`). Admins manage companies (the callers check that;
every change is audited). What an agent finds is held to their scope: a contact is seen by
someone who sees one of its live conversations; companies are the house's accounts, seen
by every agent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import ColumnElement, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from audit.service import changed_only, record_change
from core import clock
from core.errors import Conflict, InvalidInput, NotFound
from inbox.access import Scope
from inbox.models import Company, Contact, Conversation

MAX_NAME = 200
DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
LOOKUP_LIMIT = 20


@dataclass(frozen=True)
class CustomerHit:
    """A customer found by a lookup: `ref` is how forms and the API name it
    (contact:<id> or company:<id>)."""

    kind: str
    id: int
    name: str
    detail: str

    @property
    def ref(self) -> str:
        return f"{self.kind}:{self.id}"


def _clean_name(name: str) -> str:
    name = name.strip()
    if not 0 < len(name) <= MAX_NAME:
        raise InvalidInput(f"name must be 1 to {MAX_NAME} characters", field="name")
    return name


def _clean_domain(domain: str | None) -> str | None:
    domain = (domain or "").strip().lower().removeprefix("@") or None
    if domain is not None and not DOMAIN.match(domain):
        raise InvalidInput("domain must be a domain name such as example.com", field="domain")
    return domain


async def _refuse_taken(session: AsyncSession, name: str, company_id: int | None) -> None:
    # lower() of SQLite folds ASCII letters only: the exact name is asked for too.
    taken = await session.scalar(select(Company.id).where(
        or_(Company.name == name, func.lower(Company.name) == name.lower())).limit(1))
    if taken is not None and taken != company_id:
        raise Conflict(f"a company named {name!r} exists", field="name")


async def list_companies(session: AsyncSession) -> list[Company]:
    """Every company, by name."""
    return list((await session.scalars(select(Company).order_by(Company.name, Company.id)))
                .all())


async def get_company(session: AsyncSession, company_id: int) -> Company:
    """The company `company_id`; NotFound when there is none."""
    company = await session.get(Company, company_id)
    if company is None:
        raise NotFound(f"no company {company_id}")
    return company


async def create_company(session: AsyncSession, *, name: str, domain: str | None,
                         actor: User | None) -> Company:
    """A new company (audited); InvalidInput for an empty name or a bad domain, Conflict
    for a name taken (in any case)."""
    name, domain = _clean_name(name), _clean_domain(domain)
    await _refuse_taken(session, name, None)
    company = Company(name=name, domain=domain, created_at=clock.now())
    session.add(company)
    await session.flush()
    await record_change(session, actor=actor, action="company.created", subject_type="company",
                        subject_id=company.id, summary=f"Company {name!r} created",
                        after={"name": name, "domain": domain})
    return company


async def update_company(session: AsyncSession, company_id: int, *, name: str | None = None,
                         domain: str | None = None, clear_domain: bool = False,
                         actor: User | None) -> Company:
    """Rename a company and/or change its domain (`clear_domain` removes it); the same
    checks as `create_company`; audited when something changed."""
    company = await get_company(session, company_id)
    before = {"name": company.name, "domain": company.domain}
    if name is not None:
        new_name = _clean_name(name)
        await _refuse_taken(session, new_name, company.id)
        company.name = new_name
    if domain is not None or clear_domain:
        company.domain = None if clear_domain else _clean_domain(domain)
    await session.flush()
    old, new = changed_only(before, {"name": company.name, "domain": company.domain})
    if new:
        await record_change(session, actor=actor, action="company.updated",
                            subject_type="company", subject_id=company.id,
                            summary=f"Company {company.name!r} changed", before=old, after=new)
    return company


async def contacts_of(session: AsyncSession, company_id: int, *, scope: Scope
                      ) -> list[Contact]:
    """The contacts of a company in `scope`, by name then address."""
    return list((await session.scalars(
        select(Contact).where(Contact.company_id == company_id, contact_in_scope(scope))
        .order_by(Contact.name, Contact.email, Contact.id))).all())


async def set_contact_company(session: AsyncSession, contact_id: int, company_id: int | None,
                              *, actor: User | None) -> Contact:
    """Put a contact in a company (None: in none); audited. NotFound for either unknown
    (the company's named `company_id`)."""
    contact = await session.get(Contact, contact_id)
    if contact is None:
        raise NotFound(f"no contact {contact_id}")
    if company_id is not None and await session.get(Company, company_id) is None:
        raise InvalidInput(f"no company {company_id}", field="company_id")
    if contact.company_id != company_id:
        await record_change(session, actor=actor, action="contact.company_changed",
                            subject_type="contact", subject_id=contact.id,
                            summary=f"Contact {contact.email or contact.name!r} "
                                    f"{'joined a company' if company_id else 'left its company'}",
                            before={"company_id": contact.company_id},
                            after={"company_id": company_id})
        contact.company_id = company_id
        await session.flush()
    return contact


def contact_in_scope(scope: Scope) -> ColumnElement[bool]:
    """A SQL condition: the contact has a live conversation in `scope` (always true for
    the scope of admins)."""
    if scope.inbox_ids is None:
        return Contact.id.is_not(None)
    return exists().where(Conversation.contact_id == Contact.id,
                          Conversation.deleted_at.is_(None), scope.covers(Conversation.inbox_id))


async def visible_contact(session: AsyncSession, contact_id: int, *, scope: Scope) -> Contact:
    """The contact when it is in `scope`; NotFound otherwise (as for one that does not
    exist)."""
    contact = await session.scalar(
        select(Contact).where(Contact.id == contact_id, contact_in_scope(scope)))
    if contact is None:
        raise NotFound(f"no contact {contact_id}")
    return contact


def _pattern(query: str) -> str:
    escaped = query.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def find_customers(session: AsyncSession, query: str, *, scope: Scope,
                         limit: int = LOOKUP_LIMIT) -> list[CustomerHit]:
    """Companies (by name or domain) then contacts (by name, address or phone) holding
    `query`, case folded; contacts only those in `scope`. An empty query finds nothing."""
    if not query.strip():
        return []
    like = _pattern(query)
    companies = (await session.scalars(
        select(Company).where(or_(func.lower(Company.name).like(like, escape="\\"),
                                  func.lower(Company.domain).like(like, escape="\\")))
        .order_by(Company.name, Company.id).limit(limit))).all()
    contacts = (await session.execute(
        select(Contact, Company.name).outerjoin(Company, Company.id == Contact.company_id)
        .where(or_(func.lower(Contact.name).like(like, escape="\\"),
                   func.lower(Contact.email).like(like, escape="\\"),
                   Contact.phone.like(like, escape="\\")), contact_in_scope(scope))
        .order_by(Contact.name, Contact.email, Contact.id).limit(limit))).all()
    hits = [CustomerHit("company", c.id, c.name, c.domain or "Company") for c in companies]
    hits += [CustomerHit("contact", c.id, c.name or c.email or f"Contact {c.id}",
                         " · ".join(x for x in (c.email, company) if x))
             for c, company in contacts]
    return hits[:limit]


async def customer_name(session: AsyncSession, kind: str, customer_id: int) -> str:
    """How a customer is shown: a company's name, a contact's name or address."""
    if kind == "company":
        return (await get_company(session, customer_id)).name
    contact = await session.get(Contact, customer_id)
    if contact is None:
        raise NotFound(f"no contact {customer_id}")
    return contact.name or contact.email or f"Contact {contact.id}"


async def contact_by_email(session: AsyncSession, email: str) -> Contact:
    """The contact with this address (case folded); InvalidInput naming `email` when none."""
    address = email.strip().lower()
    contact = await session.scalar(select(Contact).where(Contact.email == address)) \
        if address else None
    if contact is None:
        raise InvalidInput(f"no contact with the address {email.strip()!r}", field="email")
    return contact
