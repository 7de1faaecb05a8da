"""Response time and error rate: real requests through the middleware, measured in Redis
buckets, judged by the evaluation, raised and resolved again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.models import Alert, AlertStatus, Severity
from tests.alerts.helpers import check_of, evaluate, firing, open_alert, send

pytestmark = [pytest.mark.django_db, pytest.mark.redis]


@pytest.fixture(autouse=True)
def few_requests_suffice(settings):
    settings.ALERT_MIN_REQUESTS = 10


def test_slow_requests_raise_high_response_time(probe_client, settings):
    settings.ALERT_RESPONSE_TIME_MS = 30
    send(probe_client, "/probe/slow/?ms=60", 10)

    report = evaluate()

    alert = open_alert("High Response Time")
    assert alert is not None
    assert alert.severity == Severity.MEDIUM
    assert alert.rule == "response_time"
    assert alert.metadata["requests"] == 10
    assert alert.metadata["avg_ms"] >= 60
    assert "Average API response time" in alert.message
    assert report.raised >= 1


def test_response_time_resolves_when_fast_requests_bring_the_average_under(probe_client, settings):
    settings.ALERT_RESPONSE_TIME_MS = 30
    send(probe_client, "/probe/slow/?ms=60", 10)
    evaluate()
    assert open_alert("High Response Time") is not None

    send(probe_client, "/probe/ok/", 200)  # ~60*10/210 ≈ 3 ms average now
    report = evaluate()

    alert = Alert.objects.get(name="High Response Time")
    assert alert.status == AlertStatus.RESOLVED
    assert alert.resolved_by is None
    assert alert.resolution.startswith("Resolved automatically")
    assert report.resolved == 1


def test_error_rate_above_five_percent_is_a_high_alert(probe_client):
    send(probe_client, "/probe/broken/", 5)
    send(probe_client, "/probe/ok/", 15)

    evaluate()

    alert = open_alert("High Error Rate")
    assert alert is not None
    assert alert.severity == Severity.HIGH
    assert alert.message.startswith("Error rate at 25.00%")
    assert alert.metadata["error_rate"] == 0.25
    assert alert.metadata["threshold"] == 0.05


def test_error_rate_between_one_and_five_percent_is_a_medium_alert(probe_client):
    send(probe_client, "/probe/broken/", 1)
    send(probe_client, "/probe/ok/", 49)

    evaluate()

    alert = open_alert("High Error Rate")
    assert alert is not None
    assert alert.severity == Severity.MEDIUM
    assert alert.message.startswith("Error rate at 2.00%")


def test_error_rate_alert_downgrades_then_resolves_as_the_rate_falls(probe_client):
    send(probe_client, "/probe/broken/", 3)
    send(probe_client, "/probe/ok/", 17)  # 15 %
    evaluate()
    assert firing("High Error Rate").severity == Severity.HIGH

    send(probe_client, "/probe/ok/", 80)  # 3 of 100: 3 %
    evaluate()
    alert = firing("High Error Rate")
    assert alert.severity == Severity.MEDIUM
    assert alert.occurrences == 2

    send(probe_client, "/probe/ok/", 250)  # 3 of 350: 0.86 %
    evaluate()
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED
    assert Alert.objects.filter(name="High Error Rate").count() == 1


def test_requests_outside_the_window_no_longer_count(probe_client):
    send(probe_client, "/probe/broken/", 10)
    send(probe_client, "/probe/ok/", 10)
    evaluate()
    assert open_alert("High Error Rate") is not None

    report = evaluate(now=timezone.now() + timedelta(minutes=6))

    assert open_alert("High Error Rate") is None
    assert "too few to judge" in check_of(report, "error_rate").checks[0].message


def test_too_few_requests_are_not_judged(probe_client, settings):
    settings.ALERT_MIN_REQUESTS = 20
    send(probe_client, "/probe/broken/", 5)

    report = evaluate()

    assert open_alert("High Error Rate") is None
    outcome = check_of(report, "error_rate")
    assert outcome.checks[0].severity is None
    assert "5 requests in 5 min: too few to judge" in outcome.checks[0].message


def test_health_probes_and_metrics_scrapes_are_not_counted(probe_client, settings):
    settings.HEALTH_DISK_WARN_PCT = 0.01  # every health probe answers 503
    send(probe_client, "/api/health/", 20)
    send(probe_client, "/metrics", 5)

    report = evaluate()

    assert open_alert("High Error Rate") is None
    assert "0 requests" in check_of(report, "error_rate").checks[0].message


def test_without_redis_request_metrics_are_not_measured(settings):
    settings.REDIS_URL = ""

    report = evaluate()

    for rule in ("response_time", "error_rate"):
        outcome = check_of(report, rule)
        assert not outcome.measured
        assert "needs Redis" in outcome.not_measured
    assert "response_time" in report.not_measured
