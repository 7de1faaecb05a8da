"""A URL conf with the project's routes plus the mistakes security_check must catch."""

from __future__ import annotations

from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from beo_automation.urls import handler400, handler403, handler404, handler500, urlpatterns

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]


class ForgottenPublicView(APIView):
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        return Response({"secret": "data"})


class UnvalidatedWriteView(APIView):
    def post(self, request: Request) -> Response:
        return Response({"received": request.data})


urlpatterns = [
    path("api/forgotten/", ForgottenPublicView.as_view()),
    # Shadows the project's event endpoints: takes any body and answers 200.
    path("api/events/", UnvalidatedWriteView.as_view()),
    *urlpatterns,
]
