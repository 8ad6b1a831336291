"""Hand a normalized InboundMessage to the inbox, retrying a lost race.

Two deliveries of the same message (or two messages opening the same thread) can race;
the loser's insert hits a unique constraint, its work rolls back, and the retry finds the
winner's rows. That is what makes ingest idempotent under concurrency. `accept` and
`accept_then` commit a transaction per message; `retrying_in_savepoint` does the same inside
the caller's transaction (a savepoint per attempt), so one transaction can take many.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import savepoint, transaction
from inbox import service as inbox
from inbox.messages import InboundMessage

ATTEMPTS = 3
T = TypeVar("T")


FollowUp = Callable[[AsyncSession, inbox.IngestResult], Awaitable[T]]


async def accept(sessions: async_sessionmaker[AsyncSession], msg: InboundMessage
                 ) -> inbox.IngestResult:
    """Ingest `msg` and commit; retried on a lost race. Returns what ingest did."""
    async def nothing(session: AsyncSession, result: inbox.IngestResult) -> None:
        return None

    result, _ = await accept_then(sessions, msg, nothing)
    return result


async def accept_then(
    sessions: async_sessionmaker[AsyncSession], msg: InboundMessage, follow_up: FollowUp[T]
) -> tuple[inbox.IngestResult, T]:
    """Like `accept`, and `follow_up(session, result)` runs in the same transaction (e.g. to
    read what the subscribers made). Returns what ingest did and what the follow-up said."""
    for attempt in range(ATTEMPTS):
        try:
            async with transaction(sessions) as session:
                result = await inbox.ingest(session, msg)
                extra = await follow_up(session, result)
            return result, extra
        except IntegrityError:
            if attempt == ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


async def retrying_in_savepoint(session: AsyncSession, work: Callable[[], Awaitable[T]]) -> T:
    """Run `work` in a savepoint of the caller's transaction, again when it loses a race
    (IntegrityError), up to ATTEMPTS times; a failure leaves the transaction and what else
    it holds intact. Needs a transaction that sees rows committed meanwhile (read
    committed, or SQLite's single writer), which is what makes the retry find the winner."""
    for attempt in range(ATTEMPTS):
        try:
            async with savepoint(session):
                return await work()
        except IntegrityError:
            if attempt == ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")
