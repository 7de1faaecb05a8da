"""Events API views: validate the request, call one service or selector, render the result.

    POST /api/events/               create (Idempotency-Key optional) → 201 + Location
    GET  /api/events/               the caller's events (staff: everyone's), newest first
    POST /api/events/bulk/          up to 1,000 events, all or nothing → 201
    GET  /api/events/{id}/          one event (404 "Event not found" if not the caller's)
    POST /api/events/{id}/retry/    failed → pending
    POST /api/events/{id}/cancel/   pending → cancelled

Authentication (Bearer JWT), the per-IP rate limit and the error envelope are the project's
defaults (settings.REST_FRAMEWORK, beo_automation.ratelimit, beo_automation.errors).
"""

from __future__ import annotations

import functools
import re
from typing import Any

from django.urls import get_script_prefix, reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from beo_automation.errors import ValidationError
from beo_automation.schema import error_responses
from events.api.pagination import NEWER, OLDER, Cursor, cursor_decode, cursor_encode, page_link
from events.api.serializers import (
    EventBulkResultSerializer,
    EventInputSerializer,
    EventListQuerySerializer,
    EventPageSerializer,
    EventSerializer,
    event_input_from,
    event_inputs_validate,
    event_representation,
    event_row,
)
from events.list_cache import GLOBAL, list_page_cached
from events.selectors import (
    EventListFilters,
    event_ensure_visible,
    event_get_visible,
    event_list_page,
)
from events.services import (
    event_bulk_create,
    event_cancel,
    event_create,
    event_retry,
    request_fingerprint,
)
from events.submission import (
    BULK_MAX_EVENTS,
    PRIORITIES,
    event_already_valid,
    events_already_valid,
)

IDEMPOTENCY_HEADER = "Idempotency-Key"
# Printable ASCII without spaces, as long as the column allows.
IDEMPOTENCY_KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")

_idempotency_parameter = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    pattern=IDEMPOTENCY_KEY_PATTERN.pattern,
    description=(
        "Optional, 1-255 printable ASCII characters. Repeating a request with the same key "
        "(same user, within EVENT_IDEMPOTENCY_TTL, default 24 h) returns the original event "
        "with 200 instead of creating another; the same key with a different body is a 409."
    ),
)
_location_header = OpenApiParameter(
    "Location",
    OpenApiTypes.URI,
    OpenApiParameter.HEADER,
    response=[200, 201],
    description="Absolute URL of the event.",
)
_replayed_header = OpenApiParameter(
    "Idempotent-Replayed",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    response=[200],
    enum=["true"],
    description="Present on a replay: no new event was created.",
)
_event_id_parameter = OpenApiParameter(
    "event_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The event's id."
)
_example_event = OpenApiExample(
    "A BEO for a wedding",
    value={
        "type": "beo.created",
        "payload": {"beo": "BEO-2041", "guests": 120},
        "priority": "high",
    },
    request_only=True,
)


def _request_id(request: Request) -> str:
    return str(getattr(request._request, "request_id", "") or "")


@functools.lru_cache(maxsize=16)
def _events_path(script_prefix: str) -> str:
    # reverse() costs more than the rest of building a Location header; its answer only
    # changes with the script prefix (the mount point), which is the cache key.
    return reverse("events:event-list")


def _event_url(request: Request, event_id: int) -> str:
    return request.build_absolute_uri(f"{_events_path(get_script_prefix())}{event_id}/")


class EventListCreateView(APIView):
    @extend_schema(
        operation_id="events_list",
        summary="List events",
        description=(
            "The caller's events (staff: everyone's), newest first, by cursor: follow `next` "
            "and `previous`, which keep the filters and page size. Every page costs the same "
            "however deep. Responses are cached per user for a few seconds and invalidated by "
            "any change to that user's events, so they are never stale."
        ),
        parameters=[EventListQuerySerializer],
        responses={200: EventPageSerializer, **error_responses(400)},
        tags=["events"],
    )
    def get(self, request: Request) -> Response:
        query = EventListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        cursor = cursor_decode(params["cursor"]) if "cursor" in params else None
        status, priorities = params.get("status"), params.get("priority")
        filters = EventListFilters(
            status=tuple(status) if status else None,
            priority=tuple(int(PRIORITIES[p]) for p in priorities) if priorities else None,
            type=params.get("type"),
            created_after=params.get("created_after"),
            created_before=params.get("created_before"),
        )
        limit = params["page_size"]
        user = request.user

        def build() -> dict[str, Any]:
            page = event_list_page(
                viewer=user,  # type: ignore[arg-type]
                filters=filters,
                limit=limit,
                older_than=cursor.position if cursor and cursor.direction == OLDER else None,
                newer_than=cursor.position if cursor and cursor.direction == NEWER else None,
            )
            return {
                "results": [event_representation(row) for row in page.rows],
                "next": cursor_encode(Cursor(OLDER, page.older)) if page.older else None,
                "previous": cursor_encode(Cursor(NEWER, page.newer)) if page.newer else None,
            }

        scope: int | str = GLOBAL if getattr(user, "is_staff", False) else int(user.pk or 0)
        data = list_page_cached(scope=scope, params={**params, "limit": limit}, build=build)
        return Response(
            {
                "results": data["results"],
                "next": page_link(request, data["next"]),
                "previous": page_link(request, data["previous"]),
            }
        )

    @extend_schema(
        operation_id="events_create",
        summary="Submit an event",
        description=(
            "Stores the event as `pending` and queues it for processing. Unknown fields are "
            "refused. A payload over EVENT_PAYLOAD_MAX_BYTES is a 413."
        ),
        request=EventInputSerializer,
        parameters=[_idempotency_parameter, _location_header, _replayed_header],
        examples=[_example_event],
        responses={
            201: OpenApiResponse(EventSerializer, description="Created."),
            200: OpenApiResponse(
                EventSerializer,
                description="Replay: the event created earlier with this Idempotency-Key.",
            ),
            **error_responses(
                400,
                (409, "The Idempotency-Key was already used with a different body."),
                (413, "The payload (or the whole body) is too large."),
                415,
            ),
        },
        tags=["events"],
    )
    def post(self, request: Request) -> Response:
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key is not None and not IDEMPOTENCY_KEY_PATTERN.fullmatch(key):
            raise ValidationError(
                details={IDEMPOTENCY_HEADER: ["Must be 1-255 printable ASCII characters."]}
            )
        data = event_already_valid(request.data)
        if data is None:
            serializer = EventInputSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            data = serializer.validated_data
        item = event_input_from(data)
        event, created = event_create(
            owner=request.user,  # type: ignore[arg-type]
            item=item,
            idempotency_key=key,
            # The normalised body (defaults filled in): a replay that spells out
            # `"priority": "normal"` is the same request as one that leaves it out.
            request_hash=request_fingerprint(dict(data)) if key else "",
            request_id=_request_id(request),
        )
        headers = {"Location": _event_url(request, event.pk)}
        if not created:
            headers["Idempotent-Replayed"] = "true"
        return Response(
            event_representation(event_row(event)), status=201 if created else 200, headers=headers
        )


class EventBulkCreateView(APIView):
    @extend_schema(
        operation_id="events_bulk_create",
        summary="Submit up to 1,000 events at once",
        description=(
            "A JSON array of event objects, created in one transaction: all of them, or (any "
            "item invalid) none, with a 400 whose `details` are keyed by the failed items' "
            "indexes. The whole body is limited by API_MAX_BODY_BYTES."
        ),
        request=EventInputSerializer(
            many=True,
            allow_empty=False,
            max_length=BULK_MAX_EVENTS,  # type: ignore[call-arg]  # ListSerializer's
        ),
        responses={
            201: EventBulkResultSerializer,
            **error_responses(
                (400, "Validation failed: `details` maps each failed item's index to its errors."),
                (413, "An item's payload, or the whole body, is too large; `details` names it."),
                415,
            ),
        },
        tags=["events"],
    )
    def post(self, request: Request) -> Response:
        if IDEMPOTENCY_HEADER in request.headers:
            raise ValidationError(
                details={
                    IDEMPOTENCY_HEADER: [
                        (
                            "Not supported for bulk submissions: a bulk request is all or "
                            "nothing; use POST /api/events/ for idempotent single submissions."
                        )
                    ]
                }
            )
        validated = events_already_valid(request.data)
        if validated is None:
            serializer = EventInputSerializer(
                data=request.data,
                many=True,
                max_length=BULK_MAX_EVENTS,  # type: ignore[call-arg]  # ListSerializer's
                allow_empty=False,
            )
            serializer.is_valid(raise_exception=True)
            validated = serializer.validated_data
        rows = event_bulk_create(
            owner=request.user,  # type: ignore[arg-type]
            items=event_inputs_validate(validated),
            request_id=_request_id(request),
        )
        return Response(
            {
                "count": len(rows),
                "results": [event_representation(row) for row in rows],
            },
            status=201,
        )


class EventDetailView(APIView):
    @extend_schema(
        operation_id="events_retrieve",
        summary="One event",
        parameters=[_event_id_parameter],
        responses={
            200: EventSerializer,
            **error_responses((404, "`Event not found`: no such event, or not the caller's.")),
        },
        tags=["events"],
    )
    def get(self, request: Request, event_id: int) -> Response:
        row = event_get_visible(viewer=request.user, event_id=event_id)  # type: ignore[arg-type]
        return Response(event_representation(row))


_state_change_errors = error_responses(
    (404, "`Event not found`: no such event, or not the caller's."),
    (409, "The event is in another state; the message names it."),
)


class EventRetryView(APIView):
    @extend_schema(
        operation_id="events_retry",
        summary="Retry a failed event",
        description=(
            "failed → pending, with EVENT_MAX_ATTEMPTS more attempts; the attempt count is "
            "kept. Any other state is a 409 naming it."
        ),
        request=None,
        parameters=[_event_id_parameter],
        responses={200: EventSerializer, **_state_change_errors},
        tags=["events"],
    )
    def post(self, request: Request, event_id: int) -> Response:
        event_ensure_visible(viewer=request.user, event_id=event_id)  # type: ignore[arg-type]
        event = event_retry(event_id=event_id, actor=request.user)  # type: ignore[arg-type]
        return Response(event_representation(event_row(event)))


class EventCancelView(APIView):
    @extend_schema(
        operation_id="events_cancel",
        summary="Cancel a pending event",
        description="pending → cancelled. Any other state is a 409 naming it.",
        request=None,
        parameters=[_event_id_parameter],
        responses={200: EventSerializer, **_state_change_errors},
        tags=["events"],
    )
    def post(self, request: Request, event_id: int) -> Response:
        event_ensure_visible(viewer=request.user, event_id=event_id)  # type: ignore[arg-type]
        event = event_cancel(event_id=event_id, actor=request.user)  # type: ignore[arg-type]
        return Response(event_representation(event_row(event)))
