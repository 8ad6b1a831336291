"""Mail channels in the admin console, in a real Chromium against a real Dovecot and a real
SMTP sink: connect an IMAP mailbox (Test connection fails with a wrong password and says so,
then works), save it, and its mail arrives; set the global relay and send a test message.
The same forms work without script (full page posts)."""

from __future__ import annotations

import re

import pytest

from connectors.email import imap
from tests.connectors.email.dovecot import (  # noqa: F401
    Account,
    Dovecot,
    dovecot_server,
    free_port,
    imap_account,
)
from tests.connectors.email.test_imap import mail
from tests.connectors.email.test_smtp_out import RecordingRelay, running_relay
from tests.support import CHROMIUM, add_user, run_jobs
from tests.web.site import chromium, logged_in_page, screenshots, serving

browser_only = [pytest.mark.browser,
                pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")]


async def fill_mailbox(page, dovecot: Dovecot, account: Account, password: str) -> None:
    await page.get_by_label("Name", exact=True).fill("desk")
    await page.get_by_label("Host", exact=True).fill(dovecot.host)
    await page.get_by_label("Port", exact=True).fill(str(dovecot.port))
    await page.get_by_label("Security", exact=True).select_option("none")
    await page.get_by_label("User name", exact=True).fill(account.username)
    await page.get_by_label("Password", exact=True).fill(password)
    await page.get_by_label("After import", exact=True).select_option("leave")


@pytest.mark.parametrize("_", [pytest.param(None, marks=browser_only)])
async def test_an_admin_connects_an_imap_mailbox_and_its_mail_arrives(
        runtime, tmp_path, dovecot, account, _):
    await add_user(runtime, "ada@example.com", "admin", "Ada Admin")
    account.append(mail("imap-journey@example.org", subject="Invoice 42 is wrong"))
    async with serving(runtime) as base, chromium() as browser:
        page = await logged_in_page(browser, base, "ada@example.com")
        await page.goto(f"http://{base}/admin")
        await page.get_by_role("navigation", name="Admin console").get_by_role(
            "link", name="Outgoing mail").click()
        await page.get_by_role("row").filter(has_text="Support").get_by_role(
            "link", name="Support").click()
        await page.get_by_role("heading", name="Email mailboxes (IMAP)").wait_for()
        await screenshots(page, tmp_path, "inbox-mail-empty")
        await page.get_by_role("link", name="Add mailbox").click()
        await page.get_by_role("heading", name="Add an IMAP mailbox to Support").wait_for()

        await fill_mailbox(page, dovecot, account, "not-the-password")
        await page.get_by_role("button", name="Test connection").click()
        result = page.get_by_role("status").filter(has_text="Connection failed")
        await result.wait_for()
        assert "the server refused the user name or password" in await result.inner_text()
        await screenshots(page, tmp_path, "mailbox-test-refused")

        await page.get_by_label("Password", exact=True).fill(account.password)
        await page.get_by_role("button", name="Test connection").click()
        result = page.get_by_role("status").filter(has_text="Connection works")
        await result.wait_for()
        assert "The folder holds 1 message." in await result.inner_text()
        await screenshots(page, tmp_path, "mailbox-test-works")

        await page.get_by_role("button", name="Save mailbox").click()
        await page.get_by_role("status").filter(has_text="Mailbox desk added").wait_for()
        row = page.get_by_role("row").filter(has_text=account.username)
        await row.get_by_role("link", name="desk", exact=True).wait_for()
        await screenshots(page, tmp_path, "inbox-mail-with-mailbox")

        assert await imap.poll_all({"runtime": runtime}) == 1
        await run_jobs(runtime)
        await page.goto(f"http://{base}/")
        await page.get_by_text("Invoice 42 is wrong").first.wait_for()

        await page.goto(f"http://{base}/admin/inboxes/support/mail")
        await page.get_by_role("link", name="desk", exact=True).click()
        await page.get_by_role("heading", name="Mailbox desk").wait_for()
        assert await page.get_by_label("Password", exact=True).input_value() == ""
        assert account.password not in await page.content()
        await page.get_by_role("button", name="Test connection").click()
        await page.get_by_role("status").filter(has_text="Connection works").wait_for()
        await screenshots(page, tmp_path, "mailbox-edit")


@pytest.mark.parametrize("_", [pytest.param(None, marks=browser_only)])
async def test_an_admin_sets_the_global_relay_and_sends_a_test_message(runtime, tmp_path, _):
    await add_user(runtime, "ada@example.com", "admin", "Ada Admin")
    port, sink = free_port(), RecordingRelay()
    with running_relay(port, sink):
        async with serving(runtime) as base, chromium() as browser:
            page = await logged_in_page(browser, base, "ada@example.com")
            await page.goto(f"http://{base}/admin")
            await page.get_by_role("navigation", name="Admin console").get_by_role(
                "link", name="Outgoing mail").click()
            await page.get_by_role("heading", name="Outgoing mail", exact=True).wait_for()
            await page.get_by_label("Relay host").fill("127.0.0.1")
            await page.get_by_label("Relay port").fill(str(port))
            await page.get_by_label("Relay security").select_option("none")
            await page.get_by_role("button", name="Save relay").click()
            await page.get_by_role("status").filter(has_text="Global relay saved").wait_for()

            await page.get_by_label("Send a test message to").fill("ada@example.org")
            await page.get_by_role("button", name="Send test message").click()
            result = page.get_by_role("status").filter(has_text="Test message works")
            await result.wait_for()
            assert re.search(r"DATA\s+accepted: 250", await result.inner_text())
            await screenshots(page, tmp_path, "outgoing-mail")
    [sent] = sink.accepted
    assert sent.rcpt_tos == ["ada@example.org"]


# ------------------------------------------------------------------ without script


async def login_cookies(client, email: str) -> str:
    answer = await client.post("/api/session", json={"email": email,
                                                     "password": "correct horse battery"})
    assert answer.status_code == 200, answer.text
    return answer.json()["csrf_token"]


async def test_test_connection_and_save_work_as_full_page_posts(client, runtime, dovecot,
                                                                account):
    await add_user(runtime, "ada@example.com", "admin", "Ada Admin")
    csrf = await login_cookies(client, "ada@example.com")
    form = {"csrf_token": csrf, "inbox": "support", "name": "desk", "host": dovecot.host,
            "port": str(dovecot.port), "security": "none", "username": account.username,
            "password": "wrong", "folder": "INBOX", "poll_seconds": "60",
            "after_import": "leave", "move_to": "", "enabled": "on"}
    tested = await client.post("/admin/mailboxes/test", data=form)
    assert tested.status_code == 200
    assert "the server refused the user name or password" in tested.text
    assert 'value="wrong"' not in tested.text and 'value="desk"' in tested.text

    bad = await client.post("/admin/inboxes/support/mailboxes", data=form | {"port": "x"})
    assert bad.status_code == 422 and 'aria-invalid="true"' in bad.text

    saved = await client.post("/admin/inboxes/support/mailboxes",
                              data=form | {"password": account.password})
    assert saved.status_code == 303
    listed = await client.get(saved.headers["location"])
    assert "Mailbox desk added" in listed.text and account.username in listed.text
    assert account.password not in listed.text
    overview = await client.get("/admin/mail")
    assert overview.text.count("<h1>") == 1 and "<h1>Outgoing mail</h1>" in overview.text
    assert '<a href="/admin/inboxes/support/mail">Support</a>' in overview.text


async def test_an_agent_finds_no_mail_pages(client, runtime):
    await add_user(runtime, "al@example.com", "agent", "Al Agent")
    await login_cookies(client, "al@example.com")
    for path in ("/admin/mail", "/admin/inboxes/support/mail",
                 "/admin/inboxes/support/mailboxes/new"):
        assert (await client.get(path)).status_code == 404


# ------------------------------------------------------------------ accessibility


@pytest.mark.parametrize("width", [pytest.param(w, marks=browser_only) for w in (1280, 390)])
async def test_the_mail_pages_pass_axe(runtime, dovecot, account, width):
    from tests.web.test_accessibility import violations

    await add_user(runtime, "ada@example.com", "admin", "Ada Admin")
    async with serving(runtime) as base, chromium() as browser:
        context = await browser.new_context(viewport={"width": width, "height": 900},
                                            bypass_csp=True)
        page = await context.new_page()
        await page.goto(f"http://{base}/login")
        await page.get_by_label("Email").fill("ada@example.com")
        await page.get_by_label("Password").fill("correct horse battery")
        await page.get_by_role("button", name="Log in").click()
        await page.wait_for_url(f"http://{base}/**")
        found = []
        for path in ("/admin/mail", "/admin/inboxes/support/mail",
                     "/admin/inboxes/support/mailboxes/new"):
            await page.goto(f"http://{base}{path}")
            found += await violations(page)
        await page.goto(f"http://{base}/admin/inboxes/support/mailboxes/new")
        await fill_mailbox(page, dovecot, account, "not-the-password")
        await page.get_by_role("button", name="Test connection").click()
        await page.get_by_role("status").filter(has_text="Connection failed").wait_for()
        found += await violations(page)
        await context.close()
    assert found == [], "\n".join(found)
