"""The history of what the alert evaluation measured, for the overview's sparklines.

Each evaluation (alerts.evaluation) writes one MetricSample: every check's value against its
threshold, plus the measurements the rules judge in total but staff read in detail (request
rate, queue size by priority, oldest pending age). Rows older than SAMPLE_RETENTION are deleted
by the same write, so the table holds about a day (1,440 rows) at one evaluation a minute.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from alerts.metrics import NotMeasured
from alerts.models import MetricSample
from alerts.rules import RuleOutcome, Snapshot

SAMPLE_RETENTION = timedelta(hours=24)


def _entry(
    title: str, value: float | None, threshold: float | None, unit: str, severity: str | None
) -> dict[str, Any]:
    return {
        "title": title,
        "value": value,
        "threshold": threshold,
        "unit": unit,
        "severity": severity,
    }


def sample_values(*, snapshot: Snapshot, outcomes: Iterable[RuleOutcome]) -> dict[str, Any]:
    """Every measured check by key (the rule, and its labels for a rule watching several
    things: `disk:/var`), and the request rate and queue details."""
    values: dict[str, Any] = {}
    for outcome in outcomes:
        for check in outcome.checks:
            key = ":".join([outcome.rule, *check.labels.values()])
            title = outcome.title + "".join(f" {v}" for v in check.labels.values())
            severity = check.severity.value if check.severity is not None else None
            values[key] = _entry(title, check.value, check.threshold, check.unit, severity)
    if not isinstance(snapshot.requests, NotMeasured):
        window = snapshot.requests
        rate = round(window.requests / window.minutes, 2) if window.minutes else None
        values["request_rate"] = _entry("Request rate", rate, None, "req/min", None)
    if not isinstance(snapshot.queue, NotMeasured):
        stats = snapshot.queue.stats
        for priority, pending in stats.pending_by_priority.items():
            values[f"queue:{priority}"] = _entry(
                f"Pending events, {priority}", pending, None, "events", None
            )
        age = stats.oldest_pending_age_seconds
        values["oldest_pending_age"] = _entry(
            "Oldest pending event", round(age, 1) if age is not None else None, None, "s", None
        )
    return values


def metric_sample_record(
    *, snapshot: Snapshot, outcomes: Iterable[RuleOutcome], now: datetime
) -> MetricSample:
    """Store this evaluation's values and drop the samples older than SAMPLE_RETENTION."""
    sample = MetricSample.objects.create(
        at=now, values=sample_values(snapshot=snapshot, outcomes=outcomes)
    )
    MetricSample.objects.filter(at__lt=now - SAMPLE_RETENTION).delete()
    return sample


def metric_samples_since(*, since: datetime) -> list[MetricSample]:
    """The samples taken at or after `since`, oldest first."""
    return list(MetricSample.objects.filter(at__gte=since).order_by("at", "id"))
