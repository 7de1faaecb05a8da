"""Staff-only API for alerts and incidents: thin views over alerts.services/incidents/selectors."""

from __future__ import annotations

from typing import Any, cast

from django.contrib.auth.models import User
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from alerts.api.serializers import (
    AlertListQuerySerializer,
    AlertPageSerializer,
    AlertResolveSerializer,
    AlertSerializer,
    IncidentCreateSerializer,
    IncidentDetailSerializer,
    IncidentListQuerySerializer,
    IncidentPageSerializer,
    IncidentSerializer,
    IncidentTransitionSerializer,
)
from alerts.incidents import incident_acknowledge, incident_create, incident_transition
from alerts.resolution import alert_resolve
from alerts.selectors import alert_get, alert_list, incident_get, incident_list
from alerts.services import alert_acknowledge
from beo_automation.pagination import newest_first_response
from beo_automation.schema import error_responses

STAFF_ERRORS = (403, "Forbidden: staff only.")


def _staff(request: Request) -> User:
    # IsAdminUser let the request in: the user is an authenticated staff member.
    return cast("User", request.user)


class StaffAPIView(APIView):
    permission_classes = [IsAdminUser]


class AlertListView(StaffAPIView):
    @extend_schema(
        operation_id="alerts_list",
        summary="List alerts",
        description="Newest first, by cursor (`next`/`previous`); filter by status and severity.",
        parameters=[AlertListQuerySerializer],
        responses={200: AlertPageSerializer, **error_responses(400, STAFF_ERRORS)},
        tags=["alerts"],
    )
    def get(self, request: Request) -> Response:
        return newest_first_response(
            request,
            view=self,
            query=AlertListQuerySerializer,
            select=alert_list,
            serializer=AlertSerializer,
        )


class AlertDetailView(StaffAPIView):
    @extend_schema(
        operation_id="alerts_retrieve",
        summary="One alert",
        responses={200: AlertSerializer, **error_responses(STAFF_ERRORS, 404)},
        tags=["alerts"],
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(AlertSerializer(alert_get(alert_id=pk)).data)


class AlertAcknowledgeView(StaffAPIView):
    @extend_schema(
        operation_id="alerts_acknowledge",
        summary="Acknowledge a firing alert",
        description="Someone is on it: no repeat notifications. Also acknowledges its incident.",
        request=None,
        responses={
            200: AlertSerializer,
            **error_responses(STAFF_ERRORS, 404, (409, "The alert is not firing.")),
        },
        tags=["alerts"],
    )
    def post(self, request: Request, pk: int) -> Response:
        alert = alert_acknowledge(alert_id=pk, user=_staff(request))
        return Response(AlertSerializer(alert_get(alert_id=alert.pk)).data)


class AlertResolveView(StaffAPIView):
    @extend_schema(
        operation_id="alerts_resolve",
        summary="Resolve an open alert",
        description="Every channel told about the firing gets a resolve notification.",
        request=AlertResolveSerializer,
        responses={
            200: AlertSerializer,
            **error_responses(400, STAFF_ERRORS, 404, (409, "The alert is already resolved.")),
        },
        tags=["alerts"],
    )
    def post(self, request: Request, pk: int) -> Response:
        # An empty body is {} (DRF's parse of no content); null, 0 or false is not an object.
        body = AlertResolveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        alert = alert_resolve(
            alert_id=pk, user=_staff(request), resolution=body.validated_data.get("resolution", "")
        )
        return Response(AlertSerializer(alert_get(alert_id=alert.pk)).data)


class IncidentListCreateView(StaffAPIView):
    @extend_schema(
        operation_id="incidents_list",
        summary="List incidents",
        parameters=[IncidentListQuerySerializer],
        responses={200: IncidentPageSerializer, **error_responses(400, STAFF_ERRORS)},
        tags=["incidents"],
    )
    def get(self, request: Request) -> Response:
        return newest_first_response(
            request,
            view=self,
            query=IncidentListQuerySerializer,
            select=incident_list,
            serializer=IncidentSerializer,
        )

    @extend_schema(
        operation_id="incidents_create",
        summary="Open an incident",
        description=(
            "Response due from the severity: critical 15 min, high 1 h, medium 4 h, low 24 h."
        ),
        request=IncidentCreateSerializer,
        responses={201: IncidentDetailSerializer, **error_responses(400, STAFF_ERRORS)},
        tags=["incidents"],
    )
    def post(self, request: Request) -> Response:
        body = IncidentCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data: dict[str, Any] = body.validated_data
        incident = incident_create(
            title=data["title"],
            severity=data["severity"],
            description=data["description"],
            commander=data.get("commander"),
            alert_ids=data["alert_ids"],
            user=_staff(request),
        )
        detail = IncidentDetailSerializer(incident_get(incident_id=incident.pk)).data
        return Response(detail, status=201)


class IncidentDetailView(StaffAPIView):
    @extend_schema(
        operation_id="incidents_retrieve",
        summary="One incident with its timeline, alerts and post-mortem template",
        responses={200: IncidentDetailSerializer, **error_responses(STAFF_ERRORS, 404)},
        tags=["incidents"],
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(IncidentDetailSerializer(incident_get(incident_id=pk)).data)


class IncidentTransitionView(StaffAPIView):
    @extend_schema(
        operation_id="incidents_transition",
        summary="Move an incident to a later stage",
        description=(
            "Stages only move forward: detected → assessed → responding → communicating → "
            "resolved → postmortem → closed. Critical and high incidents close only from "
            "postmortem with a written post-mortem (the template's `_(to be written)_` "
            "sections filled in or removed)."
        ),
        request=IncidentTransitionSerializer,
        responses={
            200: IncidentDetailSerializer,
            **error_responses(
                400,
                STAFF_ERRORS,
                404,
                (409, "Illegal move: backwards, or closing without the required post-mortem."),
            ),
        },
        tags=["incidents"],
    )
    def post(self, request: Request, pk: int) -> Response:
        body = IncidentTransitionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        incident_transition(
            incident_id=pk,
            stage=data["stage"],
            note=data["note"],
            postmortem=data.get("postmortem"),
            user=_staff(request),
        )
        return Response(IncidentDetailSerializer(incident_get(incident_id=pk)).data)


class IncidentAcknowledgeView(StaffAPIView):
    @extend_schema(
        operation_id="incidents_acknowledge",
        summary="Acknowledge an incident (stops the escalation clock)",
        request=None,
        responses={
            200: IncidentDetailSerializer,
            **error_responses(STAFF_ERRORS, 404, (409, "Already acknowledged.")),
        },
        tags=["incidents"],
    )
    def post(self, request: Request, pk: int) -> Response:
        incident_acknowledge(incident_id=pk, user=_staff(request))
        return Response(IncidentDetailSerializer(incident_get(incident_id=pk)).data)
