"""The case catalog: the subject tree and the products. Agents read them; admins change
them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response
from pydantic import ConfigDict, Field

from core.db import transaction
from tickets import catalog
from tickets.models import Product
from web.api.common import (
    JSON,
    CurrentAdmin,
    CurrentUser,
    IdPath,
    IdValue,
    RequestModel,
    RuntimeDep,
    Text,
    answers,
    page,
)

router = APIRouter(tags=["catalog"])

Name = Annotated[Text, Field(min_length=1, max_length=catalog.MAX_NAME, examples=["Refunds"])]

SUBJECT_EXAMPLE: JSON = {"id": 2, "name": "Printers", "parent_id": 1,
                         "path": "Hardware › Printers"}
SUBJECTS_EXAMPLE: JSON = {"items": [SUBJECT_EXAMPLE | {"depth": 1}], "next_cursor": None}
PRODUCT_EXAMPLE: JSON = {"id": 1, "name": "LaserJet 4", "active": True}
PRODUCTS_EXAMPLE: JSON = {"items": [PRODUCT_EXAMPLE], "next_cursor": None}


def node_json(node: catalog.SubjectNode) -> JSON:
    return {"id": node.id, "name": node.name, "parent_id": node.parent_id, "path": node.path,
            "depth": node.depth}


def product_json(product: Product) -> JSON:
    return {"id": product.id, "name": product.name, "active": product.active}


class NewSubject(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "Billing"},
                                                              {"name": "Refunds",
                                                               "parent_id": 1}]})

    name: Name
    parent_id: IdValue | None = None


class SubjectPatch(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "Refunds and returns"}]})

    name: Name


class NewProduct(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "Printer X200"}]})

    name: Annotated[Text, Field(min_length=1, max_length=catalog.MAX_NAME,
                                examples=["Printer X200"])]


class ProductPatch(RequestModel):
    model_config = ConfigDict(json_schema_extra={
        "minProperties": 1, "examples": [{"active": False}, {"name": "Printer X300"}]})

    name: Annotated[Text, Field(min_length=1, max_length=catalog.MAX_NAME)] | None = None
    active: bool | None = None


@router.get("/api/subjects", responses=answers(SUBJECTS_EXAMPLE))
async def list_subjects(user: CurrentUser, runtime: RuntimeDep) -> JSON:
    """The subject tree, each parent before its children, with each subject's path."""
    async with transaction(runtime.sessions) as session:
        nodes = await catalog.subject_tree(session)
    return page([node_json(node) for node in nodes], None)


@router.post("/api/subjects", status_code=201, responses=answers(SUBJECT_EXAMPLE, 201))
async def add_subject(body: NewSubject, admin: CurrentAdmin, runtime: RuntimeDep) -> JSON:
    """A new subject at the root or under `parent_id` (admins); 409 when its siblings have
    the name."""
    async with transaction(runtime.sessions) as session:
        subject = await catalog.add_subject(session, name=body.name, parent_id=body.parent_id,
                                            actor=admin)
        path = await catalog.subject_path(session, subject.id)
    return {"id": subject.id, "name": subject.name, "parent_id": subject.parent_id,
            "path": path}


@router.patch("/api/subjects/{subject_id}", responses=answers(SUBJECT_EXAMPLE))
async def rename_subject(subject_id: IdPath, body: SubjectPatch, admin: CurrentAdmin,
                         runtime: RuntimeDep) -> JSON:
    """Rename a subject (admins)."""
    async with transaction(runtime.sessions) as session:
        subject = await catalog.rename_subject(session, subject_id, name=body.name,
                                               actor=admin)
        path = await catalog.subject_path(session, subject.id)
    return {"id": subject.id, "name": subject.name, "parent_id": subject.parent_id,
            "path": path}


@router.delete("/api/subjects/{subject_id}", status_code=204)
async def remove_subject(subject_id: IdPath, admin: CurrentAdmin,
                         runtime: RuntimeDep) -> Response:
    """Remove a subject and the subjects below it (admins); 409 while a case has one."""
    async with transaction(runtime.sessions) as session:
        await catalog.remove_subject(session, subject_id, actor=admin)
    return Response(status_code=204)


@router.get("/api/products", responses=answers(PRODUCTS_EXAMPLE))
async def list_products(user: CurrentUser, runtime: RuntimeDep) -> JSON:
    """Every product by name, active or not."""
    async with transaction(runtime.sessions) as session:
        rows = await catalog.list_products(session)
    return page([product_json(row) for row in rows], None)


@router.post("/api/products", status_code=201, responses=answers(PRODUCT_EXAMPLE, 201))
async def add_product(body: NewProduct, admin: CurrentAdmin, runtime: RuntimeDep) -> JSON:
    """A new product (admins); 409 when the name is taken."""
    async with transaction(runtime.sessions) as session:
        row = await catalog.add_product(session, name=body.name, actor=admin)
    return product_json(row)


@router.patch("/api/products/{product_id}", responses=answers(PRODUCT_EXAMPLE))
async def update_product(product_id: IdPath, body: ProductPatch, admin: CurrentAdmin,
                         runtime: RuntimeDep) -> JSON:
    """Rename a product, or take it out of use (`active: false`; its cases keep it)."""
    async with transaction(runtime.sessions) as session:
        row = await catalog.update_product(session, product_id, name=body.name,
                                           active=body.active, actor=admin)
    return product_json(row)
