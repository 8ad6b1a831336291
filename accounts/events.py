"""Events the accounts room emits (the inbox subscribes: it keeps owners' names)."""

from __future__ import annotations

from dataclasses import dataclass

from core.events import DomainEvent


@dataclass(frozen=True)
class UserRenamed(DomainEvent):
    user_id: int
    name: str
