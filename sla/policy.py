"""SLA settings: the document admins edit, its validation, and which goals a ticket gets.

    {
      "mode": "working_hours" | "always",
      "calendars": [{"team_id": null, "timezone": "Europe/Stockholm",
                     "hours": {"mon": [["09:00", "17:00"]], ...},
                     "holidays": ["2026-12-24"], "holiday_country": "SE"}],
      "paused_statuses": ["waiting_on_contact"],
      "property": null | "priority" | "team" | "channel" | "pipeline",
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
PROPERTIES = ("priority", "team", "channel", "pipeline")
YEAR_MINUTES = 366 * 24 * 60


class _Strict(BaseModel):
    """Unknown keys are refused and JSON types taken as they are (a boolean is not a number
    of minutes); dates and hour pairs are read from their JSON text and arrays."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


HourPair = Annotated[tuple[str, str], Field(strict=False)]
Day = Annotated[date, Field(strict=False)]


class Goal(_Strict):
    minutes: Annotated[int, Field(ge=1, le=YEAR_MINUTES)]
    due_soon_minutes: Annotated[int, Field(ge=0, le=YEAR_MINUTES)] = 0

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
    first_response: Goal | None = None
    next_response: Goal | None = None
    close: Goal | None = None

    def get(self, kind: str) -> Goal | None:
        goal: Goal | None = getattr(self, kind)
        return goal


class CalendarSpec(_Strict):
    team_id: Annotated[int, Field(ge=1)] | None = None
    timezone: Annotated[str, Field(min_length=1, max_length=64)]
    hours: dict[str, list[HourPair]]
    holidays: Annotated[list[Day], Field(max_length=1000)] = []
    holiday_country: Annotated[str, Field(min_length=2, max_length=3)] | None = None
    holiday_subdivision: Annotated[str, Field(max_length=10)] | None = None

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


class SlaPolicy(_Strict):
    mode: Literal["working_hours", "always"] = "always"
    calendars: Annotated[list[CalendarSpec], Field(max_length=200)] = []
    paused_statuses: Annotated[list[str], Field(max_length=50)] = ["waiting_on_contact"]
    property: Literal["priority", "team", "channel", "pipeline"] | None = None
    goals: Goals = Goals()
    values: dict[Annotated[str, Field(max_length=64)], Goals | None] = {}

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
        """The goals for a ticket with these properties (`priority`, `team`, `channel`,
        `pipeline`), or None when it has no SLA."""
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
