"""The webhooks page in a real Chromium: an admin adds a webhook pointing at a receiver on
loopback, sees its secret once, a form submission reaches the receiver signed as the README
says, shows as delivered on the page and is replayed; then rotate, deactivate, delete."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.support import CHROMIUM, add_user, run_jobs
from tests.web.site import chromium, logged_in_page, screenshots, serving
from tests.webhooks.receiver import receiving
from tests.webhooks.test_delivery import readme_verify, verify_as_a_receiver_does

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")]


@pytest.fixture
def settings_overrides() -> dict:
    return {"webhooks": {"allow_private_targets": True}}


async def test_an_admin_adds_a_webhook_and_watches_a_signed_delivery(runtime, tmp_path):
    await add_user(runtime, "ada@example.com", "admin", "Ada Admin")
    with receiving() as receiver:
        async with serving(runtime) as base, chromium() as browser:
            page = await logged_in_page(browser, base, "ada@example.com")
            await page.goto(f"http://{base}/admin")
            await page.get_by_role("navigation", name="Admin console").get_by_role(
                "link", name="Webhooks").click()
            await page.get_by_text("No webhooks yet.").wait_for()

            # Nothing ticked: refused with the reason, what was typed kept.
            await page.get_by_label("URL").fill(receiver.url)
            await page.get_by_role("button", name="Add webhook").click()
            await page.get_by_role("alert").filter(has_text="name at least one event").wait_for()
            assert await page.get_by_label("URL").input_value() == receiver.url

            await page.get_by_label("A conversation opens").check()
            await page.get_by_label("A customer's message arrives").check()
            await page.get_by_role("button", name="Add webhook").click()
            secret = await page.get_by_label("Signing secret", exact=True).input_value()
            assert secret.startswith("whsec_")
            await page.get_by_text("How to verify a delivery").wait_for()
            await screenshots(page, tmp_path, "admin-webhook-added")
            await page.goto(f"http://{base}/admin/webhooks")  # shown once: not again
            assert secret not in await page.content()
            await page.get_by_text("None yet").wait_for()

            async with httpx.AsyncClient(base_url=f"http://{base}") as customer:
                sent = await customer.post("/forms/contact", json={
                    "name": "Anna", "email": "anna@example.org", "subject": "Printer on fire",
                    "message": "It smokes."})
                assert sent.status_code == 201
            await run_jobs(runtime)
            assert sorted(r.headers["Frontdesk-Event"] for r in receiver.received) == [
                "conversation.created", "message.received"]
            [first] = [r for r in receiver.received
                       if r.headers["Frontdesk-Event"] == "conversation.created"]
            event = verify_as_a_receiver_does(first, secret)
            assert readme_verify()(first.headers["Frontdesk-Signature"], first.body, secret)
            assert event["data"]["conversation"]["subject"] == "Printer on fire"

            await page.reload()
            await page.get_by_role("row").filter(has_text=receiver.url).get_by_text(
                "delivered").wait_for()
            await page.get_by_role("link", name=receiver.url).click()
            rows = page.locator(".deliveries-table tbody tr")
            assert await rows.count() == 2
            created = rows.filter(has_text="conversation.created")
            assert "delivered" in await created.inner_text()
            assert "200" in await created.locator("td").nth(2).inner_text()
            assert "ms" in await created.locator("td").nth(3).inner_text()
            await screenshots(page, tmp_path, "admin-webhook-deliveries")

            await created.get_by_role("button", name="Replay delivery").click()
            await page.get_by_role("status").filter(has_text="Delivery queued again").wait_for()
            await run_jobs(runtime)
            await page.reload()
            replayed = rows.filter(has_text="replay of")
            assert "delivered" in await replayed.inner_text()
            assert len(receiver.received) == 3
            again = verify_as_a_receiver_does(receiver.received[2], secret)
            assert again["id"] == event["id"]  # the same event, to deduplicate on

            await page.get_by_role("button", name="Rotate secret").click()
            rotated = await page.get_by_label("Signing secret", exact=True).input_value()
            assert rotated.startswith("whsec_") and rotated != secret
            await page.get_by_role("button", name="Deactivate").click()
            await page.get_by_role("status").filter(has_text="Webhook deactivated").wait_for()
            await rows.first.get_by_role("button", name="Replay delivery").click()
            await page.get_by_role("alert").filter(has_text="inactive").wait_for()
            await page.get_by_role("button", name="Activate").click()
            await page.get_by_role("status").filter(has_text="Webhook activated").wait_for()
            await page.get_by_role("button", name="Delete webhook").click()
            await page.get_by_role("status").filter(has_text="deleted").wait_for()
            await page.get_by_text("No webhooks yet.").wait_for()

            await page.goto(f"http://{base}/admin/audit?subject=webhook")
            log = await page.locator(".audit-log").inner_text()
            for action in ("webhook.created", "webhook.replayed", "webhook.secret_rotated",
                           "webhook.deactivated", "webhook.activated", "webhook.deleted"):
                assert action in log
            assert secret not in log and rotated not in log
            assert json.dumps(secret) not in await page.content()
