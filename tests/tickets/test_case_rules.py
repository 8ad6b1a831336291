"""The rules of a case's own fields, by value."""

from __future__ import annotations

import pytest

from tickets.case_rules import (
    Customer,
    customer_columns,
    customer_of,
    descendants,
    origin_refusal,
    parse_customer,
    subject_path,
    tree_order,
)

TREE = {1: ("Billing", None), 2: ("Refunds", 1), 3: ("Card", 2), 4: ("Shipping", None),
        5: ("Invoices", 1)}


@pytest.mark.parametrize(("contact", "company", "expected"), [
    (None, None, None),
    (7, None, Customer("contact", 7)),
    (None, 3, Customer("company", 3)),
])
def test_the_customer_is_a_contact_or_a_company(contact, company, expected):
    assert customer_of(contact, company) == expected


def test_a_customer_is_never_both():
    with pytest.raises(ValueError):
        customer_of(1, 2)


@pytest.mark.parametrize(("text", "expected"), [
    ("contact:12", Customer("contact", 12)),
    (" company:3 ", Customer("company", 3)),
    ("", None),
    ("   ", None),
])
def test_parsing_a_customer(text, expected):
    assert parse_customer(text) == expected


@pytest.mark.parametrize("text", ["contact:", "user:1", "company:x", "contact:١", "12"])
def test_parsing_refuses_what_is_not_a_customer(text):
    with pytest.raises(ValueError):
        parse_customer(text)


@pytest.mark.parametrize(("customer", "expected"), [
    (None, {"customer_contact_id": None, "customer_company_id": None}),
    (Customer("contact", 4), {"customer_contact_id": 4, "customer_company_id": None}),
    (Customer("company", 9), {"customer_contact_id": None, "customer_company_id": 9}),
])
def test_customer_columns(customer, expected):
    assert customer_columns(customer) == expected


@pytest.mark.parametrize(("current", "new", "allowed"), [
    ("phone", "walk_in", True),
    ("walk_in", "phone", True),
    ("phone", "phone", True),
    ("email", "email", True),
    ("email", "phone", False),
    ("phone", "email", False),
    ("chat", "slack", False),
    (None, "phone", False),
    ("phone", "fax", False),
])
def test_only_cases_opened_by_hand_change_origin(current, new, allowed):
    assert (origin_refusal(current, new) is None) is allowed


@pytest.mark.parametrize(("subject_id", "path"), [
    (1, "Billing"),
    (2, "Billing › Refunds"),
    (3, "Billing › Refunds › Card"),
    (4, "Shipping"),
    (99, ""),
])
def test_a_subject_is_shown_as_its_path(subject_id, path):
    assert subject_path(subject_id, TREE) == path


def test_a_looping_chain_stops():
    assert subject_path(1, {1: ("A", 2), 2: ("B", 1)}) == "B › A"


@pytest.mark.parametrize(("subject_id", "below"), [
    (1, {1, 2, 3, 5}), (2, {2, 3}), (3, {3}), (4, {4}),
])
def test_descendants(subject_id, below):
    assert descendants(subject_id, TREE) == below


def test_tree_order_puts_parents_first_and_siblings_by_name():
    assert tree_order(TREE) == [(1, 0), (5, 1), (2, 1), (3, 2), (4, 0)]
