"""Web forms: the pure validation table, then the page and the POST over HTTP."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

import server
from connectors.forms.spec import DEFAULT_FIELDS, FieldSpec, FormSpec
from connectors.forms.validate import FormErrors, is_bot, to_inbound, validate_submission
from core.db import transaction
from core.runtime import Runtime
from inbox.models import Contact, Conversation, Message
from tests.support import client_for, make_queue
from tickets.models import Ticket

FORM = FormSpec(slug="contact", inbox="support", title="Contact support")
VALID = {"name": "Anna", "email": "anna@example.org", "subject": "Hi", "message": "Help"}


@pytest.mark.parametrize("change, errors", [
    ({}, {}),
    ({"name": ""}, {"name": "Your name is required"}),
    ({"name": "   "}, {"name": "Your name is required"}),
    ({"email": "anna@"}, {"email": "Email is not a valid email address"}),
    ({"email": "a b@example.org"}, {"email": "Email is not a valid email address"}),
    ({"subject": "x" * 301}, {"subject": "Subject must be at most 300 characters"}),
    ({"subject": "two\nlines"}, {"subject": "Subject must be a single line"}),
    ({"message": "null\x00byte"}, {"message": "Message contains control characters"}),
    ({"name": "", "email": ""}, {"name": "Your name is required", "email": "Email is required"}),
])
def test_validation_table(change, errors):
    result = validate_submission(FORM, VALID | change)
    if errors:
        assert isinstance(result, FormErrors) and result.errors == errors
    else:
        assert result == VALID


def test_values_are_trimmed_and_line_endings_normalized():
    result = validate_submission(FORM, VALID | {"name": "  Anna  ", "message": "a\r\nb"})
    assert not isinstance(result, FormErrors)
    assert result["name"] == "Anna" and result["message"] == "a\nb"


def test_extra_fields_are_kept_in_the_text():
    form = FormSpec(slug="order", inbox="support", title="Order question",
                    fields=(*DEFAULT_FIELDS, FieldSpec(name="order_no", label="Order number")))
    values = validate_submission(form, VALID | {"order_no": "A-77"})
    assert not isinstance(values, FormErrors)
    msg = to_inbound(form, values, "form:order:k1")
    assert msg.text == "Help\n\nForm fields\nOrder number: A-77"
    assert (msg.channel, msg.sender_email, msg.subject, msg.external_id) == (
        "form", "anna@example.org", "Hi", "form:order:k1")


def test_honeypot():
    assert is_bot({"website": "http://spam.example"}) and not is_bot({"website": ""})


async def stored(runtime) -> tuple[int, ...]:
    async with transaction(runtime.sessions) as session:
        return tuple([await session.scalar(select(func.count()).select_from(m))
                      for m in (Contact, Conversation, Message, Ticket)])


async def test_page_is_accessible_html(client):
    page = await client.get("/forms/contact")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    for name in ("name", "email", "subject", "message"):
        assert f'<label for="field-{name}">' in html and f'id="field-{name}"' in html
    assert 'aria-required="true"' in html and 'name="website"' in html
    assert (await client.get("/forms/nope")).status_code == 404


async def test_browser_post_stores_and_thanks_with_number(client, runtime):
    response = await client.post("/forms/contact", data=VALID)
    assert response.status_code == 200
    assert "Thank you" in response.text and "#1" in response.text
    assert await stored(runtime) == (1, 1, 1, 1)


async def test_browser_post_with_errors_rerenders_with_messages_and_stores_nothing(
    client, runtime
):
    response = await client.post("/forms/contact", data=VALID | {"email": "nope",
                                                                "name": "Anna <b>"})
    assert response.status_code == 422
    assert "Email is not a valid email address" in response.text
    assert 'aria-invalid="true"' in response.text
    assert 'value="Anna &lt;b&gt;"' in response.text
    assert await stored(runtime) == (0, 0, 0, 0)


async def test_json_post_answers_201_with_ticket_number(client, runtime):
    response = await client.post("/forms/contact", json=VALID)
    assert response.status_code == 201 and response.json()["ticket_number"] == 1


@pytest.mark.parametrize("raw, content_type", [
    (b"{broken", "application/json"),
    (b"[1, 2]", "application/json"),
    (b'{"name": 5}', "application/json"),
    (b'{"name": {"a": 1}}', "application/json"),
    (b"\xff\xfe", "application/json"),
])
async def test_bad_json_bodies_are_422_and_store_nothing(client, runtime, raw, content_type):
    response = await client.post("/forms/contact", content=raw,
                                 headers={"Content-Type": content_type})
    assert response.status_code == 422 and "error" in response.json()
    assert await stored(runtime) == (0, 0, 0, 0)


async def test_json_field_errors_name_every_field(client, runtime):
    response = await client.post("/forms/contact", json={"email": "x"})
    error = response.json()["error"]
    assert response.status_code == 422
    assert set(error["fields"]) == {"name", "email", "subject", "message"}
    assert await stored(runtime) == (0, 0, 0, 0)


async def test_too_large_is_413_and_stores_nothing(client, runtime):
    response = await client.post("/forms/contact", json=VALID | {"message": "x" * 300_000})
    assert response.status_code == 413
    assert await stored(runtime) == (0, 0, 0, 0)


async def test_honeypot_thanks_but_stores_nothing(client, runtime):
    response = await client.post("/forms/contact", data=VALID | {"website": "http://x.test"})
    assert response.status_code == 200 and "Thank you" in response.text
    assert await stored(runtime) == (0, 0, 0, 0)


async def test_per_ip_rate_limit(client, runtime):
    for i in range(10):
        ok = await client.post("/forms/contact", json=VALID | {"subject": f"n{i}"})
        assert ok.status_code == 201
    blocked = await client.post("/forms/contact", json=VALID)
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
    assert (await stored(runtime))[2] == 10


@pytest.mark.parametrize("how", ["header", "field"])
async def test_idempotency_key_stores_once(client, runtime, how):
    key = "a1b2c3"
    if how == "header":
        send = lambda: client.post("/forms/contact", json=VALID,  # noqa: E731
                                   headers={"Idempotency-Key": key})
    else:
        send = lambda: client.post("/forms/contact",  # noqa: E731
                                   data=VALID | {"idempotency_key": key})
    first, second = await send(), await send()
    assert first.status_code == second.status_code
    assert second.headers.get("idempotent-replayed") == "true"
    assert await stored(runtime) == (1, 1, 1, 1)


async def test_a_replay_answers_the_same_ticket(client, runtime):
    key = {"Idempotency-Key": "order-77"}
    first = await client.post("/forms/contact", json=VALID, headers=key)
    again = await client.post("/forms/contact", json=VALID, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.json()["ticket_number"] == first.json()["ticket_number"]
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"


async def test_a_key_reused_with_other_values_is_422_and_reveals_nothing(client, runtime):
    key = {"Idempotency-Key": "shared-key"}
    first = await client.post("/forms/contact", json=VALID, headers=key)
    assert first.status_code == 201
    other = VALID | {"email": "mallory@example.net", "message": "Tell me that ticket"}
    reused = await client.post("/forms/contact", json=other, headers=key)
    assert reused.status_code == 422
    assert reused.json() == {"error": {
        "code": "idempotency_key_reused", "field": "idempotency_key",
        "message": "Idempotency-Key reused with a different request"}}
    assert "idempotent-replayed" not in reused.headers
    assert await stored(runtime) == (1, 1, 1, 1)
    # The first request, sent again, still replays.
    again = await client.post("/forms/contact", json=VALID, headers=key)
    assert again.status_code == 201
    assert again.json()["ticket_number"] == first.json()["ticket_number"]


async def test_a_browser_resending_a_changed_page_is_told_and_gets_a_fresh_key(client, runtime):
    first = await client.post("/forms/contact", data=VALID | {"idempotency_key": "page-1"})
    assert first.status_code == 200
    changed = await client.post("/forms/contact",
                                data=VALID | {"idempotency_key": "page-1", "subject": "Other"})
    assert changed.status_code == 422
    assert "Idempotency-Key reused with a different request" in changed.text
    assert 'name="idempotency_key" value="page-1"' not in changed.text
    assert await stored(runtime) == (1, 1, 1, 1)


async def test_the_per_client_limit_is_shared_by_every_server_process(client, runtime):
    """A second runtime (another server process's engine, queue and throttle) on the same
    database and Redis counts the same client's submissions together with the first."""
    other = await Runtime.start(runtime.settings, install=server.install,
                                queue=make_queue(runtime.settings))
    try:
        async with client_for(server.create_app(runtime=other)) as elsewhere:
            answers = [await c.post("/forms/contact", json=VALID | {"subject": f"n{i}"})
                       for i, c in enumerate([client, elsewhere] * 5)]
            assert [a.status_code for a in answers] == [201] * 10
            refused = await elsewhere.post("/forms/contact", json=VALID)
            assert refused.status_code == 429
            assert (await client.post("/forms/contact", json=VALID)).status_code == 429
    finally:
        await other.close()
    assert (await stored(runtime))[2] == 10


@pytest.mark.parametrize("settings_overrides", [
    {"http": {"trusted_proxies": ["203.0.113.7"]}}], indirect=True)
async def test_clients_behind_a_trusted_proxy_are_counted_apart(client, runtime):
    def sent_by(address: str):
        return client.post("/forms/contact", json=VALID, headers={"X-Forwarded-For": address})

    for _ in range(10):
        assert (await sent_by("198.51.100.1")).status_code == 201
    assert (await sent_by("198.51.100.1")).status_code == 429
    assert (await sent_by("198.51.100.2")).status_code == 201


async def test_bad_idempotency_key_is_refused(client, runtime):
    response = await client.post("/forms/contact", json=VALID,
                                 headers={"Idempotency-Key": "k" * 500})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "idempotency_key"
    assert await stored(runtime) == (0, 0, 0, 0)


async def test_unknown_form_post_is_404(client):
    response = await client.post("/forms/nope", json=VALID)
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


async def test_same_contact_is_reused(client, runtime):
    await client.post("/forms/contact", json=VALID)
    await client.post("/forms/contact", json=VALID | {"email": "ANNA@example.org"})
    assert await stored(runtime) == (1, 2, 2, 2)
