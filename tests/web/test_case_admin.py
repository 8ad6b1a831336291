"""The case catalog and companies in the admin console, in a real Chromium: companies
with their contacts, the subject tree (add a child, rename, remove), products."""

from __future__ import annotations

import pytest

from tests.support import CHROMIUM, add_user
from tests.web.site import chromium, logged_in_page, screenshots, serving
from tests.web.test_conversation_page import receive

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")]


@pytest.fixture
async def boss(runtime):
    await add_user(runtime, "ada@example.com", "admin", "Ada Admin")


async def test_a_company_gets_a_contact(runtime, boss, tmp_path):
    await receive(runtime, "Hello", "Hi", email="rita@acme.example")
    async with serving(runtime) as base, chromium() as browser:
        page = await logged_in_page(browser, base, "ada@example.com")
        await page.goto(f"http://{base}/admin")
        await page.get_by_role("navigation", name="Admin console").get_by_role(
            "link", name="Companies").click()
        await page.get_by_label("Name").fill("Acme")
        await page.get_by_label("Domain").fill("not a domain")
        await page.get_by_role("button", name="Add company").click()
        assert "domain must be" in await page.get_by_role("alert").inner_text()
        await page.get_by_label("Domain").fill("acme.example")
        await page.get_by_role("button", name="Add company").click()
        await page.get_by_role("status").filter(has_text="added").wait_for()
        await page.get_by_label("Contact's email address").fill("nobody@acme.example")
        await page.get_by_role("button", name="Add contact").click()
        assert "no contact" in await page.get_by_role("alert").inner_text()
        await page.get_by_label("Contact's email address").fill("RITA@acme.example")
        await page.get_by_role("button", name="Add contact").click()
        await page.get_by_role("status").filter(has_text="added to the company").wait_for()
        assert await page.get_by_role("button", name="Take Anna Berg out of Acme").count() == 1
        await screenshots(page, tmp_path, "company")
        await page.get_by_role("button", name="Take Anna Berg out of Acme").click()
        await page.get_by_text("No contacts in this company yet.").wait_for()


async def test_the_subject_tree_and_products(runtime, boss, tmp_path):
    async with serving(runtime) as base, chromium() as browser:
        page = await logged_in_page(browser, base, "ada@example.com")
        await page.goto(f"http://{base}/admin/subjects")
        await page.get_by_label("Name").fill("Hardware")
        await page.get_by_role("button", name="Add subject").click()
        await page.get_by_text("Hardware", exact=True).click()
        await page.get_by_label("Child of Hardware").fill("Printers")
        await page.get_by_role("button", name="Add a child to Hardware").click()
        await page.get_by_role("status").filter(has_text="Hardware › Printers").wait_for()
        await page.get_by_text("Hardware › Printers", exact=True).click()
        await page.get_by_label("New name for Hardware › Printers").fill("Scanners")
        await page.get_by_role("button", name="Rename Hardware › Printers").click()
        await page.get_by_text("Hardware › Scanners", exact=True).wait_for()
        await page.get_by_text("Hardware", exact=True).click()
        await screenshots(page, tmp_path, "subjects")
        await page.get_by_role("button", name="Remove Hardware", exact=True).click()
        await page.get_by_text("No subjects yet.").wait_for()
        await page.goto(f"http://{base}/admin/products")
        await page.get_by_label("Name", exact=True).fill("Printer X200")
        await page.get_by_role("button", name="Add product").click()
        await page.get_by_label("Printer X200 in use").uncheck()
        await page.get_by_role("button", name="Save Printer X200").click()
        await page.get_by_text("Out of use", exact=True).wait_for()
        await screenshots(page, tmp_path, "products")
        await page.goto(f"http://{base}/admin/audit")
        log = await page.locator("main").inner_text()
        assert "Subject 'Hardware' added" in log and "Product 'Printer X200' changed" in log
