"""What a web form is, as plain values, and the rules a form must keep. Pure: no I/O.

A form has the built-in fields (`name`, `email`, `subject`, `message`, and for forms seeded
from `config.toml` also `phone` and `company`), each with its fixed type, and custom fields
of type text, textarea, select (one of its options) or checkbox. Every form has an `email`
field, so the team can answer. `check_form` lists every rule a form breaks, as
field -> message, so the admin pages and the API refuse the same things the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from core.settings import SLUG, FormSettings

FIELD_TYPES = ("text", "email", "textarea", "tel", "select", "checkbox")
CUSTOM_TYPES = ("text", "textarea", "select", "checkbox")
"""The types an admin gives a field of their own."""
BUILT_IN_TYPES = {"name": "text", "email": "email", "subject": "text", "message": "textarea",
                  "phone": "tel", "company": "text"}
"""The fields the conversation maps onto its contact and subject, with their one type."""
FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
FORM_SLUG = re.compile(SLUG)
MAX_FIELDS = 30
MAX_OPTIONS = 50
MAX_OPTION_LENGTH = 200
MAX_LABEL = 200
MAX_TITLE = 200
MAX_TEXT = 2000
"""The longest intro and thank-you text."""
MAX_FIELD_LENGTH = 100_000
MAX_RATE = 10_000
DEFAULT_THANKS = "Thank you. We have received your message and will answer soon."
CHECKED = frozenset({"yes", "on", "true", "1"})
UNCHECKED = frozenset({"", "no", "off", "false", "0"})


@dataclass(frozen=True)
class FieldSpec:
    """One field of a form: its `name` (the key in a submission), its `label` (what people
    read), `type`, whether it is `required` (a required checkbox must be ticked), the
    longest value it takes, and the `options` of a select."""

    name: str
    label: str
    type: str = "text"
    required: bool = False
    max_length: int = 200
    options: tuple[str, ...] = ()

    @property
    def built_in(self) -> bool:
        """True for a field the conversation maps (name, email, subject, ...)."""
        return self.name in BUILT_IN_TYPES

    def as_json(self) -> dict[str, Any]:
        """The field as the database and the API hold it."""
        return {"name": self.name, "label": self.label, "type": self.type,
                "required": self.required, "max_length": self.max_length,
                "options": list(self.options)}


DEFAULT_FIELDS = (
    FieldSpec("name", "Your name", "text", True, 200),
    FieldSpec("email", "Email", "email", True, 254),
    FieldSpec("subject", "Subject", "text", True, 300),
    FieldSpec("message", "Message", "textarea", True, 20_000),
)


@dataclass(frozen=True)
class FormSpec:
    """A form as the public page shows it and a submission is checked against."""

    slug: str
    inbox: str
    title: str
    intro: str = ""
    thanks: str = DEFAULT_THANKS
    rate_limit_per_minute: int = 10
    fields: tuple[FieldSpec, ...] = field(default=DEFAULT_FIELDS)

    def field(self, name: str) -> FieldSpec | None:
        """The field called `name`, or None."""
        return next((f for f in self.fields if f.name == name), None)


def field_from_json(data: Mapping[str, Any]) -> FieldSpec:
    """A field from its stored form (`FieldSpec.as_json`)."""
    return FieldSpec(name=str(data["name"]), label=str(data.get("label") or data["name"]),
                     type=str(data.get("type") or "text"),
                     required=bool(data.get("required")),
                     max_length=int(data.get("max_length") or 200),
                     options=tuple(str(o) for o in data.get("options") or ()))


def from_settings(form: FormSettings) -> FormSpec:
    """The spec of a form declared in `config.toml`."""
    return FormSpec(slug=form.slug, inbox=form.inbox, title=form.title, intro=form.intro,
                    thanks=form.thanks, rate_limit_per_minute=form.rate_limit_per_minute,
                    fields=tuple(FieldSpec(f.name, f.label or f.name, f.type, f.required,
                                           f.max_length) for f in form.fields))


# ----------------------------------------------------------------------------- the rules


def field_problems(spec: FieldSpec) -> dict[str, str]:
    """What is wrong with one field on its own, keyed by the attribute at fault."""
    problems: dict[str, str] = {}
    if not FIELD_NAME.match(spec.name):
        problems["name"] = ("name must start with a letter and hold only lower-case letters, "
                            "digits and _ (at most 40)")
    if not spec.label.strip() or len(spec.label) > MAX_LABEL:
        problems["label"] = f"label must be 1 to {MAX_LABEL} characters"
    fixed = BUILT_IN_TYPES.get(spec.name)
    if fixed is not None and spec.type != fixed:
        problems["type"] = f"the field {spec.name!r} is built in and always of type {fixed}"
    elif fixed is None and spec.type not in CUSTOM_TYPES:
        problems["type"] = f"type must be one of {', '.join(CUSTOM_TYPES)}"
    if spec.name == "email" and not spec.required:
        problems["required"] = "the email field is always required, so the team can answer"
    if not 1 <= spec.max_length <= MAX_FIELD_LENGTH:
        problems["max_length"] = f"max length must be 1 to {MAX_FIELD_LENGTH}"
    problem = _options_problem(spec)
    if problem:
        problems["options"] = problem
    return problems


def _options_problem(spec: FieldSpec) -> str | None:
    if spec.type != "select":
        return "only a select field has options" if spec.options else None
    if not spec.options:
        return "a select field needs at least one option"
    if len(spec.options) > MAX_OPTIONS:
        return f"a select field takes at most {MAX_OPTIONS} options"
    if any(not o.strip() or len(o) > MAX_OPTION_LENGTH or "\n" in o for o in spec.options):
        return f"each option must be one line of 1 to {MAX_OPTION_LENGTH} characters"
    if len(set(spec.options)) != len(spec.options):
        return "options must differ from each other"
    return None


def check_form(form: FormSpec) -> dict[str, str]:
    """Every rule `form` breaks, as field -> message (empty: the form is fine). Keys are
    `slug`, `title`, `intro`, `thanks`, `rate_limit_per_minute`, `fields`, or
    `fields.<name>.<attribute>` for one field."""
    problems: dict[str, str] = {}
    if not FORM_SLUG.match(form.slug):
        problems["slug"] = ("slug must be lower-case letters, digits, - and _ "
                            "(at most 63), starting with a letter or digit")
    if not form.title.strip() or len(form.title) > MAX_TITLE:
        problems["title"] = f"title must be 1 to {MAX_TITLE} characters"
    for name in ("intro", "thanks"):
        if len(getattr(form, name)) > MAX_TEXT:
            problems[name] = f"{name} must be at most {MAX_TEXT} characters"
    if not 1 <= form.rate_limit_per_minute <= MAX_RATE:
        problems["rate_limit_per_minute"] = f"rate limit must be 1 to {MAX_RATE} a minute"
    problem = _fields_problem(form.fields)
    if problem:
        problems["fields"] = problem
    for spec in form.fields:
        for attribute, message in field_problems(spec).items():
            problems[f"fields.{spec.name}.{attribute}"] = message
    return problems


def _fields_problem(fields: Sequence[FieldSpec]) -> str | None:
    names = [f.name for f in fields]
    if len(names) != len(set(names)):
        return "field names must differ from each other"
    if "email" not in names:
        return "a form needs its email field, so the team can answer"
    if len(names) > MAX_FIELDS:
        return f"a form has at most {MAX_FIELDS} fields"
    return None


# ----------------------------------------------------------------------------- edits


def add_field(fields: Sequence[FieldSpec], spec: FieldSpec) -> tuple[FieldSpec, ...]:
    """`fields` with `spec` at the end (check the result with `check_form`)."""
    return (*fields, spec)


def replace_field(fields: Sequence[FieldSpec], name: str, spec: FieldSpec
                  ) -> tuple[FieldSpec, ...]:
    """`fields` with the field `name` replaced by `spec` in its place."""
    return tuple(spec if f.name == name else f for f in fields)


def remove_field(fields: Sequence[FieldSpec], name: str) -> tuple[FieldSpec, ...]:
    """`fields` without the field `name` (removing `email` breaks a rule of `check_form`)."""
    return tuple(f for f in fields if f.name != name)


def move_field(fields: Sequence[FieldSpec], name: str, step: int) -> tuple[FieldSpec, ...]:
    """`fields` with the field `name` moved `step` places (-1: up, 1: down), kept within
    the list; unchanged when there is no such field."""
    order = list(fields)
    index = next((i for i, f in enumerate(order) if f.name == name), None)
    if index is None:
        return tuple(order)
    target = min(max(index + step, 0), len(order) - 1)
    order.insert(target, order.pop(index))
    return tuple(order)


def parse_options(text: str) -> tuple[str, ...]:
    """The options of a select typed one a line (blank lines and outer spaces dropped)."""
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def with_fields(form: FormSpec, fields: Iterable[FieldSpec]) -> FormSpec:
    """`form` with `fields` instead of its own."""
    return replace(form, fields=tuple(fields))
