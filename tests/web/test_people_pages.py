"""The people and team pages of the admin console, and the page of a link to set a
password, driven by plain form posts (what a browser without scripts sends). Mail goes to
a real SMTP relay on loopback (aiosmtpd); time moves on core's clock."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from tests.connectors.email.test_smtp_out import RecordingRelay, free_port, running_relay
from tests.support import PASSWORD, run_jobs

RELAY_PORT = free_port()
LINK = re.compile(r"http://help\.example\.com(/password/fdp_[A-Za-z0-9_-]{43})")
NEW_PASSWORD = "a brand new password"


@pytest.fixture
def settings_overrides() -> dict:
    return {"smtp_out": {"host": "127.0.0.1", "port": RELAY_PORT, "timeout_seconds": 2.0},
            "http": {"public_url": "http://help.example.com"}}


@pytest.fixture
def relay():
    handler = RecordingRelay()
    with running_relay(RELAY_PORT, handler):
        yield handler


@pytest.fixture
async def signed_in(client, admin) -> str:
    """The admin signed in on `client` (session cookie); returns the session's CSRF token."""
    answer = await client.post("/api/session", json={"email": "admin@example.com",
                                                     "password": PASSWORD})
    return answer.json()["csrf_token"]


def _links(relay: RecordingRelay, to: str) -> list[str]:
    return [path for r in relay.accepted if r.rcpt_tos == [to]
            for path in LINK.findall(r.parsed().get_content())]


async def _invite(client, csrf: str, **fields) -> object:
    data = {"csrf_token": csrf, "email": "nia@example.com", "name": "Nia New",
            "role": "agent"} | fields
    return await client.post("/admin/people/invite", data=data)


async def _audit(client, admin_headers) -> list[str]:
    entries = (await client.get("/api/admin/audit", headers=admin_headers)).json()["items"]
    return [e["action"] for e in entries]


async def test_invite_on_the_page_and_join_through_the_link(runtime, client, admin, signed_in,
                                                            relay):
    team = (await client.post("/api/teams", headers=admin[1], json={"name": "Billing"})).json()
    form = await client.get("/admin/people/invite")
    assert form.status_code == 200 and "Billing" in form.text
    sent = await _invite(client, signed_in, team_ids=[str(team["id"])])
    assert (sent.status_code, sent.headers["location"]) == (303, "/admin/people?done=invited")
    listing = await client.get("/admin/people?done=invited")
    assert "Invitation sent." in listing.text and "nia@example.com" in listing.text
    assert re.search(r"person-invited\">Invited", listing.text)
    await run_jobs(runtime)
    [path] = _links(relay, "nia@example.com")

    client.cookies.clear()  # the invited person's browser
    page = await client.get(path)
    assert page.status_code == 200 and "Welcome, Nia New" in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"
    for fields, message in (({"password": NEW_PASSWORD, "password_again": "other one!"},
                             "The two passwords are not the same."),
                            ({"password": "short", "password_again": "short"},
                             "The password is too short")):
        refused = await client.post(path, data=fields)
        assert refused.status_code == 422 and message in refused.text
    joined = await client.post(path, data={"password": NEW_PASSWORD,
                                           "password_again": NEW_PASSWORD})
    assert (joined.status_code, joined.headers["location"]) == (303, "/")
    me = (await client.get("/api/me")).json()
    assert (me["email"], me["status"], me["active"]) == ("nia@example.com", "active", True)
    again = await client.get(path)
    assert again.status_code == 410 and "This link was used already" in again.text
    reposted = await client.post(path, data={"password": NEW_PASSWORD,
                                             "password_again": NEW_PASSWORD})
    assert reposted.status_code == 410 and "used already" in reposted.text
    team_now = (await client.get(f"/api/teams/{team['id']}")).json()
    assert team_now["member_ids"] == [me["id"]]
    assert "user.invited" in await _audit(client, admin[1])


async def test_dead_links_say_why(runtime, client, admin, signed_in, relay, manual_clock):
    await _invite(client, signed_in)
    await run_jobs(runtime)
    [first] = _links(relay, "nia@example.com")
    user_id = (await client.get("/api/invites", headers=admin[1])).json()["items"][0]["user"]["id"]
    resent = await client.post(f"/admin/people/{user_id}/resend",
                               data={"csrf_token": signed_in})
    assert resent.headers["location"] == f"/admin/people/{user_id}?done=resent"
    await run_jobs(runtime)
    _, second = _links(relay, "nia@example.com")
    client.cookies.clear()
    old = await client.get(first)
    assert old.status_code == 410 and "This link no longer works" in old.text
    manual_clock.advance(timedelta(hours=72))
    expired = await client.get(second)
    assert expired.status_code == 410 and "This link has expired" in expired.text
    unknown = await client.get("/password/fdp_" + "x" * 43)
    assert unknown.status_code == 404 and "This link is not known" in unknown.text
    too_long = await client.get("/password/" + "x" * 300)
    assert too_long.status_code in (404, 422)


async def test_refusals_show_on_the_form(client, admin, agent, signed_in):
    taken = await _invite(client, signed_in, email="agent@example.com", name="Al Again")
    assert taken.status_code == 409 and "agent@example.com exists" in taken.text
    assert 'value="Al Again"' in taken.text  # what was typed stays
    bad = await _invite(client, signed_in, email="no address", team_ids=["x", "999"])
    assert bad.status_code == 422 and "not a valid email address" in bad.text
    no_csrf = await client.post("/admin/people/invite", data={"email": "z@example.com",
                                                              "name": "Z"})
    assert no_csrf.status_code == 403
    people = (await client.get("/api/users", headers=admin[1])).json()["items"]
    assert {p["email"] for p in people} == {"admin@example.com", "agent@example.com"}


async def test_edit_reset_deactivate_and_reactivate(runtime, client, admin, agent, signed_in,
                                                    relay):
    al = agent[0]
    page = await client.get(f"/admin/people/{al}")
    assert page.status_code == 200 and "Send password reset link" in page.text
    saved = await client.post(f"/admin/people/{al}", data={
        "csrf_token": signed_in, "name": "Al Agent-Smith", "email": "al@example.com",
        "role": "agent", "can_share_views": "1"})
    assert saved.headers["location"] == f"/admin/people/{al}?done=saved"
    user = (await client.get(f"/api/users/{al}", headers=admin[1])).json()
    assert (user["name"], user["email"], user["can_share_views"]) == (
        "Al Agent-Smith", "al@example.com", True)

    reset = await client.post(f"/admin/people/{al}/reset", data={"csrf_token": signed_in})
    assert reset.headers["location"] == f"/admin/people/{al}?done=reset"
    await run_jobs(runtime)
    [path] = _links(relay, "al@example.com")
    assert "A password reset link was sent" in (await client.get(f"/admin/people/{al}")).text

    off = await client.post(f"/admin/people/{al}/deactivate", data={"csrf_token": signed_in})
    assert off.headers["location"] == f"/admin/people/{al}?done=deactivated"
    assert (await client.get("/api/me", headers=agent[1])).status_code == 401
    assert (await client.get(path)).status_code == 410  # the reset link died with it
    on = await client.post(f"/admin/people/{al}/reactivate", data={"csrf_token": signed_in})
    assert on.headers["location"] == f"/admin/people/{al}?done=reactivated"
    actions = await _audit(client, admin[1])
    assert actions.count("user.updated") == 3 and "user.password_reset_sent" in actions
    entries = (await client.get("/api/admin/audit", headers=admin[1])).json()["items"]
    renamed = next(e for e in entries if e["action"] == "user.updated"
                   and "name" in (e["after"] or {}))
    assert renamed["before"]["name"] == "Al Agent" and renamed["after"]["name"] == "Al Agent-Smith"


async def test_the_last_admin_stays_one(client, admin, signed_in):
    me = admin[0]
    demoted = await client.post(f"/admin/people/{me}", data={
        "csrf_token": signed_in, "name": "Ada Admin", "email": "admin@example.com",
        "role": "agent"})
    assert demoted.status_code == 409 and "last active admin" in demoted.text
    assert "Deactivate" not in (await client.get(f"/admin/people/{me}")).text
    myself = await client.post(f"/admin/people/{me}/deactivate", data={"csrf_token": signed_in})
    assert myself.status_code == 409 and "cannot deactivate yourself" in myself.text


async def test_withdrawing_an_invitation(runtime, client, admin, signed_in, relay):
    await _invite(client, signed_in)
    await run_jobs(runtime)
    [path] = _links(relay, "nia@example.com")
    user_id = (await client.get("/api/invites", headers=admin[1])).json()["items"][0]["user"]["id"]
    page = await client.get(f"/admin/people/{user_id}")
    assert "Resend invitation" in page.text and "Send password reset link" not in page.text
    gone = await client.post(f"/admin/people/{user_id}/withdraw",
                             data={"csrf_token": signed_in})
    assert gone.headers["location"] == "/admin/people?done=withdrawn"
    assert "nia@example.com" not in (await client.get("/admin/people")).text
    assert (await client.get(path)).status_code == 404
    assert (await client.get(f"/admin/people/{user_id}")).status_code == 404


async def test_teams_create_rename_members_and_deactivate(runtime, client, admin, agent,
                                                         signed_in):
    made = await client.post("/admin/teams", data={"csrf_token": signed_in, "name": "Night"})
    team_id = int(made.headers["location"].split("/")[-1].split("?")[0])
    page = await client.get(f"/admin/teams/{team_id}")
    assert page.status_code == 200 and "Al Agent" in page.text
    saved = await client.post(f"/admin/teams/{team_id}", data={
        "csrf_token": signed_in, "name": "Nights", "member_ids": [str(agent[0])]})
    assert saved.headers["location"] == f"/admin/teams/{team_id}?done=saved"
    team = (await client.get(f"/api/teams/{team_id}", headers=admin[1])).json()
    assert (team["name"], team["member_ids"]) == ("Nights", [agent[0]])
    taken = await client.post("/admin/teams", data={"csrf_token": signed_in, "name": "nights"})
    assert taken.status_code == 409 and "exists" in taken.text
    off = await client.post(f"/admin/teams/{team_id}/deactivate",
                            data={"csrf_token": signed_in})
    assert off.headers["location"] == f"/admin/teams/{team_id}?done=deactivated"
    assert (await client.get(f"/api/teams/{team_id}", headers=admin[1])).json()["active"] is False
    listing = await client.get("/admin/teams")
    assert "Nights" in listing.text and "Deactivated" in listing.text
    # A member deactivated since stays on the form and saving keeps them.
    await client.post(f"/admin/people/{agent[0]}/deactivate", data={"csrf_token": signed_in})
    kept = await client.post(f"/admin/teams/{team_id}", data={
        "csrf_token": signed_in, "name": "Nights", "member_ids": [str(agent[0])]})
    assert kept.status_code == 303
    actions = await _audit(client, admin[1])
    assert "team.created" in actions and actions.count("team.updated") == 2


async def test_agents_find_no_console(client, agent):
    _, al = agent
    await client.post("/api/session", json={"email": "agent@example.com", "password": PASSWORD})
    for path in ("/admin/people", "/admin/people/1", "/admin/people/invite", "/admin/teams",
                 "/admin/teams/1"):
        assert (await client.get(path)).status_code == 404, path
    assert (await client.post("/api/invites", headers=al, json={
        "email": "x@example.com", "name": "X"})).status_code == 403


async def test_the_invites_api(runtime, client, admin, relay):
    boss = admin[1]
    made = await client.post("/api/invites", headers=boss, json={
        "email": "Nia@Example.com", "name": "Nia New", "role": "admin"})
    assert made.status_code == 201
    body = made.json()
    assert body["user"]["email"] == "nia@example.com" and body["user"]["status"] == "invited"
    assert "token" not in str(body) and "fdp_" not in str(body)
    user_id = body["user"]["id"]
    listed = (await client.get("/api/invites", headers=boss)).json()["items"]
    assert [i["user"]["id"] for i in listed] == [user_id]
    again = await client.post("/api/invites", headers=boss, json={
        "email": "nia@example.com", "name": "Nia"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_invited"
    resent = await client.post(f"/api/invites/{user_id}/resend", headers=boss)
    assert resent.status_code == 200
    assert (await client.post(f"/api/users/{user_id}/password-reset",
                              headers=boss)).status_code == 409
    for body, field in (({"email": "x@example.com"}, "name"),
                        ({"email": "x@example.com", "name": "X", "role": "owner"}, "role"),
                        ({"email": "x@example.com", "name": "X", "team_ids": [0]}, "team_ids.0"),
                        ({"email": "x@example.com", "name": "X", "team_ids": [99]}, "team_ids")):
        refused = await client.post("/api/invites", headers=boss, json=body)
        assert refused.status_code == 422 and refused.json()["error"]["field"] == field, body
    assert (await client.delete(f"/api/invites/{user_id}", headers=boss)).status_code == 204
    assert (await client.delete(f"/api/invites/{user_id}", headers=boss)).status_code == 404
    reset = await client.post(f"/api/users/{admin[0]}/password-reset", headers=boss)
    assert reset.status_code == 202 and set(reset.json()) == {"user_id", "sent_at",
                                                               "expires_at"}
    await run_jobs(runtime)
    # Nia's mails left only if a job ran before her invitation was withdrawn.
    *invited, last = [r.rcpt_tos for r in relay.accepted]
    assert all(to == ["nia@example.com"] for to in invited)
    assert last == ["admin@example.com"]


async def test_forgot_password_says_the_same_for_everyone(runtime, client, admin, agent,
                                                         relay):
    await client.post("/api/invites", headers=admin[1], json={"email": "nia@example.com",
                                                              "name": "Nia New"})
    await run_jobs(runtime)
    before = len(relay.accepted)
    login = await client.get("/login")
    assert 'href="/forgot-password"' in login.text
    answers = []
    for address in ("nobody@example.com", "agent@example.com", "nia@example.com",
                    " Agent@Example.com ", "agent@example.com", "agent@example.com"):
        answer = await client.post("/forgot-password", data={"email": address})
        answers.append((answer.status_code, "Check your mail" in answer.text))
        await run_jobs(runtime)  # each link leaves before the next replaces it
    assert set(answers) == {(200, True)}
    # Three links at most to one address per hour; the unknown and the invited get none.
    assert [r.rcpt_tos for r in relay.accepted[before:]] == [["agent@example.com"]] * 3
    path = _links(relay, "agent@example.com")[-1]
    changed = await client.post(path, data={"password": NEW_PASSWORD,
                                            "password_again": NEW_PASSWORD})
    assert changed.status_code == 303
    entries = (await client.get("/api/admin/audit", headers=admin[1])).json()["items"]
    requested = [e for e in entries if e["action"] == "user.password_reset_requested"]
    assert len(requested) == 3 and requested[0]["actor_name"] == "system"
    assert NEW_PASSWORD not in str(entries)


async def test_forgot_password_is_throttled_per_client(client, relay):
    answers = [(await client.post("/forgot-password", data={"email": f"x{i}@example.com"}))
               for i in range(11)]
    assert [a.status_code for a in answers] == [200] * 10 + [429]
    assert int(answers[-1].headers["retry-after"]) > 0
    assert "Too many requests" in answers[-1].text
