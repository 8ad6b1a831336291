"""Canned replies' placeholders: a table of bodies and what they become."""

from __future__ import annotations

import pytest

from inbox.placeholders import PLACEHOLDERS, fill_in, first_name, values_for

ANNA = values_for(contact_name="Anna Maria Berg", contact_email="anna@example.org",
                  agent_name="Ann Agent", ticket_number=1234)
NAMELESS = values_for(contact_name=None, contact_email="x@example.org", agent_name="Bo",
                      ticket_number=None)


@pytest.mark.parametrize(("body", "values", "expected"), [
    ("Hi {{contact.first_name}},", ANNA, "Hi Anna,"),
    ("Dear {{contact.name}}", ANNA, "Dear Anna Maria Berg"),
    ("Hi {{ contact.first_name }}!", ANNA, "Hi Anna!"),
    ("We wrote to {{contact.email}}", ANNA, "We wrote to anna@example.org"),
    ("— {{agent.first_name}} ({{agent.name}})", ANNA, "— Ann (Ann Agent)"),
    ("Ticket #{{ticket.number}}", ANNA, "Ticket #1234"),
    ("Twice: {{contact.first_name}} {{contact.first_name}}", ANNA, "Twice: Anna Anna"),
    # unknown placeholders stay visible, exactly as written
    ("Hi {{contact.nickname}}", ANNA, "Hi {{contact.nickname}}"),
    ("{{ticket}} {{agent}} {{ x }}", ANNA, "{{ticket}} {{agent}} {{ x }}"),
    # known ones without a value too, for the agent to fill in
    ("Hi {{contact.first_name}}", NAMELESS, "Hi {{contact.first_name}}"),
    ("#{{ticket.number}}", NAMELESS, "#{{ticket.number}}"),
    # no template language: anything else is text
    ("{% if 1 %}x{% endif %} {{contact.name|upper}}", ANNA,
     "{% if 1 %}x{% endif %} {{contact.name|upper}}"),
    ("{{ 7*7 }} {{config}} {{'a'}}", ANNA, "{{ 7*7 }} {{config}} {{'a'}}"),
    ("{contact.name} {{{contact.name}}}", ANNA, "{contact.name} {Anna Maria Berg}"),
    ("<b>{{contact.first_name}}</b>", ANNA, "<b>Anna</b>"),
    ("", ANNA, ""),
    ("no placeholders at all", ANNA, "no placeholders at all"),
])
def test_fill_in(body, values, expected):
    assert fill_in(body, values) == expected


def test_a_value_is_inserted_as_it_is_never_read_as_a_placeholder():
    values = values_for(contact_name="{{agent.name}}", contact_email=None,
                        agent_name="Ann", ticket_number=None)
    assert fill_in("Hi {{contact.name}}", values) == "Hi {{agent.name}}"


@pytest.mark.parametrize(("name", "expected"), [
    ("Anna Berg", "Anna"), ("  Bo  ", "Bo"), ("", None), (None, None), ("Cher", "Cher")])
def test_first_name(name, expected):
    assert first_name(name) == expected


def test_every_placeholder_has_a_value():
    assert set(ANNA) == set(PLACEHOLDERS)
