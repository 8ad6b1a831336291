"""Mail channels in the admin console: an inbox's IMAP mailboxes and relay, and the global
relay at `/admin/mail`, each with its test (the same gathering as `web.api.admin_mail`).

The inbox's part is the include `admin/inbox_channels.html`: a page renders it with the
context `inbox_channels(runtime, slug)` returns (under the name `channels`). Until the inbox
page holds it, `/admin/inboxes/{slug}/mail` shows it on a page of its own.

Every form works with a full page load; Test connection and Send test message are upgraded
by htmx to swap only the result (`admin/mail_test_result.html`).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from connectors.email import diagnose, mailboxes
from core.db import transaction
from core.errors import InvalidInput, UserError
from core.runtime import Runtime
from core.settings import SLUG
from inbox.directory import current_directory
from web.api import admin_mail as api
from web.api.common import IdPath, RuntimeDep
from web.pages.admin.common import CurrentAdminPage, render_admin
from web.pages.common import PageCaller, render, see_other

router = APIRouter(include_in_schema=False)

SECTION = "inboxes"
RELAY_SECTION = "mail"
SECURITY_CHOICES = (("ssl", "SSL/TLS (port 993)"), ("starttls", "STARTTLS (port 143)"),
                    ("none", "None (not encrypted)"))
RELAY_SECURITY_CHOICES = (("starttls", "STARTTLS (port 587)"), ("ssl", "SSL/TLS (port 465)"),
                          ("none", "None (not encrypted)"))
AFTER_IMPORT_CHOICES = (("seen", "Mark as read"), ("leave", "Leave as it is"),
                        ("move", "Move to a folder"))
PASSWORD_STATES = {
    "set": "A password is stored.",
    "environment": "The password is read from the environment variable {env}.",
    "unreadable": "The stored password cannot be read; enter it again.",
    "missing": "No password is stored.",
}
MAILBOX_TEXT = ("host", "port", "security", "ca_file", "username", "folder", "poll_seconds",
                "after_import", "move_to")
RELAY_TEXT = ("host", "port", "security", "ca_file", "username", "from_address")


# ----------------------------------------------------------------------------- reading forms


def _first_problem(exc: ValidationError) -> InvalidInput:
    first = exc.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else None
    return InvalidInput(str(first["msg"]).removeprefix("Value error, "), field=field)


def _number(form: FormData, name: str, kind: type[int] | type[float]) -> int | float | str:
    text = str(form.get(name) or "").strip()
    try:
        return kind(text)
    except ValueError:
        return text  # the model names the field


def mailbox_fields(form: FormData, model: type[api.MailboxFields]) -> Any:
    """The mailbox form's values as the API's model takes them; InvalidInput naming the
    first field that cannot be used."""
    data: dict[str, Any] = {name: str(form.get(name) or "") for name in MAILBOX_TEXT}
    data["port"] = _number(form, "port", int)
    data["poll_seconds"] = _number(form, "poll_seconds", float)
    data["enabled"] = form.get("enabled") == "on"
    for extra in ("name", "inbox", "password"):
        if extra in model.model_fields:
            data[extra] = str(form.get(extra) or "")
    if "mailbox_id" in model.model_fields and str(form.get("mailbox_id") or "").isdigit():
        data["mailbox_id"] = int(str(form.get("mailbox_id")))
    try:
        return model.model_validate(data, strict=False)
    except ValidationError as exc:
        raise _first_problem(exc) from None


def relay_fields(form: FormData) -> api.RelayBody:
    """The relay form's values as the API's model takes them."""
    data: dict[str, Any] = {name: str(form.get(name) or "") for name in RELAY_TEXT}
    data["port"] = _number(form, "port", int)
    data["password"] = str(form.get("password") or "")
    try:
        return api.RelayBody.model_validate(data, strict=False)
    except ValidationError as exc:
        raise _first_problem(exc) from None


def _filled(form: FormData | None, defaults: dict[str, Any]) -> dict[str, Any]:
    """What the form shows: what was sent (never a password), else `defaults`."""
    if form is None:
        return defaults
    shown: dict[str, Any] = {k: str(v) for k, v in form.items()
                             if k not in ("password", "csrf_token")}
    shown["enabled"] = form.get("enabled") == "on"
    return defaults | shown


# ----------------------------------------------------------------------------- gathering


async def inbox_channels(runtime: Runtime, slug: str) -> dict[str, Any]:
    """What `admin/inbox_channels.html` shows for inbox `slug`: its mailboxes and relay.
    NotFound for an unknown inbox."""
    async with transaction(runtime.sessions) as session:
        inbox = await api.inbox_by_slug(session, slug)
        rows = await mailboxes.list_mailboxes(session, inbox.id)
    overview = await api.relays_overview(runtime)
    box = api.box_of(runtime)
    return {"inbox": {"slug": inbox.slug, "name": inbox.name},
            "mailboxes": [api.mailbox_json(row, s, box) for row, s in rows],
            "relay": next((r for r in overview["inboxes"] if r["inbox"] == slug), None),
            "global_relay": overview["global"], "file_relay": overview["file"],
            "security_choices": RELAY_SECURITY_CHOICES}


def _mailbox_defaults(row: dict[str, Any] | None) -> dict[str, Any]:
    if row is None:
        return {"name": "", "host": "", "port": "993", "security": "ssl", "ca_file": "",
                "username": "", "folder": "INBOX", "poll_seconds": "60",
                "after_import": "seen", "move_to": "", "enabled": True}
    return {**row, "port": str(row["port"]), "poll_seconds": f"{row['poll_seconds']:g}"}


def _mailbox_form(request: Request, caller: PageCaller, *, inbox: dict[str, Any],
                  row: dict[str, Any] | None, form: FormData | None = None,
                  error: UserError | None = None, report: diagnose.Diagnosis | None = None,
                  status_code: int = 200) -> Response:
    password_note = None
    if row is not None:
        password_note = PASSWORD_STATES[row["password_state"]].format(env=row["password_env"])
    return render_admin(request, "admin/mail_mailbox.html", caller, SECTION, {
        "inbox": inbox, "row": row, "filled": _filled(form, _mailbox_defaults(row)),
        "error": error, "error_field": getattr(error, "field", None), "report": report,
        "password_note": password_note, "security_choices": SECURITY_CHOICES,
        "after_import_choices": AFTER_IMPORT_CHOICES}, status_code=status_code)


def _result(request: Request, report: diagnose.Diagnosis, what: str) -> Response:
    return render(request, "admin/mail_test_result.html", {"report": report, "what": what})


def _notice(path: str, notice: str) -> Response:
    return see_other(f"{path}?{urlencode({'notice': notice})}")


# ----------------------------------------------------------------------------- mailbox pages


@router.get("/admin/inboxes/{slug}/mail")
async def inbox_mail_page(request: Request, slug: str, caller: CurrentAdminPage,
                          runtime: RuntimeDep, notice: str | None = None) -> Response:
    """An inbox's mail channels on a page of their own (the include of the inbox page)."""
    channels = await inbox_channels(runtime, _slug(slug))
    return render_admin(request, "admin/mail_inbox.html", caller, SECTION, {
        "channels": channels, "notice": notice})


def _slug(slug: str) -> str:
    if not re.match(SLUG, slug):
        raise InvalidInput("no such inbox", field="slug")
    return slug


@router.get("/admin/inboxes/{slug}/mailboxes/new")
async def new_mailbox_page(request: Request, slug: str, caller: CurrentAdminPage,
                           runtime: RuntimeDep) -> Response:
    """The form that adds an IMAP mailbox to inbox `slug`."""
    channels = await inbox_channels(runtime, _slug(slug))
    return _mailbox_form(request, caller, inbox=channels["inbox"], row=None)


@router.post("/admin/inboxes/{slug}/mailboxes")
async def create_mailbox(request: Request, slug: str, caller: CurrentAdminPage,
                         runtime: RuntimeDep) -> Response:
    """Add the mailbox the form describes, or show the form again saying what is wrong."""
    channels = await inbox_channels(runtime, _slug(slug))
    form = await request.form()
    try:
        body = mailbox_fields(form, api.NewMailbox) if form.get("inbox") == slug else None
        if body is None:
            raise InvalidInput("the form names another inbox", field="inbox")
        created = await api.create_mailbox(runtime, caller.user, body)
    except UserError as exc:
        return _mailbox_form(request, caller, inbox=channels["inbox"], row=None, form=form,
                             error=exc, status_code=exc.status)
    return _notice(f"/admin/inboxes/{slug}/mail", f"Mailbox {created['name']} added; it is "
                                                   "polled from now on")


@router.post("/admin/mailboxes/test")
async def test_mailbox(request: Request, caller: CurrentAdminPage,
                       runtime: RuntimeDep) -> Response:
    """Test connection with the form's values (the stored password when none is typed):
    the result alone for htmx, else the form again with the result under it."""
    form = await request.form()
    saved_id = str(form.get("mailbox_id") or "")
    try:
        fields = mailbox_fields(form, api.MailboxTest)
        report = await api.try_values(runtime, fields.values(), fields.password,
                                      fields.mailbox_id)
        error = None
    except UserError as exc:
        report, error = diagnose.Diagnosis(), exc
        report.add(exc.field or "values", "failed", exc.message)
    if request.headers.get("hx-request"):
        return _result(request, report, "Connection")
    row = None
    slug = str(form.get("inbox") or "")
    if saved_id.isdigit():
        async with transaction(runtime.sessions) as session:
            found, slug = await mailboxes.get_mailbox(session, int(saved_id))
        row = api.mailbox_json(found, slug, api.box_of(runtime))
    channels = await inbox_channels(runtime, _slug(slug))
    return _mailbox_form(request, caller, inbox=channels["inbox"], row=row, form=form,
                         error=error, report=report)


@router.get("/admin/mailboxes/{mailbox_id}")
async def mailbox_page(request: Request, mailbox_id: IdPath, caller: CurrentAdminPage,
                       runtime: RuntimeDep) -> Response:
    """The form that edits a mailbox, with Test connection and Remove."""
    async with transaction(runtime.sessions) as session:
        row, slug = await mailboxes.get_mailbox(session, mailbox_id)
    channels = await inbox_channels(runtime, slug)
    return _mailbox_form(request, caller, inbox=channels["inbox"],
                         row=api.mailbox_json(row, slug, api.box_of(runtime)))


@router.post("/admin/mailboxes/{mailbox_id}")
async def save_mailbox(request: Request, mailbox_id: IdPath, caller: CurrentAdminPage,
                       runtime: RuntimeDep) -> Response:
    """Save the edit form (an empty password keeps the stored one)."""
    async with transaction(runtime.sessions) as session:
        row, slug = await mailboxes.get_mailbox(session, mailbox_id)
    form = await request.form()
    try:
        fields = mailbox_fields(form, api.MailboxTest)
        await api.update_mailbox(runtime, caller.user, mailbox_id,
                                 fields.model_dump(include=set(mailboxes.VALUE_FIELDS)),
                                 fields.password or None)
    except UserError as exc:
        channels = await inbox_channels(runtime, slug)
        return _mailbox_form(request, caller, inbox=channels["inbox"],
                             row=api.mailbox_json(row, slug, api.box_of(runtime)), form=form,
                             error=exc, status_code=exc.status)
    return _notice(f"/admin/inboxes/{slug}/mail", f"Mailbox {row.name} saved")


@router.post("/admin/mailboxes/{mailbox_id}/delete")
async def delete_mailbox(mailbox_id: IdPath, caller: CurrentAdminPage,
                         runtime: RuntimeDep) -> Response:
    """Remove a mailbox (its mail stays)."""
    async with transaction(runtime.sessions) as session:
        row, slug = await mailboxes.get_mailbox(session, mailbox_id)
        await mailboxes.delete_mailbox(session, row, actor=caller.user)
    return _notice(f"/admin/inboxes/{slug}/mail", f"Mailbox {row.name} removed")


# ----------------------------------------------------------------------------- relays


def _relay_defaults(relay: dict[str, Any] | None) -> dict[str, Any]:
    if relay is None:
        return {"host": "", "port": "587", "security": "starttls", "ca_file": "",
                "username": "", "from_address": ""}
    return {**relay, "port": str(relay["port"])}


async def _mail_page(request: Request, caller: PageCaller, runtime: Runtime, *,
                     form: FormData | None = None, error: UserError | None = None,
                     report: diagnose.Diagnosis | None = None, notice: str | None = None,
                     to: str = "", status_code: int = 200) -> Response:
    overview = await api.relays_overview(runtime)
    async with transaction(runtime.sessions) as session:
        counts = Counter(slug for _, slug in await mailboxes.list_mailboxes(session))
    own = {r["inbox"]: r for r in overview["inboxes"]}
    inboxes = [{"slug": i.slug, "name": i.name, "mailboxes": counts[i.slug],
                "relay": own.get(i.slug)} for i in current_directory(runtime).inboxes]
    return render_admin(request, "admin/mail.html", caller, RELAY_SECTION, {
        "relay": overview["global"], "inboxes": inboxes,
        "file_relay": overview["file"], "notice": notice, "error": error,
        "error_field": getattr(error, "field", None), "report": report, "to": to,
        "filled": _filled(form, _relay_defaults(overview["global"])),
        "security_choices": RELAY_SECURITY_CHOICES}, status_code=status_code)


@router.get("/admin/mail")
async def mail_page(request: Request, caller: CurrentAdminPage, runtime: RuntimeDep,
                    notice: str | None = None) -> Response:
    """The global relay, with Send test message."""
    return await _mail_page(request, caller, runtime, notice=notice)


@router.post("/admin/mail/relay")
async def save_global_relay(request: Request, caller: CurrentAdminPage,
                            runtime: RuntimeDep) -> Response:
    """Set the global relay from the form."""
    form = await request.form()
    try:
        await api.set_relay(runtime, caller.user, None, relay_fields(form))
    except UserError as exc:
        return await _mail_page(request, caller, runtime, form=form, error=exc,
                                status_code=exc.status)
    return _notice("/admin/mail", "Global relay saved")


@router.post("/admin/mail/relay/delete")
async def delete_global_relay(caller: CurrentAdminPage, runtime: RuntimeDep) -> Response:
    """Remove the global relay (mail leaves through the file's `[smtp_out]` again)."""
    await api.remove_relay(runtime, caller.user, None)
    return _notice("/admin/mail", "Global relay removed")


async def _send_test(request: Request, runtime: Runtime, slug: str | None
                     ) -> tuple[diagnose.Diagnosis, str]:
    form = await request.form()
    to = str(form.get("to") or "").strip()
    try:
        report = await api.try_relay(runtime, slug, to)
    except UserError as exc:
        report = diagnose.Diagnosis()
        report.add("rcpt", "failed", f"{exc.message}: {to!r}" if to else
                   "type the address to send the test message to")
    return report, to


@router.post("/admin/mail/test")
async def test_global_relay(request: Request, caller: CurrentAdminPage,
                            runtime: RuntimeDep) -> Response:
    """Send a test message through the global relay to the address typed."""
    report, to = await _send_test(request, runtime, None)
    if request.headers.get("hx-request"):
        return _result(request, report, "Test message")
    return await _mail_page(request, caller, runtime, report=report, to=to)


@router.post("/admin/inboxes/{slug}/relay")
async def save_inbox_relay(request: Request, slug: str, caller: CurrentAdminPage,
                           runtime: RuntimeDep) -> Response:
    """Set inbox `slug`'s own relay from the form."""
    form = await request.form()
    try:
        await api.set_relay(runtime, caller.user, _slug(slug), relay_fields(form))
    except UserError as exc:
        channels = await inbox_channels(runtime, _slug(slug))
        channels |= {"relay_error": exc, "relay_filled": _filled(form, {})}
        return render_admin(request, "admin/mail_inbox.html", caller, SECTION, {
            "channels": channels}, status_code=exc.status)
    return _notice(f"/admin/inboxes/{slug}/mail", "Relay of this inbox saved")


@router.post("/admin/inboxes/{slug}/relay/delete")
async def delete_inbox_relay(slug: str, caller: CurrentAdminPage,
                             runtime: RuntimeDep) -> Response:
    """Remove inbox `slug`'s relay (its replies use the global one)."""
    await api.remove_relay(runtime, caller.user, _slug(slug))
    return _notice(f"/admin/inboxes/{slug}/mail", "Relay of this inbox removed")


@router.post("/admin/inboxes/{slug}/relay/test")
async def test_inbox_relay(request: Request, slug: str, caller: CurrentAdminPage,
                           runtime: RuntimeDep) -> Response:
    """Send a test message the way inbox `slug`'s replies leave."""
    report, to = await _send_test(request, runtime, _slug(slug))
    if request.headers.get("hx-request"):
        return _result(request, report, "Test message")
    channels = await inbox_channels(runtime, slug)
    return render_admin(request, "admin/mail_inbox.html", caller, SECTION, {
        "channels": channels | {"relay_report": report, "relay_to": to}})
