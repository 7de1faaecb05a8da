"""What an event submission is: the one definition of its fields, every entry point derives from.

- the API's serializer (events.api.serializers.EventInputSerializer) declares these fields and
  validates each with the predicates below, adding DRF's per-field messages;
- the API's fast path (event_already_valid) is those predicates alone, for the submissions that
  need no message: nearly all of them;
- the service (events.services.event_input_validate), which the admin and every API path end in,
  applies the same predicates, then the payload's encoding and size rule.

Strict JSON types: `type` and `priority` must be JSON strings (a number is refused, not turned
into text) and the type pattern must match the whole string (`"beo.x\\n"` is refused).
tests/events/test_submission_rule.py checks with hypothesis that the three agree.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from events.models import Priority

FIELDS = frozenset({"type", "payload", "priority"})
REQUIRED_FIELDS = frozenset({"type", "payload"})

TYPE_MAX_LENGTH = 100
# Anchored for the OpenAPI schema, where a pattern is searched; Python code uses fullmatch (`$`
# alone would accept a trailing newline).
TYPE_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
TYPE_RULE = "1-100 characters: letters, digits and . _ : -"
TYPE_MESSAGE = f"Must be {TYPE_RULE}."

PAYLOAD_MESSAGE = "Must be a JSON object."

PRIORITIES: Mapping[str, Priority] = {str(p.label): p for p in Priority}
PRIORITY_DEFAULT = str(Priority.NORMAL.label)
PRIORITY_MESSAGE = f"Must be one of: {', '.join(PRIORITIES)}."

BULK_MAX_EVENTS = 1000


def type_valid(value: Any) -> bool:
    return type(value) is str and TYPE_PATTERN.fullmatch(value) is not None


def payload_valid(value: Any) -> bool:
    return type(value) is dict


def priority_valid(value: Any) -> bool:
    return type(value) is str and value in PRIORITIES


def event_already_valid(item: Any) -> dict[str, Any] | None:
    """The submission with its default filled in, when it satisfies the rule as it stands;
    None otherwise (then the serializer runs, to say what is wrong)."""
    if type(item) is not dict or not FIELDS.issuperset(item):
        return None
    kind = item.get("type")
    payload = item.get("payload")
    priority = item.get("priority", PRIORITY_DEFAULT)
    if type_valid(kind) and payload_valid(payload) and priority_valid(priority):
        return {"type": kind, "payload": payload, "priority": priority}
    return None


def events_already_valid(data: Any) -> list[dict[str, Any]] | None:
    """A bulk body's items through event_already_valid, when it is a list of 1 to
    BULK_MAX_EVENTS items that all pass; None otherwise."""
    if type(data) is not list or not 0 < len(data) <= BULK_MAX_EVENTS:
        return None
    items: list[dict[str, Any]] = []
    for item in data:
        valid = event_already_valid(item)
        if valid is None:
            return None
        items.append(valid)
    return items
