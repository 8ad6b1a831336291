"""SLA settings: the document admins edit, its validation, and which goals a ticket gets.

    {
      "mode": "working_hours" | "always",
      "calendars": [{"team_id": null, "timezone": "Europe/Stockholm",
                     "hours": {"mon": [["09:00", "17:00"]], ...},
                     "holidays": ["2026-12-24"], "holiday_country": "SE"}],
      "paused_statuses": ["waiting_on_contact"],
      "property": null | "priority" | "team" | "inbox" | "channel" | "pipeline",
      "goals": {"first_response": {"minutes": 60, "due_soon_minutes": 15},
                "next_response": null, "close": {"minutes": 2880}},
      "values": {"urgent": {...goals...}, "low": null}
    }

`goals` apply to every ticket, or, with `property`, to every value not listed in `values`;
a value listed as null has no SLA. Goal minutes are working minutes in `working_hours`
mode. The calendar with `team_id: null` is the default; a team's own calendar wins for its
tickets.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sla.calendar import WorkingCalendar
from sla.holidays import calendar_from_config

KINDS = ("first_response", "next_response", "close")
PROPERTIES = ("priority", "team", "inbox", "channel", "pipeline")
YEAR_MINUTES = 366 * 24 * 60


class _Strict(BaseModel):
    """Unknown keys are refused and JSON types taken as they are (a boolean is not a number
    of minutes); dates and hour pairs are read from their JSON text and arrays."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


HourPair = Annotated[tuple[str, str], Field(strict=False)]
Day = Annotated[date, Field(strict=False)]


class Goal(_Strict):
    """One goal: how long the clock may run, and when it starts to warn."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"minutes": 60, "due_soon_minutes": 15}]})

    minutes: Annotated[int, Field(
        ge=1, le=YEAR_MINUTES,
        description="The goal: minutes the clock may run (working minutes in "
                    "`working_hours` mode, elapsed minutes in `always` mode).")]
    due_soon_minutes: Annotated[int, Field(
        ge=0, le=YEAR_MINUTES,
        description="How many of those minutes before the deadline the ticket is "
                    "'due soon' (0: no warning). Less than `minutes`.")] = 0

    @model_validator(mode="after")
    def _warning_before_goal(self) -> Goal:
        if self.due_soon_minutes >= self.minutes:
            raise ValueError("due_soon_minutes must be less than minutes")
        return self

    @property
    def target(self) -> timedelta:
        return timedelta(minutes=self.minutes)

    @property
    def warning(self) -> timedelta:
        return timedelta(minutes=self.due_soon_minutes)


class Goals(_Strict):
    """The goals of a set of tickets; a goal left out (or null) is not tracked."""

    first_response: Goal | None = Field(
        default=None,
        description="From the ticket's opening to the first agent reply.")
    next_response: Goal | None = Field(
        default=None,
        description="From a customer message that follows an agent reply to the next "
                    "agent reply.")
    close: Goal | None = Field(
        default=None,
        description="From the ticket's opening to its close (a reopen resumes it).")

    def get(self, kind: str) -> Goal | None:
        goal: Goal | None = getattr(self, kind)
        return goal


class CalendarSpec(_Strict):
    """Working hours in one time zone, with holidays."""

    team_id: Annotated[int, Field(ge=1)] | None = Field(
        default=None,
        description="The team whose tickets run on this calendar; null for the default "
                    "calendar (one per policy, needed in `working_hours` mode).")
    timezone: Annotated[str, Field(min_length=1, max_length=64)] = Field(
        description="An IANA time zone name (`Europe/Stockholm`); working hours are wall-clock "
                    "times in it, daylight saving time included.",
        examples=["Europe/Stockholm"])
    hours: dict[str, list[HourPair]] = Field(
        description="Working periods per weekday (`mon` ... `sun`): `[from, to]` pairs of "
                    "`HH:MM` times, `to` may be `24:00`; several periods a day (a lunch break "
                    "between them), not overlapping. A weekday left out has no working time.",
        examples=[{"mon": [["09:00", "12:00"], ["13:00", "17:00"]], "sat": []}])
    holidays: Annotated[list[Day], Field(max_length=1000)] = Field(
        default=[],
        description="Extra days off (`YYYY-MM-DD`), on top of the country's.",
        examples=[["2026-12-24"]])
    holiday_country: Annotated[str, Field(min_length=2, max_length=3)] | None = Field(
        default=None,
        description="ISO 3166-1 country code whose public holidays are days off "
                    "(from the `holidays` package), or null.", examples=["SE"])
    holiday_subdivision: Annotated[str, Field(max_length=10)] | None = Field(
        default=None,
        description="A subdivision code of that country (`CA` for California in "
                    "`US`), or null.")

    @model_validator(mode="after")
    def _builds(self) -> CalendarSpec:
        self.build()
        return self

    def build(self) -> WorkingCalendar:
        """The WorkingCalendar this spec describes; ValueError names what is wrong."""
        return calendar_from_config(
            timezone=self.timezone, hours=self.hours, holidays=self.holidays,
            holiday_country=self.holiday_country, holiday_subdivision=self.holiday_subdivision,
            years=range(2000, 2100))


EXAMPLE: dict[str, Any] = {
    "mode": "working_hours",
    "calendars": [{"team_id": None, "timezone": "Europe/Stockholm",
                   "hours": {day: [["09:00", "12:00"], ["13:00", "17:00"]]
                             for day in ("mon", "tue", "wed", "thu", "fri")},
                   "holidays": ["2026-12-24"], "holiday_country": "SE",
                   "holiday_subdivision": None}],
    "paused_statuses": ["waiting_on_contact"],
    "property": "priority",
    "goals": {"first_response": {"minutes": 240, "due_soon_minutes": 60},
              "next_response": {"minutes": 480, "due_soon_minutes": 60},
              "close": {"minutes": 2400, "due_soon_minutes": 0}},
    "values": {"urgent": {"first_response": {"minutes": 30, "due_soon_minutes": 10},
                          "next_response": None, "close": None},
               "low": None},
}
"""A complete settings document (the OpenAPI example and the README's)."""


class SlaPolicy(_Strict):
    """The SLA settings document; a new version replaces the whole document."""

    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE]})

    mode: Literal["working_hours", "always"] = Field(
        default="always",
        description="`always`: clocks run 24/7; `working_hours`: clocks run only "
                    "in the working hours of the ticket's calendar.")
    calendars: Annotated[list[CalendarSpec], Field(max_length=200)] = Field(
        default=[],
        description="The default calendar (`team_id` null) and any team's own calendar.")
    paused_statuses: Annotated[list[str], Field(max_length=50)] = Field(
        default=["waiting_on_contact"],
        description="Ticket statuses that pause every running clock; leaving them resumes.")
    property: Literal["priority", "team", "inbox", "channel", "pipeline"] | None = Field(
        default=None,
        description="Null: `goals` apply to every ticket. Otherwise the ticket "
                    "property whose values may have their own goals in `values`.")
    goals: Goals = Field(
        default=Goals(),
        description="The goals of every ticket (with `property`: of every value not listed "
                    "in `values`).")
    values: dict[Annotated[str, Field(max_length=64)], Goals | None] = Field(
        default={},
        description="Goals per value of `property`: a priority (`urgent`), a team id "
                    "(`\"3\"`), an inbox slug (`support`), a channel (`email`) or a "
                    "pipeline id; null means no SLA for that value.")

    @model_validator(mode="after")
    def _consistent(self) -> SlaPolicy:
        teams = [c.team_id for c in self.calendars]
        if len(teams) != len(set(teams)):
            raise ValueError("calendars: one calendar per team (and one default)")
        if self.mode == "working_hours" and None not in teams:
            raise ValueError("calendars: working_hours mode needs a default calendar "
                             "(team_id null)")
        if self.values and self.property is None:
            raise ValueError("values: per-value goals need a property")
        return self

    def sets_no_goal(self) -> bool:
        """True when no ticket gets any goal under this policy (nothing to track)."""
        return all(goals is None or (goals.first_response is None
                                     and goals.next_response is None and goals.close is None)
                   for goals in (self.goals, *self.values.values()))

    def goals_for(self, ticket: dict[str, Any]) -> Goals | None:
        """The goals for a ticket with these properties (`priority`, `team`, `inbox`,
        `channel`, `pipeline`), or None when it has no SLA."""
        if self.property is None:
            return self.goals
        value = ticket.get(self.property)
        key = "" if value is None else str(value)
        return self.values[key] if key in self.values else self.goals


def calendar_spec_for(policy: SlaPolicy, team_id: int | None) -> CalendarSpec | None:
    """The calendar spec a ticket of `team_id` runs on; None means 24/7."""
    if policy.mode == "always":
        return None
    by_team = {c.team_id: c for c in policy.calendars}
    return by_team.get(team_id) or by_team.get(None)


def default_zone_name(policy: SlaPolicy) -> str:
    """The time zone of the default calendar (whatever the mode), or "UTC" without one:
    where reports count days and weeks and where the editor shows deadlines."""
    default = next((c for c in policy.calendars if c.team_id is None), None)
    return default.timezone if default is not None else "UTC"
