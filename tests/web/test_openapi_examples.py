"""Every operation of the case-management tags shows an example of its request body and of
its JSON answer, and each answer example has the keys the route really answers with."""

from __future__ import annotations

from typing import Any

from core.settings import Settings
from server import create_app
from tests.tickets.test_entitlements import add_entitlement, company_case
from tests.tickets.test_queues import make_queue, new_ticket
from web.api import (
    case_entitlements,
    case_fields,
    case_queues,
    case_reasons,
    case_resolution,
    case_routing,
    catalog,
    customers,
)

# The case-management tags: every operation in them carries examples.
TAGS = {"status reasons", "entitlements", "queues", "routing", "cases", "catalog", "customers"}


def _has_example(content: dict[str, Any] | None, schemas: dict[str, Any]) -> bool:
    if not content:
        return False
    if "example" in content or "examples" in content:
        return True
    schema = content.get("schema", {})
    if "$ref" in schema:
        schema = schemas[schema["$ref"].split("/")[-1]]
    return "example" in schema or "examples" in schema


def _operations() -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    document = create_app(Settings(secret_key="s" * 32)).openapi()
    schemas = document["components"]["schemas"]
    return [(method, path, operation, schemas)
            for path, methods in document["paths"].items()
            for method, operation in methods.items()
            if TAGS & set(operation.get("tags", []))]


def test_every_operation_shows_request_and_answer_examples() -> None:
    operations = _operations()
    assert operations
    missing = []
    for method, path, operation, schemas in operations:
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if body is not None and not _has_example(body, schemas):
            missing.append(f"{method} {path} request")
        answers = [operation["responses"][code].get("content", {}).get("application/json")
                   for code in ("200", "201") if code in operation["responses"]]
        if answers and not _has_example(answers[0], schemas):
            missing.append(f"{method} {path} answer")
    assert missing == []


async def test_status_reason_examples_have_the_real_answers_keys(client: Any, admin: Any,
                                                                 runtime: Any) -> None:
    _, headers = admin
    _, ticket_id = await company_case(runtime)
    created = await client.post("/api/status-reasons", headers=headers,
                                json={"status": "waiting_on_us", "label": "On hold"})
    assert set(created.json()) == set(case_reasons.REASON_EXAMPLE)
    listed = await client.get("/api/status-reasons", headers=headers)
    assert set(listed.json()) == set(case_reasons.REASONS_EXAMPLE)
    pairs = await client.put("/api/status-reasons/transitions", headers=headers,
                             json={"pairs": []})
    assert set(pairs.json()) == set(case_reasons.TRANSITIONS_EXAMPLE)
    allowed = await client.get(f"/api/tickets/{ticket_id}/status-reasons", headers=headers)
    assert set(allowed.json()) == set(case_reasons.CASE_REASONS_EXAMPLE)
    reason = next(rows for rows in allowed.json()["allowed"].values() if rows)[0]
    assert set(reason) == set(case_reasons.REASON_EXAMPLE)


async def test_entitlement_examples_have_the_real_answers_keys(client: Any, admin: Any,
                                                               runtime: Any,
                                                               manual_clock: Any) -> None:
    _, headers = admin
    company_id, ticket_id = await company_case(runtime)
    entitlement_id = await add_entitlement(runtime, company_id, is_default=True)
    one = await client.get(f"/api/entitlements/{entitlement_id}", headers=headers)
    assert set(one.json()) == set(case_entitlements.ENTITLEMENT_EXAMPLE)
    listed = await client.get(f"/api/entitlements?company_id={company_id}", headers=headers)
    assert set(listed.json()) == set(case_entitlements.ENTITLEMENTS_EXAMPLE)
    chosen = await client.put(f"/api/tickets/{ticket_id}/entitlement", headers=headers,
                              json={"entitlement_id": entitlement_id})
    example = case_entitlements.CASE_ENTITLEMENT_EXAMPLE
    assert set(chosen.json()) == set(example)
    assert set(chosen.json()["options"][0]) == set(example["options"][0])


async def test_queue_examples_have_the_real_answers_keys(client: Any, admin: Any) -> None:
    _, headers = admin
    made = await make_queue(client, headers, "Tier 2")
    assert set(made) == set(case_queues.QUEUE_EXAMPLE)
    queues = (await client.get("/api/queues", headers=headers)).json()
    assert set(queues) == set(case_queues.QUEUES_EXAMPLE)
    assert set(queues["items"][0]) == set(case_queues.QUEUES_EXAMPLE["items"][0])
    ticket_id = await new_ticket(client, headers)
    added = await client.post(f"/api/tickets/{ticket_id}/queues", headers=headers,
                              json={"queue_id": made["id"]})
    assert set(added.json()) == set(case_queues.ITEM_EXAMPLE)
    picked = await client.post(f"/api/queue-items/{added.json()['id']}/pick", headers=headers)
    assert set(picked.json()) == set(case_queues.ITEM_EXAMPLE)
    for url, example in ((f"/api/queues/{made['id']}/items", case_queues.QUEUE_ITEMS_EXAMPLE),
                         (f"/api/tickets/{ticket_id}/queues",
                          case_queues.TICKET_QUEUES_EXAMPLE)):
        items = (await client.get(url, headers=headers)).json()
        assert set(items) == set(example)
        assert set(items["items"][0]) == set(example["items"][0])


async def test_routing_examples_have_the_real_answers_keys(client: Any, admin: Any) -> None:
    _, headers = admin
    queue_id = (await make_queue(client, headers, "Tier 2"))["id"]
    made = (await client.post("/api/routing/rule-sets", headers=headers,
                              json={"name": "Main"})).json()
    assert set(made) == set(case_routing.RULE_SET_EXAMPLE)
    rule = await client.post(f"/api/routing/rule-sets/{made['id']}/rules", headers=headers,
                             json={"name": "Printers", "action": {"kind": "queue",
                                                                  "id": queue_id},
                                   "conditions": case_routing.CONDITION_EXAMPLE[:1]})
    assert set(rule.json()) == set(case_routing.RULE_EXAMPLE)
    assert rule.json()["conditions"] == case_routing.CONDITION_EXAMPLE[:1]
    activated = await client.patch(f"/api/routing/rule-sets/{made['id']}", headers=headers,
                                   json={"active": True})
    assert set(activated.json()) == set(case_routing.RULE_SET_EXAMPLE)
    sets = (await client.get("/api/routing/rule-sets", headers=headers)).json()
    assert set(sets["items"][0]) == set(case_routing.RULE_SETS_EXAMPLE["items"][0])
    moved = await client.post(f"/api/routing/rules/{rule.json()['id']}/move",
                              headers=headers, json={"direction": "up"})
    assert set(moved.json()["items"][0]) == set(case_routing.RULES_EXAMPLE["items"][0])
    ticket_id = await new_ticket(client, headers)
    routed = await client.post(f"/api/tickets/{ticket_id}/route", headers=headers)
    assert set(routed.json()["items"][0]) == set(case_routing.ROUTED_EXAMPLE["items"][0])
    assert routed.json()["items"][0]["action"] == {"kind": "queue", "id": queue_id}


async def test_case_example_has_the_real_answers_keys(client: Any, admin: Any,
                                                      runtime: Any) -> None:
    _, headers = admin
    _, ticket_id = await company_case(runtime)
    case = (await client.get(f"/api/tickets/{ticket_id}/case", headers=headers)).json()
    assert set(case) == set(case_fields.CASE_EXAMPLE)
    assert set(case["customer"]) == set(case_fields.CASE_EXAMPLE["customer"])


async def test_activity_and_resolution_examples_have_the_real_answers_keys(
        client: Any, admin: Any) -> None:
    _, headers = admin
    ticket_id = await new_ticket(client, headers)
    made = await client.post(f"/api/tickets/{ticket_id}/activities", headers=headers,
                             json=case_resolution.ACTIVITY_EXAMPLE["task"]["value"])
    assert set(made.json()) == set(case_resolution.ACTIVITY_ANSWER)
    done = await client.post(f"/api/tickets/{ticket_id}/activities/{made.json()['id']}"
                             "/complete", headers=headers, json={"duration_minutes": 45})
    assert set(done.json()) == set(case_resolution.ACTIVITY_ANSWER)
    view = await client.get(f"/api/tickets/{ticket_id}/resolution", headers=headers)
    assert set(view.json()) == set(case_resolution.RESOLUTION_VIEW_ANSWER)
    resolved = await client.post(f"/api/tickets/{ticket_id}/resolve", headers=headers,
                                 json=case_resolution.RESOLVE_EXAMPLE["solved"]["value"])
    assert resolved.status_code == 200, resolved.text
    assert set(resolved.json()) == set(case_resolution.RESOLUTION_ANSWER)
    reopened = await client.post(f"/api/tickets/{ticket_id}/reactivate", headers=headers)
    assert set(reopened.json()) == set(case_resolution.CASE_ANSWER)
    settings = await client.get("/api/admin/case-settings", headers=headers)
    assert set(settings.json()) == set(case_resolution.SETTINGS_ANSWER)


async def test_catalog_examples_have_the_real_answers_keys(client: Any, admin: Any) -> None:
    _, headers = admin
    subject = await client.post("/api/subjects", headers=headers, json={"name": "Hardware"})
    assert set(subject.json()) == set(catalog.SUBJECT_EXAMPLE)
    subjects = (await client.get("/api/subjects", headers=headers)).json()
    assert set(subjects["items"][0]) == set(catalog.SUBJECTS_EXAMPLE["items"][0])
    product = await client.post("/api/products", headers=headers, json={"name": "LaserJet"})
    assert set(product.json()) == set(catalog.PRODUCT_EXAMPLE)
    products = (await client.get("/api/products", headers=headers)).json()
    assert set(products) == set(catalog.PRODUCTS_EXAMPLE)


async def test_customer_examples_have_the_real_answers_keys(client: Any, admin: Any,
                                                           runtime: Any) -> None:
    _, headers = admin
    company_id, _ = await company_case(runtime)
    company = (await client.get(f"/api/companies/{company_id}", headers=headers)).json()
    assert set(company) == set(customers.COMPANY_CONTACTS_EXAMPLE)
    companies = (await client.get("/api/companies", headers=headers)).json()
    assert set(companies["items"][0]) == set(customers.COMPANY_EXAMPLE)
    found = (await client.get(f"/api/customers?q={company['name'][:3]}",
                              headers=headers)).json()
    assert set(found["items"][0]) == set(customers.CUSTOMERS_EXAMPLE["items"][0])
