"""Keyset pagination cursors: opaque to clients, (sort value, id) inside.

A cursor is the position of the last item of a page; the next page starts strictly after
it in the listing's order. A cursor that does not decode raises InvalidInput.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from core.errors import InvalidInput

MAX_LIMIT = 200
DEFAULT_LIMIT = 50


def encode_cursor(sort_value: Any, item_id: int) -> str:
    """An opaque cursor for the item with `sort_value` and `item_id`."""
    raw = json.dumps([sort_value, item_id], separators=(",", ":"), default=str)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[Any, int]:
    """(sort value, id) from a cursor made by `encode_cursor`."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        sort_value, item_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(item_id, int) or isinstance(item_id, bool):
            raise ValueError
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput("cursor is not one this server gave out", field="cursor") from None
    return sort_value, item_id
