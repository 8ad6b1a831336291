"""The case catalog admins manage: the subject tree and the products. The one writer of
`case_subjects` and `products`; every change is audited (callers check the caller is an
admin). Each function takes the caller's session and never commits."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from audit.service import record_change
from core.errors import Conflict, InvalidInput, NotFound
from tickets import case_rules
from tickets.models import CaseSubject, Product, Ticket

MAX_NAME = 200


@dataclass(frozen=True)
class SubjectNode:
    """A subject as the tree shows it: its path from the root and its depth."""

    id: int
    name: str
    parent_id: int | None
    path: str
    depth: int


def _clean_name(name: str) -> str:
    name = name.strip()
    if not 0 < len(name) <= MAX_NAME:
        raise InvalidInput(f"name must be 1 to {MAX_NAME} characters", field="name")
    return name


async def _nodes(session: AsyncSession) -> tuple[dict[int, tuple[str, int | None]],
                                                 dict[int, int]]:
    rows = (await session.execute(select(CaseSubject.id, CaseSubject.name,
                                         CaseSubject.parent_id, CaseSubject.position))).all()
    return ({r.id: (r.name, r.parent_id) for r in rows}, {r.id: r.position for r in rows})


async def subject_tree(session: AsyncSession) -> list[SubjectNode]:
    """Every subject, each parent before its children (siblings by name)."""
    nodes, positions = await _nodes(session)
    return [SubjectNode(node, nodes[node][0], nodes[node][1],
                        case_rules.subject_path(node, nodes), depth)
            for node, depth in case_rules.tree_order(nodes, positions)]


async def subject_path(session: AsyncSession, subject_id: int) -> str:
    """The subject's path from the root ("Billing › Refunds"); NotFound when unknown."""
    nodes, _ = await _nodes(session)
    if subject_id not in nodes:
        raise NotFound(f"no subject {subject_id}")
    return case_rules.subject_path(subject_id, nodes)


async def _subject(session: AsyncSession, subject_id: int) -> CaseSubject:
    subject = await session.get(CaseSubject, subject_id)
    if subject is None:
        raise NotFound(f"no subject {subject_id}")
    return subject


async def _refuse_sibling(session: AsyncSession, name: str, parent_id: int | None,
                          subject_id: int | None) -> None:
    # lower() of SQLite folds ASCII letters only: the exact name is asked for too.
    siblings = select(CaseSubject.id).where(or_(CaseSubject.name == name,
                                                func.lower(CaseSubject.name) == name.lower()))
    siblings = siblings.where(CaseSubject.parent_id.is_(None) if parent_id is None
                              else CaseSubject.parent_id == parent_id)
    taken = await session.scalar(siblings.limit(1))
    if taken is not None and taken != subject_id:
        raise Conflict(f"{name!r} is already there", field="name")


async def add_subject(session: AsyncSession, *, name: str, parent_id: int | None,
                      actor: User | None) -> CaseSubject:
    """A new subject under `parent_id` (None: at the root); audited. InvalidInput for an
    empty name or an unknown parent, Conflict for a name its siblings have."""
    name = _clean_name(name)
    if parent_id is not None and await session.get(CaseSubject, parent_id) is None:
        raise InvalidInput(f"no subject {parent_id}", field="parent_id")
    await _refuse_sibling(session, name, parent_id, None)
    subject = CaseSubject(name=name, parent_id=parent_id, position=0)
    session.add(subject)
    await session.flush()
    await record_change(session, actor=actor, action="subject.created", subject_type="subject",
                        subject_id=subject.id, summary=f"Subject {name!r} added",
                        after={"name": name, "parent_id": parent_id})
    return subject


async def rename_subject(session: AsyncSession, subject_id: int, *, name: str,
                         actor: User | None) -> CaseSubject:
    """Rename a subject (its cases show the new path); audited."""
    subject = await _subject(session, subject_id)
    name = _clean_name(name)
    await _refuse_sibling(session, name, subject.parent_id, subject.id)
    if name != subject.name:
        await record_change(session, actor=actor, action="subject.renamed",
                            subject_type="subject", subject_id=subject.id,
                            summary=f"Subject {subject.name!r} renamed {name!r}",
                            before={"name": subject.name}, after={"name": name})
        subject.name = name
        await session.flush()
    return subject


async def remove_subject(session: AsyncSession, subject_id: int, *,
                         actor: User | None) -> None:
    """Remove a subject and everything below it; Conflict while a case (deleted ones
    included) has one of them as its subject. Audited."""
    subject = await _subject(session, subject_id)
    nodes, _ = await _nodes(session)
    gone = case_rules.descendants(subject_id, nodes)
    used = await session.scalar(select(func.count()).select_from(Ticket)
                                .where(Ticket.subject_id.in_(sorted(gone))))
    if used:
        raise Conflict(f"{used} case(s) have {subject.name!r} or a subject below it; "
                       "give them another subject first", field="subject_id")
    path = case_rules.subject_path(subject_id, nodes)
    for node in sorted(gone, key=lambda n: -len(case_rules.subject_path(n, nodes))):
        await session.delete(await _subject(session, node))
        await session.flush()
    await record_change(session, actor=actor, action="subject.removed", subject_type="subject",
                        subject_id=subject_id, summary=f"Subject {path!r} removed",
                        before={"name": subject.name, "removed": len(gone)})


async def list_products(session: AsyncSession, *, active_only: bool = False) -> list[Product]:
    """Products by name (only the active ones when `active_only`)."""
    query = select(Product).order_by(Product.name, Product.id)
    if active_only:
        query = query.where(Product.active.is_(True))
    return list((await session.scalars(query)).all())


async def get_product(session: AsyncSession, product_id: int) -> Product:
    """The product `product_id`; NotFound when there is none."""
    product = await session.get(Product, product_id)
    if product is None:
        raise NotFound(f"no product {product_id}")
    return product


async def _refuse_product_taken(session: AsyncSession, name: str, product_id: int | None
                                ) -> None:
    taken = await session.scalar(select(Product.id).where(
        or_(Product.name == name, func.lower(Product.name) == name.lower())).limit(1))
    if taken is not None and taken != product_id:
        raise Conflict(f"a product named {name!r} exists", field="name")


async def add_product(session: AsyncSession, *, name: str, actor: User | None) -> Product:
    """A new active product; audited. Conflict for a name taken (in any case)."""
    name = _clean_name(name)
    await _refuse_product_taken(session, name, None)
    product = Product(name=name, active=True)
    session.add(product)
    await session.flush()
    await record_change(session, actor=actor, action="product.created", subject_type="product",
                        subject_id=product.id, summary=f"Product {name!r} added",
                        after={"name": name})
    return product


async def update_product(session: AsyncSession, product_id: int, *, name: str | None = None,
                         active: bool | None = None, actor: User | None) -> Product:
    """Rename a product and/or (de)activate it (an inactive one is not offered for new
    choices; cases keep it); audited when something changed."""
    product = await get_product(session, product_id)
    before = {"name": product.name, "active": product.active}
    if name is not None:
        new_name = _clean_name(name)
        await _refuse_product_taken(session, new_name, product.id)
        product.name = new_name
    if active is not None:
        product.active = active
    after = {"name": product.name, "active": product.active}
    if after != before:
        await session.flush()
        await record_change(session, actor=actor, action="product.updated",
                            subject_type="product", subject_id=product.id,
                            summary=f"Product {product.name!r} changed", before=before,
                            after=after)
    return product
