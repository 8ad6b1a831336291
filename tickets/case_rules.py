"""The rules of a case's own fields. Pure: plain values in and out.

- A case's customer is a contact, a company, or nobody; never both (`customer_of`).
- The origin is the channel a case came in by and is set on creation; an agent may change
  it only between the origins of cases opened by hand (`origin_refusal`).
- A subject is shown as its path from the root of the tree (`subject_path`), and a subject
  cannot be put under itself or one of its descendants (`descendants`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tickets.state import CASE_TYPES, ORIGINS

BY_HAND_ORIGINS: tuple[str, ...] = ("phone", "walk_in")
"""Origins of cases an agent opens by hand; only these may be changed, and only to one
another."""
PATH_SEPARATOR = " › "


@dataclass(frozen=True)
class Customer:
    """Whom a case is for: `kind` is "contact" or "company", `id` its id."""

    kind: str
    id: int


def customer_of(contact_id: int | None, company_id: int | None) -> Customer | None:
    """The customer the two columns name (None: no customer); ValueError when both do."""
    if contact_id is not None and company_id is not None:
        raise ValueError("a case's customer is a contact or a company, not both")
    if contact_id is not None:
        return Customer("contact", contact_id)
    if company_id is not None:
        return Customer("company", company_id)
    return None


def parse_customer(text: str) -> Customer | None:
    """A customer as forms and the API name it: "contact:12", "company:3"; "" is none.
    ValueError for anything else."""
    if not text.strip():
        return None
    kind, _, number = text.strip().partition(":")
    if kind not in ("contact", "company") or not (number.isascii() and number.isdigit()):
        raise ValueError("a customer is written contact:<id> or company:<id>")
    return Customer(kind, int(number))


def customer_columns(customer: Customer | None) -> dict[str, int | None]:
    """The ticket columns that hold `customer`."""
    return {"customer_contact_id": customer.id if customer and customer.kind == "contact"
            else None,
            "customer_company_id": customer.id if customer and customer.kind == "company"
            else None}


def origin_refusal(current: str | None, new: str) -> str | None:
    """Why the origin cannot go from `current` to `new` (None: it may)."""
    if new not in ORIGINS:
        return f"origin must be one of {', '.join(ORIGINS)}"
    if new == current:
        return None
    if current not in BY_HAND_ORIGINS or new not in BY_HAND_ORIGINS:
        return "only the origin of a case opened by hand (phone, walk-in) can be changed"
    return None


def case_type_refusal(new: str | None) -> str | None:
    """Why `new` is not a case type (None: it is one, or it clears the type)."""
    if new is None or new in CASE_TYPES:
        return None
    return f"case type must be one of {', '.join(CASE_TYPES)}"


def subject_path(subject_id: int, nodes: Mapping[int, tuple[str, int | None]]) -> str:
    """The names from the root down to `subject_id`, joined by PATH_SEPARATOR; `nodes`
    maps each id to (name, parent id). A broken or looping chain stops where it breaks."""
    names: list[str] = []
    seen: set[int] = set()
    current: int | None = subject_id
    while current is not None and current in nodes and current not in seen:
        seen.add(current)
        name, current = nodes[current]
        names.append(name)
    return PATH_SEPARATOR.join(reversed(names))


def descendants(subject_id: int, nodes: Mapping[int, tuple[str, int | None]]) -> set[int]:
    """`subject_id` and every subject below it."""
    children: dict[int | None, list[int]] = {}
    for node_id, (_, parent_id) in nodes.items():
        children.setdefault(parent_id, []).append(node_id)
    found, todo = {subject_id}, [subject_id]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def tree_order(nodes: Mapping[int, tuple[str, int | None]],
               positions: Mapping[int, int] | None = None) -> list[tuple[int, int]]:
    """(id, depth) of every subject, each parent before its children, siblings by
    position then name."""
    positions = positions or {}
    children: dict[int | None, list[int]] = {}
    for node_id, (_, parent_id) in nodes.items():
        children.setdefault(parent_id if parent_id in nodes else None, []).append(node_id)
    for siblings in children.values():
        siblings.sort(key=lambda n: (positions.get(n, 0), nodes[n][0].casefold(), n))
    ordered: list[tuple[int, int]] = []
    stack = [(node, 0) for node in reversed(children.get(None, []))]
    while stack:
        node, depth = stack.pop()
        ordered.append((node, depth))
        stack.extend((child, depth + 1) for child in reversed(children.get(node, [])))
    return ordered
