"""Web forms (admins): create, read, change and delete the public forms at `/forms/<slug>`.

A form's fields are its built-in ones (`name`, `email`, `subject`, `message`; `email` is
always there and required) and custom fields of type text, textarea, select (with its
`options`) or checkbox, in the order the page shows them. A change shows on the public page
at the next request. Every change is written to the audit log. The rules a form must keep
are `connectors.forms.spec.check_form`'s: a body that breaks one is a 422 naming it (and
`error.fields` lists every one).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Response
from fastapi.responses import JSONResponse
from pydantic import ConfigDict, Field

from connectors.forms import service
from connectors.forms.service import FormInvalid, StoredForm
from connectors.forms.spec import (
    DEFAULT_FIELDS,
    DEFAULT_THANKS,
    MAX_FIELD_LENGTH,
    MAX_FIELDS,
    MAX_LABEL,
    MAX_OPTION_LENGTH,
    MAX_OPTIONS,
    MAX_RATE,
    MAX_TEXT,
    MAX_TITLE,
    FieldSpec,
    FormSpec,
)
from core.db import transaction
from core.settings import SLUG
from web.api.common import JSON, CurrentAdmin, RequestModel, RuntimeDep, Text, page
from web.errors import error_body

router = APIRouter(tags=["forms (admin)"])

FieldType = Literal["text", "email", "textarea", "tel", "select", "checkbox"]
Slug = Annotated[str, Field(pattern=SLUG, examples=["contact"])]
SlugPath = Annotated[str, Path(pattern=SLUG, max_length=63, examples=["contact"])]
InboxSlug = Annotated[str, Field(pattern=SLUG, examples=["support"])]
Title = Annotated[Text, Field(min_length=1, max_length=MAX_TITLE)]
LongText = Annotated[Text, Field(max_length=MAX_TEXT)]
Rate = Annotated[int, Field(ge=1, le=MAX_RATE)]


class FormFieldBody(RequestModel):
    """One field. Built-in names keep their type (name, subject: text; email: email;
    message: textarea; phone: tel; company: text); `options` only for a select."""

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$", examples=["department"])]
    label: Annotated[Text, Field(min_length=1, max_length=MAX_LABEL, examples=["Department"])]
    type: FieldType = "text"
    required: bool = False
    max_length: Annotated[int, Field(ge=1, le=MAX_FIELD_LENGTH)] = 200
    options: Annotated[list[Annotated[Text, Field(min_length=1, max_length=MAX_OPTION_LENGTH)]],
                       Field(max_length=MAX_OPTIONS)] = []

    def spec(self) -> FieldSpec:
        return FieldSpec(self.name, self.label, self.type, self.required, self.max_length,
                         tuple(self.options))


Fields = Annotated[list[FormFieldBody], Field(min_length=1, max_length=MAX_FIELDS)]


class NewForm(RequestModel):
    """A form; without `fields` it gets the built-in four."""

    slug: Slug
    title: Title
    inbox: InboxSlug
    intro: LongText = ""
    thanks: LongText = DEFAULT_THANKS
    rate_limit_per_minute: Rate = 10
    fields: Fields | None = None


class FormPatch(RequestModel):
    """The parts of a form to change (a form keeps its slug); `fields` replaces them all."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    title: Title | None = None
    inbox: InboxSlug | None = None
    intro: LongText | None = None
    thanks: LongText | None = None
    rate_limit_per_minute: Rate | None = None
    fields: Fields | None = None


def form_json(form: StoredForm) -> JSON:
    """A form as the API answers it."""
    spec = form.spec
    return {"slug": spec.slug, "title": spec.title, "inbox": spec.inbox or None,
            "intro": spec.intro, "thanks": spec.thanks,
            "rate_limit_per_minute": spec.rate_limit_per_minute,
            "fields": [f.as_json() for f in spec.fields], "submissions": form.submissions,
            "url": f"/forms/{spec.slug}", "created_at": form.created_at.isoformat(),
            "updated_at": form.updated_at.isoformat()}


def _invalid(exc: FormInvalid) -> JSONResponse:
    body = error_body(exc.code, exc.message, exc.field)
    body["error"]["fields"] = exc.problems
    return JSONResponse(body, status_code=422)


@router.get("/api/admin/forms")
async def list_forms(admin: CurrentAdmin, runtime: RuntimeDep) -> JSON:
    """Every form, by title."""
    async with transaction(runtime.sessions) as session:
        forms = await service.list_forms(session)
    return page([form_json(f) for f in forms], None)


@router.post("/api/admin/forms", status_code=201)
async def create_form(body: NewForm, admin: CurrentAdmin, runtime: RuntimeDep) -> Response:
    """Make a form at `/forms/<slug>`; 409 when the slug is taken, 422 for an unknown inbox
    or a rule the fields break."""
    fields = tuple(f.spec() for f in body.fields) if body.fields else DEFAULT_FIELDS
    spec = FormSpec(body.slug, body.inbox, body.title, body.intro, body.thanks,
                    body.rate_limit_per_minute, fields)
    try:
        async with transaction(runtime.sessions) as session:
            form = await service.create_form(session, spec, actor=admin)
    except FormInvalid as exc:
        return _invalid(exc)
    return JSONResponse(form_json(form), status_code=201)


@router.get("/api/admin/forms/{slug}")
async def get_form(slug: SlugPath, admin: CurrentAdmin, runtime: RuntimeDep) -> JSON:
    """One form."""
    async with transaction(runtime.sessions) as session:
        form = await service.get_form(session, slug)
    return form_json(form)


@router.patch("/api/admin/forms/{slug}")
async def update_form(slug: SlugPath, body: FormPatch, admin: CurrentAdmin,
                      runtime: RuntimeDep) -> Response:
    """Change a form; what the body leaves out stays as it is."""
    try:
        async with transaction(runtime.sessions) as session:
            old = (await service.get_form(session, slug)).spec
            spec = FormSpec(
                slug, body.inbox or old.inbox, body.title or old.title,
                old.intro if body.intro is None else body.intro,
                old.thanks if body.thanks is None else body.thanks,
                body.rate_limit_per_minute or old.rate_limit_per_minute,
                tuple(f.spec() for f in body.fields) if body.fields else old.fields)
            form = await service.update_form(session, slug, spec, actor=admin)
    except FormInvalid as exc:
        return _invalid(exc)
    return JSONResponse(form_json(form))


@router.delete("/api/admin/forms/{slug}", status_code=204)
async def delete_form(slug: SlugPath, admin: CurrentAdmin, runtime: RuntimeDep) -> Response:
    """Take a form off its address (the conversations it made stay)."""
    async with transaction(runtime.sessions) as session:
        await service.delete_form(session, slug, actor=admin)
    return Response(status_code=204)
