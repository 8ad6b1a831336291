"""Canned replies: the one writer and reader of snippets. Admins manage them (the callers
check that), every agent lists and inserts them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from audit.service import changed_only, record_change
from core import clock
from core.errors import Conflict, InvalidInput, NotFound
from inbox.models import Snippet

MAX_NAME = 100
MAX_BODY = 20_000


def _checked(name: str | None, body: str | None) -> None:
    if name is not None and not (0 < len(name.strip()) <= MAX_NAME):
        raise InvalidInput(f"name must be 1 to {MAX_NAME} characters", field="name")
    if body is not None and not (0 < len(body.strip()) and len(body) <= MAX_BODY):
        raise InvalidInput(f"body must be 1 to {MAX_BODY} characters", field="body")


async def _refuse_taken(session: AsyncSession, name: str, snippet_id: int | None) -> None:
    taken = await session.scalar(select(Snippet.id).where(Snippet.name == name))
    if taken is not None and taken != snippet_id:
        raise Conflict(f"a canned reply named {name!r} exists", field="name")


async def list_snippets(session: AsyncSession) -> list[Snippet]:
    """Every snippet, by name."""
    return list((await session.scalars(select(Snippet).order_by(Snippet.name, Snippet.id)))
                .all())


async def get_snippet(session: AsyncSession, snippet_id: int) -> Snippet:
    """The snippet `snippet_id`; NotFound when there is none."""
    snippet = await session.get(Snippet, snippet_id)
    if snippet is None:
        raise NotFound(f"no canned reply {snippet_id}")
    return snippet


async def create_snippet(session: AsyncSession, *, name: str, body: str,
                         actor: User | None) -> Snippet:
    """A new snippet, made by `actor` (audited); InvalidInput naming the field for an empty
    or long one, Conflict for a name taken."""
    _checked(name, body)
    await _refuse_taken(session, name.strip(), None)
    now = clock.now()
    snippet = Snippet(name=name.strip(), body=body, created_at=now, updated_at=now)
    session.add(snippet)
    await session.flush()
    await record_change(session, actor=actor, action="snippet.created", subject_type="snippet",
                        subject_id=snippet.id, summary=f"Canned reply {snippet.name!r} created",
                        after={"name": snippet.name, "body": snippet.body})
    return snippet


async def update_snippet(session: AsyncSession, snippet_id: int, changes: dict[str, Any], *,
                         actor: User | None) -> Snippet:
    """Rename the snippet and/or change its body (`changes` holds `name`, `body`), by
    `actor` (audited); the same checks as `create_snippet`."""
    snippet = await get_snippet(session, snippet_id)
    _checked(changes.get("name"), changes.get("body"))
    before = {"name": snippet.name, "body": snippet.body}
    if changes.get("name") is not None:
        await _refuse_taken(session, changes["name"].strip(), snippet.id)
        snippet.name = changes["name"].strip()
    if changes.get("body") is not None:
        snippet.body = changes["body"]
    snippet.updated_at = clock.now()
    await session.flush()
    old, new = changed_only(before, {"name": snippet.name, "body": snippet.body})
    if new:
        await record_change(session, actor=actor, action="snippet.updated",
                            subject_type="snippet", subject_id=snippet.id,
                            summary=f"Canned reply {snippet.name!r} changed", before=old,
                            after=new)
    return snippet


async def delete_snippet(session: AsyncSession, snippet_id: int, *,
                         actor: User | None) -> None:
    """Remove the snippet for good (replies it filled keep their text), by `actor`
    (audited)."""
    snippet = await get_snippet(session, snippet_id)
    await session.delete(snippet)
    await session.flush()
    await record_change(session, actor=actor, action="snippet.deleted", subject_type="snippet",
                        subject_id=snippet_id, summary=f"Canned reply {snippet.name!r} deleted",
                        before={"name": snippet.name, "body": snippet.body})
