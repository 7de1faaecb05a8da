"""GET /api/ops/overview/: the operations overview for staff (monitoring scripts, consoles)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from beo_automation.ops.overview import ops_overview_get
from beo_automation.schema import error_responses

PART_ERROR = ' A part that cannot be read (its store down) is `{"error": "<reason>"}`.'


def _part(text: str) -> serializers.DictField:
    return serializers.DictField(help_text=text + PART_ERROR)


class OpsOverviewSerializer(serializers.Serializer):
    health = _part(
        "`status` (ok/error), `checks` by name (`status` ok/warning/error, `message`, "
        "`latency_ms`, `details`) and `metrics`: each value the alert evaluation samples, with "
        "its threshold and the last 60 minutes as `series` of [time, value]."
    )
    alerts = _part(
        "`open`, `by_severity` (critical, high, medium, low) and `items`: the open alerts, "
        "worst first (at most 20)."
    )
    incidents = _part(
        "`open`, `overdue` and `items`: incidents not resolved, most urgent first (at most 20), "
        "with `seconds_left` to the response deadline (negative when overdue)."
    )
    events = _part(
        "The last `window_hours` (24): `total`, `by_status` (every status), `by_type` (top 10) "
        "and `other_count`; `failed`: the dead-letter count, all time."
    )
    backups = _part(
        "`last_success` (age, file, size, verified), `last_verify`, `last_failure` (newer than "
        "the last success), `overdue` and `verify_overdue` against `max_age_hours` and "
        "`verify_max_age_hours`."
    )
    jobs = _part(
        "`schedule`: each beat entry with its cron and next run; `recent`: the newest 10 job "
        "runs (routine successful minutely runs left out)."
    )
    workers = _part(
        "Who answers the Celery ping (`alive`, `answering`, `workers`), events waiting, and "
        "beat's heartbeat (`beat`)."
    )
    channels = _part(
        "`configured`, `failing`, `items` (each channel's delivery record) and `warning` when "
        "no channel is configured."
    )


class OpsOverviewView(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(
        operation_id="ops_overview",
        summary="The operations overview",
        description=(
            "Healthy? What broke? What happened? The numbers of the admin index's panels: "
            "health checks and metrics, open alerts and incidents, the last 24 h of events, "
            "backups, scheduled and recent jobs, workers and beat, notification channels. "
            "Staff only."
        ),
        responses={200: OpsOverviewSerializer, **error_responses((403, "Forbidden: staff only."))},
        tags=["ops"],
    )
    def get(self, request: Request) -> Response:
        return Response(ops_overview_get())
