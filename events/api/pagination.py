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
from datetime import datetime

from rest_framework.request import Request
from rest_framework.utils.urls import replace_query_param

from beo_automation.errors import ValidationError
from events.selectors import KeysetPosition

OLDER = "o"  # `next`: events older than the position
NEWER = "n"  # `previous`: events newer than the position

INVALID_CURSOR = "Invalid cursor: use the `next` or `previous` link of a previous response."


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


def cursor_decode(token: str) -> Cursor:
    """A cursor from a link; ValidationError (400, `details.cursor`) for anything else."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        direction, created_at, event_id = json.loads(raw)
        position = KeysetPosition(datetime.fromisoformat(created_at), int(event_id))
    except (binascii.Error, ValueError, TypeError):
        raise ValidationError(details={"cursor": [INVALID_CURSOR]}) from None
    if direction not in {OLDER, NEWER} or position.created_at.tzinfo is None:
        raise ValidationError(details={"cursor": [INVALID_CURSOR]})
    return Cursor(direction, position)


def page_link(request: Request, token: str | None) -> str | None:
    """The absolute URL of this list with the same filters and page size at `token`."""
    if token is None:
        return None
    return replace_query_param(request.build_absolute_uri(), "cursor", token)
