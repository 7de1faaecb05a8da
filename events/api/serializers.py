"""What the events API accepts and returns.

Input: EventInputSerializer declares the fields of events.submission and validates each with
that module's predicates, adding DRF's per-field messages for the error envelope's `details`;
then events.services.event_input_validate applies the same rule and the payload's encoding and
size (413). A submission the rule already accepts skips the serializer (event_already_valid).

Output: one representation for every endpoint, built by `event_representation` from the
columns the selectors read. EventSerializer declares the same fields for the OpenAPI schema and
renders through that function, because DRF's per-field machinery, run for every row of a
500-event page, would dominate the request.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from django.core.validators import RegexValidator
from django.utils.deconstruct import deconstructible
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from beo_automation.errors import PayloadTooLargeError, ValidationError
from beo_automation.fields import StringField
from beo_automation.pagination import (
    ChoiceListField,
    ListQuerySerializer,
    cursor_field,
    page_size_field,
)
from events.models import Event, Status
from events.selectors import EVENT_API_FIELDS, EventRow
from events.services import EventInput, event_input_validate
from events.submission import (
    PAYLOAD_MESSAGE,
    PRIORITIES,
    PRIORITY_DEFAULT,
    TYPE_MAX_LENGTH,
    TYPE_MESSAGE,
    TYPE_PATTERN,
    TYPE_RULE,
    payload_valid,
    priority_valid,
    type_valid,
)

PRIORITY_NAMES: dict[int, str] = {int(p.value): name for name, p in PRIORITIES.items()}
PRIORITY_CHOICES = list(PRIORITIES)
STATUS_CHOICES = [str(s.value) for s in Status]


class StrictFieldsMixin(serializers.Serializer):
    """Unknown fields are an error, not silently dropped: a typo such as `priorty` must not
    create an event with the default priority."""

    # Documented as `additionalProperties: false` (beo_automation.schema).
    refuses_unknown_fields = True

    def to_internal_value(self, data: Any) -> Any:
        unknown = sorted(set(data) - set(self.fields)) if isinstance(data, Mapping) else []
        if not unknown:
            return super().to_internal_value(data)
        errors: dict[str, Any] = {}
        try:
            super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if isinstance(exc.detail, dict):
                errors.update(exc.detail)
        errors.update({str(name): ["Unknown field."] for name in unknown})
        raise serializers.ValidationError(errors)


@extend_schema_field(OpenApiTypes.OBJECT)
class JSONObjectField(serializers.Field):
    """Any JSON object (already parsed by the JSON parser); arrays, strings, numbers refused."""

    default_error_messages = {"not_an_object": PAYLOAD_MESSAGE}

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not payload_valid(data):
            self.fail("not_an_object")
        return data

    def to_representation(self, value: Any) -> Any:
        return value


@deconstructible
class TypeValidator(RegexValidator):
    """events.submission.type_valid, as a RegexValidator so the schema shows the pattern
    (RegexValidator itself searches: `$` would let a trailing newline through)."""

    def __init__(self) -> None:
        super().__init__(TYPE_PATTERN, message=TYPE_MESSAGE)

    def __call__(self, value: Any) -> None:
        if not type_valid(value):
            raise serializers.ValidationError(self.message, code=self.code)


class PriorityField(serializers.ChoiceField):
    """A priority name, as a JSON string: DRF's ChoiceField would look up `str(data)`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=PRIORITY_CHOICES, **kwargs)

    def to_internal_value(self, data: Any) -> Any:
        if not priority_valid(data):
            self.fail("invalid_choice", input=data)
        return data


class EventInputSerializer(StrictFieldsMixin):
    """An event to submit (events.submission). Fields not listed here are refused."""

    type = StringField(
        max_length=TYPE_MAX_LENGTH,
        trim_whitespace=False,
        validators=[TypeValidator()],
        help_text=f"Event type, {TYPE_RULE}; e.g. `beo.created`.",
    )
    payload = JSONObjectField(
        help_text="A JSON object, at most EVENT_PAYLOAD_MAX_BYTES (default 64 KiB) serialised."
    )
    priority = PriorityField(
        default=PRIORITY_DEFAULT,
        help_text="Processing order: urgent > high > normal > low. Default normal.",
    )


def event_input_from(data: Mapping[str, Any]) -> EventInput:
    """An EventInputSerializer's validated data through the rule every entry point shares."""
    return event_input_validate(
        type=data["type"], payload=data["payload"], priority=data["priority"]
    )


def event_inputs_validate(items: Sequence[Mapping[str, Any]]) -> list[EventInput]:
    """A bulk submission's items, each through event_input_from; every failure is reported,
    keyed by the item's index: 413 when any payload is too large, else 400."""
    inputs: list[EventInput] = []
    invalid: dict[str, Any] = {}
    too_large: dict[str, Any] = {}
    for index, data in enumerate(items):
        try:
            inputs.append(event_input_from(data))
        except PayloadTooLargeError as exc:
            too_large[str(index)] = {"payload": [exc.message]}
        except ValidationError as exc:
            invalid[str(index)] = exc.details
    if too_large:
        first = next(iter(too_large))
        message = too_large[first]["payload"][0]
        raise PayloadTooLargeError(f"Item {first}: {message}", details=too_large)
    if invalid:
        raise ValidationError(details=invalid)
    return inputs


def timestamp(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, whatever TIME_ZONE says: API consumers get one format."""
    if value is None:
        return None
    return _iso_utc(value)


# isoformat() of an aware datetime costs microseconds, and the events of one bulk request share
# their timestamps: a thousand of them cost one.
@functools.lru_cache(maxsize=1024)
def _iso_utc(value: datetime) -> str:
    if value.tzinfo is not UTC:  # timezone.now() and the database give UTC already
        value = value.astimezone(UTC)
    return value.isoformat().replace("+00:00", "Z")


def event_representation(row: Mapping[str, Any]) -> dict[str, Any]:
    """The API's view of an event, from a row of EVENT_API_FIELDS (or an Event's attributes)."""
    return {
        "id": row["id"],
        "type": row["type"],
        "payload": row["payload"],
        "priority": PRIORITY_NAMES[row["priority"]],
        "status": str(row["status"]),
        "created_at": timestamp(row["created_at"]),
        "started_at": timestamp(row["started_at"]),
        "completed_at": timestamp(row["completed_at"]),
        "attempts": row["attempts"],
        # Stored as "" for "no error"; the API says null.
        "last_error": row["last_error"] or None,
        "duration_ms": row["duration_ms"],
        "result": row["result"],
    }


def event_row(event: Event) -> EventRow:
    return {name: getattr(event, name) for name in EVENT_API_FIELDS}


class EventSerializer(serializers.Serializer):
    """An event, as every endpoint returns it."""

    # Rendered by event_representation (see the module docstring); the fields document it.

    id = serializers.IntegerField()
    type = serializers.CharField()
    payload = JSONObjectField()
    priority = serializers.ChoiceField(choices=PRIORITY_CHOICES)
    status = serializers.ChoiceField(
        choices=STATUS_CHOICES,
        help_text="pending → processing → completed | failed (retryable) ; pending → cancelled.",
    )
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(
        allow_null=True, help_text="When a worker last claimed the event."
    )
    completed_at = serializers.DateTimeField(
        allow_null=True, help_text="When it reached a final state."
    )
    attempts = serializers.IntegerField(help_text="Processing attempts so far.")
    last_error = serializers.CharField(
        allow_null=True, help_text="The last failed attempt's error, if any."
    )
    duration_ms = serializers.FloatField(
        allow_null=True, help_text="How long the last attempt's handlers ran."
    )
    result = serializers.JSONField(
        allow_null=True, help_text="What the handlers returned, by handler name."
    )

    def to_representation(self, instance: Any) -> dict[str, Any]:
        row = event_row(instance) if isinstance(instance, Event) else instance
        return event_representation(row)


class EventPageSerializer(serializers.Serializer):
    """One page of events, newest first, with links to the neighbouring pages."""

    results = EventSerializer(many=True)
    next = serializers.URLField(
        allow_null=True, help_text="Absolute URL of the next (older) page; null on the last."
    )
    previous = serializers.URLField(
        allow_null=True, help_text="Absolute URL of the previous (newer) page; null on the first."
    )


class EventBulkResultSerializer(serializers.Serializer):
    """The events a bulk submission created."""

    count = serializers.IntegerField(help_text="Events created.")
    results = EventSerializer(many=True, help_text="The created events, in request order.")


class EventListQuerySerializer(StrictFieldsMixin, ListQuerySerializer):
    """Query parameters of GET /api/events/; unknown ones are refused like unknown fields."""

    status = ChoiceListField(choices=STATUS_CHOICES, help_text="Any of these statuses.")
    priority = ChoiceListField(choices=PRIORITY_CHOICES, help_text="Any of these priorities.")
    type = serializers.CharField(
        max_length=TYPE_MAX_LENGTH, required=False, help_text="Exactly this type."
    )
    created_after = serializers.DateTimeField(
        required=False, help_text="Events created at or after this time (ISO 8601)."
    )
    created_before = serializers.DateTimeField(
        required=False, help_text="Events created before this time (ISO 8601)."
    )
    cursor = cursor_field()
    page_size = page_size_field()
