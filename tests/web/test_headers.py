"""Every response says what it is (nosniff, a Referrer-Policy, no framing); every HTML page
carries a Content-Security-Policy without 'unsafe-inline' and has nothing inline that it
would block; session cookies are Secure when people come over https; /docs and its assets
are served from here."""

from __future__ import annotations

import re
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest

from tests.connectors.email.test_pipeline import CORPUS, deliver
from tests.support import PASSWORD
from web.docs import STATIC_DIR

ROOT = Path(__file__).resolve().parents[2]
EVERY = {"x-content-type-options": "nosniff", "referrer-policy": "same-origin",
         "x-frame-options": "DENY"}
INLINE = re.compile(r"<style|\sstyle=|\son[a-z]+=|<script(?![^>]*\ssrc=)", re.IGNORECASE)


def assert_html_policy(response) -> None:
    assert response.headers["content-type"].startswith("text/html")
    for name, value in EVERY.items():
        assert response.headers[name] == value, name
    policy = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert directives["frame-ancestors"] == "'none'"
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == directives["style-src"] == "'self'"
    assert not INLINE.search(response.text), INLINE.search(response.text)


def assert_embeddable_form_policy(response) -> None:
    """A public form's page: any site may frame it (it is embedded), and it runs no script
    at all, loading only its own stylesheet."""
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "x-frame-options" not in response.headers
    policy = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["frame-ancestors"] == "*"
    assert directives["default-src"] == "'none'" and "script-src" not in directives
    assert directives["style-src"] == "'self'" and "unsafe-inline" not in policy
    assert "<script" not in response.text.lower()
    assert not INLINE.search(response.text), INLINE.search(response.text)


async def test_form_pages_carry_the_policy_in_every_state(client, runtime):
    assert_embeddable_form_policy(await client.get("/forms/contact"))
    assert_embeddable_form_policy(await client.get("/forms/nowhere"))
    errors = await client.post("/forms/contact", data={"name": "Anna", "email": "nope"})
    assert errors.status_code == 422
    assert_embeddable_form_policy(errors)
    thanks = await client.post("/forms/contact", data={
        "name": "Anna", "email": "anna@example.org", "subject": "Hi", "message": "Hello"})
    assert thanks.status_code == 200 and "Thank you" in thanks.text
    assert_embeddable_form_policy(thanks)
    for _ in range(10):
        slow = await client.post("/forms/contact", data={"name": "Anna"})
    assert slow.status_code == 429
    assert_embeddable_form_policy(slow)


async def test_the_docs_page_carries_the_policy_and_loads_only_local_files(client):
    page = await client.get("/docs")
    assert page.status_code == 200
    assert_html_policy(page)
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(s.startswith("/static/") for s in sources), sources
    for source in sources:
        asset = await client.get(source)
        assert asset.status_code == 200, source
        assert asset.headers["x-content-type-options"] == "nosniff"
    assert (await client.get("/redoc")).status_code == 404
    assert "/docs" not in (await client.get("/openapi.json")).json()["paths"]


@pytest.mark.parametrize("path, status", [("/api/me", 200), ("/api/tickets/999", 404),
                                          ("/api/nothing", 404), ("/healthz", 200),
                                          ("/openapi.json", 200), ("/static/forms.css", 200)])
async def test_other_answers_carry_nosniff_and_no_framing(client, agent, path, status):
    _, headers = agent
    response = await client.get(path, headers=headers)
    assert response.status_code == status
    for name, value in EVERY.items():
        assert response.headers[name] == value, name


async def test_the_guards_own_answers_carry_them_too(client):
    too_large = await client.post("/api/session", content=b"x",
                                  headers={"Content-Length": str(10**9)})
    surrogate = await client.post("/api/session", content=b'{"email": "\\ud800"}',
                                  headers={"Content-Type": "application/json"})
    assert (too_large.status_code, surrogate.status_code) == (413, 422)
    for response in (too_large, surrogate):
        assert response.headers["x-content-type-options"] == "nosniff"


def session_cookies(response) -> list[str]:
    return [c for c in response.headers.get_list("set-cookie")
            if c.startswith(("frontdesk_session=", "frontdesk_csrf="))]


async def test_session_cookies_are_not_secure_over_plain_http(client, agent):
    login = await client.post("/api/session", json={"email": "agent@example.com",
                                                    "password": PASSWORD})
    cookies = session_cookies(login)
    assert len(cookies) == 2 and not any("secure" in c.lower() for c in cookies)


@pytest.mark.parametrize("settings_overrides", [
    {"http": {"public_url": "https://help.example.com"}}])
async def test_session_cookies_are_secure_when_the_public_url_is_https(client, agent):
    login = await client.post("/api/session", json={"email": "agent@example.com",
                                                    "password": PASSWORD})
    cookies = session_cookies(login)
    assert len(cookies) == 2 and all("; secure" in c.lower() for c in cookies)


async def test_an_attachments_own_stricter_policy_is_kept(client, runtime, agent):
    """Attachments answer with a sandbox policy of their own; it wins over the default."""
    _, headers = agent
    await deliver(runtime, (CORPUS / "text_attachment.eml").read_bytes())
    [conversation] = (await client.get("/api/conversations", headers=headers)).json()["items"]
    detail = (await client.get(f"/api/conversations/{conversation['id']}",
                               headers=headers)).json()
    [attachment] = detail["messages"][0]["attachments"]
    response = await client.get(attachment["url"], headers=headers)
    assert response.status_code == 200
    assert response.headers["content-security-policy"] == "default-src 'none'; sandbox"
    for name, value in EVERY.items():
        assert response.headers[name] == value, name


def test_every_static_file_is_shipped_in_the_package():
    """pyproject's package-data must match everything under web/static."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["*"]
    files = [p.relative_to(STATIC_DIR.parent).as_posix()
             for p in STATIC_DIR.rglob("*") if p.is_file()]
    assert "static/swagger-ui/swagger-ui-bundle.js" in files
    unshipped = [f for f in files if not any(fnmatch(f, p) and f.count("/") == p.count("/")
                                             for p in patterns)]
    assert unshipped == []
