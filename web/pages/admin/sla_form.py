"""The SLA editor's form as plain values: from settings, from a POST, to a settings document.

Pure: no I/O. The page (`web.pages.admin.sla`) reads the POST into `SlaForm`, applies the
button pressed (`apply`), turns the form into a settings document (`to_document`, with an
error per field group) and hands that to `sla.service.save_policy`.

Field names: `mode`, `timezone`, `<day>-<n>-from` / `<day>-<n>-to` (n from 0), `holiday_country`,
`holiday_subdivision`, `holidays` (one date a line), `paused_statuses` (repeated), `property`,
`goal-<kind>-minutes` / `goal-<kind>-due_soon`, `value-<n>-key`, `value-<n>-none`,
`value-<n>-<kind>-minutes` / `value-<n>-<kind>-due_soon`, `team_calendars` (the team calendars
the form does not edit, as JSON). Error keys: the same names without the part after the
group (`hours-mon`, `goal-first_response`, `value-0`), and `form` for the rest.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from sla.calendar import WEEKDAYS, WorkingCalendar
from sla.holidays import country_holidays
from sla.policy import KINDS, Goal, SlaPolicy

DAY_NAMES = dict(zip(WEEKDAYS, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
                                "Saturday", "Sunday"), strict=True))
OFFICE_HOURS = {day: [("09:00", "17:00")] for day in WEEKDAYS[:5]}
MAX_PERIODS = 6
MAX_VALUES = 50
_PERIOD = re.compile(r"(mon|tue|wed|thu|fri|sat|sun)-([0-9]{1,2})-(from|to)")
_VALUE = re.compile(r"value-([0-9]{1,2})-key")

Fields = Mapping[str, Sequence[str]]
"""A POSTed form: every name with its values, in order."""


@dataclass(frozen=True)
class GoalFields:
    minutes: str = ""
    due_soon: str = ""


@dataclass(frozen=True)
class ValueRow:
    key: str = ""
    none: bool = False
    goals: dict[str, GoalFields] = field(default_factory=dict)


@dataclass(frozen=True)
class SlaForm:
    """Everything the editor shows, as typed (text stays text until `to_document`)."""

    mode: str = "always"
    timezone: str = "UTC"
    hours: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    holiday_country: str = ""
    holiday_subdivision: str = ""
    holidays: str = ""
    paused_statuses: tuple[str, ...] = ()
    property: str = ""
    goals: dict[str, GoalFields] = field(default_factory=dict)
    values: list[ValueRow] = field(default_factory=list)
    team_calendars: str = "[]"

    def kept_team_calendars(self) -> int:
        """How many team calendars the form carries along unedited."""
        try:
            calendars = json.loads(self.team_calendars)
        except ValueError:
            return 0
        return len(calendars) if isinstance(calendars, list) else 0


def _goal_fields(goals: Any) -> dict[str, GoalFields]:
    result = {}
    for kind in KINDS:
        goal: Goal | None = goals.get(kind) if goals is not None else None
        result[kind] = (GoalFields(str(goal.minutes), str(goal.due_soon_minutes or ""))
                        if goal else GoalFields())
    return result


def from_policy(policy: SlaPolicy) -> SlaForm:
    """The form showing `policy` (office hours Monday to Friday when it has no calendar)."""
    default = next((c for c in policy.calendars if c.team_id is None), None)
    others = [c.model_dump(mode="json") for c in policy.calendars if c.team_id is not None]
    hours = ({day: [tuple(p) for p in default.hours.get(day, [])] for day in WEEKDAYS}
             if default else {day: list(OFFICE_HOURS.get(day, [])) for day in WEEKDAYS})
    return SlaForm(
        mode=policy.mode, timezone=default.timezone if default else "UTC",
        hours={day: [(a, "00:00" if b == "24:00" else b) for a, b in periods]
               for day, periods in hours.items()},
        holiday_country=(default.holiday_country or "") if default else "",
        holiday_subdivision=(default.holiday_subdivision or "") if default else "",
        holidays="\n".join(d.isoformat() for d in default.holidays) if default else "",
        paused_statuses=tuple(policy.paused_statuses), property=policy.property or "",
        goals=_goal_fields(policy.goals),
        values=[ValueRow(key, goals is None, _goal_fields(goals))
                for key, goals in policy.values.items()],
        team_calendars=json.dumps(others))


def _one(fields: Fields, name: str) -> str:
    values = fields.get(name) or [""]
    return str(values[-1]).strip()


def _read_goals(fields: Fields, prefix: str) -> dict[str, GoalFields]:
    return {kind: GoalFields(_one(fields, f"{prefix}{kind}-minutes"),
                             _one(fields, f"{prefix}{kind}-due_soon")) for kind in KINDS}


def from_fields(fields: Fields) -> SlaForm:
    """The form as POSTed (missing fields read as empty)."""
    periods: dict[str, dict[int, dict[str, str]]] = {day: {} for day in WEEKDAYS}
    rows: list[int] = []
    for name in fields:
        if match := _PERIOD.fullmatch(name):
            day, index, end = match.groups()
            if int(index) < MAX_PERIODS:
                periods[day].setdefault(int(index), {})[end] = _one(fields, name)
        elif (row := _VALUE.fullmatch(name)) and int(row.group(1)) < MAX_VALUES:
            rows.append(int(row.group(1)))
    hours = {day: [(p.get("from", ""), p.get("to", "")) for _, p in sorted(found.items())]
             for day, found in periods.items()}
    values = [ValueRow(_one(fields, f"value-{n}-key"), bool(_one(fields, f"value-{n}-none")),
                       _read_goals(fields, f"value-{n}-")) for n in sorted(set(rows))]
    return SlaForm(
        mode=_one(fields, "mode") or "always", timezone=_one(fields, "timezone") or "UTC",
        hours=hours, holiday_country=_one(fields, "holiday_country"),
        holiday_subdivision=_one(fields, "holiday_subdivision"),
        holidays=_one(fields, "holidays"),
        paused_statuses=tuple(str(s) for s in fields.get("paused_statuses", []) if s),
        property=_one(fields, "property"), goals=_read_goals(fields, "goal-"),
        values=values, team_calendars=_one(fields, "team_calendars") or "[]")


def apply(form: SlaForm, action: str) -> SlaForm:
    """The form after pressing `add:<day>`, `remove:<day>:<n>`, `add-value` or
    `remove-value:<n>` (anything else leaves it as it is)."""
    kind, _, rest = action.partition(":")
    if kind == "add" and rest in WEEKDAYS and len(form.hours.get(rest, [])) < MAX_PERIODS:
        return replace(form, hours={**form.hours, rest: [*form.hours.get(rest, []), ("", "")]})
    if kind == "remove" and ":" in rest:
        day, _, index = rest.partition(":")
        periods = list(form.hours.get(day, []))
        if index.isdigit() and int(index) < len(periods):
            del periods[int(index)]
            return replace(form, hours={**form.hours, day: periods})
    if action == "add-value" and len(form.values) < MAX_VALUES:
        return replace(form, values=[*form.values, ValueRow(goals=_goal_fields(None))])
    if kind == "remove-value" and rest.isdigit() and int(rest) < len(form.values):
        return replace(form, values=[v for n, v in enumerate(form.values) if n != int(rest)])
    return form


# ------------------------------------------------------------------ form -> document


def _hours(form: SlaForm, errors: dict[str, str]) -> dict[str, list[list[str]]]:
    hours: dict[str, list[list[str]]] = {}
    for day in WEEKDAYS:
        periods = [[start, "24:00" if end == "00:00" else end]
                   for start, end in form.hours.get(day, []) if start or end]
        if any(not start or not end for start, end in periods):
            errors[f"hours-{day}"] = "give both times of each period (or clear both)"
            continue
        try:
            WorkingCalendar("UTC", {day: [(a, b) for a, b in periods]})
        except ValueError as exc:
            errors[f"hours-{day}"] = str(exc)
            continue
        if periods:  # a day left out has no working time
            hours[day] = periods
    return hours


def _holidays(form: SlaForm, errors: dict[str, str]) -> list[str]:
    days = []
    for line in form.holidays.replace(",", "\n").splitlines():
        if not line.strip():
            continue
        try:
            days.append(date.fromisoformat(line.strip()).isoformat())
        except ValueError:
            errors["holidays"] = f"{line.strip()!r} is not a date like 2026-12-24"
    if form.holiday_country:
        try:
            country_holidays(form.holiday_country, form.holiday_subdivision or None, [2026])
        except ValueError as exc:
            errors["holiday_country"] = str(exc)
    elif form.holiday_subdivision:
        errors["holiday_country"] = "choose the country of that subdivision"
    return sorted(set(days))


def _goal(fields: GoalFields, key: str, errors: dict[str, str]) -> dict[str, int] | None:
    if not fields.minutes and not fields.due_soon:
        return None
    try:
        minutes = int(fields.minutes)
        due_soon = int(fields.due_soon) if fields.due_soon else 0
        return Goal(minutes=minutes, due_soon_minutes=due_soon).model_dump()
    except ValueError as exc:
        message = str(exc)
        if "due_soon_minutes must be less" in message:
            errors[key] = "the due-soon warning must be shorter than the goal"
        elif "invalid literal" in message or not fields.minutes:
            errors[key] = "minutes must be a whole number"
        else:
            errors[key] = "minutes must be between 1 and 527040 (a year)"
        return None


def _goals(goals: dict[str, GoalFields], key: str, errors: dict[str, str]
           ) -> dict[str, dict[str, int] | None]:
    return {kind: _goal(goals.get(kind, GoalFields()), f"{key}-{kind}" if key == "goal"
                        else key, errors) for kind in KINDS}


def _values(form: SlaForm, errors: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for n, row in enumerate(form.values):
        if not row.key:
            if row.none or any(g.minutes or g.due_soon for g in row.goals.values()):
                errors[f"value-{n}"] = "choose the value these goals are for"
            continue
        if row.key in values:
            errors[f"value-{n}"] = f"{row.key!r} is listed twice"
        values[row.key] = None if row.none else _goals(row.goals, f"value-{n}", errors)
    if values and not form.property:
        errors["property"] = "choose the property the listed values are of"
    return values


def _team_calendars(form: SlaForm, errors: dict[str, str]) -> list[Any]:
    try:
        calendars = json.loads(form.team_calendars)
    except ValueError:
        calendars = None
    if not isinstance(calendars, list):
        errors["form"] = "the team calendars could not be read; reload the page"
        return []
    return calendars


def to_document(form: SlaForm) -> tuple[dict[str, Any], dict[str, str]]:
    """The settings document the form describes, and an error per field group (empty when
    the form is fine as far as its fields go; `sla.service.validate_policy` has the last
    word)."""
    errors: dict[str, str] = {}
    calendar = {"team_id": None, "timezone": form.timezone, "hours": _hours(form, errors),
                "holidays": _holidays(form, errors),
                "holiday_country": form.holiday_country or None,
                "holiday_subdivision": form.holiday_subdivision or None}
    document = {
        "mode": form.mode, "calendars": [calendar, *_team_calendars(form, errors)],
        "paused_statuses": list(form.paused_statuses), "property": form.property or None,
        "goals": _goals(form.goals, "goal", errors), "values": _values(form, errors)}
    return document, errors


def error_key(field: str | None) -> str:
    """Where the form shows an error the settings' validation named by `field` (a dotted
    path such as `goals.first_response.minutes`)."""
    parts = (field or "").split(".")
    if parts[0] == "goals" and len(parts) > 1 and parts[1] in KINDS:
        return f"goal-{parts[1]}"
    if parts[0] == "calendars" and len(parts) > 2 and parts[2] == "timezone":
        return "timezone"
    if parts[0] in ("mode", "property", "paused_statuses", "timezone"):
        return parts[0]
    return "form"
