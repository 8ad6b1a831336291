"""Hand a normalized InboundMessage to the inbox in its own transaction.

Two deliveries of the same message (or two messages opening the same thread) can race;
the loser's insert hits a unique constraint, its transaction rolls back, and the retry
finds the winner's rows. That is what makes ingest idempotent under concurrency.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import transaction
from inbox import service as inbox
from inbox.messages import InboundMessage

ATTEMPTS = 3


async def accept(sessions: async_sessionmaker[AsyncSession], msg: InboundMessage
                 ) -> inbox.IngestResult:
    """Ingest `msg` and commit; retried on a lost race. Returns what ingest did."""
    for attempt in range(ATTEMPTS):
        try:
            async with transaction(sessions) as session:
                return await inbox.ingest(session, msg)
        except IntegrityError:
            if attempt == ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")
