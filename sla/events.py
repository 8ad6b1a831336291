"""Events the sla room emits when a clock becomes due soon or breaches its goal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.events import DomainEvent


@dataclass(frozen=True)
class SlaDueSoon(DomainEvent):
    ticket_id: int
    clock_id: int
    goal: str
    due_at: datetime
    at: datetime


@dataclass(frozen=True)
class SlaBreached(DomainEvent):
    ticket_id: int
    clock_id: int
    goal: str
    due_at: datetime
    at: datetime
