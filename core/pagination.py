"""Keyset pagination cursors: opaque to clients, (sort value, id) inside.

A cursor is the position of the last item of a page; the next page starts strictly after
it in the listing's order. A cursor that does not decode raises InvalidInput.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from core.clock import in_supported_range
from core.errors import InvalidInput

MAX_LIMIT = 200
DEFAULT_LIMIT = 50
MAX_ID = 2**31 - 1
"""Ids are 32-bit integer columns; a larger one cannot even be bound to a query."""


def encode_cursor(sort_value: Any, item_id: int) -> str:
    """An opaque cursor for the item with `sort_value` and `item_id`."""
    raw = json.dumps([sort_value, item_id], separators=(",", ":"), default=str)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _not_ours() -> InvalidInput:
    return InvalidInput("cursor is not one this server gave out", field="cursor")


def decode_cursor(cursor: str) -> tuple[Any, int]:
    """(sort value, id) from a cursor made by `encode_cursor`; a cursor someone made up
    (an id out of range, JSON nested too deep) raises InvalidInput too."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        sort_value, item_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(item_id, int) or isinstance(item_id, bool):
            raise ValueError
    except (ValueError, TypeError, binascii.Error, RecursionError):
        raise _not_ours() from None
    if not 1 <= item_id <= MAX_ID:
        raise _not_ours()
    return sort_value, item_id


def cursor_instant(sort_value: Any) -> datetime:
    """The instant a cursor's sort value holds (ISO 8601 with its zone, in the supported
    years); InvalidInput otherwise."""
    try:
        instant = datetime.fromisoformat(sort_value)
    except (TypeError, ValueError):
        raise _not_ours() from None
    if not in_supported_range(instant):
        raise _not_ours()
    return instant


def cursor_rank(sort_value: Any, ranks: range) -> int:
    """The rank a cursor's sort value holds, one of `ranks`; InvalidInput otherwise."""
    if isinstance(sort_value, bool) or sort_value not in ranks:
        raise _not_ours()
    return int(sort_value)
