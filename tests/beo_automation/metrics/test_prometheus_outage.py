"""/metrics keeps answering while Redis is down (monitoring must not go blind during the outage),
and a hostile bearer token is a 401, never a 500."""

from __future__ import annotations

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.redis_server import throwaway_redis
from tests.server import gunicorn

# One Redis read that hangs costs this long; the scrape must not pay it once per family.
SOCKET_TIMEOUT = 0.5


def scrape(base: str) -> tuple[int, dict[tuple[str, str], float], set[str]]:
    # The client's timeout is the bound: a few socket timeouts plus the database's share.
    response = requests.get(f"{base}/metrics", timeout=10 * SOCKET_TIMEOUT)
    up: dict[tuple[str, str], float] = {}
    names = set()
    for family in text_string_to_metric_families(response.text):
        names.add(family.name)
        if family.name == "beo_up":
            for sample in family.samples:
                up[("dependency", sample.labels["dependency"])] = sample.value
    return response.status_code, up, names


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_metrics_answer_with_redis_reported_down_while_it_is_down_then_up_again(settings):
    from tests.factories import EventFactory

    EventFactory.create_batch(3)
    with throwaway_redis() as redis_server:
        env = {
            "DATABASE_URL": (
                f"postgres://postgres@127.0.0.1:5432/{settings.DATABASES['default']['NAME']}"
            ),
            "REDIS_URL": redis_server.url,
            "REDIS_SOCKET_TIMEOUT": str(SOCKET_TIMEOUT),
        }
        with gunicorn(workers=1, **env) as (base, _proc):
            status, up, names = scrape(base)
            assert status == 200
            assert up[("dependency", "redis")] == 1
            assert "beo_http_requests" in names

            redis_server.pause()  # hung: connections accepted, never answered
            status, up, names = scrape(base)
            assert status == 200
            assert up == {("dependency", "redis"): 0, ("dependency", "database"): 1}
            assert "beo_http_requests" not in names  # unknown, not a made-up zero
            assert {"beo_events", "beo_events_pending", "beo_memory_used_percent"} <= names

            redis_server.resume()
            redis_server.stop()  # gone: connections refused
            status, up, names = scrape(base)
            assert status == 200
            assert up[("dependency", "redis")] == 0
            assert "beo_events" in names

            redis_server.start()  # back, empty
            status, up, names = scrape(base)
            assert status == 200
            assert up[("dependency", "redis")] == 1
            assert "beo_http_requests" in names


@pytest.mark.django_db
@pytest.mark.parametrize("token", ["sécret", "Ω" * 40, "\ud800", "scrape-secret-123\x00"])
def test_a_non_ascii_or_crafted_bearer_token_is_refused_with_401(client, settings, token):
    settings.METRICS_TOKEN = "scrape-secret-123"

    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'


@pytest.mark.django_db
def test_a_non_ascii_metrics_token_setting_still_admits_its_holder(client, settings):
    settings.METRICS_TOKEN = "jeton-été"
    # A WSGI header value is the raw bytes decoded as latin-1.
    header = "Bearer " + "jeton-été".encode().decode("latin-1")

    assert client.get("/metrics", HTTP_AUTHORIZATION=header).status_code == 200
