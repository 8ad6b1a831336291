"""Customers: looking one up by a few letters (contacts and companies), companies and the
contacts in them. Agents look up and read; admins change companies and who is in them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import ConfigDict, Field

from core.db import transaction
from inbox import companies
from inbox.models import Company, Contact
from web.api.common import (
    JSON,
    CurrentAdmin,
    CurrentCaller,
    IdPath,
    IdValue,
    RequestModel,
    RuntimeDep,
    Text,
    answers,
    page,
)

router = APIRouter(tags=["customers"])

Name = Annotated[Text, Field(min_length=1, max_length=companies.MAX_NAME,
                             examples=["Acme Corporation"])]
Domain = Annotated[Text, Field(max_length=253, examples=["acme.example"])]

COMPANY_EXAMPLE: JSON = {"id": 1, "name": "Acme Ltd", "domain": "acme.example",
                         "created_at": "2026-01-05T10:00:00+00:00"}
COMPANIES_EXAMPLE: JSON = {"items": [COMPANY_EXAMPLE], "next_cursor": None}
CONTACT_EXAMPLE: JSON = {"id": 9, "name": "Ada Lovelace", "email": "ada@acme.example",
                         "phone": "+44 20 7946 0000", "company_id": 1}
COMPANY_CONTACTS_EXAMPLE: JSON = COMPANY_EXAMPLE | {"contacts": [CONTACT_EXAMPLE]}
CUSTOMERS_EXAMPLE: JSON = {"items": [
    {"kind": "company", "id": 1, "ref": "company:1", "name": "Acme Ltd",
     "detail": "acme.example"}], "next_cursor": None}


def company_json(company: Company) -> JSON:
    return {"id": company.id, "name": company.name, "domain": company.domain,
            "created_at": company.created_at.isoformat()}


def contact_json(contact: Contact) -> JSON:
    return {"id": contact.id, "name": contact.name, "email": contact.email,
            "phone": contact.phone, "company_id": contact.company_id}


class NewCompany(RequestModel):
    model_config = ConfigDict(json_schema_extra={
        "examples": [{"name": "Acme Corporation", "domain": "acme.example"}]})

    name: Name
    domain: Domain | None = None


class CompanyPatch(RequestModel):
    model_config = ConfigDict(json_schema_extra={
        "minProperties": 1, "examples": [{"name": "Acme Corp"}, {"domain": None}]})

    name: Name | None = None
    domain: Domain | None = None


class ContactCompany(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"company_id": 1},
                                                              {"company_id": None}]})

    company_id: IdValue | None


@router.get("/api/customers", responses=answers(CUSTOMERS_EXAMPLE))
async def find_customers(
    caller: CurrentCaller, runtime: RuntimeDep,
    q: Annotated[str, Query(min_length=1, max_length=200, examples=["acm"])],
) -> JSON:
    """Companies (by name or domain) and contacts (by name, address or phone) whose text
    holds `q`, case folded: at most 20, companies first. Contacts are those of the
    conversations the caller sees. Each has a `ref` (`contact:<id>` or `company:<id>`),
    which is how a case names its customer."""
    async with transaction(runtime.sessions) as session:
        hits = await companies.find_customers(session, q, scope=caller.scope)
    return page([{"kind": h.kind, "id": h.id, "ref": h.ref, "name": h.name,
                  "detail": h.detail} for h in hits], None)


@router.get("/api/companies", responses=answers(COMPANIES_EXAMPLE))
async def list_companies(caller: CurrentCaller, runtime: RuntimeDep) -> JSON:
    """Every company, by name."""
    async with transaction(runtime.sessions) as session:
        rows = await companies.list_companies(session)
    return page([company_json(row) for row in rows], None)


@router.post("/api/companies", status_code=201, responses=answers(COMPANY_EXAMPLE, 201))
async def create_company(body: NewCompany, admin: CurrentAdmin, runtime: RuntimeDep) -> JSON:
    """A new company (admins); 409 naming `name` when the name is taken."""
    async with transaction(runtime.sessions) as session:
        row = await companies.create_company(session, name=body.name, domain=body.domain,
                                             actor=admin)
    return company_json(row)


@router.get("/api/companies/{company_id}", responses=answers(COMPANY_CONTACTS_EXAMPLE))
async def get_company(company_id: IdPath, caller: CurrentCaller, runtime: RuntimeDep) -> JSON:
    """A company with its contacts (those the caller sees)."""
    async with transaction(runtime.sessions) as session:
        row = await companies.get_company(session, company_id)
        contacts = await companies.contacts_of(session, company_id, scope=caller.scope)
    return company_json(row) | {"contacts": [contact_json(c) for c in contacts]}


@router.patch("/api/companies/{company_id}", responses=answers(COMPANY_EXAMPLE))
async def update_company(company_id: IdPath, body: CompanyPatch, admin: CurrentAdmin,
                         runtime: RuntimeDep) -> JSON:
    """Rename a company or change its domain (`null` removes it) (admins)."""
    sent = body.model_dump(exclude_unset=True)
    async with transaction(runtime.sessions) as session:
        row = await companies.update_company(
            session, company_id, name=sent.get("name"), domain=sent.get("domain"),
            clear_domain="domain" in sent and not sent["domain"], actor=admin)
    return company_json(row)


@router.put("/api/contacts/{contact_id}/company", responses=answers(CONTACT_EXAMPLE))
async def set_contact_company(contact_id: IdPath, body: ContactCompany, admin: CurrentAdmin,
                              runtime: RuntimeDep) -> JSON:
    """Put a contact in a company, or in none with `null` (admins)."""
    async with transaction(runtime.sessions) as session:
        contact = await companies.set_contact_company(session, contact_id, body.company_id,
                                                      actor=admin)
    return contact_json(contact)
