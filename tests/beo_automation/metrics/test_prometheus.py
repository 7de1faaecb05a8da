"""GET /metrics: Prometheus text (parsed with prometheus-client's own parser), request counters
shared by every process through Redis, METRICS_TOKEN."""

from __future__ import annotations

import time

import psutil
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.alerts.helpers import fire, send
from tests.factories import EventFactory
from tests.server import gunicorn

pytestmark = pytest.mark.django_db


def families(text: str) -> dict:
    return {f.name: f for f in text_string_to_metric_families(text)}


def samples(family, **labels) -> list:
    return [s for s in family.samples if all(s.labels.get(k) == v for k, v in labels.items())]


def test_metrics_parse_and_include_every_key_metric(client):
    EventFactory.create_batch(2)
    response = client.get("/metrics")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    found = families(response.content.decode())
    for name in (
        "beo_up",
        "beo_events",
        "beo_events_pending",
        "beo_memory_used_percent",
        "beo_cpu_used_percent",
        "beo_disk_used_percent",
        "beo_alerts_open",
        "beo_incidents_active",
    ):
        assert name in found, name
    assert samples(found["beo_events"], status="pending")[0].value == 2
    assert samples(found["beo_events_pending"], priority="normal")[0].value == 2
    assert samples(found["beo_up"], dependency="database")[0].value == 1


@pytest.mark.postgres
def test_database_connections_are_exported(client):
    found = families(client.get("/metrics").content.decode())
    assert samples(found["beo_db_connections"], state="all")[0].value >= 1
    assert found["beo_db_connections_capacity"].samples[0].value > 0


@pytest.mark.redis
def test_request_counters_and_latency_histograms(probe_client):
    send(probe_client, "/probe/ok/", 3)
    send(probe_client, "/probe/broken/", 2)

    found = families(probe_client.get("/metrics").content.decode())

    requests_total = found["beo_http_requests"]
    ok = samples(requests_total, route="probe/ok/", status="200", method="GET")
    broken = samples(requests_total, route="probe/broken/", status="500")
    assert ok[0].value == 3
    assert broken[0].value == 2
    histogram = found["beo_http_request_duration_seconds"]
    count = [s for s in samples(histogram, route="probe/ok/") if s.name.endswith("_count")]
    assert count[0].value == 3
    inf = samples(histogram, route="probe/ok/", le="+Inf")
    assert inf[0].value == 3
    assert samples(found["beo_http_window_errors"])[0].value == 2


def test_open_alerts_are_exported_by_severity(client):
    fire("Down", "critical", "m")
    found = families(client.get("/metrics").content.decode())
    assert samples(found["beo_alerts_open"], severity="critical", status="firing")[0].value == 1
    assert samples(found["beo_incidents_active"], severity="critical")[0].value == 1


def test_a_token_is_required_when_metrics_token_is_set(client, settings):
    settings.METRICS_TOKEN = "scrape-secret-123"

    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret-123")
    assert response.status_code == 200
    assert "beo_up" in response.content.decode()


def test_metrics_answer_get_only(client):
    assert client.post("/metrics").status_code == 405


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_counters_are_shared_by_every_worker_and_survive_their_restart(alerts_isolated, settings):
    """gunicorn workers are separate processes that get recycled; their counts are flushed to
    Redis every second, so a scrape sees the requests served by every worker, even by workers
    that died since (a SIGKILLed worker loses at most its last second)."""
    env = {
        "DATABASE_URL": (
            f"postgres://postgres@127.0.0.1:5432/{settings.DATABASES['default']['NAME']}"
        ),
        "CACHE_KEY_PREFIX": alerts_isolated,
    }
    with gunicorn(workers=2, **env) as (base, proc):
        for _ in range(20):
            assert requests.get(f"{base}/admin/login/", timeout=5).status_code == 200
        _wait_for_count(base, 20)  # flushed by both workers
        old_workers = psutil.Process(proc.pid).children()
        assert len(old_workers) == 2
        for worker in old_workers:
            worker.kill()
        _wait_for_new_workers(base, proc, old={w.pid for w in old_workers})
        for _ in range(20):
            assert requests.get(f"{base}/admin/login/", timeout=5).status_code == 200

        assert _wait_for_count(base, 40) == 40


def _login_page_count(base: str) -> float:
    found = families(requests.get(f"{base}/metrics", timeout=10).text)
    total = samples(found["beo_http_requests"], route="admin/login/", status="200")
    return total[0].value if total else 0.0


def _wait_for_count(base: str, expected: int) -> float:
    deadline = time.monotonic() + 10
    while (count := _login_page_count(base)) < expected and time.monotonic() < deadline:
        time.sleep(0.2)
    return count


def _wait_for_new_workers(base: str, proc, *, old: set[int]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        children = {c.pid for c in psutil.Process(proc.pid).children()}
        if len(children) == 2 and not children & old:
            try:
                requests.get(f"{base}/api/health/live/", timeout=2)
                return
            except requests.RequestException:
                pass
        time.sleep(0.1)
    raise AssertionError("gunicorn did not replace its workers")
