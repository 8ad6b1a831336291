"""Validate a web form submission and turn it into an InboundMessage. Pure: no I/O.

Fields come from the form (`connectors.forms.spec.FormSpec`). Known field names map onto the
message (`name`, `email`, `phone`, `company`, `subject`, `message`); every other field is
added to the message text under a "Form fields" heading as "Label: value" lines, so nothing
the customer typed is lost, and `custom_values` gives them as data for the message's meta.
A select takes one of its options; a checkbox is "yes" (ticked) or "no".
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

from connectors.forms.spec import CHECKED, UNCHECKED, FieldSpec, FormSpec
from inbox.messages import InboundMessage

HONEYPOT_FIELD = "website"
MAPPED = {"name", "email", "phone", "company", "subject", "message"}
FIELDS_HEADING = "Form fields"


@dataclass(frozen=True)
class FormErrors:
    """Field name -> message for every field that needs fixing."""

    errors: dict[str, str]


def _clean(raw: object) -> str:
    value = raw if isinstance(raw, str) else ("" if raw is None else str(raw))
    return value.replace("\r\n", "\n").strip()


def _choice_error(spec: FieldSpec, value: str) -> str | None:
    """The error of a select or checkbox value (already cleaned), or None."""
    label = spec.label or spec.name
    if spec.type == "checkbox":
        if value.lower() not in CHECKED | UNCHECKED:
            return f"{label} must be ticked or not"
        if spec.required and value.lower() not in CHECKED:
            return f"{label} must be ticked"
        return None
    if not value:
        return f"{label} is required" if spec.required else None
    if value not in spec.options:
        return f"{label} must be one of the choices offered"
    return None


def _field_error(spec: FieldSpec, value: str) -> str | None:
    label = spec.label or spec.name
    if spec.type in ("select", "checkbox"):
        return _choice_error(spec, value)
    if not value:
        return f"{label} is required" if spec.required else None
    if len(value) > spec.max_length:
        return f"{label} must be at most {spec.max_length} characters"
    if any(ord(c) < 32 and c not in "\n\t" for c in value):
        return f"{label} contains control characters"
    if spec.type != "textarea" and "\n" in value:
        return f"{label} must be a single line"
    if spec.type == "email":
        try:
            validate_email(value, check_deliverability=False)
        except EmailNotValidError:
            return f"{label} is not a valid email address"
    return None


def _normal(spec: FieldSpec, value: str) -> str:
    """A checkbox's value as "yes" or "no"; any other value as it is."""
    if spec.type == "checkbox":
        return "yes" if value.lower() in CHECKED else "no"
    return value


def validate_submission(
    form: FormSpec, data: Mapping[str, object]
) -> dict[str, str] | FormErrors:
    """The cleaned values of `form`'s fields (a checkbox: "yes" or "no"), or every field
    error at once."""
    values = {spec.name: _clean(data.get(spec.name)) for spec in form.fields}
    errors = {spec.name: msg for spec in form.fields
              if (msg := _field_error(spec, values[spec.name])) is not None}
    if errors:
        return FormErrors(errors)
    return {spec.name: _normal(spec, values[spec.name]) for spec in form.fields}


def is_bot(data: Mapping[str, object]) -> bool:
    """True when the hidden honeypot field was filled in (people never see it)."""
    return bool(_clean(data.get(HONEYPOT_FIELD)))


def custom_values(form: FormSpec, values: Mapping[str, str]) -> list[dict[str, str]]:
    """The fields of a valid submission that are not mapped onto the message, in the form's
    order, each as {"name", "label", "value"} (empty ones left out)."""
    return [{"name": spec.name, "label": spec.label or spec.name, "value": values[spec.name]}
            for spec in form.fields if spec.name not in MAPPED and values.get(spec.name)]


def to_inbound(form: FormSpec, values: Mapping[str, str], external_id: str) -> InboundMessage:
    """The InboundMessage for a valid submission of `form`."""
    extra = [f"{item['label']}: {item['value']}" for item in custom_values(form, values)]
    text = values.get("message", "")
    if extra:
        block = [FIELDS_HEADING, *extra]
        text = "\n".join([text, "", *block]) if text else "\n".join(block)
    subject = values.get("subject") or f"{form.title} from {values.get('name') or values['email']}"
    return InboundMessage(
        inbox=form.inbox, channel="form", sender_email=values["email"].lower(),
        sender_name=values.get("name") or None, sender_phone=values.get("phone") or None,
        sender_company=values.get("company") or None, subject=subject, text=text,
        external_id=external_id,
    )


def request_fingerprint(form: FormSpec, values: Mapping[str, str]) -> str:
    """SHA-256 of what a submission stores: its form and validated values. Two requests
    with the same fingerprint are the same request (a replay of its idempotency key)."""
    canonical = json.dumps({"form": form.slug, "values": dict(values)}, sort_keys=True,
                           ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()
