"""SLA settings (admins) and the attainment report."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query

from core import clock
from core.db import transaction
from core.errors import InvalidInput
from sla import queries
from sla.service import current_policy, save_policy
from web.api.common import JSON, CurrentAdmin, CurrentCaller, Moment, RuntimeDep

router = APIRouter(tags=["sla"])


@router.get("/api/sla/settings")
async def get_settings(admin: CurrentAdmin, runtime: RuntimeDep) -> JSON:
    """The SLA settings in force and their version (0: never saved)."""
    async with transaction(runtime.sessions) as session:
        version, policy = await current_policy(session)
    return {"version": version, "settings": policy.model_dump(mode="json")}


@router.put("/api/sla/settings")
async def put_settings(admin: CurrentAdmin, runtime: RuntimeDep,
                       document: Annotated[dict[str, Any], Body()]) -> JSON:
    """Replace the SLA settings (a new version); open tickets are re-planned in the
    background. Invalid settings: 422 naming the field, nothing changes."""
    async with transaction(runtime.sessions) as session:
        version, policy = await save_policy(session, document, admin.id)
    return {"version": version, "settings": policy.model_dump(mode="json")}


@router.get("/api/sla/report")
async def sla_report(
    caller: CurrentCaller, runtime: RuntimeDep,
    start: Annotated[Moment, Query(alias="from")], end: Annotated[Moment, Query(alias="to")],
    group_by: Annotated[Literal["priority", "team", "channel"] | None, Query()] = None,
) -> JSON:
    """Attainment per goal for clocks started in [from, to) (times with their zone, between
    the years 1900 and 8999), over the tickets the caller sees."""
    if end <= start:
        raise InvalidInput("'to' must be after 'from'", field="to")
    async with transaction(runtime.sessions) as session:
        lines = await queries.report(session, start, end, group_by, clock.now(),
                                     scope=caller.scope)
    return {"items": lines}
