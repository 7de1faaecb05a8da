"""The ops overview (beo_automation.ops.overview) as the admin index's panels show it.

The overview is JSON-able data shared with GET /api/ops/overview/; this adds what only a page
needs: admin links (the filtered events changelist, each alert's, incident's and run's page, the
alert buttons' POST targets), datetimes to format, time left in words, and each metric's
sparkline as SVG points. A part the overview could not compute ({"error": ...}), or one this
cannot read, stays {"error": ...}: its panel says so and the others are shown.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import structlog
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

logger = structlog.get_logger(__name__)

SPARK_WIDTH = 120
SPARK_HEIGHT = 28
SPARK_PAD = 2
SPARK_MINUTES = 60
SEVERITIES = ("critical", "high", "medium", "low")


def when(value: Any) -> datetime | None:
    """An ISO-8601 string of the overview as an aware datetime (templates format it)."""
    if not isinstance(value, str) or not value:
        return None
    return parse_datetime(value)


def duration_words(seconds: float) -> str:
    """12 s, 5 min, 3 h 20 min, 2 d 4 h: how far away a deadline or a run is."""
    seconds = abs(seconds)
    if seconds < 60:
        return f"{int(seconds)} s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def ago_words(at: datetime | None, *, now: datetime) -> str | None:
    """ "just now", "5 min ago", "3 h 20 min ago"; None without a time."""
    if at is None:
        return None
    seconds = (now - at).total_seconds()
    return "just now" if seconds < 60 else f"{duration_words(seconds)} ago"


def sparkline(series: list[list[Any]], *, threshold: float | None, now: datetime) -> dict[str, Any]:
    """The last hour of a metric as SVG polyline points (one per unbroken stretch: a missing
    sample is a gap, not a zero), with the threshold as a line on the same scale."""
    start = now - timedelta(minutes=SPARK_MINUTES)
    span = SPARK_MINUTES * 60
    samples = [(when(t), v) for t, v in series]
    values = [float(v) for _, v in samples if v is not None]
    top = max([*values, threshold or 0.0, 0.0])
    bottom = min([*values, 0.0])
    scale = (top - bottom) or 1.0
    inner = SPARK_HEIGHT - 2 * SPARK_PAD

    def y(value: float) -> float:
        return round(SPARK_PAD + inner - (value - bottom) / scale * inner, 1)

    segments: list[list[str]] = [[]]
    for at, value in samples:
        if at is None or value is None:
            if segments[-1]:
                segments.append([])
            continue
        x = min(max((at - start).total_seconds() / span, 0.0), 1.0) * SPARK_WIDTH
        segments[-1].append(f"{round(x, 1)},{y(float(value))}")
    return {
        "width": SPARK_WIDTH,
        "height": SPARK_HEIGHT,
        # A lone point is drawn as a dot (a polyline of one point shows nothing).
        "lines": [" ".join(s) for s in segments if len(s) > 1],
        "dots": [s[0].split(",") for s in segments if len(s) == 1],
        "threshold_y": y(float(threshold)) if threshold is not None else None,
        "empty": not values,
    }


def _health(part: dict[str, Any], *, now: datetime, **_: Any) -> dict[str, Any]:
    part["check_list"] = [
        {"name": name, **check} for name, check in (part.get("checks") or {}).items()
    ]
    for metric in part.get("metrics") or []:
        value, threshold = metric.get("value"), metric.get("threshold")
        metric["over"] = value is not None and threshold is not None and value > threshold
        metric["spark"] = sparkline(metric.get("series") or [], threshold=threshold, now=now)
    return part


def _alerts(
    part: dict[str, Any], *, now: datetime, can_act_on_alerts: bool, **_: Any
) -> dict[str, Any]:
    by_severity = part.get("by_severity") or {}
    part["severity_counts"] = [(s, by_severity.get(s, 0)) for s in SEVERITIES]
    for item in part.get("items") or []:
        pk = item["id"]
        item["url"] = reverse("admin:alerts_alert_change", args=[pk])
        item["last_seen_ago"] = ago_words(when(item.get("last_seen")), now=now)
        item["actions"] = []
        if can_act_on_alerts:
            # The detail page's actions (beo_automation.admin_actions), in the same states.
            if item.get("status") == "firing":
                item["actions"].append(("acknowledge", "Acknowledge"))
            item["actions"].append(("resolve", "Resolve"))
            item["actions"] = [
                (name, label, reverse("admin:alerts_alert_act", args=[pk, name]))
                for name, label in item["actions"]
            ]
        if item.get("incident_id"):
            item["incident_url"] = reverse(
                "admin:alerts_incident_change", args=[item["incident_id"]]
            )
    return part


def _incidents(part: dict[str, Any], **_: Any) -> dict[str, Any]:
    for item in part.get("items") or []:
        item["url"] = reverse("admin:alerts_incident_change", args=[item["id"]])
        item["due_at"] = when(item.get("response_due_at"))
        left = item.get("seconds_left")
        if item.get("acknowledged_at"):
            item["left_text"] = "acknowledged"
        elif left is None:
            item["left_text"] = "—"
        elif item.get("overdue") or left < 0:
            item["left_text"] = f"overdue by {duration_words(left)}"
        else:
            item["left_text"] = f"{duration_words(left)} left"
    return part


def events_changelist_url(**filters: str) -> str:
    """The events changelist filtered as the counts are (its list_filter and date fields)."""
    url = reverse("admin:events_event_changelist")
    return f"{url}?{urlencode(filters)}" if filters else url


def _events(part: dict[str, Any], **_: Any) -> dict[str, Any]:
    since = part.get("since") or ""
    window = {"created_at__gte": since} if since else {}
    part["since_at"] = when(since)
    part["total_url"] = events_changelist_url(**window)
    part["status_links"] = [
        (status, count, events_changelist_url(status__exact=status, **window))
        for status, count in (part.get("by_status") or {}).items()
    ]
    part["type_links"] = [
        (row["type"], row["count"], events_changelist_url(type__exact=row["type"], **window))
        for row in part.get("by_type") or []
    ]
    # Dead letters of all time, like the alert rule that counts them.
    part["failed_url"] = events_changelist_url(status__exact="failed")
    return part


def _run_url(run_id: Any) -> str | None:
    if not run_id:
        return None
    return reverse("admin:maintenance_maintenancerun_change", args=[run_id])


def _backups(part: dict[str, Any], **_: Any) -> dict[str, Any]:
    for key in ("last_success", "last_verify", "last_failure"):
        run = part.get(key)
        if run:
            run["url"] = _run_url(run.get("run_id"))
            run["at_dt"] = when(run.get("at"))
            if run.get("age_hours") is not None:
                run["age_text"] = duration_words(run["age_hours"] * 3600)
    success = part.get("last_success")
    if success:
        success["verified_at_dt"] = when(success.get("verified_at"))
    return part


def _jobs(part: dict[str, Any], *, now: datetime, **_: Any) -> dict[str, Any]:
    for entry in part.get("schedule") or []:
        entry["next_at"] = when(entry.get("next_run_at"))
        until = entry.get("seconds_until")
        entry["until_text"] = f"in {duration_words(until)}" if until is not None else "—"
    for run in part.get("recent") or []:
        run["url"] = _run_url(run.get("id"))
        run["started_ago"] = ago_words(when(run.get("started_at")), now=now)
    return part


def _workers(part: dict[str, Any], **_: Any) -> dict[str, Any]:
    beat = part.get("beat") or {}
    part["beat_age_text"] = (
        duration_words(beat["age_seconds"]) if beat.get("age_seconds") is not None else None
    )
    part["pinged_at_dt"] = when(part.get("pinged_at"))
    return part


def _channels(part: dict[str, Any], *, now: datetime, **_: Any) -> dict[str, Any]:
    for item in part.get("items") or []:
        item["last_success_ago"] = ago_words(when(item.get("last_success_at")), now=now)
        item["last_failure_ago"] = ago_words(when(item.get("last_failure_at")), now=now)
    return part


PARTS: dict[str, Callable[..., dict[str, Any]]] = {
    "health": _health,
    "alerts": _alerts,
    "incidents": _incidents,
    "events": _events,
    "backups": _backups,
    "jobs": _jobs,
    "workers": _workers,
    "channels": _channels,
}


def console_panels(
    *, overview: dict[str, Any], user: Any, now: datetime | None = None
) -> dict[str, Any]:
    """Each part of `overview` ready for templates/admin/ops/panels.html."""
    now = now or timezone.now()
    options = {"now": now, "can_act_on_alerts": user.has_perm("alerts.change_alert")}
    panels: dict[str, Any] = {"generated_at": now}
    for name, prepare in PARTS.items():
        part = overview.get(name)
        if not isinstance(part, dict):
            panels[name] = {"error": "missing from the overview"}
        elif "error" in part:
            panels[name] = {"error": str(part["error"])}
        else:
            try:
                panels[name] = prepare(copy.deepcopy(part), **options)
            except Exception as exc:  # one unreadable part, not the whole page
                logger.exception("ops_panel_failed", panel=name, error=str(exc))
                panels[name] = {"error": f"could not be shown ({type(exc).__name__})"}
    return panels
