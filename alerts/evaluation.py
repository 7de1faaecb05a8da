"""The alert evaluation: measure, compare with the thresholds, raise and auto-resolve.

One service, two callers: the `alerts.evaluate_alerts` Celery task (beat, every minute) and
`manage.py evaluate_alerts`. Running it twice at once is safe: raising is deduplicated by the
one-open-alert-per-fingerprint index and resolving is a conditional update.
"""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime
from typing import Any

import structlog
from django.conf import settings
from django.utils import timezone

from alerts.freshness import METRIC_RULES
from alerts.holding import alerts_store_held
from alerts.metrics import (
    ChannelHealth,
    NotMeasured,
    Reachability,
    beat_measure,
    broker_reachability,
    database_reachability,
    db_connections_measure,
    dead_letter_measure,
    freshness_measure,
    queue_measure,
    requests_measure,
    workers_measure,
)
from alerts.models import OPEN_ALERT_STATUSES, Alert
from alerts.occurrences import alert_fingerprint
from alerts.resolution import alert_resolve
from alerts.rules import INFRASTRUCTURE_RULES, RuleOutcome, Snapshot
from alerts.samples import metric_sample_record
from alerts.services import alert_raise
from beo_automation.errors import ConflictError
from beo_automation.metrics.resources import cpu_measure, disks_measure, memory_measure

logger = structlog.get_logger("alerts.evaluation")


@dataclasses.dataclass
class EvaluationReport:
    started_at: datetime
    duration_ms: float = 0.0
    outcomes: list[RuleOutcome] = dataclasses.field(default_factory=list)
    firing: int = 0  # checks over their threshold
    raised: int = 0  # of which new alerts
    resolved: int = 0
    held_stored: int = 0  # alerts held while the database was down, stored now
    database_ok: bool = True

    @property
    def not_measured(self) -> list[str]:
        return [o.rule for o in self.outcomes if not o.measured]

    def summary(self) -> str:
        checks = sum(len(o.checks) for o in self.outcomes)
        text = (
            f"Evaluated {checks} checks in {self.duration_ms / 1000:.2f} s: {self.firing} firing "
            f"({self.raised} new), {self.resolved} resolved"
        )
        if self.held_stored:
            text += f", {self.held_stored} held alerts stored"
        if self.not_measured:
            text += f"; not measured: {', '.join(self.not_measured)}"
        return text

    def measurements(self) -> dict[str, Any]:
        return {
            o.rule: {
                "title": o.title,
                "not_measured": o.not_measured or None,
                "checks": [
                    {
                        "name": c.name,
                        "firing": c.severity is not None,
                        "severity": c.severity.value if c.severity else None,
                        "value": c.value,
                        "threshold": c.threshold,
                        "unit": c.unit,
                        "labels": c.labels,
                        "message": c.message,
                    }
                    for c in o.checks
                ],
            }
            for o in self.outcomes
        }

    def record(self) -> dict[str, Any]:
        """What the run record (maintenance.MaintenanceRun) keeps of this evaluation."""
        return {**self.as_dict(), "measurements": self.measurements()}

    def as_dict(self) -> dict[str, Any]:
        return {
            "started_at": self.started_at.isoformat(),
            "duration_ms": self.duration_ms,
            "firing": self.firing,
            "raised": self.raised,
            "resolved": self.resolved,
            "held_stored": self.held_stored,
            "database_ok": self.database_ok,
            "not_measured": self.not_measured,
            "summary": self.summary(),
        }


def _measure(func: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return func(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - one broken source must not stop the others
        logger.warning("Measurement failed", measurement=func.__name__, error=str(exc))
        return NotMeasured(f"measurement failed: {type(exc).__name__}")


def snapshot_take(*, now: datetime, database: Reachability, cpu_sample_seconds: float) -> Snapshot:
    """Every measurement the rules need; database-backed ones only when it answers."""
    waiting = NotMeasured("the database is unreachable")
    return Snapshot(
        now=now,
        database=database,
        broker=_measure(broker_reachability),
        requests=_measure(requests_measure, now=now),
        db_connections=_measure(db_connections_measure) if database.ok else waiting,
        memory=_measure(memory_measure),
        cpu=_measure(cpu_measure, sample_seconds=cpu_sample_seconds),
        disks=_measure(disks_measure),
        queue=_measure(queue_measure, now=now) if database.ok else waiting,
        backup=_measure(freshness_measure, operation="backup_db") if database.ok else waiting,
        verify=_measure(freshness_measure, operation="verify_backup") if database.ok else waiting,
        beat=_measure(beat_measure, now=now) if database.ok else waiting,
        workers=_measure(workers_measure),
        dead_letter=_measure(dead_letter_measure) if database.ok else waiting,
        channels=_measure(channels_measure) if database.ok else waiting,
    )


def channels_measure() -> list[ChannelHealth]:
    """Each configured notification channel's delivery record (its own measurement here: the
    rules layer does not read selectors)."""
    from alerts.selectors import channel_states

    return [
        ChannelHealth(c.key, c.label, c.consecutive_failures, c.failing, c.last_error[:300])
        for c in channel_states()
    ]


def _open_rule_alerts(rule: str) -> dict[str, int]:
    return dict(
        Alert.objects.filter(rule=rule, status__in=OPEN_ALERT_STATUSES).values_list(
            "fingerprint", "id"
        )
    )


def _resolve(alert_id: int, reason: str, now: datetime) -> bool:
    try:
        alert_resolve(alert_id=alert_id, user=None, resolution=reason, now=now)
    except ConflictError:
        return False  # someone (staff, a concurrent evaluation) resolved it first
    return True


def _apply(outcome: RuleOutcome, report: EvaluationReport, *, now: datetime) -> None:
    open_alerts = _open_rule_alerts(outcome.rule) if report.database_ok else {}
    seen: set[str] = set()
    for check in outcome.checks:
        fingerprint = alert_fingerprint(name=check.name, labels=check.labels)
        seen.add(fingerprint)
        if check.severity is not None:
            report.firing += 1
            alert = alert_raise(
                name=check.name,
                severity=check.severity,
                message=check.message,
                metadata=check.metadata,
                labels=check.labels,
                rule=outcome.rule,
                now=now,
            )
            if alert is None or alert.occurrences == 1:
                report.raised += 1
        elif fingerprint in open_alerts and _resolve(
            open_alerts[fingerprint], f"Resolved automatically: {check.message}", now
        ):
            report.resolved += 1
    # Alerts of this rule for things no longer watched (a disk removed from the list).
    for fingerprint, alert_id in open_alerts.items():
        if fingerprint not in seen and _resolve(
            alert_id, "Resolved automatically: no longer watched by the evaluation", now
        ):
            report.resolved += 1


def alerts_evaluate(
    *,
    now: datetime | None = None,
    trigger: str = "schedule",
    cpu_sample_seconds: float | None = None,
) -> EvaluationReport:
    """Measure everything, raise alerts over their thresholds, resolve the ones back under.

    Metrics that cannot be measured (SQLite's connection count, request metrics without Redis,
    anything while the database is down) neither raise nor resolve anything. While the
    database is unreachable only the infrastructure rules run (their alerts are delivered
    inline and stored when it is back).
    """
    started = time.perf_counter()
    now = now or timezone.now()
    report = EvaluationReport(started_at=now)
    database = database_reachability()
    report.database_ok = database.ok
    if database.ok:
        report.held_stored = len(alerts_store_held())
    snapshot = snapshot_take(
        now=now,
        database=database,
        cpu_sample_seconds=settings.ALERT_CPU_SAMPLE_SECONDS
        if cpu_sample_seconds is None
        else cpu_sample_seconds,
    )
    rules = INFRASTRUCTURE_RULES + (METRIC_RULES if database.ok else [])
    for rule in rules:
        outcome = rule(snapshot)
        report.outcomes.append(outcome)
        if outcome.measured:
            _apply(outcome, report, now=now)
    if database.ok:
        # The overview's sparklines: what was just judged, against the same thresholds.
        metric_sample_record(snapshot=snapshot, outcomes=report.outcomes, now=now)
    else:
        waiting = "the database is unreachable"
        report.outcomes += [
            RuleOutcome(rule.__name__.removesuffix("_rule"), rule.__name__, [], waiting)
            for rule in METRIC_RULES
        ]
    report.duration_ms = round((time.perf_counter() - started) * 1000, 1)
    log = logger.warning if report.firing else logger.info
    log("Alert evaluation finished", **report.as_dict(), trigger=trigger)
    return report
