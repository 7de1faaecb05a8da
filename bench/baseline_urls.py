"""The baseline endpoints: parse the JSON body, insert the same row(s) the API inserts, answer
201 — one event by the ORM's create(), a list of events by one raw COPY."""

from __future__ import annotations

import os
from typing import Any, cast

from django.conf import settings
from django.db import connection, transaction
from django.urls import path
from django.utils import timezone
from psycopg.types.json import Jsonb
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from events.models import Event, Priority, Status

OWNER_ID = int(os.environ.get("BENCH_OWNER_ID", "1"))


class BaselineEventView(APIView):
    authentication_classes: list[type] = []
    permission_classes: list[type] = []

    def post(self, request: Request) -> Response:
        data = request.data
        now = timezone.now()
        event = Event.objects.create(
            owner_id=OWNER_ID,
            type=data["type"],
            payload=data["payload"],
            priority=Priority.NORMAL,
            status=Status.PENDING,
            created_at=now,
            updated_at=now,
            available_at=now,
            max_attempts=settings.EVENT_MAX_ATTEMPTS,
        )
        return Response({"id": event.pk}, status=201)


COPY_COLUMNS = (
    "owner_id, type, payload, priority, status, created_at, updated_at, available_at,"
    " attempts, max_attempts, last_error, request_hash, request_id"
)


class BaselineBulkView(APIView):
    """The rows /api/events/bulk/ stores, written by psycopg's COPY (write_row), nothing else."""

    authentication_classes: list[type] = []
    permission_classes: list[type] = []

    def post(self, request: Request) -> Response:
        items = cast("list[dict[str, Any]]", request.data)  # the bench sends a JSON list
        now = timezone.now()
        with transaction.atomic(), connection.cursor() as cursor:
            copy_sql = f"COPY events_event ({COPY_COLUMNS}) FROM STDIN"
            with cursor.cursor.copy(copy_sql) as copy:
                for item in items:
                    copy.write_row(
                        (
                            OWNER_ID,
                            item["type"],
                            Jsonb(item["payload"]),
                            Priority.NORMAL,
                            Status.PENDING,
                            now,
                            now,
                            now,
                            0,
                            settings.EVENT_MAX_ATTEMPTS,
                            "",
                            "",
                            "",
                        )
                    )
        return Response({"created": len(items)}, status=201)


urlpatterns = [
    path("bench/events/", BaselineEventView.as_view()),
    path("bench/events/bulk/", BaselineBulkView.as_view()),
]
