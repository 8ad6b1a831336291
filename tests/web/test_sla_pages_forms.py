"""The SLA editor and reports without a script: plain posts, the preview computed from the
form, errors beside their fields (422, nothing saved), the reports page and its CSV link;
the form's translation to a settings document by value."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from core import clock
from core.db import transaction
from sla.policy import EXAMPLE, SlaPolicy
from sla.service import current_policy
from tests.support import PASSWORD, add_user
from web.pages.admin import sla_form

# Monday 7 December 2026, 11:30 in Stockholm.
NOW = datetime(2026, 12, 7, 10, 30, tzinfo=UTC)


@pytest.fixture
def manual_clock():
    manual = clock.ManualClock(NOW)
    with clock.use(manual):
        yield manual


@pytest.fixture
async def csrf(runtime, client, manual_clock):
    await add_user(runtime, "ada@example.com", "admin", "Ada Admin")
    answer = await client.post("/api/session", json={"email": "ada@example.com",
                                                     "password": PASSWORD})
    return answer.json()["csrf_token"]


def office(csrf: str, **fields: str) -> dict[str, str | list[str]]:
    form: dict[str, str | list[str]] = {
        "csrf_token": csrf, "team_calendars": "[]", "mode": "working_hours",
        "timezone": "Europe/Stockholm", "holiday_country": "", "holiday_subdivision": "",
        "holidays": "", "property": "", "paused_statuses": ["waiting_on_contact"],
        "goal-first_response-minutes": "60", "goal-first_response-due_soon": "15",
        "goal-next_response-minutes": "", "goal-next_response-due_soon": "",
        "goal-close-minutes": "480", "goal-close-due_soon": ""}
    for day in ("mon", "tue", "wed", "thu", "fri"):
        form[f"{day}-0-from"], form[f"{day}-0-to"] = "09:00", "17:00"
    return form | fields


def preview_text(html: str) -> str:
    section = html.split('id="sla-preview-body"', 1)[1].split("</section>", 1)[0]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", section))


async def test_preview_moves_past_the_lunch_break_and_the_holiday(client, csrf):
    plain = await client.post("/admin/sla", data=office(csrf, action="preview"))
    assert plain.status_code == 200
    assert "First response: due at Mon 7 Dec 12:30, due soon from Mon 7 Dec 12:15" in (
        preview_text(plain.text))
    assert "Close: due at Tue 8 Dec 11:30" in preview_text(plain.text)
    lunch = office(csrf, action="preview", **{"mon-0-to": "12:00", "mon-1-from": "13:00",
                                              "mon-1-to": "17:00"})
    answer = await client.post("/admin/sla", data=lunch)
    assert "First response: due at Mon 7 Dec 13:30" in preview_text(answer.text)
    assert "Close: due at Tue 8 Dec 12:30" in preview_text(answer.text)
    answer = await client.post("/admin/sla", data=lunch | {"holidays": "2026-12-08"})
    assert "Close: due at Wed 9 Dec 12:30" in preview_text(answer.text)
    fragment = await client.post("/admin/sla/preview", data=lunch | {"holidays": "2026-12-08"},
                                 headers={"X-CSRF-Token": csrf})
    assert fragment.status_code == 200 and "Wed 9 Dec 12:30" in fragment.text
    assert "<html" not in fragment.text


async def test_add_and_remove_buttons_change_the_form_not_the_settings(client, csrf, runtime):
    answer = await client.post("/admin/sla", data=office(csrf, action="add:mon"))
    assert 'name="mon-1-from"' in answer.text and 'name="mon-2-from"' not in answer.text
    answer = await client.post("/admin/sla", data=office(csrf, action="remove:tue:0"))
    assert 'name="tue-0-from"' not in answer.text
    answer = await client.post("/admin/sla", data=office(csrf, action="add-value"))
    assert 'name="value-0-key"' in answer.text
    async with transaction(runtime.sessions) as session:
        assert (await current_policy(session))[0] == 0


async def test_save_stores_the_settings_and_says_so(client, csrf, runtime):
    data = office(csrf, action="save", holidays="2026-12-24\n2026-12-08",
                  holiday_country="SE", property="priority",
                  **{"mon-0-to": "12:00", "mon-1-from": "13:00", "mon-1-to": "17:00",
                     "value-0-key": "urgent", "value-0-first_response-minutes": "15",
                     "value-1-key": "low", "value-1-none": "1"})
    answer = await client.post("/admin/sla", data=data)
    assert answer.status_code == 303, answer.text
    page = await client.get(answer.headers["location"])
    assert "SLA settings saved (version" in page.text
    async with transaction(runtime.sessions) as session:
        _, policy = await current_policy(session)
    [calendar] = policy.calendars
    assert calendar.hours["mon"] == [("09:00", "12:00"), ("13:00", "17:00")]
    assert [d.isoformat() for d in calendar.holidays] == ["2026-12-08", "2026-12-24"]
    assert calendar.holiday_country == "SE" and policy.mode == "working_hours"
    assert policy.values["low"] is None
    assert policy.values["urgent"].first_response.minutes == 15
    assert policy.goals.close.minutes == 480 and policy.goals.next_response is None
    assert 'value="urgent" selected' in page.text  # the saved form shows what was saved


@pytest.mark.parametrize("fields, key, message", [
    ({"tue-0-from": "17:00", "tue-0-to": "09:00"}, "hours-tue", ""),
    ({"wed-0-from": "09:00", "wed-0-to": ""}, "hours-wed", "give both times"),
    ({"timezone": "Mars/Olympus"}, "timezone", "choose a time zone"),
    ({"holidays": "next friday"}, "holidays", "is not a date"),
    ({"holiday_country": "XX"}, "holiday_country", "unknown holiday country"),
    ({"goal-first_response-minutes": "ten"}, "goal-first_response", "whole number"),
    ({"goal-first_response-due_soon": "60"}, "goal-first_response", "shorter than the goal"),
    ({"goal-close-minutes": "0"}, "goal-close", "between 1 and"),
    ({"value-0-key": "urgent"}, "property", "choose the property"),
    ({"property": "priority", "value-0-key": "", "value-0-close-minutes": "5"}, "value-0",
     "choose the value"),
    ({"mode": "sometimes"}, "mode", ""),
    ({"team_calendars": "{"}, "form", "team calendars"),
])
async def test_a_bad_form_is_shown_again_with_the_error_beside_its_field(
        client, csrf, runtime, fields, key, message):
    answer = await client.post("/admin/sla", data=office(csrf, action="save", **fields))
    assert answer.status_code == 422
    assert "The settings were not saved" in answer.text
    if key == "form":
        assert message in answer.text.split('role="alert"')[1].split("</p>")[0]
    else:
        error = answer.text.split(f'id="{key}-error">')[1].split("</p>")[0]
        assert message in error
    async with transaction(runtime.sessions) as session:
        assert (await current_policy(session))[0] == 0


async def test_editor_and_reports_are_for_admins_only(client, runtime, manual_clock):
    await add_user(runtime, "al@example.com", "agent", "Al Agent")
    await client.post("/api/session", json={"email": "al@example.com", "password": PASSWORD})
    for path in ("/admin/sla", "/admin/sla/reports"):
        assert (await client.get(path)).status_code == 404


async def test_reports_page_defaults_to_eight_weeks_and_links_the_csv(client, csrf):
    page = await client.get("/admin/sla/reports")
    assert page.status_code == 200
    assert 'value="2026-10-19"' in page.text and 'value="2026-12-07"' in page.text
    assert 'href="/api/sla/report.csv?from=2026-10-19&amp;to=2026-12-07"' in page.text
    assert page.text.count('role="img"') == 5
    bad = await client.get("/admin/sla/reports", params={"from": "soon", "to": "2026-12-01"})
    assert bad.status_code == 422 and "The last 8 weeks are shown instead" in bad.text


def test_the_form_of_a_policy_reads_back_as_the_same_policy():
    policy = SlaPolicy.model_validate(EXAMPLE)
    form = sla_form.from_policy(policy)
    fields: dict[str, list[str]] = {
        "mode": [form.mode], "timezone": [form.timezone], "holidays": [form.holidays],
        "holiday_country": [form.holiday_country], "property": [form.property],
        "holiday_subdivision": [form.holiday_subdivision],
        "paused_statuses": list(form.paused_statuses), "team_calendars": [form.team_calendars]}
    for day, periods in form.hours.items():
        for n, (start, end) in enumerate(periods):
            fields[f"{day}-{n}-from"], fields[f"{day}-{n}-to"] = [start], [end]
    for kind, goal in form.goals.items():
        fields[f"goal-{kind}-minutes"], fields[f"goal-{kind}-due_soon"] = [goal.minutes], [
            goal.due_soon]
    for n, row in enumerate(form.values):
        fields[f"value-{n}-key"] = [row.key]
        fields[f"value-{n}-none"] = ["1" if row.none else ""]
        for kind, goal in row.goals.items():
            fields[f"value-{n}-{kind}-minutes"] = [goal.minutes]
            fields[f"value-{n}-{kind}-due_soon"] = [goal.due_soon]
    document, errors = sla_form.to_document(sla_form.from_fields(fields))
    assert errors == {}
    assert SlaPolicy.model_validate(document) == policy


@pytest.mark.parametrize("action, day, periods", [
    ("add:mon", "mon", 2), ("remove:mon:0", "mon", 0), ("remove:mon:5", "mon", 1),
    ("add:sun", "sun", 1), ("add:funday", "mon", 1), ("save", "mon", 1),
])
def test_buttons_add_and_remove_periods(action, day, periods):
    form = sla_form.from_policy(SlaPolicy())
    assert len(sla_form.apply(form, action).hours[day]) == periods


@pytest.mark.parametrize("field, key", [
    ("goals.first_response.minutes", "goal-first_response"), ("goals.close", "goal-close"),
    ("calendars.0.timezone", "timezone"), ("calendars.0", "form"), ("mode", "mode"),
    ("values.urgent", "form"), (None, "form"), ("property", "property"),
])
def test_errors_of_the_settings_find_their_field(field, key):
    assert sla_form.error_key(field) == key
