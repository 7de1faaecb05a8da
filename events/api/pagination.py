"""Cursor pagination by keyset: a cursor is an opaque, URL-safe encoding of a position in the
newest-first order and of the direction to read from it.

    {"results": [...], "next": "https://host/api/events/?cursor=…", "previous": null}

The position is (created_at, id) of the last (for `next`) or first (for `previous`) event of
the page, so a page costs the same at any depth, and rows inserted meanwhile never shift or
repeat what a client already read. Tampering with a cursor can only move the position:
visibility is decided by the query, never by the cursor.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from datetime import UTC, datetime

from rest_framework.request import Request
from rest_framework.utils.urls import replace_query_param

from beo_automation.pagination import invalid_cursor
from beo_automation.parsers import json_parse
from events.selectors import KeysetPosition

OLDER = "o"  # `next`: events older than the position
NEWER = "n"  # `previous`: events newer than the position


@dataclasses.dataclass(frozen=True)
class Cursor:
    direction: str
    position: KeysetPosition


def cursor_encode(cursor: Cursor) -> str:
    raw = json.dumps(
        [cursor.direction, cursor.position.created_at.isoformat(), cursor.position.id],
        separators=(",", ":"),
    )
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


# An event id is a PostgreSQL bigint.
_MAX_ID = 2**63 - 1


def cursor_decode(token: str) -> Cursor:
    """A cursor from a link; ValidationError (400, `details.cursor`) for anything else.

    Only what cursor_encode writes is accepted: a direction, an ISO 8601 time with a UTC offset
    (read as UTC) and an id in bigint range. Anything else — `Infinity`, `1e400`, an offset of
    `+05:30:15.123456` at the end of time, nesting — would otherwise fail later, in Python or in
    the database, as a 500.
    """
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        direction, created_at, event_id = json_parse(raw)
        if (
            direction not in (OLDER, NEWER)
            or type(created_at) is not str
            or type(event_id) is not int
        ):
            raise TypeError
        at = datetime.fromisoformat(created_at)
        if at.tzinfo is None or not 0 <= event_id <= _MAX_ID:
            raise ValueError
        position = KeysetPosition(at.astimezone(UTC), event_id)
    except (binascii.Error, ValueError, TypeError, OverflowError):
        raise invalid_cursor() from None
    return Cursor(direction, position)


def page_link(request: Request, token: str | None) -> str | None:
    """The absolute URL of this list with the same filters and page size at `token`."""
    if token is None:
        return None
    return replace_query_param(request.build_absolute_uri(), "cursor", token)
