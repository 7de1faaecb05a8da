"""The real URLs plus views that are slow or fail, to drive the request metrics from outside.

Outside /api/ so the API rate limit does not interfere with the dozens of requests a test
sends."""

from __future__ import annotations

import time

from django.http import HttpRequest, HttpResponse
from django.urls import path

from beo_automation.urls import urlpatterns as real_urlpatterns


def slow(request: HttpRequest) -> HttpResponse:
    time.sleep(float(request.GET.get("ms", "50")) / 1000)
    return HttpResponse("slow")


def fine(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


def broken(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug in a view")


urlpatterns = [
    path("probe/slow/", slow),
    path("probe/ok/", fine),
    path("probe/broken/", broken),
    *real_urlpatterns,
]
