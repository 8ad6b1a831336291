"""Mail channels managed by admins through the API: IMAP mailboxes polled without a restart
(real Dovecot), relays chosen per inbox (a real aiosmtpd sink), passwords sealed and never
answered, every change in the audit log without the password."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

import server
from audit.models import AuditEntry
from connectors import outbound
from connectors.email import imap, smtp_out
from connectors.email.models import ImapMailbox, OutgoingRelay, RawEmail
from core import outbox
from core.db import transaction
from core.jobs import InProcessQueue
from core.runtime import Runtime
from tests.connectors.email.dovecot import (  # noqa: F401
    Account,
    Dovecot,
    dovecot_server,
    free_port,
    imap_account,
)
from tests.connectors.email.test_imap import mail
from tests.connectors.email.test_smtp_out import (
    RecordingRelay,
    form_conversation,
    reply,
    running_relay,
)
from tests.support import make_settings, run_jobs

PASSWORD_ENV = "FRONTDESK_TEST_SEEDED_PASSWORD"


@pytest.fixture
def email_out(runtime, monkeypatch):
    """`smtp_out.install(runtime)`, undone after the test."""
    monkeypatch.setattr(outbound, "senders", dict(outbound.senders))
    monkeypatch.setattr(outbox, "handlers", dict(outbox.handlers))
    smtp_out.install(runtime)
    return runtime


def new_mailbox(dovecot: Dovecot, account: Account, **changes) -> dict:
    return {"name": "desk", "inbox": "support", "host": dovecot.host, "port": dovecot.port,
            "security": "none", "username": account.username, "password": account.password,
            "after_import": "leave", **changes}


async def audit_entries(runtime) -> list[AuditEntry]:
    async with transaction(runtime.sessions) as session:
        return list((await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all())


async def imported_keys(runtime) -> list[str]:
    async with transaction(runtime.raw_sessions) as session:
        return [k for k in (await session.scalars(
            select(RawEmail.source_key).order_by(RawEmail.id))).all() if k]


async def test_a_mailbox_added_through_the_api_is_polled_without_a_restart(
        client, runtime, admin, dovecot, account):
    _, headers = admin
    account.append(mail("first@example.org"))
    assert await imap.poll_all({"runtime": runtime}) == 0
    created = await client.post("/api/admin/mailboxes", headers=headers,
                                json=new_mailbox(dovecot, account))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["password_set"] is True and body["password_state"] == "set"
    assert account.password not in created.text and "password\"" not in created.text

    assert await imap.poll_all({"runtime": runtime}) == 1
    await run_jobs(runtime)
    assert len(await imported_keys(runtime)) == 1


async def test_a_mailbox_added_on_one_server_is_polled_by_another(
        client, runtime, admin, dovecot, account, database_url):
    """Two runtimes on one database (as two server processes are): the mailbox added
    through the first is polled by the second, which never restarted."""
    other = await Runtime.start(make_settings(database_url), install=server.install,
                                queue=InProcessQueue(run_periodic=False))
    try:
        assert await imap.poll_all({"runtime": other}) == 0
        _, headers = admin
        account.append(mail("elsewhere@example.org"))
        created = await client.post("/api/admin/mailboxes", headers=headers,
                                    json=new_mailbox(dovecot, account))
        assert created.status_code == 201
        assert await imap.poll_all({"runtime": other}) == 1
        assert len(await imported_keys(other)) == 1
    finally:
        await other.close()


async def test_a_disabled_or_deleted_mailbox_stops_and_an_edited_one_uses_its_new_values(
        client, runtime, admin, dovecot, account, manual_clock):
    _, headers = admin
    account.create("Support")
    account.append(mail("in-inbox@example.org"))
    account.append(mail("in-support@example.org"), folder="Support")
    mailbox = (await client.post("/api/admin/mailboxes", headers=headers, json=new_mailbox(
        dovecot, account, poll_seconds=60))).json()
    ctx = {"runtime": runtime}
    assert await imap.poll_all(ctx) == 1

    patched = await client.patch(f"/api/admin/mailboxes/{mailbox['id']}", headers=headers,
                                 json={"folder": "Support"})
    assert patched.status_code == 200 and patched.json()["folder"] == "Support"
    manual_clock.advance(timedelta(seconds=61))
    assert await imap.poll_all(ctx) == 1
    keys = await imported_keys(runtime)
    assert [k.split(":")[1] for k in keys] == ["INBOX", "Support"]

    await client.patch(f"/api/admin/mailboxes/{mailbox['id']}", headers=headers,
                       json={"enabled": False})
    manual_clock.advance(timedelta(seconds=61))
    assert await imap.poll_all(ctx) == 0
    assert await imap.poll(ctx, "desk") is None

    await client.patch(f"/api/admin/mailboxes/{mailbox['id']}", headers=headers,
                       json={"enabled": True})
    assert (await client.delete(f"/api/admin/mailboxes/{mailbox['id']}",
                                headers=headers)).status_code == 204
    manual_clock.advance(timedelta(seconds=61))
    assert await imap.poll_all(ctx) == 0
    assert (await client.get(f"/api/admin/mailboxes/{mailbox['id']}",
                             headers=headers)).status_code == 404


async def test_every_change_is_audited_without_the_password(client, runtime, admin, dovecot,
                                                            account):
    _, headers = admin
    mailbox = (await client.post("/api/admin/mailboxes", headers=headers,
                                 json=new_mailbox(dovecot, account))).json()
    await client.patch(f"/api/admin/mailboxes/{mailbox['id']}", headers=headers,
                       json={"password": "an-entirely-new-one", "poll_seconds": 120})
    await client.delete(f"/api/admin/mailboxes/{mailbox['id']}", headers=headers)
    entries = await audit_entries(runtime)
    assert [e.action for e in entries] == ["mailbox.created", "mailbox.updated",
                                           "mailbox.deleted"]
    assert entries[1].before == {"poll_seconds": 60.0, "password": "(set)"}
    assert entries[1].after == {"poll_seconds": 120.0, "password": "(changed)"}
    logged = json.dumps([[e.before, e.after, e.summary] for e in entries])
    assert account.password not in logged and "an-entirely-new-one" not in logged
    async with transaction(runtime.sessions) as session:
        assert (await session.scalar(select(ImapMailbox.id))) is None


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"host": "imap example com"}, 422, "host"),
    ({"after_import": "move"}, 422, "move_to"),
    ({"inbox": "nowhere"}, 422, "inbox"),
    ({"name": "Not A Slug"}, 422, "name"),
    ({"poll_seconds": 1}, 422, "poll_seconds"),
    ({"ca_file": "/no/such/file.pem"}, 422, "ca_file"),
    ({"password": ""}, 422, "password"),
    ({"port": "993"}, 422, "port"),
])
async def test_bad_values_are_refused_naming_the_field_and_nothing_is_stored(
        client, runtime, admin, dovecot, account, body, status, field):
    _, headers = admin
    answer = await client.post("/api/admin/mailboxes", headers=headers,
                               json=new_mailbox(dovecot, account, **body))
    assert answer.status_code == status, answer.text
    assert field in answer.text
    assert (await client.get("/api/admin/mailboxes", headers=headers)).json()["items"] == []


async def test_a_name_taken_is_a_conflict(client, admin, dovecot, account):
    _, headers = admin
    assert (await client.post("/api/admin/mailboxes", headers=headers,
                              json=new_mailbox(dovecot, account))).status_code == 201
    again = await client.post("/api/admin/mailboxes", headers=headers,
                              json=new_mailbox(dovecot, account))
    assert again.status_code == 409


async def test_test_connection_of_unsaved_and_saved_values(client, admin, dovecot, account):
    _, headers = admin
    account.append(mail("one@example.org"))
    values = new_mailbox(dovecot, account)
    del values["name"], values["inbox"]
    wrong = (await client.post("/api/admin/mailboxes/test", headers=headers,
                               json=values | {"password": "not-it"})).json()
    assert wrong["ok"] is False
    assert wrong["steps"][-1] == {"step": "login", "label": "Login", "status": "failed",
                                  "message": "the server refused the user name or password"}
    right = (await client.post("/api/admin/mailboxes/test", headers=headers,
                               json=values)).json()
    assert right["ok"] is True and right["messages"] == 1

    saved = (await client.post("/api/admin/mailboxes", headers=headers,
                               json=new_mailbox(dovecot, account))).json()
    again = (await client.post(f"/api/admin/mailboxes/{saved['id']}/test",
                               headers=headers)).json()
    assert again["ok"] is True and again["messages"] == 1
    # An edit form tests new values with the stored password.
    edited = (await client.post("/api/admin/mailboxes/test", headers=headers, json=values | {
        "password": "", "mailbox_id": saved["id"], "folder": "Nowhere"})).json()
    assert edited["steps"][-1]["message"] == "folder 'Nowhere' not found; folders: INBOX"


@pytest.fixture
def settings_overrides(request, monkeypatch) -> dict:
    """`seeded`: a `[[imap]]` mailbox in the file (password from the environment)."""
    if getattr(request, "param", None) != "seeded":
        return {}
    dovecot, account = request.getfixturevalue("dovecot"), request.getfixturevalue("account")
    monkeypatch.setenv(PASSWORD_ENV, account.password)
    return {"imap": [{"name": "filed", "inbox": "support", "host": dovecot.host,
                      "port": dovecot.port, "security": "none", "username": account.username,
                      "password_env": PASSWORD_ENV, "after_import": "leave"}]}


@pytest.mark.parametrize("settings_overrides", ["seeded"], indirect=True)
async def test_the_file_seeds_a_mailbox_that_reads_its_variable_until_a_password_is_set(
        client, runtime, admin, account, monkeypatch):
    _, headers = admin
    [seeded] = (await client.get("/api/admin/mailboxes", headers=headers)).json()["items"]
    assert (seeded["name"], seeded["password_state"]) == ("filed", "environment")
    assert seeded["password_env"] == PASSWORD_ENV
    account.append(mail("filed@example.org"))
    assert (await imap.poll({"runtime": runtime}, "filed")) is not None

    # Set in the console, the password replaces the variable for good.
    await client.patch(f"/api/admin/mailboxes/{seeded['id']}", headers=headers,
                       json={"password": account.password})
    monkeypatch.delenv(PASSWORD_ENV)
    report = await imap.poll({"runtime": runtime}, "filed")
    assert report is not None
    after = (await client.get(f"/api/admin/mailboxes/{seeded['id']}", headers=headers)).json()
    assert (after["password_state"], after["password_env"]) == ("set", None)
    [entry] = [e for e in await audit_entries(runtime) if e.actor_id is None]
    assert entry.action == "mailbox.created" and "seeded" in entry.summary


async def test_a_password_sealed_under_another_key_asks_to_be_entered_again(
        client, runtime, admin, dovecot, account, caplog):
    _, headers = admin
    mailbox = (await client.post("/api/admin/mailboxes", headers=headers,
                                 json=new_mailbox(dovecot, account))).json()
    async with transaction(runtime.sessions) as session:
        row = await session.get(ImapMailbox, mailbox["id"])
        row.password_sealed = "v1:" + "A" * 60
    got = (await client.get(f"/api/admin/mailboxes/{mailbox['id']}", headers=headers)).json()
    assert got["password_state"] == "unreadable" and got["password_set"] is False
    tested = (await client.post(f"/api/admin/mailboxes/{mailbox['id']}/test",
                                headers=headers)).json()
    assert tested["steps"] == [{"step": "login", "label": "Login", "status": "failed",
                                "message": "the stored password cannot be read; "
                                           "enter it again"}]
    assert await imap.poll({"runtime": runtime}, "desk") is None
    assert "enter it again" in caplog.text


# ------------------------------------------------------------------------- relays


@pytest.fixture
def sink():
    """Two relays on loopback: "global" and "inbox"."""
    handlers = {"global": RecordingRelay(), "inbox": RecordingRelay()}
    ports = {name: free_port() for name in handlers}
    with running_relay(ports["global"], handlers["global"]), \
            running_relay(ports["inbox"], handlers["inbox"]):
        yield ports, handlers


async def test_a_reply_leaves_through_its_inboxs_relay_else_the_global_one(
        client, runtime, admin, agent, email_out, sink):
    ports, handlers = sink
    _, admin_headers = admin
    _, headers = agent
    put = await client.put("/api/admin/relays/global", headers=admin_headers, json={
        "host": "127.0.0.1", "port": ports["global"], "security": "none"})
    assert put.status_code == 200, put.text
    conv, _ = await form_conversation(client, headers)
    await reply(client, headers, conv, "Through the global relay")
    await run_jobs(runtime)
    assert [len(handlers["global"].accepted), len(handlers["inbox"].accepted)] == [1, 0]

    put = await client.put("/api/admin/relays/inboxes/support", headers=admin_headers, json={
        "host": "127.0.0.1", "port": ports["inbox"], "security": "none",
        "from_address": "Desk@Example.com"})
    assert put.json()["from_address"] == "desk@example.com"
    await reply(client, headers, conv, "Through the inbox's relay")
    await run_jobs(runtime)
    assert [len(handlers["global"].accepted), len(handlers["inbox"].accepted)] == [1, 1]
    [sent] = handlers["inbox"].accepted
    assert sent.mail_from == "desk@example.com"
    assert "desk@example.com" in sent.parsed()["From"]

    listed = (await client.get("/api/admin/relays", headers=admin_headers)).json()
    assert listed["global"]["port"] == ports["global"]
    assert [r["inbox"] for r in listed["inboxes"]] == ["support"]
    assert (await client.delete("/api/admin/relays/inboxes/support",
                                headers=admin_headers)).status_code == 204
    await reply(client, headers, conv, "Back through the global relay")
    await run_jobs(runtime)
    assert [len(handlers["global"].accepted), len(handlers["inbox"].accepted)] == [2, 1]


async def test_a_relay_password_is_write_only_and_audited_as_set(client, runtime, admin):
    _, headers = admin
    put = await client.put("/api/admin/relays/global", headers=headers, json={
        "host": "127.0.0.1", "port": free_port(), "security": "none",
        "username": "frontdesk", "password": "relay-s3cret"})
    assert put.json()["password_set"] is True and "relay-s3cret" not in put.text
    kept = await client.put("/api/admin/relays/global", headers=headers, json={
        "host": "127.0.0.1", "port": 2525, "security": "none", "username": "frontdesk"})
    assert kept.json()["password_set"] is True
    async with transaction(runtime.sessions) as session:
        sealed = await session.scalar(select(OutgoingRelay.password_sealed))
    assert sealed and "relay-s3cret" not in sealed
    entries = await audit_entries(runtime)
    assert [e.action for e in entries] == ["relay.created", "relay.updated"]
    assert entries[0].after["password"] == "(set)"
    assert "relay-s3cret" not in json.dumps([[e.before, e.after] for e in entries])


async def test_a_relay_test_sends_to_the_address_typed(client, admin, sink):
    ports, handlers = sink
    _, headers = admin
    await client.put("/api/admin/relays/global", headers=headers, json={
        "host": "127.0.0.1", "port": ports["global"], "security": "none"})
    answer = (await client.post("/api/admin/relays/global/test", headers=headers,
                                json={"to": "admin@example.org"})).json()
    assert answer["ok"] is True, answer
    assert [s["step"] for s in answer["steps"]] == ["dns", "tcp", "greeting", "tls", "auth",
                                                    "mail", "rcpt", "data"]
    [sent] = handlers["global"].accepted
    assert (sent.mail_from, sent.rcpt_tos) == ("help@example.com", ["admin@example.org"])
    bad = await client.post("/api/admin/relays/global/test", headers=headers,
                            json={"to": "not an address"})
    assert bad.status_code == 422 and "to" in bad.text


async def test_a_relay_test_without_a_relay_set_tries_the_files(client, admin, runtime):
    _, headers = admin
    answer = (await client.post("/api/admin/relays/inboxes/support/test", headers=headers,
                                json={"to": "admin@example.org"})).json()
    port = runtime.settings.smtp_out.port
    assert answer["steps"][-1]["message"] == f"connection refused on port {port}"
    missing = await client.post("/api/admin/relays/inboxes/nowhere/test", headers=headers,
                                json={"to": "admin@example.org"})
    assert missing.status_code == 404


async def test_a_relay_password_that_cannot_be_read_holds_replies_back_with_the_reason(
        client, runtime, admin, agent, email_out, sink):
    ports, handlers = sink
    _, admin_headers = admin
    _, headers = agent
    await client.put("/api/admin/relays/inboxes/support", headers=admin_headers, json={
        "host": "127.0.0.1", "port": ports["inbox"], "security": "none",
        "username": "frontdesk", "password": "relay-s3cret"})
    async with transaction(runtime.sessions) as session:
        row = await session.scalar(select(OutgoingRelay))
        row.password_sealed = "v1:" + "B" * 60
    listed = (await client.get("/api/admin/relays", headers=admin_headers)).json()
    assert listed["inboxes"][0]["password_state"] == "unreadable"
    conv, _ = await form_conversation(client, headers)
    await reply(client, headers, conv, "Held back")
    await run_jobs(runtime)
    async with transaction(runtime.sessions) as session:
        [item] = (await session.scalars(select(outbox.OutboxItem))).all()
    assert item.status != "sent" and "cannot be read; enter it again" in item.last_error
    assert handlers["inbox"].accepted == [] and handlers["global"].accepted == []
