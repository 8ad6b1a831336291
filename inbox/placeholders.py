"""The placeholders of canned replies, filled in by a pure function.

A snippet's body may name these, written `{{name}}` (spaces inside the braces allowed):

    {{contact.name}}        the contact's name
    {{contact.first_name}}  the first word of the contact's name
    {{contact.email}}       the contact's address
    {{agent.name}}          the name of the agent inserting it
    {{agent.first_name}}    the first word of the agent's name
    {{ticket.number}}       the number of the conversation's ticket (`1234`)

Filling in is plain text substitution, never a template language: a body is data, and what
it holds beyond the placeholders (braces, `{% %}`, HTML) stays as written. A placeholder
this list does not hold, or one without a value (a contact without a name), stays visible
as written, so the agent sees what to fill in before sending.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

PLACEHOLDERS = ("contact.name", "contact.first_name", "contact.email", "agent.name",
                "agent.first_name", "ticket.number")

_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+(?:\.[a-z_]+)*)\s*\}\}")


def fill_in(body: str, values: Mapping[str, str | None]) -> str:
    """`body` with each placeholder that has a non-empty value in `values` replaced by it;
    every other `{{...}}` left as written."""
    def replace(match: re.Match[str]) -> str:
        value = values.get(match.group(1)) if match.group(1) in PLACEHOLDERS else None
        return value if value else match.group(0)

    return _PLACEHOLDER.sub(replace, body)


def first_name(name: str | None) -> str | None:
    """The first word of `name` (None for no name)."""
    words = (name or "").split()
    return words[0] if words else None


def values_for(*, contact_name: str | None, contact_email: str | None, agent_name: str | None,
               ticket_number: int | None) -> dict[str, str | None]:
    """The value of each placeholder for one conversation and agent."""
    return {"contact.name": contact_name, "contact.first_name": first_name(contact_name),
            "contact.email": contact_email, "agent.name": agent_name,
            "agent.first_name": first_name(agent_name),
            "ticket.number": None if ticket_number is None else str(ticket_number)}
