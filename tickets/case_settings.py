"""The case-management settings admins set: one row (id 1) of `CaseSettings`, read with
defaults when it was never written.

- `inherited_fields`: what a child case copies from its parent (INHERITABLE names them).
- `close_children_with_parent`: resolving a parent resolves its open children too
  (otherwise the parent's resolution is refused while a child is open).
- `entitlement_decrement_on`: `creation` or `resolution` — when an entitlement's terms go
  down (the entitlements room reads it).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.errors import InvalidInput
from tickets.models import CaseSettings

SETTINGS_ID = 1
INHERITABLE: tuple[str, ...] = ("customer", "product", "subject", "priority", "case_type",
                                "origin", "entitlement", "team", "category")
"""Fields a child case may copy from its parent (`customer` is the contact or company)."""
DEFAULT_INHERITED: tuple[str, ...] = ("customer", "product", "subject")
DECREMENT_ON: tuple[str, ...] = ("creation", "resolution")


@dataclass(frozen=True)
class CaseSettingsView:
    inherited_fields: tuple[str, ...]
    close_children_with_parent: bool
    entitlement_decrement_on: str


DEFAULTS = CaseSettingsView(DEFAULT_INHERITED, False, "creation")


def _view(row: CaseSettings) -> CaseSettingsView:
    return CaseSettingsView(tuple(f for f in row.inherited_fields if f in INHERITABLE),
                            row.close_children_with_parent, row.entitlement_decrement_on)


async def read_case_settings(session: AsyncSession) -> CaseSettingsView:
    """The settings, or DEFAULTS when they were never saved."""
    row = await session.get(CaseSettings, SETTINGS_ID)
    return DEFAULTS if row is None else _view(row)


def validated(inherited_fields: list[str], close_children_with_parent: bool,
              entitlement_decrement_on: str) -> CaseSettingsView:
    """The settings as given, or InvalidInput naming the wrong field."""
    unknown = [f for f in inherited_fields if f not in INHERITABLE]
    if unknown:
        raise InvalidInput(f"inherited fields must be among {', '.join(INHERITABLE)}",
                           field="inherited_fields")
    if entitlement_decrement_on not in DECREMENT_ON:
        raise InvalidInput(f"entitlement_decrement_on must be one of {', '.join(DECREMENT_ON)}",
                           field="entitlement_decrement_on")
    return CaseSettingsView(tuple(dict.fromkeys(inherited_fields)),
                            close_children_with_parent, entitlement_decrement_on)


async def write_case_settings(session: AsyncSession, settings: CaseSettingsView
                              ) -> tuple[CaseSettingsView, CaseSettingsView]:
    """Save `settings` (from `validated`); returns (before, after) for the audit log.
    Does not commit."""
    row = await session.get(CaseSettings, SETTINGS_ID)
    before = DEFAULTS if row is None else _view(row)
    if row is None:
        row = CaseSettings(id=SETTINGS_ID)
        session.add(row)
    row.inherited_fields = list(settings.inherited_fields)
    row.close_children_with_parent = settings.close_children_with_parent
    row.entitlement_decrement_on = settings.entitlement_decrement_on
    row.updated_at = clock.now()
    await session.flush()
    return before, settings
