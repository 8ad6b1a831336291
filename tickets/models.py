"""Pipelines with ordered statuses, tickets, their conversations and history; saved views."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime


class Pipeline(Base):
    __tablename__ = "pipelines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)


class PipelineStatus(Base):
    __tablename__ = "pipeline_statuses"
    __table_args__ = (UniqueConstraint("pipeline_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pipeline_id: Mapped[int] = mapped_column(ForeignKey("pipelines.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer)
    is_closed: Mapped[bool] = mapped_column(Boolean, default=False)


class Ticket(Base):
    """A ticket, which is also a case: the case fields (customer, subject, product, origin,
    case type, entitlement, parent, status reason) are all optional."""

    __tablename__ = "tickets"
    __table_args__ = (
        CheckConstraint("customer_contact_id IS NULL OR customer_company_id IS NULL",
                        name="one_customer"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(998))
    description: Mapped[str] = mapped_column(Text, default="")
    pipeline_id: Mapped[int] = mapped_column(ForeignKey("pipelines.id"))
    status: Mapped[str] = mapped_column(String(64), index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True, index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), nullable=True, index=True)
    priority: Mapped[str] = mapped_column(String(16), index=True)
    category: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    source_channel: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), nullable=True)
    customer_contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id"), nullable=True, index=True)
    customer_company_id: Mapped[int | None] = mapped_column(
        ForeignKey("companies.id"), nullable=True, index=True)
    subject_id: Mapped[int | None] = mapped_column(ForeignKey("case_subjects.id"),
                                                   nullable=True)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"), nullable=True)
    origin: Mapped[str | None] = mapped_column(String(16), nullable=True)
    """How the case came in: the channel (set on creation), or phone/walk_in for a case an
    agent opened by hand."""
    case_type: Mapped[str | None] = mapped_column(String(16), nullable=True)
    entitlement_id: Mapped[int | None] = mapped_column(
        ForeignKey("entitlements.id"), nullable=True, index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), nullable=True,
                                                  index=True)
    status_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """The key of a `StatusReason` of the ticket's status (None: the status has none)."""

    @property
    def number(self) -> int:
        """The number people quote (`#1234`)."""
        return self.id


class TicketConversation(Base):
    """A conversation belongs to exactly one ticket for life (the key is the conversation)."""

    __tablename__ = "ticket_conversations"

    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)


class TicketHistory(Base):
    __tablename__ = "ticket_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    action: Mapped[str] = mapped_column(String(32))
    field: Mapped[str | None] = mapped_column(String(64), nullable=True)
    old_value: Mapped[str | None] = mapped_column(Text, nullable=True)
    new_value: Mapped[str | None] = mapped_column(Text, nullable=True)
    cause: Mapped[str] = mapped_column(String(32), default="agent")


class SavedView(Base):
    """A custom view of the inbox: a name, who sees it and its filters (a
    `tickets.view_rules.ViewFilters` as JSON). `visibility` is private (its owner), team
    (the members of `team_id`) or shared (everyone)."""

    __tablename__ = "saved_views"
    __table_args__ = (
        CheckConstraint("visibility IN ('private', 'team', 'shared')", name="visibility"),
        CheckConstraint("(visibility = 'team') = (team_id IS NOT NULL)",
                        name="team_for_team_views"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    visibility: Mapped[str] = mapped_column(String(16))
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"),
                                                nullable=True, index=True)
    filters: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


# --- Case management -----------------------------------------------------------------------


class CaseSubject(Base):
    """A node of the admin-managed subject tree."""

    __tablename__ = "case_subjects"
    __table_args__ = (UniqueConstraint("parent_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("case_subjects.id", ondelete="CASCADE"), nullable=True, index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class Product(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class CaseSettings(Base):
    """The one row (id 1) of case-management settings admins set."""

    __tablename__ = "case_settings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    inherited_fields: Mapped[list[str]] = mapped_column(JSON, default=list)
    """Fields a child case copies from its parent (customer, product, subject, ...)."""
    close_children_with_parent: Mapped[bool] = mapped_column(Boolean, default=False)
    entitlement_decrement_on: Mapped[str] = mapped_column(String(16), default="creation")
    """When an entitlement's terms go down: `creation` or `resolution` of the case."""
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Queue(Base):
    """A queue of cases; a private one is seen only by its members (and admins)."""

    __tablename__ = "queues"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    is_private: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class QueueMember(Base):
    __tablename__ = "queue_members"

    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id", ondelete="CASCADE"),
                                          primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True, index=True)


class QueueItem(Base):
    """A ticket in a queue; `worked_by_id` is who picked it (None: unclaimed)."""

    __tablename__ = "queue_items"
    __table_args__ = (UniqueConstraint("queue_id", "ticket_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id", ondelete="CASCADE"),
                                          index=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    worked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True,
                                                     index=True)
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    picked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class RoutingRuleSet(Base):
    """An ordered set of routing rules; at most one is active (the service keeps it so)."""

    __tablename__ = "routing_rule_sets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RoutingRule(Base):
    """One rule: AND-combined `conditions` (a list of {field, op, value}) and an `action`
    ({kind: queue|user|team, id})."""

    __tablename__ = "routing_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule_set_id: Mapped[int] = mapped_column(
        ForeignKey("routing_rule_sets.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    conditions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    action: Mapped[dict[str, Any]] = mapped_column(JSON)


class CaseActivity(Base):
    """A task, phone call or appointment on a case."""

    __tablename__ = "case_activities"
    __table_args__ = (
        CheckConstraint("kind IN ('task', 'phone_call', 'appointment')", name="kind"),
        CheckConstraint("state IN ('open', 'completed', 'canceled')", name="state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    duration_minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    state: Mapped[str] = mapped_column(String(16), default="open")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CaseResolution(Base):
    """A resolution written when a case is resolved (kept when it is reactivated)."""

    __tablename__ = "case_resolutions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    resolution_type: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text, default="")
    total_minutes: Mapped[int] = mapped_column(Integer, default=0)
    billable_minutes: Mapped[int] = mapped_column(Integer, default=0)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    resolved_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CaseLink(Base):
    """`similar_id` was linked to `ticket_id` as a similar (resolved) case."""

    __tablename__ = "case_links"

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), primary_key=True)
    similar_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), primary_key=True,
                                            index=True)
    linked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Entitlement(Base):
    """What a customer (a company or a contact) is entitled to: terms in hours (kept in
    minutes) or in cases, between two dates, for some channels and products."""

    __tablename__ = "entitlements"
    __table_args__ = (
        CheckConstraint("(customer_contact_id IS NULL) <> (customer_company_id IS NULL)",
                        name="one_customer"),
        CheckConstraint("terms_kind IN ('hours', 'cases')", name="terms_kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    customer_contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id"), nullable=True, index=True)
    customer_company_id: Mapped[int | None] = mapped_column(
        ForeignKey("companies.id"), nullable=True, index=True)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    terms_kind: Mapped[str] = mapped_column(String(8))
    terms_total: Mapped[int] = mapped_column(Integer)
    """Cases, or minutes for terms in hours."""
    terms_remaining: Mapped[int] = mapped_column(Integer)
    channels: Mapped[list[str]] = mapped_column(JSON, default=list)
    """Channels covered (empty: all)."""
    product_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    """Products covered (empty: all)."""
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    sla_goals: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    """Goals that apply to its cases instead of the general ones (None: the general)."""
    canceled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class StatusReason(Base):
    """A reason a ticket may give for its status (e.g. waiting_on_contact: "Researching").
    For a closed status, `outcome` says what the reason means: `resolved` or `canceled`."""

    __tablename__ = "status_reasons"
    __table_args__ = (UniqueConstraint("status", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer, default=0)
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class StatusReasonTransition(Base):
    """`to_id` may follow `from_id` (a reason with no row here may be followed by any)."""

    __tablename__ = "status_reason_transitions"

    from_id: Mapped[int] = mapped_column(ForeignKey("status_reasons.id", ondelete="CASCADE"),
                                         primary_key=True)
    to_id: Mapped[int] = mapped_column(ForeignKey("status_reasons.id", ondelete="CASCADE"),
                                       primary_key=True)
