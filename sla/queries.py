"""Read models of the SLA: clocks per ticket, status filters, due-time ordering, reports."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, exists, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import Team
from core.db import UTCDateTime
from core.errors import InvalidInput
from inbox.access import Scope
from inbox.models import CHANNELS, NO_DEADLINE, Conversation, Inbox
from sla import clock as clocks
from sla.models import SlaClock
from sla.policy import SlaPolicy, default_zone_name
from sla.reports import (
    NO_TEAM,
    ClockFact,
    WeeklyReport,
    parse_bound,
    summarize,
    weeks_between,
)
from sla.service import calendar_for, current_policy, to_clock
from tickets.models import Pipeline, PipelineStatus, Ticket, TicketConversation
from tickets.queries import in_scope as ticket_in_scope
from tickets.state import PRIORITIES

FAR_FUTURE = NO_DEADLINE
"""Where a ticket without a running deadline sorts: after every real one, and still inside
the years a cursor may hold (`core.clock`)."""
GROUPS = {"priority": Ticket.priority, "team": Ticket.team_id, "channel": Ticket.source_channel}


async def clocks_of(session: AsyncSession, tickets: Sequence[Ticket],
                    now: datetime) -> dict[int, list[dict[str, Any]]]:
    """Per ticket id, its current clock of each goal as the API shows it."""
    if not tickets:
        return {}
    version, policy = await current_policy(session)
    rows = (await session.scalars(select(SlaClock).where(
        SlaClock.ticket_id.in_([t.id for t in tickets])).order_by(SlaClock.id))).all()
    latest: dict[tuple[int, str], SlaClock] = {}
    for row in rows:
        latest[(row.ticket_id, row.kind)] = row
    teams = {t.id: t.team_id for t in tickets}
    result: dict[int, list[dict[str, Any]]] = {t.id: [] for t in tickets}
    for (ticket_id, _), row in sorted(latest.items()):
        cal = calendar_for(session, version, policy, teams[ticket_id])
        value = to_clock(row)
        remaining = clocks.remaining(value, cal, now)
        result[ticket_id].append({
            "goal": row.kind, "status": clocks.status(value, row.due_soon_at, row.due_at, now),
            "due_at": row.due_at.isoformat() if row.due_at else None,
            "due_soon_at": row.due_soon_at.isoformat() if row.due_soon_at else None,
            "remaining_seconds": int(remaining.total_seconds()),
            "started_at": row.started_at.isoformat(),
            "met_at": row.stopped_at.isoformat() if row.stopped_at else None,
        })
    return result


def status_condition(status: str, now: datetime) -> ColumnElement[bool]:
    """SQL: tickets with a clock in `status` at `now`."""
    running = and_(SlaClock.stopped_at.is_(None), SlaClock.due_at.is_not(None))
    conditions = {
        "overdue": and_(running, SlaClock.due_at <= now),
        "due_soon": and_(running, SlaClock.due_soon_at <= now, SlaClock.due_at > now),
        "on_track": and_(running, SlaClock.due_soon_at > now),
        "paused": and_(SlaClock.stopped_at.is_(None), SlaClock.due_at.is_(None)),
        "met": and_(SlaClock.stopped_at.is_not(None), SlaClock.met_late.is_(False)),
        "met_late": and_(SlaClock.stopped_at.is_not(None), SlaClock.met_late.is_(True)),
    }
    return exists().where(SlaClock.ticket_id == Ticket.id, conditions[status])


def conversation_status_condition(status: str, now: datetime) -> ColumnElement[bool]:
    """SQL: conversations whose ticket has a clock in `status` at `now`."""
    return exists().where(TicketConversation.conversation_id == Conversation.id,
                          TicketConversation.ticket_id == Ticket.id,
                          status_condition(status, now)).correlate(Conversation)


def next_due_expression() -> ColumnElement[Any]:
    """SQL: the ticket's soonest running deadline (far in the future when none)."""
    soonest = (select(func.min(SlaClock.due_at))
               .where(SlaClock.ticket_id == Ticket.id, SlaClock.stopped_at.is_(None))
               .scalar_subquery())
    return func.coalesce(soonest, literal(FAR_FUTURE, UTCDateTime()))


def _bucket(row: SlaClock, now: datetime) -> str | None:
    if row.stopped_at is not None:
        return "met_late" if row.met_late else "met"
    if row.due_at is not None and row.due_at <= now:
        return "breached"
    return None


async def report(session: AsyncSession, start: datetime, end: datetime, group_by: str | None,
                 now: datetime, *, scope: Scope) -> list[dict[str, Any]]:
    """Attainment per goal (and group) for clocks of tickets in `scope` started in
    [start, end): met, met late, breached (overdue and not met), percent met, median
    working minutes to meet."""
    group_column = GROUPS[group_by] if group_by else literal(None)
    rows = (await session.execute(
        select(SlaClock, group_column).join(Ticket, Ticket.id == SlaClock.ticket_id)
        .where(SlaClock.started_at >= start, SlaClock.started_at < end,
               Ticket.deleted_at.is_(None), ticket_in_scope(scope)))).all()
    counts: dict[tuple[str, Any], dict[str, Any]] = defaultdict(
        lambda: {"met": 0, "met_late": 0, "breached": 0, "minutes": []})
    for row, group in rows:
        bucket = _bucket(row, now)
        if bucket is None:
            continue
        entry = counts[(row.kind, group)]
        entry[bucket] += 1
        if row.stopped_at is not None:
            entry["minutes"].append(row.consumed_us / 60_000_000)
    return [_line(kind, group, group_by, entry) for (kind, group), entry in sorted(
        counts.items(), key=lambda item: (item[0][0], str(item[0][1])))]


def _line(kind: str, group: Any, group_by: str | None, entry: dict[str, Any]) -> dict[str, Any]:
    decided = entry["met"] + entry["met_late"] + entry["breached"]
    line = {"goal": kind, "met": entry["met"], "met_late": entry["met_late"],
            "breached": entry["breached"],
            "percent_met": round(100 * entry["met"] / decided, 1) if decided else None,
            "median_minutes": round(median(entry["minutes"]), 1) if entry["minutes"] else None}
    if group_by:
        line[group_by] = group
    return line


def status_filter(status: str | None, now: datetime) -> tuple[ColumnElement[bool], ...]:
    """The extra WHERE conditions for an `sla_status` filter (none for None)."""
    return () if status is None else (status_condition(status, now),)




def report_zone(policy: SlaPolicy) -> ZoneInfo:
    """The time zone reports count days and weeks in: the default calendar's (whatever the
    mode), or UTC when the settings have none."""
    return ZoneInfo(default_zone_name(policy))


async def current_report_zone(session: AsyncSession) -> ZoneInfo:
    """`report_zone` of the settings in force."""
    _, policy = await current_policy(session)
    return report_zone(policy)


async def weekly_report(session: AsyncSession, start: datetime, end: datetime, now: datetime,
                        *, scope: Scope) -> WeeklyReport:
    """Attainment per goal per week, per team, and breaches by team, for the clocks of
    tickets in `scope` started in [start, end); weeks in the report's time zone."""
    zone = await current_report_zone(session)
    rows = (await session.execute(
        select(SlaClock, Team.name).join(Ticket, Ticket.id == SlaClock.ticket_id)
        .outerjoin(Team, Team.id == Ticket.team_id)
        .where(SlaClock.started_at >= start, SlaClock.started_at < end,
               Ticket.deleted_at.is_(None), ticket_in_scope(scope))
        .order_by(SlaClock.id))).all()
    facts = [ClockFact(goal=row.kind, started_at=row.started_at, team=team or NO_TEAM,
                       stopped_at=row.stopped_at, met_late=row.met_late, due_at=row.due_at,
                       working_minutes=row.consumed_us / 60_000_000)
             for row, team in rows]
    return summarize(facts, weeks_between(start, end, zone), zone, now)


MAX_WEEKS = 106
"""The longest period a weekly report covers (two years and a little)."""


async def report_period(session: AsyncSession, start: str, end: str, *,
                        max_weeks: int | None = None) -> tuple[datetime, datetime]:
    """[from, to) of a report from its texts (`sla.reports.parse_bound`, dates in the
    report's zone), at most `max_weeks` weeks long when given; InvalidInput names the bound
    at fault."""
    zone = await current_report_zone(session)
    bounds = []
    for name, text, is_end in (("from", start, False), ("to", end, True)):
        try:
            bounds.append(parse_bound(text, zone, end=is_end))
        except ValueError as exc:
            raise InvalidInput(str(exc), field=name) from None
    if bounds[1] <= bounds[0]:
        raise InvalidInput("'to' must be after 'from'", field="to")
    if max_weeks is not None and bounds[1] - bounds[0] > timedelta(weeks=max_weeks):
        raise InvalidInput(f"a weekly report covers at most {max_weeks} weeks", field="to")
    return bounds[0], bounds[1]


@dataclass(frozen=True)
class EditorChoices:
    """What the SLA editor offers: open statuses to pause on, and the values of each
    property goals may go by, as (value, label)."""

    statuses: list[tuple[str, str]]
    values: dict[str, list[tuple[str, str]]]


async def editor_choices(session: AsyncSession) -> EditorChoices:
    """The statuses (not closed ones) of every pipeline, and every priority, team, inbox,
    channel and pipeline."""
    statuses: dict[str, str] = {}
    for key, label in (await session.execute(
            select(PipelineStatus.key, PipelineStatus.label)
            .where(PipelineStatus.is_closed.is_(False))
            .order_by(PipelineStatus.pipeline_id, PipelineStatus.position))).all():
        statuses.setdefault(key, label)
    teams = (await session.execute(select(Team.id, Team.name).where(Team.active.is_(True))
                                   .order_by(Team.name))).all()
    inboxes = (await session.execute(select(Inbox.slug, Inbox.name).order_by(Inbox.name))).all()
    pipelines = (await session.execute(select(Pipeline.id, Pipeline.name)
                                       .order_by(Pipeline.name))).all()
    return EditorChoices(list(statuses.items()), {
        "priority": [(p, p.title()) for p in reversed(PRIORITIES)],
        "team": [(str(i), name) for i, name in teams],
        "inbox": [(slug, name) for slug, name in inboxes],
        "channel": [(c, c.title()) for c in CHANNELS],
        "pipeline": [(str(i), name) for i, name in pipelines]})
