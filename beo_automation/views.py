"""Public operational endpoints: health (readiness) and liveness."""

from __future__ import annotations

from django.http import HttpResponse
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from beo_automation.health import health_response

_health_schema = inline_serializer(
    name="HealthReport",
    fields={
        "status": serializers.ChoiceField(choices=["ok", "error"]),
        "timestamp": serializers.DateTimeField(),
        "checks": serializers.DictField(child=serializers.DictField()),
    },
)


# DRF keeps the API's conventions here (schema, error envelope, no auth or throttling); the
# checks and the body are django-health-check's view's (beo_automation.health).
@method_decorator(never_cache, name="dispatch")
class HealthView(APIView):
    """Readiness: 200 when every check is ok, 503 otherwise. Public, never cached or limited."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    throttle_classes: list[type] = []

    @extend_schema(
        summary="Health of the service and its dependencies",
        responses={
            200: _health_schema,
            503: OpenApiResponse(_health_schema, description="At least one check is not ok"),
        },
        tags=["health"],
    )
    def get(self, request: Request) -> HttpResponse:
        # DRF's Request stands in for the HttpRequest it wraps (the checks read nothing of it).
        response: HttpResponse = health_response(request)
        return response


@method_decorator(never_cache, name="dispatch")
class LivenessView(APIView):
    """Liveness: the process can answer at all. Touches no dependency."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    throttle_classes: list[type] = []

    @extend_schema(
        summary="Liveness probe",
        responses={200: inline_serializer("Liveness", {"status": serializers.CharField()})},
        tags=["health"],
    )
    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})
