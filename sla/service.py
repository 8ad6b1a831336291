"""The only writer of SLA policies and clocks.

`SlaTracker` subscribes to ticket and message events and starts, pauses, resumes, stops and
re-plans each ticket's clocks inside the transaction that caused them; after commit it
schedules the due-soon and breach notices for their exact instants (see `sla.jobs`).

- first response: starts when the ticket opens; met by the first agent reply (internal
  comments do not count).
- next response: starts on a customer message that follows an agent reply; met by the next
  agent reply.
- close: starts when the ticket opens; met when it closes; a reopen resumes it. Closing
  pauses the response clocks.
- statuses in `paused_statuses` pause every running clock; leaving them resumes.
- changing priority, team, channel or pipeline re-plans the ticket's clocks, and so does
  moving its conversation to another inbox when goals go by inbox; saving new settings
  re-plans every open ticket (the `sla.replan_all` job).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from audit.service import changed_only, record_change
from core import clock as wall
from core.db import after_commit
from core.errors import InvalidInput
from core.events import EventBus
from core.jobs import enqueue_after_commit
from inbox import service as inbox
from inbox.events import ConversationMoved, MessageAdded
from inbox.models import Conversation, Inbox, Message
from sla import clock as clocks
from sla.calendar import WorkingCalendar
from sla.models import SlaClock, SlaNotice, SlaPolicyVersion
from sla.policy import KINDS, Goals, SlaPolicy, calendar_spec_for
from tickets import service as tickets
from tickets.entitlements import own_sla_goals
from tickets.events import TicketChanged, TicketCreated, TicketsMerged
from tickets.models import Ticket, TicketConversation

US = timedelta(microseconds=1)
PROPERTY_FIELDS = {"priority": "priority", "team_id": "team", "source_channel": "channel",
                   "pipeline_id": "pipeline"}
ALWAYS = WorkingCalendar.always()


# ------------------------------------------------------------------ policy


IN_FORCE = "sla_policy_in_force"
"""Where a session remembers the policy in force for the rest of its transaction."""


async def current_policy(session: AsyncSession) -> tuple[int, SlaPolicy]:
    """(version, policy) in force; version 0 and an empty policy when none was saved.
    Read once per transaction (a session is one transaction here)."""
    if IN_FORCE in session.info:
        remembered: tuple[int, SlaPolicy] = session.info[IN_FORCE]
        return remembered
    row = await session.scalar(select(SlaPolicyVersion).order_by(SlaPolicyVersion.id.desc())
                               .limit(1))
    if row is None:
        in_force = 0, SlaPolicy()
    else:
        cache = session.info.setdefault("cache", {})
        key = ("sla_policy", row.id)
        if key not in cache:
            cache[key] = SlaPolicy.model_validate(row.document)
        in_force = row.id, cache[key]
    session.info[IN_FORCE] = in_force
    return in_force


async def save_policy(session: AsyncSession, document: dict[str, Any],
                      actor: User | None) -> tuple[int, SlaPolicy]:
    """Validate and store a new version (InvalidInput names the field), with an audit entry
    of what changed; schedules the re-plan of every open ticket after commit."""
    policy = validate_policy(document)
    old_version, old_policy = await current_policy(session)
    row = SlaPolicyVersion(document=policy.model_dump(mode="json"), created_at=wall.now(),
                           created_by=actor.id if actor is not None else None)
    session.add(row)
    await session.flush()
    before, after = changed_only(old_policy.model_dump(mode="json"), row.document)
    await record_change(
        session, actor=actor, action="sla.settings_saved", subject_type="sla_settings",
        subject_id=row.id, before=before, after=after,
        summary=f"SLA settings version {row.id} replaced version {old_version}"
        + ("" if before or after else " (no change)"))
    session.info[IN_FORCE] = row.id, policy
    enqueue_after_commit(session, "sla.replan_all", row.id, job_id=f"sla-replan:{row.id}")
    return row.id, policy


def validate_policy(document: dict[str, Any]) -> SlaPolicy:
    """The policy a settings document describes; InvalidInput names the first field at
    fault (a dotted path such as `goals.first_response.minutes`)."""
    try:
        return SlaPolicy.model_validate(document)
    except ValueError as exc:
        raise _invalid(exc) from None


def _invalid(exc: ValueError) -> InvalidInput:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        message = str(first["msg"]).removeprefix("Value error, ")
        return InvalidInput(message, field=field)
    return InvalidInput(str(exc))


async def entitlement_goals(session: AsyncSession, ticket: Ticket) -> Goals | None:
    """The goals of the case's entitlement, which apply instead of the policy's (None: it
    has none, or they no longer read as goals)."""
    document = await own_sla_goals(session, ticket)
    if document is None:
        return None
    try:
        return Goals.model_validate(document)
    except ValueError:
        return None


def calendar_for(session: AsyncSession, version: int, policy: SlaPolicy,
                 team_id: int | None) -> WorkingCalendar:
    """The calendar a ticket of `team_id` runs on (built once per policy version)."""
    spec = calendar_spec_for(policy, team_id)
    if spec is None:
        return ALWAYS
    cache = session.info.setdefault("cache", {})
    key = ("sla_calendar", version, spec.team_id)
    if key not in cache:
        cache[key] = spec.build()
    calendar: WorkingCalendar = cache[key]
    return calendar


async def ticket_properties(session: AsyncSession, ticket: Ticket,
                            policy: SlaPolicy) -> dict[str, Any]:
    """The properties goals may go by; `inbox` (the slug of the inbox of the ticket's first
    conversation) is looked up only when the policy goes by inbox."""
    properties: dict[str, Any] = {
        "priority": ticket.priority, "team": ticket.team_id,
        "channel": ticket.source_channel, "pipeline": ticket.pipeline_id, "inbox": None}
    if policy.property == "inbox":
        properties["inbox"] = await session.scalar(
            select(Inbox.slug).join(Conversation, Conversation.inbox_id == Inbox.id)
            .join(TicketConversation, TicketConversation.conversation_id == Conversation.id)
            .where(TicketConversation.ticket_id == ticket.id)
            .order_by(Conversation.id).limit(1))
    return properties


# ------------------------------------------------------------------ rows <-> values


def to_clock(row: SlaClock) -> clocks.Clock:
    return clocks.Clock(goal=row.goal_us * US, due_soon=row.due_soon_us * US,
                        consumed=row.consumed_us * US, running_since=row.running_since,
                        stopped_at=row.stopped_at, met_late=row.met_late)


def _store(session: AsyncSession, row: SlaClock, value: clocks.Clock,
           cal: WorkingCalendar) -> None:
    row.goal_us, row.due_soon_us = value.goal // US, value.due_soon // US
    row.consumed_us = value.consumed // US
    row.running_since, row.stopped_at, row.met_late = (value.running_since, value.stopped_at,
                                                       value.met_late)
    row.due_soon_at, row.due_at = clocks.deadlines(value, cal)
    if row.due_at is not None:
        _schedule_notices(session, row)


def _schedule_notices(session: AsyncSession, row: SlaClock) -> None:
    """After commit, schedule the row's due-soon and breach notices at their instants (the
    values the row has then: a later change in the same transaction wins)."""
    queue = session.info.get("jobs")
    if queue is None:
        return
    pending: dict[int, SlaClock] = session.info.setdefault("sla_schedule", {})
    if not pending:
        async def kick() -> None:
            rows = list(pending.values())
            pending.clear()
            for clock_row in rows:
                await enqueue_notices(queue, clock_row)

        after_commit(session, kick)
    pending[id(row)] = row


async def enqueue_notices(queue: Any, row: SlaClock, *, after: datetime | None = None) -> None:
    """Schedule a running clock's due-soon and breach notices at their instants (only those
    later than `after`, when given)."""
    if row.id is None or row.stopped_at is not None:
        return
    for kind, instant in (("due_soon", row.due_soon_at), ("breach", row.due_at)):
        if instant is not None and (after is None or instant > after):
            await queue.enqueue("sla.notice", row.id, kind, instant.isoformat(),
                                job_id=f"sla:{row.id}:{kind}:{instant.isoformat()}",
                                defer_until=instant)


# ------------------------------------------------------------------ the tracker


class SlaTracker:
    """Keeps every ticket's clocks in step with its events."""

    def install(self, bus: EventBus) -> None:
        bus.subscribe_many(TicketCreated, self.on_tickets_created)
        bus.subscribe(MessageAdded, self.on_message_added)
        bus.subscribe(TicketChanged, self.on_ticket_changed)
        bus.subscribe(TicketsMerged, self.on_tickets_merged)
        bus.subscribe(ConversationMoved, self.on_conversation_moved)

    async def on_tickets_created(self, session: AsyncSession,
                                 events: list[TicketCreated]) -> None:
        _, policy = await current_policy(session)
        if policy.sets_no_goal():
            return
        ids = [e.ticket_id for e in events]
        for ticket in (await session.scalars(select(Ticket).where(Ticket.id.in_(ids))
                                             .order_by(Ticket.id))).all():
            await replan_ticket(session, ticket, start_missing=("first_response", "close"),
                                new=True)
        await session.flush()  # the new tickets' clocks, written together
        await keep_sla_sort_keys(session, ids)

    async def on_message_added(self, session: AsyncSession, e: MessageAdded) -> None:
        # A message that opened its conversation has no clock to move yet (the new ticket
        # started them).
        if e.automatic or e.direction == "comment" or (e.direction == "inbound" and e.opened):
            return
        ticket = await tickets.ticket_for_conversation(session, e.conversation_id)
        if ticket is None or ticket.deleted_at is not None:
            return
        if e.direction == "outbound":
            await _stop_kinds(session, ticket, ("first_response", "next_response"))
        elif await _agent_has_replied(session, ticket.id):
            await replan_ticket(session, ticket, start_missing=("next_response",))

    async def on_ticket_changed(self, session: AsyncSession, e: TicketChanged) -> None:
        ticket = await session.get(Ticket, e.ticket_id)
        if ticket is None or ticket.deleted_at is not None:
            return
        if "status" in e.changes:
            await _status_moved(session, ticket, *e.changes["status"])
        if (PROPERTY_FIELDS.keys() | {"entitlement_id"}) & e.changes.keys():
            await replan_ticket(session, ticket)

    async def on_conversation_moved(self, session: AsyncSession, e: ConversationMoved) -> None:
        # Goals by inbox follow the conversation into its new inbox.
        _, policy = await current_policy(session)
        if policy.property != "inbox":
            return
        ticket = await tickets.ticket_for_conversation(session, e.conversation_id)
        if ticket is not None and ticket.deleted_at is None:
            await replan_ticket(session, ticket)

    async def on_tickets_merged(self, session: AsyncSession, e: TicketsMerged) -> None:
        # The merged ticket's conversations now count the primary's deadlines.
        await keep_sla_sort_keys(session, [e.primary_id])


async def keep_sla_sort_keys(session: AsyncSession, ticket_ids: list[int]) -> None:
    """Tell the inbox each ticket's soonest running deadline, for the SLA sort of its
    conversations (`inbox.service.set_sla_due`). Called after every change of clocks."""
    if not ticket_ids:
        return
    due = dict((await session.execute(
        select(SlaClock.ticket_id, func.min(SlaClock.due_at))
        .where(SlaClock.ticket_id.in_(ticket_ids), SlaClock.stopped_at.is_(None))
        .group_by(SlaClock.ticket_id))).all())
    conversations: dict[int, list[int]] = {}
    for ticket_id, conversation_id in (await session.execute(
            select(TicketConversation.ticket_id, TicketConversation.conversation_id)
            .where(TicketConversation.ticket_id.in_(ticket_ids)))):
        conversations.setdefault(ticket_id, []).append(conversation_id)
    for ticket_id, conversation_ids in conversations.items():
        await inbox.set_sla_due(session, conversation_ids, due.get(ticket_id))


async def _context(session: AsyncSession, ticket: Ticket
                   ) -> tuple[SlaPolicy, WorkingCalendar]:
    version, policy = await current_policy(session)
    return policy, calendar_for(session, version, policy, ticket.team_id)


async def _open_rows(session: AsyncSession, ticket_id: int) -> list[SlaClock]:
    """The latest clock of each kind for the ticket (met ones included)."""
    rows = (await session.scalars(select(SlaClock).where(SlaClock.ticket_id == ticket_id)
                                  .order_by(SlaClock.id))).all()
    latest: dict[str, SlaClock] = {}
    for row in rows:
        latest[row.kind] = row
    return list(latest.values())


async def _agent_has_replied(session: AsyncSession, ticket_id: int) -> bool:
    return bool(await session.scalar(select(exists().where(
        Message.direction == "outbound", Message.automatic.is_(False),
        Message.conversation_id.in_(select(TicketConversation.conversation_id)
                                    .where(TicketConversation.ticket_id == ticket_id))))))


async def _stop_kinds(session: AsyncSession, ticket: Ticket, kinds: tuple[str, ...]) -> None:
    _, cal = await _context(session, ticket)
    now = wall.now()
    for row in await _open_rows(session, ticket.id):
        if row.kind in kinds and row.stopped_at is None:
            _store(session, row, clocks.stop(to_clock(row), cal, now), cal)
    await session.flush()
    await keep_sla_sort_keys(session, [ticket.id])


async def _status_moved(session: AsyncSession, ticket: Ticket, old: str, new: str) -> None:
    policy, cal = await _context(session, ticket)
    closed = dict(await tickets.pipeline_statuses(session, ticket.pipeline_id))
    now = wall.now()
    was_closed, is_closed = closed.get(old, False), closed.get(new, False)
    halted = is_closed or new in policy.paused_statuses
    for row in await _open_rows(session, ticket.id):
        value = to_clock(row)
        if row.kind == "close" and is_closed:
            value = clocks.stop(value, cal, now)
        elif row.kind == "close" and was_closed:
            value = clocks.resume(value, now) if not halted else value
        elif value.stopped_at is not None:
            continue
        elif halted:
            value = clocks.pause(value, cal, now)
        else:
            value = clocks.resume(value, now)
        _store(session, row, value, cal)
    await session.flush()
    await keep_sla_sort_keys(session, [ticket.id])


async def replan_ticket(session: AsyncSession, ticket: Ticket,
                        start_missing: tuple[str, ...] = (), *, new: bool = False) -> None:
    """Bring the ticket's clocks in line with the policy in force: new goals for clocks
    that are not met, clocks dropped where no goal applies, `start_missing` kinds started
    (a next response starts a new cycle once the previous one was met), and first-response
    and close clocks that a newly applying goal calls for, counted from the ticket's start.
    `new`: the ticket was created in this transaction, so it has no clocks yet; its new
    clocks are left for the caller to flush."""
    policy, cal = await _context(session, ticket)
    goals = (await entitlement_goals(session, ticket)
             or policy.goals_for(await ticket_properties(session, ticket, policy)))
    now = wall.now()
    rows = {} if new else {row.kind: row for row in await _open_rows(session, ticket.id)}
    for kind in KINDS:
        goal = goals.get(kind) if goals else None
        row = rows.get(kind)
        if goal is None:
            if row is not None and row.stopped_at is None:
                await _drop(session, row)
            continue
        new_cycle = kind == "next_response" and row is not None and row.stopped_at is not None
        if kind in start_missing and (row is None or new_cycle):
            await _start(session, ticket, kind, goal.target, goal.warning, cal, policy, now)
        elif row is not None and row.stopped_at is None:
            value = clocks.with_goal(to_clock(row), goal.target, goal.warning)
            _store(session, row, clocks.resume(clocks.pause(value, cal, now), now)
                   if value.running else value, cal)
        elif row is None and kind != "next_response" and not start_missing:
            await _start_late(session, ticket, kind, goal.target, goal.warning, cal, policy)
    if not new:  # a new ticket's caller writes its clocks (with those of other new tickets)
        await session.flush()
        await keep_sla_sort_keys(session, [ticket.id])


async def _drop(session: AsyncSession, row: SlaClock) -> None:
    await session.execute(delete(SlaNotice).where(SlaNotice.clock_id == row.id))
    await session.delete(row)


async def _start_late(session: AsyncSession, ticket: Ticket, kind: str, target: timedelta,
                      warning: timedelta, cal: WorkingCalendar, policy: SlaPolicy) -> None:
    """A goal that applies only now: count from the ticket's start, unless already met."""
    closed = dict(await tickets.pipeline_statuses(session, ticket.pipeline_id))
    if closed.get(ticket.status, False):
        return
    if kind == "first_response" and await _agent_has_replied(session, ticket.id):
        return
    await _start(session, ticket, kind, target, warning, cal, policy, ticket.created_at)


async def _start(session: AsyncSession, ticket: Ticket, kind: str, target: timedelta,
                 warning: timedelta, cal: WorkingCalendar, policy: SlaPolicy,
                 now: datetime) -> None:
    value = clocks.start(target, warning, now)
    if ticket.status in policy.paused_statuses:
        value = clocks.pause(value, cal, wall.now())
    row = SlaClock(ticket_id=ticket.id, kind=kind, started_at=now, goal_us=0, due_soon_us=0,
                   consumed_us=0, met_late=False)
    session.add(row)
    _store(session, row, value, cal)
