from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path, re_path

from beo_automation.errors import ErrorDescription, json_error_response
from beo_automation.views import HealthView, LivenessView

handler400 = "beo_automation.errors.handler400"
handler403 = "beo_automation.errors.handler403"
handler404 = "beo_automation.errors.handler404"
handler500 = "beo_automation.errors.handler500"


def api_not_found(request: HttpRequest, rest: str = "") -> HttpResponse:
    """Unknown /api/ paths get the envelope even with DEBUG on."""
    return json_error_response(request, ErrorDescription(404, "Not found"))


api_patterns = [
    path("health/", HealthView.as_view(), name="health"),
    path("health/live/", LivenessView.as_view(), name="health-live"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include(api_patterns)),
    re_path(r"^api/(?P<rest>.*)$", api_not_found),
]
