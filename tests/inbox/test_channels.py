"""Inboxes and their email channel in the database: seeding from config.toml, the admin API,
the audit log, the settings version, and what the SMTP server of the same process takes."""

from __future__ import annotations

import asyncio

import aiosmtplib
import pytest
from sqlalchemy import select

from audit.models import AuditEntry
from connectors.email.smtp_in import start_smtp, stop_smtp
from core.db import transaction
from core.settings_version import read_version
from inbox import channels
from inbox.directory import current_directory
from inbox.models import Inbox, InboxAddress
from tests.support import make_settings, submit_form

NEW = {"slug": "sales", "name": "Sales", "addresses": ["Sales@Example.com", "deals@example.com"],
       "catch_all_domains": ["sales.example"], "from_name": "Sales team"}


async def version(runtime) -> int:
    async with transaction(runtime.sessions) as session:
        return await read_version(session, channels.VERSION_NAME)


async def audit_actions(runtime) -> list[tuple[str, str | None]]:
    async with transaction(runtime.sessions) as session:
        rows = (await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
    return [(row.action, row.subject_id) for row in rows]


# ---------------------------------------------------------------- seeding


async def test_the_file_seeds_a_fresh_database_and_the_database_wins_after(runtime):
    directory = current_directory(runtime)
    assert [(i.slug, i.addresses) for i in directory.inboxes] == [
        ("support", ("help@example.com",))]
    edited = make_settings(runtime.settings.database.url, inboxes=[
        {"slug": "support", "name": "Renamed in the file", "addresses": ["other@example.com"]},
        {"slug": "billing", "name": "Billing", "addresses": ["billing@example.com"],
         "catch_all_domains": ["bills.example"]}])
    async with transaction(runtime.sessions) as session:
        await channels.seed_inboxes(session, edited)
    async with transaction(runtime.sessions) as session:
        directory = await channels.load_directory(session)
    support, billing = directory.inboxes
    assert (support.name, support.addresses) == ("Support", ("help@example.com",))
    assert (billing.name, billing.addresses, billing.catch_all_domains) == (
        "Billing", ("billing@example.com",), ("bills.example",))
    assert directory.inbox_for_address("anyone@bills.example") == billing


async def test_an_inbox_made_before_channels_lived_in_the_database_takes_the_file_once(runtime):
    async with transaction(runtime.sessions) as session:
        row = await channels.get_inbox(session, "support")
        row.settings_from_file = True
    edited = make_settings(runtime.settings.database.url, inboxes=[
        {"slug": "support", "name": "Support", "addresses": ["help@example.com"],
         "auto_ack": True, "from_name": "The help desk"}])
    for _ in range(2):
        async with transaction(runtime.sessions) as session:
            await channels.seed_inboxes(session, edited)
    async with transaction(runtime.sessions) as session:
        row = await channels.get_inbox(session, "support")
        assert (row.auto_ack, row.from_name, row.settings_from_file) == (
            True, "The help desk", False)


@pytest.mark.parametrize("settings_overrides", [{"smtp_in": {
    "catch_all_domains": ["any.example"]}}], indirect=True)
async def test_the_older_catch_all_setting_goes_to_the_first_inbox(runtime):
    assert current_directory(runtime).inbox_for_address("x@ANY.example").slug == "support"


# ---------------------------------------------------------------- the admin API


async def test_admins_create_read_change_and_list_inboxes(runtime, client, admin):
    _, boss = admin
    before = await version(runtime)
    created = await client.post("/api/admin/inboxes", headers=boss, json=NEW)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["addresses"] == ["sales@example.com", "deals@example.com"]
    assert (body["from_name"], body["auto_ack"], body["conversations"]) == ("Sales team",
                                                                           False, 0)
    assert await version(runtime) == before + 1
    # This process took the change before the answer: its directory knows the address.
    assert current_directory(runtime).inbox_for_address("deals@example.com").slug == "sales"

    patched = await client.patch("/api/admin/inboxes/sales", headers=boss, json={
        "addresses": ["deals@example.com"], "auto_ack": True})
    assert patched.status_code == 200, patched.text
    assert patched.json()["addresses"] == ["deals@example.com"]
    assert current_directory(runtime).inbox_for_address("sales@example.com") is None
    assert current_directory(runtime).inbox("sales").auto_ack is True

    listed = (await client.get("/api/admin/inboxes", headers=boss)).json()["items"]
    assert [i["slug"] for i in listed] == ["sales", "support"]
    assert (await client.get("/api/admin/inboxes/sales", headers=boss)).json()["name"] == "Sales"
    assert await audit_actions(runtime) == [("inbox.created", "sales"),
                                            ("inbox.updated", "sales")]


async def test_a_change_that_changes_nothing_records_nothing(runtime, client, admin):
    _, boss = admin
    before = await version(runtime)
    same = await client.patch("/api/admin/inboxes/support", headers=boss,
                              json={"name": "Support"})
    assert same.status_code == 200
    assert await version(runtime) == before and await audit_actions(runtime) == []


@pytest.mark.parametrize(("body", "field"), [
    ({**NEW, "addresses": ["help@example.com"]}, "addresses"),     # support's
    ({**NEW, "addresses": ["HELP@example.com "]}, "addresses"),    # the same, spelled else
    ({**NEW, "addresses": ["not an address"]}, "addresses"),
    ({**NEW, "addresses": ["a@example.com", "A@example.com"]}, "addresses"),
    ({**NEW, "catch_all_domains": ["bad domain"]}, "catch_all_domains"),
    ({**NEW, "auto_ack": True, "auto_ack_text": "  "}, "auto_ack_text"),
    ({**NEW, "auto_ack_window_minutes": 0}, "auto_ack_window_minutes"),
    ({**NEW, "slug": "Not A Slug"}, "slug"),
    ({**NEW, "name": ""}, "name"),
    ({**NEW, "addresses": "help@example.com"}, "addresses"),
])
async def test_bad_values_are_a_422_naming_the_field_and_store_nothing(runtime, client, admin,
                                                                        body, field):
    _, boss = admin
    answer = await client.post("/api/admin/inboxes", headers=boss, json=body)
    assert answer.status_code == 422, answer.text
    assert field in answer.text
    async with transaction(runtime.sessions) as session:
        assert (await session.scalars(select(Inbox.slug))).all() == ["support"]
        assert (await session.scalars(select(InboxAddress.value))).all() == [
            "help@example.com"]
    assert await audit_actions(runtime) == []


async def test_an_address_of_another_inbox_is_refused_and_named(client, admin):
    _, boss = admin
    answer = await client.post("/api/admin/inboxes", headers=boss,
                               json={**NEW, "addresses": ["help@example.com"]})
    assert answer.json()["error"]["message"] == "help@example.com belongs to the inbox 'support'"


async def test_the_database_refuses_one_address_for_two_inboxes(runtime):
    """The unique key holds even when the check before it is bypassed (two admins at once)."""
    async with transaction(runtime.sessions) as session:
        session.add(Inbox(slug="other", name="Other", addresses=[]))
    with pytest.raises(Exception, match="(?i)unique|duplicate"):
        async with transaction(runtime.sessions) as session:
            other = await channels.get_inbox(session, "other")
            session.add(InboxAddress(inbox_id=other.id, kind="address",
                                     value="help@example.com"))


async def test_slugs_are_unique(client, admin):
    _, boss = admin
    assert (await client.post("/api/admin/inboxes", headers=boss, json=NEW)).status_code == 201
    again = await client.post("/api/admin/inboxes", headers=boss,
                              json={**NEW, "addresses": [], "catch_all_domains": []})
    assert again.status_code == 409


async def test_an_inbox_with_conversations_cannot_be_deleted(runtime, client, admin):
    _, boss = admin
    assert (await submit_form(client)).status_code in (200, 201, 303)
    refused = await client.delete("/api/admin/inboxes/support", headers=boss)
    assert refused.status_code == 409
    assert "holds 1 conversation" in refused.json()["error"]["message"]
    assert (await client.post("/api/admin/inboxes", headers=boss, json=NEW)).status_code == 201
    assert (await client.delete("/api/admin/inboxes/sales", headers=boss)).status_code == 204
    assert current_directory(runtime).inbox("sales") is None
    assert (await client.get("/api/admin/inboxes/sales", headers=boss)).status_code == 404
    assert ("inbox.deleted", "sales") in await audit_actions(runtime)


async def test_agents_may_not(client, agent):
    _, headers = agent
    assert (await client.get("/api/admin/inboxes", headers=headers)).status_code == 403
    assert (await client.post("/api/admin/inboxes", headers=headers,
                              json=NEW)).status_code == 403


# ---------------------------------------------------------------- SMTP in this process


async def rcpt(port: int, address: str) -> int:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port)
    await client.connect()
    try:
        await client.mail("anna@customer.example")
        code, _ = await client.execute_command(b"RCPT", f"TO:<{address}>".encode())
        return code
    finally:
        client.close()


async def test_the_smtp_server_takes_a_new_address_at_once_and_refuses_a_removed_one(
        runtime, client, admin):
    _, boss = admin
    server = await start_smtp(runtime, port=0)
    try:
        assert await rcpt(server.port, "deals@example.com") == 550
        await client.post("/api/admin/inboxes", headers=boss, json=NEW)
        assert await rcpt(server.port, "deals@example.com") == 250
        assert await rcpt(server.port, "whoever@sales.example") == 250
        await client.patch("/api/admin/inboxes/sales", headers=boss,
                           json={"addresses": [], "catch_all_domains": []})
        assert await rcpt(server.port, "deals@example.com") == 550
        assert await rcpt(server.port, "whoever@sales.example") == 550
    finally:
        await stop_smtp(server)


async def test_a_second_runtime_on_the_database_follows_by_polling(runtime, client, admin):
    """Another process (here: another runtime on the same database, without the first one's
    announcement) reloads when its poll reads the new version."""
    import server as app_server
    from core.runtime import Runtime
    from tests.support import make_queue

    other = await Runtime.start(runtime.settings, install=app_server.install,
                                queue=make_queue(runtime.settings))
    try:
        await app_server.prepare_database(other)
        watcher = other.sessions.kw["info"]["settings_versions"]
        _, boss = admin
        await client.post("/api/admin/inboxes", headers=boss, json=NEW)
        await asyncio.wait_for(_until(lambda: current_directory(other).inbox("sales"),
                                      watcher), timeout=30)
        assert current_directory(other).inbox_for_address("deals@example.com").slug == "sales"
    finally:
        await other.close()


async def _until(found, watcher) -> None:
    while not found():
        await watcher.refresh(channels.VERSION_NAME)
        await asyncio.sleep(0.05)


async def test_mail_whose_every_address_went_away_after_rcpt_is_deferred(runtime, client,
                                                                           admin):
    """Removed between RCPT and DATA: 451, so the sender retries and hears 550; nothing is
    stored for no inbox."""
    _, boss = admin
    await client.post("/api/admin/inboxes", headers=boss, json=NEW)
    server = await start_smtp(runtime, port=0)
    try:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=server.port)
        await smtp.connect()
        await smtp.mail("anna@customer.example")
        assert (await smtp.rcpt("deals@example.com"))[0] == 250
        await client.patch("/api/admin/inboxes/sales", headers=boss, json={"addresses": []})
        with pytest.raises(aiosmtplib.SMTPDataError) as refused:
            await smtp.data(b"Subject: late\r\n\r\nHello.\r\n")
        assert refused.value.code == 451
        smtp.close()
    finally:
        await stop_smtp(server)
