"""`/admin/webhooks`: subscribe URLs to events, see each subscription's deliveries, replay.

The page calls the service functions `/api/webhooks` calls (`webhooks.service`). A signing
secret is shown once: in the answer to the form that made it (add, rotate), never on a
page fetched later. Every change is written to the audit log, the secret only as
"(changed)".
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import transaction
from core.errors import Conflict, UserError
from core.pagination import MAX_ID
from core.runtime import Runtime
from web.api.common import RuntimeDep
from web.pages.admin.common import CurrentAdminPage, render_admin
from web.pages.common import PageCaller, see_other
from webhooks import service
from webhooks.models import Delivery, Subscription
from webhooks.rules import EVENTS

router = APIRouter(include_in_schema=False)
SECTION = "webhooks"
SUBJECT = "webhook"
DELIVERIES_SHOWN = 50
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
EVENT_LABELS = {
    "conversation.created": "A conversation opens",
    "message.received": "A customer's message arrives",
    "message.sent": "A reply or automatic answer is written",
    "ticket.changed": "A ticket changes",
    "sla.due_soon": "An SLA goal is due soon",
    "sla.breached": "An SLA goal is breached",
}
"""What each event of `webhooks.rules.EVENTS` means, in words."""
DONE = {"deactivated": "Webhook deactivated: it is told nothing until activated again.",
        "activated": "Webhook activated.", "deleted": "Webhook and its deliveries deleted.",
        "replayed": "Delivery queued again; it shows below as a new delivery."}


async def _last_statuses(session: AsyncSession, rows: list[Subscription]
                         ) -> dict[int, Delivery | None]:
    """Each subscription's newest delivery (there are few subscriptions)."""
    last: dict[int, Delivery | None] = {}
    for row in rows:
        deliveries, _ = await service.list_deliveries(session, row.id, limit=1)
        last[row.id] = deliveries[0] if deliveries else None
    return last


async def _list_page(request: Request, caller: PageCaller, runtime: Runtime, *,
                     notice: str | None = None, created: Subscription | None = None,
                     problem: str | None = None, typed: dict[str, Any] | None = None,
                     status: int = 200) -> Response:
    async with transaction(runtime.sessions) as session:
        rows = await service.list_subscriptions(session)
        last = await _last_statuses(session, rows)
    return render_admin(request, "admin/webhooks.html", caller, SECTION, {
        "hooks": rows, "last": last, "events": EVENTS, "labels": EVENT_LABELS,
        "notice": notice, "created": created, "problem": problem,
        "typed": typed or {"url": "", "events": []}}, status_code=status)


@router.get("/admin/webhooks")
async def webhooks_page(request: Request, caller: CurrentAdminPage, runtime: RuntimeDep,
                        done: str = "") -> Response:
    """Every subscription with its last delivery, and the form to add one."""
    return await _list_page(request, caller, runtime, notice=DONE.get(done))


@router.post("/admin/webhooks")
async def add_webhook(request: Request, caller: CurrentAdminPage,
                      runtime: RuntimeDep) -> Response:
    """Subscribe a URL to the events ticked; the answer shows its secret, this once."""
    data = await request.form()
    url = str(data.get("url") or "").strip()
    events = [str(e) for e in data.getlist("events")]
    try:
        async with transaction(runtime.sessions) as session:
            row = await service.create_subscription(
                session, url=url, events=events, created_by_id=caller.user.id,
                allow_private=runtime.settings.webhooks.allow_private_targets)
            await service.audit(session, caller.user, "webhook.created", row,
                         f"Subscribed {row.url} to {', '.join(row.events)}",
                         after=service.audit_view(row) | {"secret": "(set)"})
    except UserError as exc:
        return await _list_page(request, caller, runtime, problem=exc.message,
                                typed={"url": url, "events": events}, status=exc.status)
    return await _list_page(request, caller, runtime, created=row, status=201)


# ----------------------------------------------------------------------------- one webhook


async def _detail_page(request: Request, caller: PageCaller, runtime: Runtime, hook_id: int,
                       *, notice: str | None = None, secret: str | None = None,
                       problem: str | None = None, status: int = 200) -> Response:
    async with transaction(runtime.sessions) as session:
        row = await service.get_subscription(session, hook_id)
        deliveries, more = await service.list_deliveries(session, hook_id,
                                                         limit=DELIVERIES_SHOWN)
    return render_admin(request, "admin/webhook.html", caller, SECTION, {
        "hook": row, "deliveries": deliveries, "more": more is not None, "labels": EVENT_LABELS,
        "notice": notice, "secret": secret, "problem": problem}, status_code=status)


@router.get("/admin/webhooks/{hook_id}")
async def webhook_page(hook_id: IdPath, request: Request, caller: CurrentAdminPage,
                       runtime: RuntimeDep, done: str = "") -> Response:
    """One subscription: its settings, actions and its newest deliveries."""
    return await _detail_page(request, caller, runtime, hook_id, notice=DONE.get(done))


@router.post("/admin/webhooks/{hook_id}/rotate-secret")
async def rotate(hook_id: IdPath, request: Request, caller: CurrentAdminPage,
                 runtime: RuntimeDep) -> Response:
    """Give the subscription a new secret, shown in this answer only."""
    async with transaction(runtime.sessions) as session:
        row = await service.rotate_secret(session, hook_id)
        await service.audit(session, caller.user, "webhook.secret_rotated", row,
                     f"Rotated the signing secret of {row.url}",
                     before={"secret": "(set)"}, after={"secret": "(changed)"})
        secret = row.secret
    return await _detail_page(request, caller, runtime, hook_id, secret=secret)


@router.post("/admin/webhooks/{hook_id}/active")
async def set_active(hook_id: IdPath, request: Request, caller: CurrentAdminPage,
                     runtime: RuntimeDep) -> Response:
    """Activate (`active=yes`) or deactivate the subscription."""
    active = str((await request.form()).get("active") or "") == "yes"
    async with transaction(runtime.sessions) as session:
        row = await service.update_subscription(
            session, hook_id, {"active": active},
            allow_private=runtime.settings.webhooks.allow_private_targets)
        await service.audit(session, caller.user,
                     "webhook.activated" if active else "webhook.deactivated", row,
                     f"{'Activated' if active else 'Deactivated'} the webhook to {row.url}",
                     before={"active": not active}, after={"active": active})
    return see_other(f"/admin/webhooks/{hook_id}?done={'activated' if active else 'deactivated'}")


@router.post("/admin/webhooks/{hook_id}/delete")
async def delete(hook_id: IdPath, request: Request, caller: CurrentAdminPage,
                 runtime: RuntimeDep) -> Response:
    """Remove the subscription and its deliveries, then back to the list."""
    async with transaction(runtime.sessions) as session:
        row = await service.get_subscription(session, hook_id)
        await service.audit(session, caller.user, "webhook.deleted", row,
                     f"Deleted the webhook to {row.url}", before=service.audit_view(row))
        await service.delete_subscription(session, hook_id)
    return see_other("/admin/webhooks?done=deleted")


@router.post("/admin/webhooks/{hook_id}/deliveries/{delivery_id}/replay")
async def replay(hook_id: IdPath, delivery_id: IdPath, request: Request,
                 caller: CurrentAdminPage, runtime: RuntimeDep) -> Response:
    """Send a delivery's payload again as a new delivery; back to its webhook's page (that
    page with the reason when the webhook is inactive)."""
    try:
        async with transaction(runtime.sessions) as session:
            row = await service.replay(session, delivery_id)
            hook = await service.get_subscription(session, row.subscription_id)
            await service.audit(session, caller.user, "webhook.replayed", hook,
                         f"Replayed delivery {delivery_id} ({row.event_type}) to {hook.url}",
                         after={"delivery": row.id, "replay_of": delivery_id})
    except Conflict as exc:
        return await _detail_page(request, caller, runtime, hook_id, problem=exc.message,
                                  status=exc.status)
    return see_other(f"/admin/webhooks/{row.subscription_id}?done=replayed#deliveries")
