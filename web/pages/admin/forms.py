"""`/admin/forms`: the public web forms, made and changed by admins.

Every action is a plain form posted to this module (no script needed); each calls
`connectors.forms.service`, as `/api/admin/forms` does, and comes back to the form's page
with a line saying what happened. A refused change shows the page again (422) with every
problem next to its field and what was typed kept.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from connectors.forms import service
from connectors.forms.service import StoredForm
from connectors.forms.spec import (
    CUSTOM_TYPES,
    DEFAULT_FIELDS,
    DEFAULT_THANKS,
    FieldSpec,
    FormSpec,
    move_field,
    parse_options,
    remove_field,
)
from core.db import transaction
from core.errors import Conflict, InvalidInput
from core.runtime import Runtime
from core.settings import SLUG
from inbox.access import EVERY_INBOX, list_inboxes
from web.api.common import RuntimeDep
from web.pages.admin.common import CurrentAdminPage, render_admin
from web.pages.common import PageCaller, see_other

router = APIRouter(include_in_schema=False)
SECTION = "forms"
SlugPath = Annotated[str, Path(pattern=SLUG, max_length=63)]
DONE = {"created": "Form created. Add its own fields below, then embed it.",
        "saved": "Settings saved.", "field-added": "Field added.",
        "field-removed": "Field removed.", "moved": "Field moved.",
        "deleted": "Form deleted; its conversations stay in the inbox."}
"""What the page says after each action (`?done=<key>`); nothing typed is reflected."""
NEW_FIELD = {"name": "", "label": "", "type": "text", "required": False, "options": "",
             "max_length": "200"}


def public_base(request: Request, runtime: Runtime) -> str:
    """Where people reach this server: `[http] public_url`, else the address asked."""
    configured = runtime.settings.http.public_url
    return (configured or str(request.base_url)).rstrip("/")


def embed_snippet(base: str, form: FormSpec) -> str:
    """The HTML another site pastes to show the form in a frame."""
    title = form.title.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
    return (f'<iframe src="{base}/forms/{quote(form.slug)}" title="{title}" '
            'width="100%" height="760" style="border:0;max-width:40rem" '
            'loading="lazy"></iframe>')


def _text(data: Any, name: str) -> str:
    value = data.get(name)
    return value.replace("\r\n", "\n").strip() if isinstance(value, str) else ""


def _number(data: Any, name: str, field: str) -> int:
    raw = _text(data, name)
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        raise InvalidInput(f"{field} must be a whole number", field=name)
    return int(raw)


def _settings_of(data: Any, old: FormSpec) -> FormSpec:
    """The form's settings as posted (fields kept as they were); InvalidInput for a number
    that is not one."""
    return FormSpec(old.slug, _text(data, "inbox"), _text(data, "title"), _text(data, "intro"),
                    _text(data, "thanks"),
                    _number(data, "rate_limit_per_minute", "rate limit"), old.fields)


def _new_field(data: Any) -> FieldSpec:
    kind = _text(data, "type")
    return FieldSpec(name=_text(data, "name"), label=_text(data, "label"), type=kind,
                     required=bool(data.get("required")),
                     max_length=_number(data, "max_length", "max length"),
                     options=parse_options(_text(data, "options")) if kind == "select" else ())


async def _inboxes(session: AsyncSession) -> list[tuple[str, str]]:
    return [(i.slug, i.name) for i in await list_inboxes(session, EVERY_INBOX)]


# ----------------------------------------------------------------------------- the list


@router.get("/admin/forms")
async def forms_page(request: Request, caller: CurrentAdminPage, runtime: RuntimeDep,
                     done: str = "") -> Response:
    """Every form: its title, inbox, public page and how many submissions it stored."""
    async with transaction(runtime.sessions) as session:
        forms = await service.list_forms(session)
        inboxes = dict(await _inboxes(session))
    return render_admin(request, "admin/forms.html", caller, SECTION, {
        "forms": forms, "inbox_names": inboxes, "notice": DONE.get(done)})


def _new_page(request: Request, caller: PageCaller, inboxes: list[tuple[str, str]],
              values: dict[str, Any], problems: dict[str, str], status: int = 200) -> Response:
    return render_admin(request, "admin/form_new.html", caller, SECTION, {
        "inboxes": inboxes, "values": values, "problems": problems}, status_code=status)


@router.get("/admin/forms/new")
async def new_form_page(request: Request, caller: CurrentAdminPage,
                        runtime: RuntimeDep) -> Response:
    """The form to make a form: its address, title, inbox and texts."""
    async with transaction(runtime.sessions) as session:
        inboxes = await _inboxes(session)
    values = {"slug": "", "title": "", "inbox": inboxes[0][0] if inboxes else "",
              "intro": "", "thanks": DEFAULT_THANKS, "rate_limit_per_minute": "10"}
    return _new_page(request, caller, inboxes, values, {})


@router.post("/admin/forms/new")
async def create_form(request: Request, caller: CurrentAdminPage,
                      runtime: RuntimeDep) -> Response:
    """Make the form with the built-in fields, then open its page."""
    data = await request.form()
    values = {k: _text(data, k) for k in ("slug", "title", "inbox", "intro", "thanks",
                                          "rate_limit_per_minute")}
    try:
        blank = FormSpec(values["slug"], "", "", fields=DEFAULT_FIELDS)
        spec = replace(_settings_of(data, blank), slug=values["slug"])
        async with transaction(runtime.sessions) as session:
            await service.create_form(session, spec, actor=caller.user)
    except (InvalidInput, Conflict) as exc:
        problems = getattr(exc, "problems", None) or {exc.field or "form": exc.message}
        async with transaction(runtime.sessions) as session:
            inboxes = await _inboxes(session)
        return _new_page(request, caller, inboxes, values, problems, status=exc.status)
    return see_other(f"/admin/forms/{quote(spec.slug)}?done=created")


# ----------------------------------------------------------------------------- one form


async def _form_page(request: Request, caller: PageCaller, runtime: Runtime, slug: str, *,
                     notice: str | None = None, problems: dict[str, str] | None = None,
                     settings: dict[str, Any] | None = None,
                     new_field: dict[str, Any] | None = None, status: int = 200) -> Response:
    async with transaction(runtime.sessions) as session:
        form = await service.get_form(session, slug)
        inboxes = await _inboxes(session)
    prefix = f"fields.{(new_field or NEW_FIELD)['name']}."
    new_field_problems = {key.removeprefix(prefix): message
                          for key, message in (problems or {}).items()
                          if new_field and key.startswith(prefix)}
    return render_admin(request, "admin/form_edit.html", caller, SECTION, {
        "new_field_problems": new_field_problems,
        "form": form, "spec": form.spec, "inboxes": inboxes, "notice": notice,
        "problems": problems or {}, "settings": settings or _settings_values(form),
        "new_field": new_field or NEW_FIELD, "types": CUSTOM_TYPES,
        "public_url": f"{public_base(request, runtime)}/forms/{form.spec.slug}",
        "snippet": embed_snippet(public_base(request, runtime), form.spec)},
        status_code=status)


def _settings_values(form: StoredForm) -> dict[str, Any]:
    spec = form.spec
    return {"title": spec.title, "inbox": spec.inbox, "intro": spec.intro,
            "thanks": spec.thanks, "rate_limit_per_minute": str(spec.rate_limit_per_minute)}


@router.get("/admin/forms/{slug}")
async def form_page(slug: SlugPath, request: Request, caller: CurrentAdminPage,
                    runtime: RuntimeDep, done: str = "") -> Response:
    """One form: its settings, its fields (add, remove, reorder) and its embed snippet."""
    return await _form_page(request, caller, runtime, slug, notice=DONE.get(done))


async def _change(request: Request, caller: PageCaller, runtime: Runtime, slug: str,
                  edit: Any, done: str, anchor: str = "", **kept: Any) -> Response:
    """Apply `edit(old spec) -> new spec` to the form and come back to its page; the page
    again with the problems when the change is refused."""
    try:
        async with transaction(runtime.sessions) as session:
            old = (await service.get_form(session, slug)).spec
            await service.update_form(session, slug, edit(old), actor=caller.user)
    except InvalidInput as exc:
        problems = getattr(exc, "problems", None) or {exc.field or "form": exc.message}
        return await _form_page(request, caller, runtime, slug, problems=problems,
                                status=exc.status, **kept)
    return see_other(f"/admin/forms/{quote(slug)}?done={done}{anchor}")


@router.post("/admin/forms/{slug}")
async def save_settings(slug: SlugPath, request: Request, caller: CurrentAdminPage,
                        runtime: RuntimeDep) -> Response:
    """Save the title, inbox, rate limit, intro and thank-you text."""
    data = await request.form()
    settings = {k: _text(data, k) for k in ("title", "inbox", "intro", "thanks",
                                            "rate_limit_per_minute")}
    return await _change(request, caller, runtime, slug, lambda old: _settings_of(data, old),
                         "saved", settings=settings)


@router.post("/admin/forms/{slug}/fields")
async def add_field(slug: SlugPath, request: Request, caller: CurrentAdminPage,
                    runtime: RuntimeDep) -> Response:
    """Add a field at the end of the form."""
    data = await request.form()
    typed = {"name": _text(data, "name"), "label": _text(data, "label"),
             "type": _text(data, "type"), "required": bool(data.get("required")),
             "options": _text(data, "options"), "max_length": _text(data, "max_length")}
    return await _change(request, caller, runtime, slug,
                         lambda old: replace(old, fields=(*old.fields, _new_field(data))),
                         "field-added", "#fields", new_field=typed)


@router.post("/admin/forms/{slug}/fields/{name}/remove")
async def remove(slug: SlugPath, name: str, request: Request, caller: CurrentAdminPage,
                 runtime: RuntimeDep) -> Response:
    """Remove a field (the email field stays: the form would break a rule)."""
    return await _change(request, caller, runtime, slug,
                         lambda old: replace(old, fields=remove_field(old.fields, name)),
                         "field-removed", "#fields")


@router.post("/admin/forms/{slug}/fields/{name}/up")
async def move_up(slug: SlugPath, name: str, request: Request, caller: CurrentAdminPage,
                  runtime: RuntimeDep) -> Response:
    """Move a field one place up."""
    return await _change(request, caller, runtime, slug,
                         lambda old: replace(old, fields=move_field(old.fields, name, -1)),
                         "moved", "#fields")


@router.post("/admin/forms/{slug}/fields/{name}/down")
async def move_down(slug: SlugPath, name: str, request: Request, caller: CurrentAdminPage,
                    runtime: RuntimeDep) -> Response:
    """Move a field one place down."""
    return await _change(request, caller, runtime, slug,
                         lambda old: replace(old, fields=move_field(old.fields, name, 1)),
                         "moved", "#fields")


@router.post("/admin/forms/{slug}/delete")
async def delete(slug: SlugPath, request: Request, caller: CurrentAdminPage,
                 runtime: RuntimeDep) -> Response:
    """Take the form off its address, then back to the list."""
    async with transaction(runtime.sessions) as session:
        await service.delete_form(session, slug, actor=caller.user)
    return see_other("/admin/forms?done=deleted")
