"""`/admin/sla`: the SLA settings editor with a preview, and `/admin/sla/reports`: attainment
charts and the CSV. Both call the services `/api/sla/*` calls.

The editor is one form: every button POSTs all of it, and the server answers by its `action`
(save, preview, add or remove a period or a value row), so the page works without script;
with htmx the preview follows each change of the form (`/admin/sla/preview`).
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import available_timezones

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from core import clock
from core.db import transaction
from core.errors import InvalidInput
from sla import queries
from sla.holidays import countries
from sla.policy import PROPERTIES, SlaPolicy
from sla.preview import GOAL_NAMES, display_zone, preview, when
from sla.reports import default_period
from sla.service import current_policy, save_policy, validate_policy
from web.api.common import RuntimeDep
from web.charts import BarChart, bar_chart, count_maximum, format_value
from web.pages.admin import sla_form
from web.pages.admin.common import CurrentAdminPage, render_admin
from web.pages.common import PageCaller, render, see_other

router = APIRouter(include_in_schema=False)
HOME = "/admin/sla"
REPORTS = "/admin/sla/reports"


@lru_cache(maxsize=1)
def zone_names() -> tuple[str, ...]:
    """Every IANA time zone name this machine knows, sorted."""
    return tuple(sorted(available_timezones()))


def _fields(form: FormData) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for name, value in form.multi_items():
        if isinstance(value, str):
            fields.setdefault(name, []).append(value)
    return fields


def _check(state: sla_form.SlaForm) -> tuple[SlaPolicy | None, dict[str, str]]:
    """The policy the form describes, or the errors to show beside its fields."""
    document, errors = sla_form.to_document(state)
    if state.timezone not in zone_names():
        errors["timezone"] = "choose a time zone from the list"
    if errors:
        return None, errors
    try:
        return validate_policy(document), {}
    except InvalidInput as exc:
        return None, {sla_form.error_key(exc.field): exc.message}


def _preview(policy: SlaPolicy | None) -> dict[str, Any]:
    if policy is None:
        return {"lines": [], "problem": "Fix the marked fields to see a preview."}
    now = clock.now()
    zone = display_zone(policy)
    try:
        deadlines = preview(policy, now)
    except (ValueError, OverflowError):
        return {"lines": [], "problem": "These hours leave no working time to count."}
    lines = [{"applies_to": d.applies_to, "goal": GOAL_NAMES[d.goal],
              "due_at": when(d.due_at, zone, now),
              "due_soon_at": when(d.due_soon_at, zone, now) if d.due_soon_at else None}
             for d in deadlines]
    return {"lines": lines, "problem": None if lines else "No goal is set.",
            "now": when(now, zone, now), "zone": str(zone)}


async def _editor(request: Request, caller: PageCaller, runtime: RuntimeDep,
                  state: sla_form.SlaForm, *, errors: dict[str, str] | None = None,
                  notice: str | None = None, status_code: int = 200) -> Response:
    policy, problems = _check(state)
    async with transaction(runtime.sessions) as session:
        version, _ = await current_policy(session)
        choices = await queries.editor_choices(session)
    return render_admin(request, "admin/sla.html", caller, "sla", {
        "form": state, "errors": errors if errors is not None else {}, "notice": notice,
        "version": version, "preview": _preview(policy if not problems else None),
        "zones": zone_names(), "countries": countries(), "choices": choices,
        "properties": PROPERTIES, "goal_names": GOAL_NAMES, "days": sla_form.DAY_NAMES,
        "team_calendar_count": state.kept_team_calendars()},
        status_code=status_code)


@router.get(HOME)
async def sla_page(request: Request, caller: CurrentAdminPage, runtime: RuntimeDep,
                   notice: str | None = None) -> Response:
    """The settings in force, in the editor."""
    async with transaction(runtime.sessions) as session:
        _, policy = await current_policy(session)
    return await _editor(request, caller, runtime, sla_form.from_policy(policy),
                         notice=notice)


@router.post(HOME)
async def sla_post(request: Request, caller: CurrentAdminPage, runtime: RuntimeDep) -> Response:
    """Save the form (`action=save`), or show it again after another button."""
    fields = _fields(await request.form())
    action = (fields.get("action") or ["preview"])[-1]
    state = sla_form.apply(sla_form.from_fields(fields), action)
    if action != "save":
        return await _editor(request, caller, runtime, state)
    document, errors = sla_form.to_document(state)
    if state.timezone not in zone_names():
        errors["timezone"] = "choose a time zone from the list"
    if not errors:
        try:
            async with transaction(runtime.sessions) as session:
                version, _ = await save_policy(session, document, caller.user)
        except InvalidInput as exc:
            errors = {sla_form.error_key(exc.field): exc.message}
        else:
            notice = f"SLA settings saved (version {version})"
            return see_other(f"{HOME}?{urlencode({'notice': notice})}")
    return await _editor(request, caller, runtime, state, errors=errors, status_code=422)


@router.post(HOME + "/preview")
async def sla_preview(request: Request, caller: CurrentAdminPage) -> Response:
    """The preview of the form as it is now (the fragment htmx swaps in)."""
    state = sla_form.from_fields(_fields(await request.form()))
    policy, problems = _check(state)
    return render(request, "admin/sla_preview.html",
                  {"preview": _preview(policy if not problems else None)})


# ------------------------------------------------------------------ reports


def _charts(report: Any) -> list[dict[str, Any]]:
    labels = [f"{week.day} {week:%b}" for week in report.weeks]
    charts = []
    for goal in ("first_response", "next_response", "close"):
        series = report.series(goal)
        charts.append({"chart": BarChart(
            chart_id=f"chart-{goal}", title=f"{GOAL_NAMES[goal].capitalize()}: met in time",
            labels=labels, values=[line.percent_met for line in series], unit="%",
            x_label="Week starting", y_label="Met in time", maximum=100), "lines": series})
    first = report.series("first_response")
    charts.append({"chart": BarChart(
        chart_id="chart-median", title="Median working time to first response",
        labels=labels, values=[line.median_minutes for line in first], unit="min",
        x_label="Week starting", y_label="Working minutes"), "lines": first})
    teams = report.breaches_by_team
    charts.append({"chart": BarChart(
        chart_id="chart-teams", title="Breaches by team", labels=[t.team for t in teams],
        values=[float(t.breached) for t in teams], x_label="Team", y_label="Breaches",
        maximum=count_maximum(max((t.breached for t in teams), default=0))),
        "teams": teams})
    for entry in charts:
        entry["svg"] = bar_chart(entry["chart"])
    return charts


@router.get(REPORTS)
async def sla_reports_page(
    request: Request, caller: CurrentAdminPage, runtime: RuntimeDep,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
) -> Response:
    """Attainment per goal per week, median time to first response, breaches by team, for
    the period `from`..`to` (dates; the last 8 weeks by default)."""
    error = None
    async with transaction(runtime.sessions) as session:
        zone = await queries.current_report_zone(session)
        first, last = default_period(clock.now().astimezone(zone).date())
        start, end = (start or first.isoformat())[:64], (end or last.isoformat())[:64]
        try:
            begin, until = await queries.report_period(session, start, end,
                                                       max_weeks=queries.MAX_WEEKS)
        except InvalidInput as exc:
            error = exc
            begin, until = await queries.report_period(session, first.isoformat(),
                                                       last.isoformat())
        report = await queries.weekly_report(session, begin, until, clock.now(),
                                             scope=caller.scope)
    period = {"from": start, "to": end} if error is None else {
        "from": first.isoformat(), "to": last.isoformat()}
    return render_admin(request, "admin/sla_reports.html", caller, "sla-reports", {
        "report": report, "charts": _charts(report), "start": start, "end": end,
        "error": error, "csv": f"/api/sla/report.csv?{urlencode(period)}",
        "goal_names": GOAL_NAMES, "format_value": format_value,
        "last_day": (until - timedelta(microseconds=1)).astimezone(zone).date()},
        status_code=422 if error else 200)
