"""SLA settings (admins) and the attainment reports (JSON and CSV)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from core import clock
from core.db import transaction
from sla import queries
from sla.policy import EXAMPLE, SlaPolicy
from sla.reports import WeeklyReport, to_csv
from sla.service import current_policy, save_policy
from web.api.common import JSON, CurrentAdmin, CurrentCaller, RuntimeDep

router = APIRouter(tags=["sla"])

BOUND = ("A date (`2026-12-01`) or a time with its zone (`2026-12-01T00:00:00Z`). A date in "
         "`from` is the start of that day, in `to` the end of it, in the time zone of the "
         "default SLA calendar (UTC without one).")
From = Annotated[str, Query(alias="from", min_length=1, max_length=64, description=BOUND,
                            examples=["2026-10-05"])]
To = Annotated[str, Query(alias="to", min_length=1, max_length=64, description=BOUND,
                          examples=["2026-11-29"])]


class SlaSettings(BaseModel):
    """The SLA settings in force and their version."""

    version: int = Field(description="The settings' version (0: never saved).")
    settings: SlaPolicy


class ReportLine(BaseModel):
    week_starting: date = Field(description="The Monday of the week, in the report's zone.")
    goal: Literal["first_response", "next_response", "close"]
    team: str = Field(description="`All teams`, a team's name, or `No team`.")
    met: int
    met_late: int
    breached: int = Field(description="Overdue and not met (now).")
    percent_met: float | None = Field(description="Met in time of met, met late and "
                                                  "breached; null without any.")
    median_working_minutes: float | None = Field(description="Median working minutes of "
                                                             "the clocks met; null without.")


class TeamBreachLine(BaseModel):
    team: str
    breached: int
    decided: int = Field(description="Clocks met, met late or breached.")


class WeeklyReportOut(BaseModel):
    """Attainment per goal per week for clocks started in the period."""

    time_zone: str
    weeks: list[date]
    items: list[ReportLine] = Field(description="Every week and goal, all teams.")
    teams: list[ReportLine] = Field(description="Per week, goal and team that had clocks.")
    breaches_by_team: list[TeamBreachLine]


def _lines(lines: Any) -> list[ReportLine]:
    return [ReportLine(week_starting=line.week, goal=line.goal, team=line.team, met=line.met,
                       met_late=line.met_late, breached=line.breached,
                       percent_met=line.percent_met, median_working_minutes=line.median_minutes)
            for line in lines]


def weekly_out(report: WeeklyReport) -> WeeklyReportOut:
    """The API's shape of a weekly report."""
    return WeeklyReportOut(
        time_zone=report.zone, weeks=report.weeks, items=_lines(report.lines),
        teams=_lines(report.team_lines),
        breaches_by_team=[TeamBreachLine(team=t.team, breached=t.breached, decided=t.decided)
                          for t in report.breaches_by_team])


@router.get("/api/sla/settings")
async def get_settings(admin: CurrentAdmin, runtime: RuntimeDep) -> SlaSettings:
    """The SLA settings in force and their version (0: never saved)."""
    async with transaction(runtime.sessions) as session:
        version, policy = await current_policy(session)
    return SlaSettings(version=version, settings=policy)


@router.put("/api/sla/settings")
async def put_settings(admin: CurrentAdmin, runtime: RuntimeDep,
                       document: Annotated[SlaPolicy, Body(openapi_examples={
                           "office hours": {"summary": "Office hours with a lunch break",
                                            "value": EXAMPLE}})]) -> SlaSettings:
    """Replace the SLA settings (a new version); open tickets are re-planned in the
    background. Invalid settings: 422 naming the field, nothing changes."""
    async with transaction(runtime.sessions) as session:
        version, policy = await save_policy(session, document.model_dump(mode="json"), admin)
    return SlaSettings(version=version, settings=policy)


@router.get("/api/sla/report")
async def sla_report(
    caller: CurrentCaller, runtime: RuntimeDep, start: From, end: To,
    group_by: Annotated[Literal["priority", "team", "channel"] | None, Query()] = None,
) -> JSON:
    """Attainment per goal for clocks started in [from, to) (between the years 1900 and
    8999), over the tickets the caller sees."""
    async with transaction(runtime.sessions) as session:
        begin, until = await queries.report_period(session, start, end)
        lines = await queries.report(session, begin, until, group_by, clock.now(),
                                     scope=caller.scope)
    return {"items": lines}


@router.get("/api/sla/report/weekly")
async def sla_weekly_report(caller: CurrentCaller, runtime: RuntimeDep, start: From,
                            end: To) -> WeeklyReportOut:
    """Attainment per goal per week, median working minutes, breaches by team, for clocks
    started in [from, to) (at most 106 weeks) over the tickets the caller sees (the reports
    page's numbers)."""
    async with transaction(runtime.sessions) as session:
        begin, until = await queries.report_period(session, start, end,
                                                   max_weeks=queries.MAX_WEEKS)
        report = await queries.weekly_report(session, begin, until, clock.now(),
                                             scope=caller.scope)
    return weekly_out(report)


@router.get("/api/sla/report.csv", response_class=Response, responses={
    200: {"content": {"text/csv": {"schema": {"type": "string"}}},
          "description": "The weekly report as CSV"}})
async def sla_report_csv(caller: CurrentCaller, runtime: RuntimeDep, start: From,
                         end: To) -> Response:
    """The weekly report (`/api/sla/report/weekly`) as CSV: one row per week and goal for
    all teams, then per week, goal and team."""
    async with transaction(runtime.sessions) as session:
        begin, until = await queries.report_period(session, start, end,
                                                   max_weeks=queries.MAX_WEEKS)
        report = await queries.weekly_report(session, begin, until, clock.now(),
                                             scope=caller.scope)
    last = until - timedelta(microseconds=1)
    name = f"sla-report-{begin.date().isoformat()}-{last.date().isoformat()}.csv"
    return Response(to_csv(report), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
