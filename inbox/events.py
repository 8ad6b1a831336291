"""Events the inbox emits; other rooms subscribe (the inbox imports none of them).

`cause` says who moved a conversation: `agent` (through the API), `inbound` (a customer
message), `ticket` (the ticket sync) or `system`.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.events import DomainEvent


@dataclass(frozen=True)
class ConversationOpened(DomainEvent):
    conversation_id: int
    channel: str
    spam: bool


@dataclass(frozen=True)
class MessageAdded(DomainEvent):
    """`opened` is true when this message opened its conversation."""

    conversation_id: int
    message_id: int
    direction: str
    automatic: bool
    opened: bool = False


@dataclass(frozen=True)
class MessageAmended(DomainEvent):
    """An inbound message was changed where it was written (edited or deleted by its
    author in Slack): its text is not what it was."""

    conversation_id: int
    message_id: int


@dataclass(frozen=True)
class ConversationOwnerChanged(DomainEvent):
    conversation_id: int
    old_owner_id: int | None
    new_owner_id: int | None
    actor_id: int | None
    cause: str


@dataclass(frozen=True)
class ConversationStatusChanged(DomainEvent):
    conversation_id: int
    old_status: str
    new_status: str
    actor_id: int | None
    cause: str


@dataclass(frozen=True)
class ConversationDeleted(DomainEvent):
    conversation_id: int
    actor_id: int | None
    cause: str


@dataclass(frozen=True)
class ConversationMoved(DomainEvent):
    """The conversation went from one inbox to another."""

    conversation_id: int
    old_inbox_id: int
    new_inbox_id: int
    actor_id: int | None
