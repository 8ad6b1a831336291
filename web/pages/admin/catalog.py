"""`/admin/subjects` and `/admin/products`: admins keep the subject tree (add a child,
rename, remove) and the products cases pick from (the same service as `/api/subjects` and
`/api/products`)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from core.db import transaction
from core.errors import InvalidInput, UserError
from tickets import catalog
from web.api.common import IdPath, RuntimeDep
from web.pages.admin.common import CurrentAdminPage, render_admin
from web.pages.common import PageCaller, see_other

router = APIRouter(include_in_schema=False)

SUBJECTS, PRODUCTS = "/admin/subjects", "/admin/products"
Short = Annotated[str, Form(max_length=1000)]


def _done(path: str, notice: str) -> Response:
    return see_other(f"{path}?{urlencode({'notice': notice})}")


def _parent(value: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    if not (value.isascii() and value.isdigit()) or len(value) > 12:
        raise InvalidInput("parent must be a subject", field="parent_id")
    return int(value)


async def _subjects_page(request: Request, caller: PageCaller, runtime: RuntimeDep, *,
                         notice: str | None = None, error: UserError | None = None
                         ) -> Response:
    async with transaction(runtime.sessions) as session:
        nodes = await catalog.subject_tree(session)
    return render_admin(request, "admin/subjects.html", caller, "subjects", {
        "nodes": nodes, "notice": notice, "error": error},
        status_code=error.status if error else 200)


@router.get(SUBJECTS)
async def subjects_page(request: Request, caller: CurrentAdminPage, runtime: RuntimeDep,
                        notice: str | None = None) -> Response:
    """The subject tree, each subject with its rename, add-child and remove forms."""
    return await _subjects_page(request, caller, runtime, notice=notice)


@router.post(SUBJECTS)
async def add_subject(request: Request, caller: CurrentAdminPage, runtime: RuntimeDep,
                      name: Short = "", parent_id: Short = "") -> Response:
    """Add a subject at the root or under `parent_id`."""
    try:
        async with transaction(runtime.sessions) as session:
            subject = await catalog.add_subject(session, name=name, parent_id=_parent(parent_id),
                                                actor=caller.user)
            path = await catalog.subject_path(session, subject.id)
    except UserError as exc:
        return await _subjects_page(request, caller, runtime, error=exc)
    return _done(SUBJECTS, f"Subject {path!r} added")


@router.post(SUBJECTS + "/{subject_id}")
async def rename_subject(request: Request, subject_id: IdPath, caller: CurrentAdminPage,
                         runtime: RuntimeDep, name: Short = "") -> Response:
    """Rename a subject."""
    try:
        async with transaction(runtime.sessions) as session:
            await catalog.rename_subject(session, subject_id, name=name, actor=caller.user)
    except UserError as exc:
        return await _subjects_page(request, caller, runtime, error=exc)
    return _done(SUBJECTS, "Subject renamed")


@router.post(SUBJECTS + "/{subject_id}/remove")
async def remove_subject(request: Request, subject_id: IdPath, caller: CurrentAdminPage,
                         runtime: RuntimeDep) -> Response:
    """Remove a subject and those below it (refused while a case has one)."""
    try:
        async with transaction(runtime.sessions) as session:
            await catalog.remove_subject(session, subject_id, actor=caller.user)
    except UserError as exc:
        return await _subjects_page(request, caller, runtime, error=exc)
    return _done(SUBJECTS, "Subject removed")


async def _products_page(request: Request, caller: PageCaller, runtime: RuntimeDep, *,
                         notice: str | None = None, error: UserError | None = None
                         ) -> Response:
    async with transaction(runtime.sessions) as session:
        rows = await catalog.list_products(session)
    return render_admin(request, "admin/products.html", caller, "products", {
        "products": rows, "notice": notice, "error": error},
        status_code=error.status if error else 200)


@router.get(PRODUCTS)
async def products_page(request: Request, caller: CurrentAdminPage, runtime: RuntimeDep,
                        notice: str | None = None) -> Response:
    """Every product, each with its rename and in-use forms, and a form for a new one."""
    return await _products_page(request, caller, runtime, notice=notice)


@router.post(PRODUCTS)
async def add_product(request: Request, caller: CurrentAdminPage, runtime: RuntimeDep,
                      name: Short = "") -> Response:
    """Add a product."""
    try:
        async with transaction(runtime.sessions) as session:
            await catalog.add_product(session, name=name, actor=caller.user)
    except UserError as exc:
        return await _products_page(request, caller, runtime, error=exc)
    return _done(PRODUCTS, f"Product {name.strip()!r} added")


@router.post(PRODUCTS + "/{product_id}")
async def save_product(request: Request, product_id: IdPath, caller: CurrentAdminPage,
                       runtime: RuntimeDep, name: Short = "", active: Short = "") -> Response:
    """Rename a product and say whether it is in use (`active` "1")."""
    try:
        async with transaction(runtime.sessions) as session:
            await catalog.update_product(session, product_id, name=name,
                                         active=active == "1", actor=caller.user)
    except UserError as exc:
        return await _products_page(request, caller, runtime, error=exc)
    return _done(PRODUCTS, "Product saved")
