"""The entitlement and status-reason API: admin-only writes, scope, the 422s that name
what is allowed, and the OpenAPI document."""

from __future__ import annotations

from tests.support import add_user
from tests.tickets.test_entitlements import add_entitlement, company_case

GOLD = {"name": "Gold", "customer_company_id": 1, "starts_on": "2026-01-01",
        "ends_on": "2026-12-31", "terms_kind": "hours", "terms_total": 600,
        "channels": ["api"], "is_default": True}


async def test_entitlements_written_by_admins_only_and_goals_checked(client, runtime, admin,
                                                                     agent, manual_clock):
    _, admin_headers = admin
    _, agent_headers = agent
    company_id, _ = await company_case(runtime)
    body = GOLD | {"customer_company_id": company_id}
    refused = await client.post("/api/entitlements", headers=agent_headers, json=body)
    assert refused.status_code == 403
    bad = await client.post("/api/entitlements", headers=admin_headers,
                            json=body | {"sla_goals": {"first_response": {"minutes": 0}}})
    assert bad.status_code == 422 and "first_response" in bad.json()["error"]["field"]
    created = await client.post("/api/entitlements", headers=admin_headers, json=body | {
        "sla_goals": {"first_response": {"minutes": 30}}})
    assert created.status_code == 201, created.text
    entitlement = created.json()
    assert entitlement["remaining"] == "10 h" and entitlement["terms_remaining"] == 600
    patched = await client.patch(f"/api/entitlements/{entitlement['id']}",
                                 headers=admin_headers, json={"terms_total": 300})
    assert patched.json()["terms_remaining"] == 300
    listed = await client.get(f"/api/entitlements?company_id={company_id}",
                              headers=agent_headers)
    assert [e["name"] for e in listed.json()["items"]] == ["Gold"]


async def test_case_entitlement_offered_chosen_and_refused(client, runtime, agent,
                                                           manual_clock):
    _, headers = agent
    company_id, ticket_id = await company_case(runtime)
    gold = await add_entitlement(runtime, company_id, is_default=True)
    phone_only = await add_entitlement(runtime, company_id, name="Phone", channels=["phone"])
    offered = (await client.get(f"/api/tickets/{ticket_id}/entitlement",
                                headers=headers)).json()
    assert offered["suggested_id"] == gold and offered["entitlement"] is None
    assert {o["name"]: o["problem"] for o in offered["options"]}["Phone"].startswith(
        "it does not cover the channel api")
    refused = await client.put(f"/api/tickets/{ticket_id}/entitlement", headers=headers,
                               json={"entitlement_id": phone_only})
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "entitlement_id"
    chosen = await client.put(f"/api/tickets/{ticket_id}/entitlement", headers=headers,
                              json={"entitlement_id": gold})
    assert chosen.status_code == 200
    assert chosen.json()["entitlement"]["terms_remaining"] == 1
    _, stranger = await add_user(runtime, "stranger@example.com", "agent", "Stan Ger")
    hidden = await client.put(f"/api/tickets/{ticket_id}/entitlement", headers=stranger,
                              json={"entitlement_id": gold})
    assert hidden.status_code == 404


async def test_status_reason_patch_names_the_allowed_list(client, runtime, agent):
    _, headers = agent
    _, ticket_id = await company_case(runtime)
    refused = await client.patch(f"/api/tickets/{ticket_id}", headers=headers,
                                 json={"status": "closed", "status_reason": "researching"})
    assert refused.status_code == 422
    assert refused.json()["error"] == {
        "message": "status reason must be one of problem_solved, information_provided, "
                   "canceled, merged (for status closed)", "field": "status_reason"} | {
        k: v for k, v in refused.json()["error"].items() if k not in ("message", "field")}
    done = await client.patch(f"/api/tickets/{ticket_id}", headers=headers,
                              json={"status": "closed", "status_reason": "problem_solved"})
    assert done.json()["status_reason"] == "problem_solved"
    allowed = (await client.get(f"/api/tickets/{ticket_id}/status-reasons",
                                headers=headers)).json()["allowed"]
    assert [r["key"] for r in allowed["waiting_on_contact"]] == [
        "waiting_for_details", "researching"]


async def test_status_reasons_admin_api(client, admin, agent):
    _, admin_headers = admin
    _, agent_headers = agent
    new = {"status": "waiting_on_us", "label": "On hold"}
    assert (await client.post("/api/status-reasons", headers=agent_headers,
                              json=new)).status_code == 403
    created = await client.post("/api/status-reasons", headers=admin_headers, json=new)
    assert created.status_code == 201 and created.json()["key"] == "on_hold"
    reasons = (await client.get("/api/status-reasons", headers=agent_headers)).json()
    ids = {r["key"]: r["id"] for r in reasons["items"]}
    saved = await client.put("/api/status-reasons/transitions", headers=admin_headers,
                             json={"pairs": [[ids["researching"], ids["problem_solved"]]]})
    assert saved.json()["transitions"] == [[ids["researching"], ids["problem_solved"]]]
    unknown = await client.put("/api/status-reasons/transitions", headers=admin_headers,
                               json={"pairs": [[ids["researching"], 99999]]})
    assert unknown.status_code == 422


async def test_routes_are_in_the_openapi_with_examples(client):
    document = (await client.get("/openapi.json")).json()
    for path in ("/api/entitlements", "/api/entitlements/{entitlement_id}",
                 "/api/tickets/{ticket_id}/entitlement", "/api/status-reasons",
                 "/api/status-reasons/transitions", "/api/tickets/{ticket_id}/status-reasons"):
        assert path in document["paths"]
    schemas = document["components"]["schemas"]
    for name in ("NewEntitlement", "CaseEntitlementChoice", "NewReason", "Transitions"):
        assert schemas[name].get("examples"), name
