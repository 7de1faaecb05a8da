"""The real URLs plus views that raise, to drive the error envelope from the outside."""

from __future__ import annotations

import structlog
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.urls import path
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from beo_automation import errors
from beo_automation.celery import app
from beo_automation.urls import urlpatterns as real_urlpatterns


class _Input(serializers.Serializer):
    name = serializers.CharField(max_length=5)
    count = serializers.IntegerField(min_value=1)


class EchoView(APIView):
    permission_classes = [AllowAny]

    def post(self, request: Request) -> Response:
        data = _Input(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(data.validated_data)


class ProtectedView(APIView):
    def get(self, request: Request) -> Response:
        return Response({"user": request.user.get_username()})


class RaiseView(APIView):
    permission_classes = [AllowAny]

    def get(self, request: Request, kind: str) -> Response:
        match kind:
            case "crash":
                raise RuntimeError("database password is hunter2")
            case "conflict":
                raise errors.ConflictError("Event is completed")
            case "forbidden":
                raise errors.ForbiddenError()
            case "notfound":
                raise errors.NotFoundError("Event")
            case "toomany":
                raise errors.TooManyRequests(retry_after=30)
            case "validation":
                raise errors.ValidationError(details={"type": ["Bad type"]})
        return Response({})


@app.task(name="tests.log_marker")
def log_marker(marker: str) -> None:
    structlog.get_logger("tests.tasks").info("task log line", marker=marker)


class EnqueueView(APIView):
    permission_classes = [AllowAny]

    def post(self, request: Request) -> Response:
        marker = request.data["marker"]
        transaction.on_commit(lambda: log_marker.delay(marker))
        return Response({"queued": marker}, status=202)


def plain_django_crash(request: HttpRequest) -> HttpResponse:
    raise KeyError("secret_internal_key")


urlpatterns = [
    path("api/test/echo/", EchoView.as_view()),
    path("api/test/protected/", ProtectedView.as_view()),
    path("api/test/raise/<str:kind>/", RaiseView.as_view()),
    path("api/test/plain-crash/", plain_django_crash),
    path("api/test/enqueue/", EnqueueView.as_view()),
    *real_urlpatterns,
]
handler404 = "beo_automation.errors.handler404"
handler500 = "beo_automation.errors.handler500"
