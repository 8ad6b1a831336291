"""Units of work: `transaction`, the `savepoint` inside it, and `reading`."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from connectors.email.inbound import raw_row
from connectors.email.models import RawEmail
from core import clock
from core.db import (
    after_commit,
    insert_committed,
    insert_rows,
    make_engine,
    reading,
    savepoint,
    transaction,
)
from inbox.models import Contact


async def test_a_failed_savepoint_undoes_its_writes_and_its_callbacks(runtime):
    ran: list[str] = []

    def remember(name: str):
        async def callback() -> None:
            ran.append(name)
        return callback

    async with transaction(runtime.sessions) as session:
        after_commit(session, remember("before"))
        with pytest.raises(RuntimeError):
            async with savepoint(session):
                session.add(Contact(email="gone@example.org", created_at=clock.now()))
                await session.flush()
                after_commit(session, remember("inside, failed"))
                raise RuntimeError("undo")
        async with savepoint(session):
            session.add(Contact(email="kept@example.org", created_at=clock.now()))
            after_commit(session, remember("inside, kept"))
        assert ran == []
    assert ran == ["before", "inside, kept"]
    async with transaction(runtime.sessions) as session:
        emails = (await session.scalars(select(Contact.email))).all()
        assert emails == ["kept@example.org"]
        assert await session.scalar(select(func.count()).select_from(Contact)) == 1


async def test_insert_rows_returns_each_rows_id_in_order(runtime):
    emails = [f"c{n}@example.org" for n in range(300)]
    async with transaction(runtime.sessions) as session:
        session.add(Contact(email="first@example.org", created_at=clock.now()))
        await session.flush()
        ids = await insert_rows(session, Contact, [
            {"email": email, "created_at": clock.now()} for email in emails])
    assert len(set(ids)) == len(emails)
    async with transaction(runtime.sessions) as session:
        stored = dict((await session.execute(select(Contact.id, Contact.email))).all())
    assert [stored[contact_id] for contact_id in ids] == emails


async def test_insert_committed_stores_what_the_orm_reads_back(runtime):
    """Values go through the columns' own types (UTC datetimes, JSON, bytes), as the ORM
    would store them; ids come back in the order of the rows."""
    received = clock.now()
    rows = [raw_row(inbox_slug="support", source="smtp", raw=f"mail {n}\r\n".encode(),
                    mail_from=f"s{n}@example.org", rcpt_to=("help@example.com", "å@example.se"))
            for n in range(50)]
    for row in rows:
        row["received_at"] = received
    async with transaction(runtime.raw_sessions) as session:  # something before them
        await insert_rows(session, RawEmail, rows[:1])
    ids = await insert_committed(runtime.raw_engine, RawEmail, rows)
    assert len(set(ids)) == len(rows)
    async with transaction(runtime.raw_sessions) as session:
        stored = {raw.id: raw for raw in (await session.scalars(
            select(RawEmail).where(RawEmail.id.in_(ids)))).all()}
    for raw_id, row in zip(ids, rows, strict=True):
        raw = stored[raw_id]
        assert (raw.raw, raw.mail_from, raw.rcpt_to, raw.facts, raw.status) == (
            row["raw"], row["mail_from"], row["rcpt_to"], {}, "pending")
        assert raw.received_at == received


async def test_insert_committed_stores_all_or_nothing(runtime):
    good = raw_row(inbox_slug="support", source="imap", raw=b"good\r\n", source_key="k:1")
    async with transaction(runtime.raw_sessions) as session:
        await insert_rows(session, RawEmail, [good])
    again = raw_row(inbox_slug="support", source="imap", raw=b"new\r\n", source_key="k:2")
    with pytest.raises(IntegrityError):
        await insert_committed(runtime.raw_engine, RawEmail, [again, good])  # k:1 is taken
    async with transaction(runtime.raw_sessions) as session:
        keys = (await session.scalars(select(RawEmail.source_key))).all()
    assert keys == ["k:1"]
    # The engine is unharmed: a write goes through at once.
    assert len(await insert_committed(runtime.raw_engine, RawEmail, [again])) == 1


async def test_a_commit_is_durable_when_it_returns(runtime):
    """SQLite: WAL with synchronous=FULL; PostgreSQL: synchronous_commit on, even where the
    database's own default is off."""
    async with runtime.engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            assert (await connection.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
            assert (await connection.exec_driver_sql("PRAGMA synchronous")).scalar() == 2
            return
        database = (await connection.exec_driver_sql("SELECT current_database()")).scalar()
    admin = make_engine(runtime.settings.database.url).execution_options(
        isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.exec_driver_sql(
            f'ALTER DATABASE "{database}" SET synchronous_commit = off')
    try:
        fresh = make_engine(runtime.settings.database.url)
        async with fresh.connect() as connection:
            setting = (await connection.exec_driver_sql("SHOW synchronous_commit")).scalar()
        await fresh.dispose()
        assert setting == "on"
    finally:
        async with admin.connect() as connection:
            await connection.exec_driver_sql(
                f'ALTER DATABASE "{database}" RESET synchronous_commit')
        await admin.dispose()


async def test_a_reading_unit_reads_beside_an_open_writer_and_keeps_nothing(runtime):
    async with transaction(runtime.sessions) as session:
        session.add(Contact(email="committed@example.org", created_at=clock.now()))
    ran: list[str] = []
    async with transaction(runtime.sessions) as writer:
        writer.add(Contact(email="uncommitted@example.org", created_at=clock.now()))
        await writer.flush()  # the writer holds SQLite's write lock until it ends
        async with asyncio.timeout(10):  # a reader queued behind the writer never ends
            async with reading(runtime.sessions) as reader:
                emails = (await reader.scalars(select(Contact.email))).all()

                async def callback() -> None:
                    ran.append("after commit")

                after_commit(reader, callback)
                reader.add(Contact(email="never@example.org", created_at=clock.now()))
    assert emails == ["committed@example.org"]
    assert ran == []
    async with transaction(runtime.sessions) as session:
        assert sorted((await session.scalars(select(Contact.email))).all()) == [
            "committed@example.org", "uncommitted@example.org"]
