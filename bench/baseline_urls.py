"""The baseline endpoint: parse the JSON body, insert the same row the API inserts, answer 201."""

from __future__ import annotations

import os

from django.conf import settings
from django.urls import path
from django.utils import timezone
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


urlpatterns = [path("bench/events/", BaselineEventView.as_view())]
