"""The forms and webhooks admin pages, and a public form with a select and a checkbox, pass
axe-core in a real Chromium at both widths (see tests/web/test_accessibility.py)."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.forms import service as forms
from connectors.forms.spec import DEFAULT_FIELDS, FieldSpec, FormSpec
from core.db import transaction
from tests.support import CHROMIUM, PASSWORD, add_user
from tests.web.site import WIDTHS, chromium, screenshots, serving
from tests.web.test_accessibility import violations
from webhooks import service as webhooks

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")]

PAGES = ("/admin/forms", "/admin/forms/new", "/admin/forms/repairs", "/forms/repairs",
         "/admin/webhooks", "/admin/webhooks/1")


async def setup(runtime: Any) -> None:
    await add_user(runtime, "ada@example.com", "admin", "Ada Admin")
    spec = FormSpec("repairs", "support", "Repairs", "Tell us what broke.", fields=(
        *DEFAULT_FIELDS,
        FieldSpec("department", "Department", "select", True, options=("Billing", "Repairs")),
        FieldSpec("news", "Send me news", "checkbox")))
    async with transaction(runtime.sessions) as session:
        await forms.create_form(session, spec, actor=None)
        hook = await webhooks.create_subscription(
            session, url="https://hooks.example.org/frontdesk", events=["ticket.changed"],
            created_by_id=None, allow_private=False)
        await webhooks.emit(session, "ticket.changed", {"ticket_id": 1}, [hook])


@pytest.mark.parametrize("width", WIDTHS.values())
async def test_the_pages_pass_axe(runtime, tmp_path, width):
    await setup(runtime)
    async with serving(runtime) as base, chromium() as browser:
        context = await browser.new_context(viewport={"width": width, "height": 900},
                                            bypass_csp=True)
        page = await context.new_page()
        await page.goto(f"http://{base}/login")
        await page.get_by_label("Email").fill("ada@example.com")
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Log in").click()
        await page.wait_for_url(f"http://{base}/")
        found = {}
        for path in PAGES:
            await page.goto(f"http://{base}{path}")
            await page.wait_for_load_state("networkidle")
            found[path] = await violations(page)
            if width == WIDTHS["wide"] and path == "/admin/webhooks/1":
                await screenshots(page, tmp_path, "axe-webhook")
        await context.close()
    assert found == {path: [] for path in PAGES}
