"""Events the tickets room emits (the sla room and the sync rules subscribe)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.events import DomainEvent


@dataclass(frozen=True)
class TicketCreated(DomainEvent):
    ticket_id: int
    conversation_id: int


@dataclass(frozen=True)
class TicketChanged(DomainEvent):
    """`changes` maps each changed field to (old, new)."""

    ticket_id: int
    changes: dict[str, tuple[Any, Any]]
    actor_id: int | None
    cause: str


@dataclass(frozen=True)
class TicketDeleted(DomainEvent):
    ticket_id: int
    actor_id: int | None
    cause: str


@dataclass(frozen=True)
class TicketsMerged(DomainEvent):
    primary_id: int
    merged_id: int
    actor_id: int | None


@dataclass(frozen=True)
class CaseResolved(DomainEvent):
    """A case was resolved (its status is now a closed one with a `resolved` reason); the
    entitlement's terms may go down by a case or by `billable_minutes`."""

    ticket_id: int
    resolution_id: int
    billable_minutes: int
    actor_id: int | None


@dataclass(frozen=True)
class CaseReactivated(DomainEvent):
    """A resolved or canceled case is active again."""

    ticket_id: int
    actor_id: int | None
