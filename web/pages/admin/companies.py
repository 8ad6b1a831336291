"""`/admin/companies`: admins keep the companies (accounts) and which contacts are in
them (the same service as `/api/companies`)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from core.db import transaction
from core.errors import UserError
from inbox import companies
from inbox.access import EVERY_INBOX
from web.api.common import IdPath, RuntimeDep
from web.pages.admin.common import CurrentAdminPage, render_admin
from web.pages.common import PageCaller, see_other

router = APIRouter(include_in_schema=False)

HOME = "/admin/companies"
Short = Annotated[str, Form(max_length=1000)]


def _done(path: str, notice: str) -> Response:
    return see_other(f"{path}?{urlencode({'notice': notice})}")


async def _list_page(request: Request, caller: PageCaller, runtime: RuntimeDep, *,
                     notice: str | None = None, error: UserError | None = None,
                     draft: dict[str, str] | None = None) -> Response:
    async with transaction(runtime.sessions) as session:
        rows = await companies.list_companies(session)
    return render_admin(request, "admin/companies.html", caller, "companies", {
        "companies": rows, "notice": notice, "error": error, "draft": draft or {}},
        status_code=error.status if error else 200)


@router.get(HOME)
async def companies_page(request: Request, caller: CurrentAdminPage, runtime: RuntimeDep,
                         notice: str | None = None) -> Response:
    """Every company, and a form for a new one."""
    return await _list_page(request, caller, runtime, notice=notice)


@router.post(HOME)
async def add_company(request: Request, caller: CurrentAdminPage, runtime: RuntimeDep,
                      name: Short = "", domain: Short = "") -> Response:
    """Create a company; a bad one shows the form again with the reason."""
    try:
        async with transaction(runtime.sessions) as session:
            company = await companies.create_company(session, name=name, domain=domain,
                                                     actor=caller.user)
    except UserError as exc:
        return await _list_page(request, caller, runtime, error=exc,
                                draft={"name": name, "domain": domain})
    return _done(f"{HOME}/{company.id}", f"Company {company.name!r} added")


async def _company_page(request: Request, caller: PageCaller, runtime: RuntimeDep,
                        company_id: int, *, notice: str | None = None,
                        error: UserError | None = None) -> Response:
    async with transaction(runtime.sessions) as session:
        company = await companies.get_company(session, company_id)
        contacts = await companies.contacts_of(session, company_id, scope=EVERY_INBOX)
    return render_admin(request, "admin/company.html", caller, "companies", {
        "company": company, "contacts": contacts, "notice": notice, "error": error},
        status_code=error.status if error else 200)


@router.get(HOME + "/{company_id}")
async def company_page(request: Request, company_id: IdPath, caller: CurrentAdminPage,
                       runtime: RuntimeDep, notice: str | None = None) -> Response:
    """A company: its name and domain, its contacts, adding one by address."""
    return await _company_page(request, caller, runtime, company_id, notice=notice)


@router.post(HOME + "/{company_id}")
async def save_company(request: Request, company_id: IdPath, caller: CurrentAdminPage,
                       runtime: RuntimeDep, name: Short = "", domain: Short = "") -> Response:
    """Save a company's name and domain (empty: none)."""
    try:
        async with transaction(runtime.sessions) as session:
            await companies.update_company(session, company_id, name=name,
                                           domain=domain or None, clear_domain=not domain,
                                           actor=caller.user)
    except UserError as exc:
        return await _company_page(request, caller, runtime, company_id, error=exc)
    return _done(f"{HOME}/{company_id}", "Company saved")


@router.post(HOME + "/{company_id}/contacts")
async def add_contact(request: Request, company_id: IdPath, caller: CurrentAdminPage,
                      runtime: RuntimeDep, email: Short = "") -> Response:
    """Put the contact with this address in the company."""
    try:
        async with transaction(runtime.sessions) as session:
            await companies.get_company(session, company_id)
            contact = await companies.contact_by_email(session, email)
            await companies.set_contact_company(session, contact.id, company_id,
                                                actor=caller.user)
    except UserError as exc:
        return await _company_page(request, caller, runtime, company_id, error=exc)
    return _done(f"{HOME}/{company_id}", f"{contact.email} added to the company")


@router.post(HOME + "/{company_id}/contacts/{contact_id}/remove")
async def remove_contact(company_id: IdPath, contact_id: IdPath, caller: CurrentAdminPage,
                         runtime: RuntimeDep) -> Response:
    """Take a contact out of the company."""
    async with transaction(runtime.sessions) as session:
        await companies.set_contact_company(session, contact_id, None, actor=caller.user)
    return _done(f"{HOME}/{company_id}", "Contact taken out of the company")
