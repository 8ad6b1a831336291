"""Case fields through the API on a real database: customer lookup in scope, companies
and their contacts, the catalog, setting fields with history, cases opened by hand and
cases made from a message."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from connectors.ingest import accept
from core import clock
from core.db import transaction
from inbox.messages import InboundMessage
from inbox.models import Conversation
from tickets.models import Entitlement, Ticket


@pytest.fixture
def settings_overrides() -> dict:
    return {"inboxes": [
        {"slug": "support", "name": "Support", "addresses": ["help@example.com"]},
        {"slug": "sales", "name": "Sales", "addresses": ["sales@example.com"]}]}


def inbound(email: str, *, inbox: str = "support", text: str = "Hello") -> InboundMessage:
    return InboundMessage(inbox=inbox, channel="api", sender_email=email,
                          sender_name=email.split("@")[0].title(), subject="Help", text=text,
                          external_id=uuid.uuid4().hex)


async def ok(response, status: int = 200):
    assert response.status_code == status, response.text
    return response.json() if response.content else None


async def ticket_of(client, headers, conversation_id: int) -> int:
    tickets = (await client.get("/api/tickets", headers=headers)).json()["items"]
    return next(t["id"] for t in tickets if conversation_id in t["conversation_ids"])


async def test_lookup_finds_companies_and_only_contacts_in_scope(client, runtime, admin, agent):
    _, admin_headers = admin
    _, agent_headers = agent
    await accept(runtime.sessions, inbound("acme.anna@example.org"))
    await accept(runtime.sessions, inbound("acme.bo@example.org", inbox="sales"))
    await ok(await client.post("/api/companies", headers=admin_headers,
                               json={"name": "Acme Corp", "domain": "acme.example"}), 201)
    found = await ok(await client.get("/api/customers?q=ACME", headers=agent_headers))
    assert [(h["kind"], h["name"]) for h in found["items"]] == [
        ("company", "Acme Corp"), ("contact", "Acme.Anna")]
    found = await ok(await client.get("/api/customers?q=acme", headers=admin_headers))
    assert len(found["items"]) == 3
    found = await ok(await client.get("/api/customers?q=%25", headers=admin_headers))
    assert found["items"] == []


async def test_companies_hold_contacts_and_only_admins_change_them(client, runtime, admin,
                                                                    agent):
    _, admin_headers = admin
    _, agent_headers = agent
    result = await accept(runtime.sessions, inbound("rita@acme.example"))
    async with transaction(runtime.sessions) as session:
        contact_id = (await session.get(Conversation, result.conversation_id)).contact_id
    company = await ok(await client.post("/api/companies", headers=admin_headers,
                                         json={"name": "Acme"}), 201)
    refused = await client.post("/api/companies", headers=agent_headers, json={"name": "X"})
    assert refused.status_code == 403
    taken = await client.post("/api/companies", headers=admin_headers, json={"name": "ACME"})
    assert taken.status_code == 409 and taken.json()["error"]["field"] == "name"
    bad = await client.post("/api/companies", headers=admin_headers,
                            json={"name": "B", "domain": "not a domain"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "domain"
    await ok(await client.put(f"/api/contacts/{contact_id}/company", headers=admin_headers,
                              json={"company_id": company["id"]}))
    detail = await ok(await client.get(f"/api/companies/{company['id']}",
                                       headers=agent_headers))
    assert [c["email"] for c in detail["contacts"]] == ["rita@acme.example"]
    missing = await client.put(f"/api/contacts/{contact_id}/company", headers=admin_headers,
                               json={"company_id": 999})
    assert missing.status_code == 422
    audit = await ok(await client.get("/api/admin/audit", headers=admin_headers))
    assert {"company.created", "contact.company_changed"} <= {
        e["action"] for e in audit["items"]}


async def test_subject_tree_and_products(client, admin, agent):
    _, headers = admin
    billing = await ok(await client.post("/api/subjects", headers=headers,
                                         json={"name": "Billing"}), 201)
    refunds = await ok(await client.post("/api/subjects", headers=headers, json={
        "name": "Refunds", "parent_id": billing["id"]}), 201)
    assert refunds["path"] == "Billing › Refunds"
    twin = await client.post("/api/subjects", headers=headers,
                             json={"name": "refunds", "parent_id": billing["id"]})
    assert twin.status_code == 409
    await ok(await client.patch(f"/api/subjects/{refunds['id']}", headers=headers,
                                json={"name": "Returns"}))
    tree = await ok(await client.get("/api/subjects", headers=agent[1]))
    assert [n["path"] for n in tree["items"]] == ["Billing", "Billing › Returns"]
    await ok(await client.delete(f"/api/subjects/{billing['id']}", headers=headers), 204)
    assert (await ok(await client.get("/api/subjects", headers=headers)))["items"] == []
    product = await ok(await client.post("/api/products", headers=headers,
                                         json={"name": "X200"}), 201)
    off = await ok(await client.patch(f"/api/products/{product['id']}", headers=headers,
                                      json={"active": False}))
    assert off["active"] is False


async def test_case_fields_are_set_with_history_and_a_new_customer_clears_entitlement(
        client, runtime, admin, agent):
    _, admin_headers = admin
    _, headers = agent
    result = await accept(runtime.sessions, inbound("anna@example.org"))
    ticket_id = await ticket_of(client, headers, result.conversation_id)
    company = await ok(await client.post("/api/companies", headers=admin_headers,
                                         json={"name": "Acme"}), 201)
    other = await ok(await client.post("/api/companies", headers=admin_headers,
                                       json={"name": "Globex"}), 201)
    parent = await ok(await client.post("/api/subjects", headers=admin_headers,
                                        json={"name": "Hardware"}), 201)
    subject = await ok(await client.post("/api/subjects", headers=admin_headers,
                                         json={"name": "Printers",
                                               "parent_id": parent["id"]}), 201)
    product = await ok(await client.post("/api/products", headers=admin_headers,
                                         json={"name": "X200"}), 201)
    case = await ok(await client.patch(f"/api/tickets/{ticket_id}/case", headers=headers, json={
        "customer": f"company:{company['id']}", "subject_id": subject["id"],
        "product_id": product["id"], "case_type": "problem"}))
    assert case["customer"]["name"] == "Acme"
    assert case["subject_path"] == "Hardware › Printers" and case["origin"] == "api"
    async with transaction(runtime.sessions) as session:
        entitlement = Entitlement(name="Gold", customer_company_id=company["id"],
                                  starts_on=date(2026, 1, 1), ends_on=date(2026, 12, 31),
                                  terms_kind="cases", terms_total=5, terms_remaining=5,
                                  channels=[], product_ids=[], created_at=clock.now())
        session.add(entitlement)
        await session.flush()
        (await session.get(Ticket, ticket_id)).entitlement_id = entitlement.id
    case = await ok(await client.patch(f"/api/tickets/{ticket_id}/case", headers=headers,
                                       json={"customer": f"company:{other['id']}"}))
    assert case["entitlement_id"] is None
    history = (await ok(await client.get(f"/api/tickets/{ticket_id}", headers=headers)))[
        "history"]
    told = {(h["field"], h["old"], h["new"]) for h in history if h["action"] == "changed"}
    assert {("customer", None, "Acme"), ("subject", None, "Hardware › Printers"),
            ("product", None, "X200"), ("case_type", None, "problem"),
            ("customer", "Acme", "Globex"), ("entitlement", f"#{entitlement.id}", None)} <= told


async def test_bad_case_fields_are_refused_naming_the_field(client, runtime, admin, agent):
    _, headers = agent
    result = await accept(runtime.sessions, inbound("anna@example.org"))
    ticket_id = await ticket_of(client, headers, result.conversation_id)
    product = await ok(await client.post("/api/products", headers=admin[1],
                                         json={"name": "Old"}), 201)
    await ok(await client.patch(f"/api/products/{product['id']}", headers=admin[1],
                                json={"active": False}))
    for body, field in [({"customer": "company:99"}, "customer"),
                        ({"customer": "user:1"}, "customer"),
                        ({"subject_id": 99}, "subject_id"),
                        ({"product_id": product["id"]}, "product_id"),
                        ({"origin": "phone"}, "origin"),
                        ({"case_type": "rant"}, "case_type")]:
        response = await client.patch(f"/api/tickets/{ticket_id}/case", headers=headers,
                                      json=body)
        assert response.status_code == 422, body
        assert response.json()["error"]["field"] == field, body
    unseen = await accept(runtime.sessions, inbound("zed@example.org", inbox="sales"))
    hidden = await ticket_of(client, admin[1], unseen.conversation_id)
    response = await client.patch(f"/api/tickets/{hidden}/case", headers=headers,
                                  json={"case_type": "question"})
    assert response.status_code == 404
    async with transaction(runtime.sessions) as session:
        unseen_contact = (await session.get(Conversation, unseen.conversation_id)).contact_id
    response = await client.patch(f"/api/tickets/{ticket_id}/case", headers=headers,
                                  json={"customer": f"contact:{unseen_contact}"})
    assert response.status_code == 422 and response.json()["error"]["field"] == "customer"


async def test_a_phone_case_is_a_conversation_in_the_inbox(client, runtime, admin, agent):
    agent_id, headers = agent
    company = await ok(await client.post("/api/companies", headers=admin[1],
                                         json={"name": "Acme"}), 201)
    case = await ok(await client.post("/api/cases", headers=headers, json={
        "inbox": "support", "origin": "walk_in", "customer": f"company:{company['id']}",
        "caller_name": "Rita Ruiz", "caller_phone": "+1 555 0100",
        "title": "Printer offline", "notes": "Came by at 9:10."}), 201)
    assert case["origin"] == "walk_in" and case["customer"]["name"] == "Acme"
    assert case["title"] == "Printer offline"
    listed = (await ok(await client.get("/api/conversations", headers=headers)))["items"]
    row = next(c for c in listed if c["id"] == case["conversation_id"])
    assert row["channel"] == "phone"
    detail = await ok(await client.get(f"/api/companies/{company['id']}", headers=headers))
    assert [c["name"] for c in detail["contacts"]] == ["Rita Ruiz"]
    messages = await ok(await client.get(
        f"/api/conversations/{case['conversation_id']}", headers=headers))
    first = messages["messages"][0]
    assert first["direction"] == "comment" and first["text"] == "Came by at 9:10."
    changed = await ok(await client.patch(f"/api/tickets/{case['ticket_id']}/case",
                                          headers=headers, json={"origin": "phone"}))
    assert changed["origin"] == "phone"
    assert agent_id


async def test_a_bad_phone_case_stores_nothing(client, runtime, agent):
    _, headers = agent
    for body, field in [
            ({"customer": "company:42", "caller_name": "X"}, "customer"),
            ({}, "caller_name"),
            ({"caller_email": "not-an-address"}, "caller_email")]:
        response = await client.post("/api/cases", headers=headers, json={
            "inbox": "support", "origin": "phone", "title": "T", "notes": "N", **body})
        assert response.status_code == 422 and response.json()["error"]["field"] == field
    hidden = await client.post("/api/cases", headers=headers, json={
        "inbox": "sales", "origin": "phone", "title": "T", "notes": "N", "caller_name": "X"})
    assert hidden.status_code == 404
    assert (await ok(await client.get("/api/conversations", headers=headers)))["items"] == []


async def test_a_message_becomes_a_case_for_the_same_customer(client, runtime, agent):
    _, headers = agent
    result = await accept(runtime.sessions, inbound(
        "anna@example.org", text="\nAlso: the scanner is broken.\nIt beeps."))
    source = await ticket_of(client, headers, result.conversation_id)
    case = await ok(await client.post(f"/api/messages/{result.message_id}/case",
                                      headers=headers), 201)
    assert case["title"] == "Also: the scanner is broken."
    assert case["customer"]["kind"] == "contact" and case["origin"] == "api"
    conversation = await ok(await client.get(f"/api/conversations/{case['conversation_id']}",
                                             headers=headers))
    assert conversation["messages"][0]["text"] == "Also: the scanner is broken.\nIt beeps."
    new_history = (await ok(await client.get(f"/api/tickets/{case['ticket_id']}",
                                             headers=headers)))["history"]
    assert ("split_from", str(source)) in {(h["action"], h["old"]) for h in new_history}
    old_history = (await ok(await client.get(f"/api/tickets/{source}", headers=headers)))[
        "history"]
    assert ("split_to", str(case["ticket_id"])) in {(h["action"], h["new"])
                                                    for h in old_history}


async def test_names_taken_in_any_case_are_refused_not_stored(client, admin):
    _, headers = admin
    for path in ("/api/companies", "/api/products", "/api/subjects"):
        for name in ("Ïnfo", "Acme"):
            await ok(await client.post(path, headers=headers, json={"name": name}), 201)
            again = await client.post(path, headers=headers, json={"name": name})
            assert again.status_code == 409, (path, name)
        other = await ok(await client.post(path, headers=headers, json={"name": "Other"}), 201)
        renamed = await client.patch(f"{path}/{other['id']}", headers=headers,
                                     json={"name": "ACME"})
        assert renamed.status_code == 409, path
        assert renamed.json()["error"]["field"] == "name"
