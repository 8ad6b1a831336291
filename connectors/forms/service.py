"""Web forms: the one writer of `web_forms`, and what the public page and the admin read.

A form is read from the database at every request (no cache), so an admin's change takes
effect at the next request on every server process. `[[forms]]` in `config.toml` seed the
database at start: a form whose slug the database knows (even a deleted one) is left as
the database has it, so after the first start the database wins.

Every admin's change is written to the audit log in its own transaction (`audit.service`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from audit.service import changed_only, record_change
from connectors.forms.models import WebForm
from connectors.forms.spec import FormSpec, check_form, field_from_json, from_settings
from core import clock
from core.errors import Conflict, InvalidInput, NotFound
from core.settings import FormSettings
from inbox.models import Inbox

SUBJECT = "form"


class FormInvalid(InvalidInput):
    """A form breaks rules of `spec.check_form`; `problems` holds every one of them (the
    message and field are the first)."""

    def __init__(self, problems: dict[str, str]):
        first = next(iter(problems))
        super().__init__(problems[first], field=first, code="invalid_form")
        self.problems = problems


@dataclass(frozen=True)
class StoredForm:
    """A form as the admin sees it: its spec (`inbox` is "" when its inbox is gone) and
    what the database adds."""

    id: int
    spec: FormSpec
    submissions: int
    created_at: datetime
    updated_at: datetime


def _spec_of(row: WebForm, inbox_slug: str | None) -> FormSpec:
    return FormSpec(slug=row.slug, inbox=inbox_slug or "", title=row.title, intro=row.intro,
                    thanks=row.thanks, rate_limit_per_minute=row.rate_limit_per_minute,
                    fields=tuple(field_from_json(f) for f in row.fields))


def _stored(row: WebForm, inbox_slug: str | None) -> StoredForm:
    return StoredForm(row.id, _spec_of(row, inbox_slug), row.submissions, row.created_at,
                      row.updated_at)


def _audit_view(spec: FormSpec) -> dict[str, Any]:
    """What the audit log keeps of a form (it holds no secret)."""
    return {"title": spec.title, "inbox": spec.inbox, "intro": spec.intro,
            "thanks": spec.thanks, "rate_limit_per_minute": spec.rate_limit_per_minute,
            "fields": [f.as_json() for f in spec.fields]}


async def _row(session: AsyncSession, slug: str) -> tuple[WebForm, str | None] | None:
    found = (await session.execute(
        select(WebForm, Inbox.slug).outerjoin(Inbox, Inbox.id == WebForm.inbox_id)
        .where(WebForm.slug == slug))).first()
    return None if found is None else (found[0], found[1])


async def _inbox_id(session: AsyncSession, slug: str) -> int:
    inbox_id = await session.scalar(select(Inbox.id).where(Inbox.slug == slug))
    if inbox_id is None:
        raise InvalidInput(f"no inbox {slug!r}", field="inbox", code="invalid_form")
    return inbox_id


def _checked(spec: FormSpec) -> FormSpec:
    problems = check_form(spec)
    if problems:
        raise FormInvalid(problems)
    return spec


# ----------------------------------------------------------------------------- reading


async def public_form(session: AsyncSession, slug: str) -> FormSpec | None:
    """The form the public page `/forms/<slug>` shows; None when there is none, it was
    deleted, or its inbox is gone."""
    found = await _row(session, slug)
    if found is None or found[0].deleted_at is not None or found[1] is None:
        return None
    return _spec_of(*found)


async def get_form(session: AsyncSession, slug: str) -> StoredForm:
    """The form `slug` (not deleted); NotFound otherwise."""
    found = await _row(session, slug)
    if found is None or found[0].deleted_at is not None:
        raise NotFound(f"no form {slug!r}")
    return _stored(*found)


async def list_forms(session: AsyncSession) -> list[StoredForm]:
    """Every form that is not deleted, by title."""
    rows = (await session.execute(
        select(WebForm, Inbox.slug).outerjoin(Inbox, Inbox.id == WebForm.inbox_id)
        .where(WebForm.deleted_at.is_(None)).order_by(WebForm.title, WebForm.id))).all()
    return [_stored(row, inbox) for row, inbox in rows]


# ----------------------------------------------------------------------------- writing


def _fill(row: WebForm, spec: FormSpec, inbox_id: int) -> None:
    row.title, row.intro, row.thanks = spec.title, spec.intro, spec.thanks
    row.inbox_id, row.rate_limit_per_minute = inbox_id, spec.rate_limit_per_minute
    row.fields = [f.as_json() for f in spec.fields]


async def _insert(session: AsyncSession, spec: FormSpec) -> WebForm:
    """Write `spec` as a new form, or over a deleted one of its slug; Conflict when a live
    form has the slug."""
    inbox_id = await _inbox_id(session, spec.inbox)
    found = await _row(session, spec.slug)
    now = clock.now()
    if found is not None and found[0].deleted_at is None:
        raise Conflict(f"a form {spec.slug!r} exists already", field="slug")
    row = found[0] if found is not None else WebForm(slug=spec.slug, submissions=0,
                                                      created_at=now)
    _fill(row, spec, inbox_id)
    row.updated_at, row.deleted_at = now, None
    if found is None:
        session.add(row)
    await session.flush()
    return row


async def create_form(session: AsyncSession, spec: FormSpec, *, actor: User | None
                      ) -> StoredForm:
    """A new form from `spec` (its inbox named by slug); FormInvalid listing every rule it
    breaks, InvalidInput for an unknown inbox, Conflict when its slug is taken."""
    row = await _insert(session, _checked(spec))
    await record_change(session, actor=actor, action="form.created", subject_type=SUBJECT,
                        subject_id=spec.slug, summary=f"Created the form {spec.title!r}",
                        after=_audit_view(spec))
    return _stored(row, spec.inbox)


async def update_form(session: AsyncSession, slug: str, spec: FormSpec, *,
                      actor: User | None) -> StoredForm:
    """Replace the form `slug` with `spec` (whose slug is ignored: a form keeps its
    address); the same errors as `create_form`, NotFound without the form."""
    found = await _row(session, slug)
    if found is None or found[0].deleted_at is not None:
        raise NotFound(f"no form {slug!r}")
    row, inbox_slug = found
    spec = _checked(FormSpec(slug, spec.inbox, spec.title, spec.intro, spec.thanks,
                             spec.rate_limit_per_minute, spec.fields))
    before = _audit_view(_spec_of(row, inbox_slug))
    _fill(row, spec, await _inbox_id(session, spec.inbox))
    row.updated_at = clock.now()
    changed_before, changed_after = changed_only(before, _audit_view(spec))
    if changed_after:
        await record_change(session, actor=actor, action="form.updated",
                            subject_type=SUBJECT, subject_id=slug,
                            summary=f"Changed {', '.join(changed_after)} of the form "
                                    f"{spec.title!r}",
                            before=changed_before, after=changed_after)
    return _stored(row, spec.inbox)


async def delete_form(session: AsyncSession, slug: str, *, actor: User | None) -> None:
    """Take the form `slug` off its address (its conversations stay); NotFound without it."""
    found = await _row(session, slug)
    if found is None or found[0].deleted_at is not None:
        raise NotFound(f"no form {slug!r}")
    row = found[0]
    row.deleted_at = row.updated_at = clock.now()
    await record_change(session, actor=actor, action="form.deleted", subject_type=SUBJECT,
                        subject_id=slug, summary=f"Deleted the form {row.title!r}",
                        before=_audit_view(_spec_of(*found)))


async def count_submission(session: AsyncSession, slug: str) -> None:
    """Count one stored submission of the form `slug` (in the transaction that stored it)."""
    await session.execute(update(WebForm).where(WebForm.slug == slug)
                          .values(submissions=WebForm.submissions + 1))


async def seed_forms(session: AsyncSession, forms: Sequence[FormSettings]) -> list[str]:
    """Write each form of `config.toml` whose slug the database does not know (not even as
    a deleted form); returns the slugs written. Not an admin's change: nothing goes to the
    audit log."""
    known = set((await session.scalars(select(WebForm.slug))).all())
    written = []
    for form in forms:
        if form.slug in known:
            continue
        await _insert(session, from_settings(form))
        written.append(form.slug)
    return written
