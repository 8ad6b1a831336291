"""Webhooks (admins): subscribe URLs to events, read their delivery log, replay a delivery.
The signing secret is shown in the answer that makes it (create, rotate-secret) and never
again. How deliveries are signed and retried: `webhooks.rules`, README "Webhooks"."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Response
from pydantic import ConfigDict, Field

from audit.service import changed_only
from core.db import transaction
from web.api.common import (
    DEFAULT_PAGE,
    JSON,
    CurrentAdmin,
    IdPath,
    IdQuery,
    Limit,
    RequestModel,
    RuntimeDep,
    Text,
    page,
)
from webhooks import service
from webhooks.models import Delivery, Subscription
from webhooks.rules import EVENTS, MAX_URL_LENGTH

router = APIRouter(tags=["webhooks"])

EventName = Literal["conversation.created", "message.received", "message.sent",
                    "ticket.changed", "sla.due_soon", "sla.breached"]
"""The names of `webhooks.rules.EVENTS`, for the OpenAPI document."""
Url = Annotated[Text, Field(min_length=1, max_length=MAX_URL_LENGTH,
                            examples=["https://example.org/frontdesk-hook"])]
Events = Annotated[list[EventName], Field(min_length=1, max_length=len(EVENTS))]


def subscription_json(row: Subscription) -> JSON:
    return {"id": row.id, "url": row.url, "events": list(row.events), "active": row.active,
            "created_by_id": row.created_by_id, "created_at": row.created_at.isoformat(),
            "updated_at": row.updated_at.isoformat()}


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def delivery_json(row: Delivery) -> JSON:
    return {"id": row.id, "webhook_id": row.subscription_id, "event_id": row.event_id,
            "event_type": row.event_type, "status": row.status, "attempts": row.attempts,
            "status_code": row.status_code, "response_ms": row.response_ms, "error": row.error,
            "created_at": row.created_at.isoformat(),
            "next_attempt_at": _iso(row.next_attempt_at),
            "delivered_at": _iso(row.delivered_at), "replay_of_id": row.replay_of_id,
            "payload": row.payload}


class NewWebhook(RequestModel):
    url: Url
    events: Events
    active: bool = True


class WebhookPatch(RequestModel):
    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    url: Url | None = None
    events: Events | None = None
    active: bool | None = None


@router.get("/api/webhooks")
async def list_webhooks(admin: CurrentAdmin, runtime: RuntimeDep) -> JSON:
    """Every webhook, oldest first (without their secrets)."""
    async with transaction(runtime.sessions) as session:
        rows = await service.list_subscriptions(session)
    return page([subscription_json(row) for row in rows], None)


@router.post("/api/webhooks", status_code=201)
async def create_webhook(body: NewWebhook, admin: CurrentAdmin, runtime: RuntimeDep) -> JSON:
    """Subscribe `url` to `events`; the answer holds the signing `secret`, shown this once.
    422 naming `url` for a target that is not http(s) or (by default) a private address."""
    async with transaction(runtime.sessions) as session:
        row = await service.create_subscription(
            session, url=body.url, events=body.events, active=body.active,
            created_by_id=admin.id,
            allow_private=runtime.settings.webhooks.allow_private_targets)
        await service.audit(session, admin, "webhook.created", row,
                            f"Subscribed {row.url} to {', '.join(row.events)}",
                            after=service.audit_view(row) | {"secret": "(set)"})
    return subscription_json(row) | {"secret": row.secret}


@router.get("/api/webhooks/{webhook_id}")
async def get_webhook(webhook_id: IdPath, admin: CurrentAdmin, runtime: RuntimeDep) -> JSON:
    """One webhook (without its secret)."""
    async with transaction(runtime.sessions) as session:
        row = await service.get_subscription(session, webhook_id)
    return subscription_json(row)


@router.patch("/api/webhooks/{webhook_id}")
async def update_webhook(webhook_id: IdPath, body: WebhookPatch, admin: CurrentAdmin,
                         runtime: RuntimeDep) -> JSON:
    """Change a webhook's `url`, `events` and/or `active`."""
    async with transaction(runtime.sessions) as session:
        before = service.audit_view(await service.get_subscription(session, webhook_id))
        row = await service.update_subscription(
            session, webhook_id, body.model_dump(exclude_none=True),
            allow_private=runtime.settings.webhooks.allow_private_targets)
        old, new = changed_only(before, service.audit_view(row))
        if new:
            await service.audit(session, admin, "webhook.updated", row,
                                f"Changed the webhook to {row.url}", before=old, after=new)
    return subscription_json(row)


@router.delete("/api/webhooks/{webhook_id}", status_code=204)
async def delete_webhook(webhook_id: IdPath, admin: CurrentAdmin,
                         runtime: RuntimeDep) -> Response:
    """Remove a webhook and its delivery log."""
    async with transaction(runtime.sessions) as session:
        row = await service.get_subscription(session, webhook_id)
        await service.audit(session, admin, "webhook.deleted", row,
                            f"Deleted the webhook to {row.url}", before=service.audit_view(row))
        await service.delete_subscription(session, webhook_id)
    return Response(status_code=204)


@router.post("/api/webhooks/{webhook_id}/rotate-secret")
async def rotate_webhook_secret(webhook_id: IdPath, admin: CurrentAdmin,
                                runtime: RuntimeDep) -> JSON:
    """Give a webhook a new signing `secret` (in this answer only); the old one stops
    signing at once."""
    async with transaction(runtime.sessions) as session:
        row = await service.rotate_secret(session, webhook_id)
        await service.audit(session, admin, "webhook.secret_rotated", row,
                            f"Rotated the signing secret of {row.url}",
                            before={"secret": "(set)"}, after={"secret": "(changed)"})
    return subscription_json(row) | {"secret": row.secret}


@router.get("/api/webhooks/{webhook_id}/deliveries")
async def list_webhook_deliveries(webhook_id: IdPath, admin: CurrentAdmin, runtime: RuntimeDep,
                                  limit: Limit = DEFAULT_PAGE, cursor: IdQuery = None) -> JSON:
    """A webhook's deliveries, newest first; `cursor` is the previous page's `next_cursor`."""
    async with transaction(runtime.sessions) as session:
        rows, next_id = await service.list_deliveries(session, webhook_id, limit=limit,
                                                      before=cursor)
    return page([delivery_json(row) for row in rows], None if next_id is None else str(next_id))


@router.post("/api/webhooks/deliveries/{delivery_id}/replay", status_code=202)
async def replay_webhook_delivery(delivery_id: IdPath, admin: CurrentAdmin,
                                  runtime: RuntimeDep) -> JSON:
    """Send a delivery's payload again (same event id) as a new delivery, answered here;
    409 when its webhook is inactive."""
    async with transaction(runtime.sessions) as session:
        row = await service.replay(session, delivery_id)
        hook = await service.get_subscription(session, row.subscription_id)
        await service.audit(session, admin, "webhook.replayed", hook,
                            f"Replayed delivery {delivery_id} ({row.event_type}) to {hook.url}",
                            after={"delivery": row.id, "replay_of": delivery_id})
    return delivery_json(row)
