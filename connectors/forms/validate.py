"""Validate a web form submission and turn it into an InboundMessage. Pure: no I/O.

Fields come from the form's configuration. Known field names map onto the message
(`name`, `email`, `phone`, `company`, `subject`, `message`); any other field is appended to
the message text as "Label: value" lines so nothing the customer typed is lost.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

from core.settings import FormField, FormSettings
from inbox.messages import InboundMessage

HONEYPOT_FIELD = "website"
MAPPED = {"name", "email", "phone", "company", "subject", "message"}


@dataclass(frozen=True)
class FormErrors:
    """Field name -> message for every field that needs fixing."""

    errors: dict[str, str]


def _clean(raw: object) -> str:
    value = raw if isinstance(raw, str) else ("" if raw is None else str(raw))
    return value.replace("\r\n", "\n").strip()


def _field_error(spec: FormField, value: str) -> str | None:
    label = spec.label or spec.name
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


def validate_submission(
    form: FormSettings, data: Mapping[str, object]
) -> dict[str, str] | FormErrors:
    """The cleaned values of `form`'s fields, or every field error at once."""
    values = {spec.name: _clean(data.get(spec.name)) for spec in form.fields}
    errors = {spec.name: msg for spec in form.fields
              if (msg := _field_error(spec, values[spec.name])) is not None}
    return FormErrors(errors) if errors else values


def is_bot(data: Mapping[str, object]) -> bool:
    """True when the hidden honeypot field was filled in (people never see it)."""
    return bool(_clean(data.get(HONEYPOT_FIELD)))


def to_inbound(form: FormSettings, values: Mapping[str, str], external_id: str) -> InboundMessage:
    """The InboundMessage for a valid submission of `form`."""
    extra = [f"{(spec.label or spec.name)}: {values[spec.name]}" for spec in form.fields
             if spec.name not in MAPPED and values.get(spec.name)]
    text = values.get("message", "")
    if extra:
        text = "\n".join([text, "", *extra]) if text else "\n".join(extra)
    subject = values.get("subject") or f"{form.title} from {values.get('name') or values['email']}"
    return InboundMessage(
        inbox=form.inbox, channel="form", sender_email=values["email"].lower(),
        sender_name=values.get("name") or None, sender_phone=values.get("phone") or None,
        sender_company=values.get("company") or None, subject=subject, text=text,
        external_id=external_id,
    )


def request_fingerprint(form: FormSettings, values: Mapping[str, str]) -> str:
    """SHA-256 of what a submission stores: its form and validated values. Two requests
    with the same fingerprint are the same request (a replay of its idempotency key)."""
    canonical = json.dumps({"form": form.slug, "values": dict(values)}, sort_keys=True,
                           ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()
