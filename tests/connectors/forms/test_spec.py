"""The pure rules of a form and its fields, and the new field types' validation: tables."""

from __future__ import annotations

from dataclasses import replace

import pytest

from connectors.forms.spec import (
    DEFAULT_FIELDS,
    FieldSpec,
    FormSpec,
    check_form,
    move_field,
    parse_options,
    remove_field,
)
from connectors.forms.validate import (
    FormErrors,
    custom_values,
    to_inbound,
    validate_submission,
)

DEPARTMENT = FieldSpec("department", "Department", "select", True,
                       options=("Billing", "Repairs"))
NEWS = FieldSpec("news", "Send me news", "checkbox")
TERMS = FieldSpec("terms", "I accept the terms", "checkbox", required=True)
NOTE = FieldSpec("order_no", "Order number", "text", max_length=10)
FORM = FormSpec("repairs", "support", "Repairs", fields=(*DEFAULT_FIELDS, DEPARTMENT, NEWS,
                                                          TERMS, NOTE))
VALID = {"name": "Anna", "email": "anna@example.org", "subject": "Hi", "message": "Help",
         "department": "Billing", "terms": "yes"}


@pytest.mark.parametrize("change, expected", [
    ({}, {"department": "Billing", "news": "no", "terms": "yes", "order_no": ""}),
    ({"news": "on"}, {"news": "yes"}),
    ({"news": "yes", "terms": "true"}, {"news": "yes", "terms": "yes"}),
    ({"news": "1", "terms": "on"}, {"news": "yes"}),
    ({"news": "", "terms": "YES"}, {"news": "no", "terms": "yes"}),
    ({"news": "no"}, {"news": "no"}),
    ({"department": "  Repairs "}, {"department": "Repairs"}),
])
def test_valid_choices(change, expected):
    result = validate_submission(FORM, VALID | change)
    assert not isinstance(result, FormErrors), result
    assert {k: result[k] for k in expected} == expected


@pytest.mark.parametrize("change, errors", [
    ({"department": ""}, {"department": "Department is required"}),
    ({"department": "Sales"}, {"department": "Department must be one of the choices offered"}),
    ({"department": "billing"}, {"department": "Department must be one of the choices offered"}),
    ({"terms": ""}, {"terms": "I accept the terms must be ticked"}),
    ({"terms": "no"}, {"terms": "I accept the terms must be ticked"}),
    ({"news": "maybe"}, {"news": "Send me news must be ticked or not"}),
    ({"order_no": "x" * 11}, {"order_no": "Order number must be at most 10 characters"}),
    ({"department": "Sales", "terms": ""},
     {"department": "Department must be one of the choices offered",
      "terms": "I accept the terms must be ticked"}),
])
def test_invalid_choices(change, errors):
    result = validate_submission(FORM, VALID | change)
    assert isinstance(result, FormErrors) and result.errors == errors


def test_an_optional_select_may_stay_empty():
    form = replace(FORM, fields=(*DEFAULT_FIELDS, replace(DEPARTMENT, required=False)))
    result = validate_submission(form, VALID | {"department": ""})
    assert not isinstance(result, FormErrors) and result["department"] == ""


def test_custom_values_reach_the_message_text_and_its_data():
    values = validate_submission(FORM, VALID | {"order_no": "A-77"})
    assert not isinstance(values, FormErrors)
    assert custom_values(FORM, values) == [
        {"name": "department", "label": "Department", "value": "Billing"},
        {"name": "news", "label": "Send me news", "value": "no"},
        {"name": "terms", "label": "I accept the terms", "value": "yes"},
        {"name": "order_no", "label": "Order number", "value": "A-77"}]
    msg = to_inbound(FORM, values, "form:repairs:k")
    assert msg.text == ("Help\n\nForm fields\nDepartment: Billing\nSend me news: no\n"
                        "I accept the terms: yes\nOrder number: A-77")


def test_without_a_message_field_the_block_is_the_text():
    form = FormSpec("short", "support", "Short", fields=(
        FieldSpec("email", "Email", "email", True, 254), DEPARTMENT))
    values = validate_submission(form, {"email": "a@example.org", "department": "Repairs"})
    assert not isinstance(values, FormErrors)
    msg = to_inbound(form, values, "form:short:k")
    assert msg.text == "Form fields\nDepartment: Repairs"
    assert msg.subject == "Short from a@example.org"


# ----------------------------------------------------------------------------- form rules


def fields(*extra: FieldSpec) -> tuple[FieldSpec, ...]:
    return (*DEFAULT_FIELDS, *extra)


@pytest.mark.parametrize("form, problems", [
    (FORM, set()),
    (replace(FORM, slug="Bad slug"), {"slug"}),
    (replace(FORM, title=" "), {"title"}),
    (replace(FORM, intro="x" * 2001), {"intro"}),
    (replace(FORM, thanks="x" * 2001), {"thanks"}),
    (replace(FORM, rate_limit_per_minute=0), {"rate_limit_per_minute"}),
    (replace(FORM, rate_limit_per_minute=10_001), {"rate_limit_per_minute"}),
    (replace(FORM, fields=remove_field(FORM.fields, "email")), {"fields"}),
    (replace(FORM, fields=fields(DEPARTMENT, DEPARTMENT)), {"fields"}),
    (replace(FORM, fields=fields(*[FieldSpec(f"f{i}", "F") for i in range(27)])), {"fields"}),
    (replace(FORM, fields=fields(FieldSpec("1st", "x"))), {"fields.1st.name"}),
    (replace(FORM, fields=fields(FieldSpec("Dept", "x"))), {"fields.Dept.name"}),
    (replace(FORM, fields=fields(FieldSpec("x", " "))), {"fields.x.label"}),
    (replace(FORM, fields=fields(FieldSpec("x", "X", "radio"))), {"fields.x.type"}),
    (replace(FORM, fields=fields(FieldSpec("x", "X", "email"))), {"fields.x.type"}),
    (replace(FORM, fields=fields(FieldSpec("x", "X", max_length=0))), {"fields.x.max_length"}),
    (replace(FORM, fields=fields(FieldSpec("x", "X", "select"))), {"fields.x.options"}),
    (replace(FORM, fields=fields(FieldSpec("x", "X", "select", options=("a", "a")))),
     {"fields.x.options"}),
    (replace(FORM, fields=fields(FieldSpec("x", "X", "select", options=(" ",)))),
     {"fields.x.options"}),
    (replace(FORM, fields=fields(FieldSpec("x", "X", "select",
                                           options=tuple(str(i) for i in range(51))))),
     {"fields.x.options"}),
    (replace(FORM, fields=fields(FieldSpec("x", "X", "text", options=("a",)))),
     {"fields.x.options"}),
    (replace(FORM, fields=(FieldSpec("email", "Email", "text", True),)), {"fields.email.type"}),
    (replace(FORM, fields=(FieldSpec("email", "Email", "email", False),)),
     {"fields.email.required"}),
    (replace(FORM, fields=(FieldSpec("email", "Email", "email", True),
                           FieldSpec("message", "Say", "text"))), {"fields.message.type"}),
])
def test_form_rules(form, problems):
    assert set(check_form(form)) == problems


@pytest.mark.parametrize("name, step, order", [
    ("email", -1, ["email", "name", "subject", "message"]),
    ("name", -1, ["name", "email", "subject", "message"]),
    ("message", 1, ["name", "email", "subject", "message"]),
    ("subject", 1, ["name", "email", "message", "subject"]),
    ("nope", 1, ["name", "email", "subject", "message"]),
])
def test_moving_a_field(name, step, order):
    assert [f.name for f in move_field(DEFAULT_FIELDS, name, step)] == order


def test_options_are_typed_one_a_line():
    assert parse_options(" Billing \n\n Repairs\r\nOther ") == ("Billing", "Repairs", "Other")
