from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver, include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.request import Request
from rest_framework.response import Response

from alerts.api.urls import alert_urlpatterns, incident_urlpatterns
from beo_automation.errors import ErrorDescription, json_error_response
from beo_automation.metrics.prometheus import metrics_view
from beo_automation.ops.api import OpsOverviewView
from beo_automation.renderers import JSONRenderer
from beo_automation.token_views import TokenObtainView, TokenRefreshView
from beo_automation.views import HealthView, LivenessView
from maintenance.api.audit import AuditListView

handler400 = "beo_automation.errors.handler400"
handler403 = "beo_automation.errors.handler403"
handler404 = "beo_automation.errors.handler404"
handler500 = "beo_automation.errors.handler500"


@csrf_exempt  # it changes nothing: any method gets the 404 envelope, not a CSRF page
def api_not_found(request: HttpRequest, rest: str = "") -> HttpResponse:
    """Unknown /api/ paths get the envelope even with DEBUG on."""
    return json_error_response(request, ErrorDescription(404, "Not found"))


def _errors_as_json(request: Request, response: Response) -> None:
    # Views whose renderers are not JSON (the schema's YAML, Swagger UI's HTML) answer their
    # errors (a 405, a bad `?format=`) in the JSON envelope all the same.
    if response.status_code >= 400:
        request.accepted_renderer = JSONRenderer()
        request.accepted_media_type = "application/json"


class SchemaView(SpectacularAPIView):
    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        _errors_as_json(request, response)
        return super().finalize_response(request, response, *args, **kwargs)


class DocsView(SpectacularSwaggerSplitView):
    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        _errors_as_json(request, response)
        return super().finalize_response(request, response, *args, **kwargs)


api_patterns: list[URLPattern | URLResolver] = [
    path("health/", HealthView.as_view(), name="health"),
    path("health/live/", LivenessView.as_view(), name="health-live"),
    path("auth/token/", TokenObtainView.as_view(), name="auth-token"),
    path("auth/token/refresh/", TokenRefreshView.as_view(), name="auth-token-refresh"),
    path("events/", include("events.api.urls", namespace="events")),
    path("audit/", AuditListView.as_view(), name="audit-list"),
    path("alerts/", include((alert_urlpatterns, "alerts"), namespace="alerts")),
    path("incidents/", include((incident_urlpatterns, "incidents"), namespace="incidents")),
    path("ops/overview/", OpsOverviewView.as_view(), name="ops-overview"),
    # Public (SPECTACULAR_SETTINGS' SERVE_*) and not rate limited.
    path("schema/", SchemaView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's init script as a file, not inline: CSP needs no
    # 'unsafe-inline' for scripts (beo_automation.content_security).
    path("docs/", DocsView.as_view(url_name="api-schema"), name="api-docs"),
]

# The admin's "View site" link: this product has no public site at /, its API docs are the
# nearest thing to one (the default "/" answers 404).
admin.site.site_url = "/api/docs/"

urlpatterns = [
    path("admin/", admin.site.urls),
    # Prometheus scrape endpoint (METRICS_TOKEN bearer when set); not under /api/.
    path("metrics", metrics_view, name="metrics"),
    path("api/", include(api_patterns)),
    re_path(r"^api/(?P<rest>.*)$", api_not_found),
]
