"""Small helpers shared by the alerts tests."""

from __future__ import annotations

from typing import Any

from alerts.evaluation import EvaluationReport, alerts_evaluate
from alerts.models import Alert, AlertStatus, Incident
from alerts.services import send_alert


def send(client: Any, path: str, times: int) -> None:
    for _ in range(times):
        client.get(path)


def evaluate(**kwargs: Any) -> EvaluationReport:
    return alerts_evaluate(trigger="command", **kwargs)


def open_alert(name: str) -> Alert | None:
    return Alert.objects.filter(
        name=name, status__in=[AlertStatus.FIRING, AlertStatus.ACKNOWLEDGED]
    ).first()


def firing(name: str) -> Alert:
    alert = open_alert(name)
    assert alert is not None, f"no open alert {name!r}"
    return alert


def check_of(report: EvaluationReport, rule: str) -> Any:
    (outcome,) = [o for o in report.outcomes if o.rule == rule]
    return outcome


def fire(name: str, severity: str = "high", message: str = "m", **kwargs: Any) -> Alert:
    """send_alert, for tests that go on using the stored alert."""
    alert = send_alert(name=name, severity=severity, message=message, **kwargs)
    assert alert is not None, "the test database is up: the alert must be stored"
    return alert


def critical_incident(name: str = "Down", message: str = "m") -> Incident:
    """The incident a critical alert opens."""
    incident = fire(name, "critical", message).incident
    assert incident is not None
    return incident
