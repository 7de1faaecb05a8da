"""Rate limits per client IP: the API-wide limit, the tighter token limit, trusted proxies."""

from __future__ import annotations

import ipaddress
import threading
import time
import uuid

import pytest
import redis
import requests
from django.test import RequestFactory
from rest_framework.test import APIClient

from beo_automation.ratelimit import client_ip, rate_limit_usage, window_end
from beo_automation.ratelimit_config import parse_networks, parse_rate, rate_split
from tests.logs import log_lines
from tests.server import gunicorn
from tests.subprocess_env import manage, python

pytestmark = pytest.mark.django_db

PROTECTED = "/api/events/"
TOKEN_URL = "/api/auth/token/"


def seconds_left_in_window(client: str) -> int:
    """Seconds until `client`'s current one-minute window ends."""
    now = int(time.time())
    return window_end(client, 60, now=now) - now


def wait_for_a_fresh_window(*clients: str, margin: int = 2) -> None:
    """Start with `margin` seconds left in each client's window: a test whose requests straddled
    a window's end would see its count start again and fail by chance."""
    while (left := min(seconds_left_in_window(client) for client in clients)) < margin:
        time.sleep(left + 1)


@pytest.fixture
def fresh_window() -> None:
    wait_for_a_fresh_window("127.0.0.1")


def assert_too_many(response) -> int:
    assert response.status_code == 429, response.content
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == 429
    assert body["error"]["message"] == "Too many requests"
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= 60
    return retry_after


def test_requests_over_the_api_limit_get_a_429_with_retry_after(api_client, settings, fresh_window):
    settings.RATELIMIT_API = "3/m"
    answers = [api_client.get(PROTECTED).status_code for _ in range(3)]
    assert answers == [401, 401, 401]  # counted before authentication
    assert_too_many(api_client.get(PROTECTED))


def test_the_limit_counts_every_api_path(auth_client, settings, fresh_window):
    settings.RATELIMIT_API = "2/m"
    auth_client.get(PROTECTED)
    auth_client.get("/api/events/12345/")
    assert_too_many(auth_client.get("/api/nothing-here/"))


def test_health_schema_and_docs_are_never_limited(api_client, settings, fresh_window):
    settings.RATELIMIT_API = "1/m"
    for _ in range(3):
        assert api_client.get("/api/health/live/").status_code == 200
        assert api_client.get("/api/schema/").status_code == 200
        assert api_client.get("/api/docs/").status_code == 200
    assert api_client.get(PROTECTED).status_code == 401
    assert_too_many(api_client.get(PROTECTED))


def test_the_token_endpoint_has_its_own_tighter_limit(api_client, settings, fresh_window):
    settings.RATELIMIT_LOGIN = "2/m"
    settings.RATELIMIT_API = "100/m"
    wrong = {"username": "alice", "password": "guess"}
    assert api_client.post(TOKEN_URL, wrong, format="json").status_code == 401
    assert api_client.post(TOKEN_URL, wrong, format="json").status_code == 401
    assert_too_many(api_client.post(TOKEN_URL, wrong, format="json"))
    # The refresh endpoint shares the token budget; other endpoints do not.
    assert_too_many(api_client.post("/api/auth/token/refresh/", {}, format="json"))
    assert api_client.get(PROTECTED).status_code == 401


def test_a_limited_login_does_not_check_the_password(
    api_client, settings, user, password, fresh_window
):
    settings.RATELIMIT_LOGIN = "1/m"
    api_client.post(TOKEN_URL, {"username": "alice", "password": "guess"}, format="json")
    right = {"username": "alice", "password": password}
    assert_too_many(api_client.post(TOKEN_URL, right, format="json"))


def test_limits_are_per_client_address(settings):
    settings.RATELIMIT_API = "1/m"
    wait_for_a_fresh_window("10.0.0.1")
    first, second = APIClient(REMOTE_ADDR="10.0.0.1"), APIClient(REMOTE_ADDR="10.0.0.2")
    assert first.get(PROTECTED).status_code == 401
    assert second.get(PROTECTED).status_code == 401
    assert_too_many(first.get(PROTECTED))


def test_a_client_cannot_dodge_the_limit_with_x_forwarded_for(api_client, settings, fresh_window):
    settings.RATELIMIT_API = "1/m"
    api_client.get(PROTECTED, HTTP_X_FORWARDED_FOR="203.0.113.1")
    assert_too_many(api_client.get(PROTECTED, HTTP_X_FORWARDED_FOR="203.0.113.2"))


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget(settings):
    settings.RATELIMIT_API = "1/m"
    settings.TRUSTED_PROXIES = parse_networks("TRUSTED_PROXIES", ["10.0.0.0/8"])
    wait_for_a_fresh_window("203.0.113.1")
    proxy = APIClient(REMOTE_ADDR="10.1.2.3")
    assert proxy.get(PROTECTED, HTTP_X_FORWARDED_FOR="203.0.113.1").status_code == 401
    assert proxy.get(PROTECTED, HTTP_X_FORWARDED_FOR="203.0.113.2").status_code == 401
    assert_too_many(proxy.get(PROTECTED, HTTP_X_FORWARDED_FOR="203.0.113.1"))


def test_the_first_refusal_is_logged_once(api_client, settings, fresh_window):
    settings.RATELIMIT_API = "1/m"
    path = f"/api/probe-{uuid.uuid4().hex}/"
    for _ in range(4):
        api_client.get(path)
    lines = [
        x for x in log_lines() if x.get("event") == "Rate limit exceeded" and x["path"] == path
    ]
    assert len(lines) == 1
    assert lines[0]["client_ip"] == "127.0.0.1"
    assert lines[0]["group"] == "api"


def test_rate_limiting_can_be_turned_off(api_client, settings):
    settings.RATELIMIT_API = "1/m"
    settings.RATELIMIT_ENABLE = False
    assert {api_client.get(PROTECTED).status_code for _ in range(5)} == {401}


def _outage_lines() -> int:
    return sum(
        line.get("event") == "Rate limit not enforced: the cache is unreachable"
        for line in log_lines()
    )


@pytest.mark.parametrize(
    ("backend", "options"),
    [
        # Ours counts in one script call; Django's Redis backend through the cache API.
        (
            "beo_automation.cache_backend.RedisCache",
            {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        ),
        ("django.core.cache.backends.redis.RedisCache", {"socket_connect_timeout": 0.2}),
    ],
)
def test_requests_pass_and_the_outage_is_logged_when_the_cache_is_down(
    api_client, settings, backend, options
):
    settings.RATELIMIT_API = "1/m"
    settings.CACHES = {
        "default": {
            "BACKEND": backend,
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
            "OPTIONS": options,
        }
    }
    before = _outage_lines()
    assert [api_client.get(PROTECTED).status_code for _ in range(2)] == [401, 401]
    assert _outage_lines() >= before + 2


@pytest.mark.redis
def test_the_count_is_shared_across_processes_through_redis(settings, api_client):
    """The budget used in this process is spent for a gunicorn process too: one counter."""
    settings.RATELIMIT_API = "3/m"
    settings.RATELIMIT_CACHE_PREFIX = "rl:"
    settings.TRUSTED_PROXIES = parse_networks("TRUSTED_PROXIES", ["127.0.0.1"])
    # A client address of its own, so parallel runs never share this bucket.
    client = str(ipaddress.IPv4Address(0xC6120000 + uuid.uuid4().int % 0xFFFF))  # 198.18.x.x
    with gunicorn(RATELIMIT_API="3/m", TRUSTED_PROXIES="127.0.0.1") as (base, _):
        wait_for_a_fresh_window(client, margin=5)
        for _ in range(3):
            assert api_client.get(PROTECTED, HTTP_X_FORWARDED_FOR=client).status_code == 401
        response = requests.get(
            f"{base}{PROTECTED}", headers={"X-Forwarded-For": client}, timeout=10
        )
        other = requests.get(
            f"{base}{PROTECTED}", headers={"X-Forwarded-For": "198.51.100.7"}, timeout=10
        )
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    assert other.status_code == 401


@pytest.mark.redis
def test_a_window_counter_in_redis_expires_with_its_window(api_client, settings, fresh_window):
    """A counter left without an expiry would lock its client out for good."""
    settings.RATELIMIT_API = "50/m"
    for _ in range(3):
        api_client.get(PROTECTED)
    with redis.Redis.from_url(settings.REDIS_URL) as server:
        keys = list(server.scan_iter(match=f"*{settings.RATELIMIT_CACHE_PREFIX}*"))
        assert len(keys) == 1  # one client, one group, one window
        assert int(server.get(keys[0])) == 3
        assert 0 < server.ttl(keys[0]) <= 60 + 5  # the window and a few seconds' slack


@pytest.mark.redis
def test_concurrent_requests_are_all_counted(settings):
    """A hit is one atomic call on Redis: no hit is lost between threads."""
    client = str(ipaddress.IPv4Address(0xC6120000 + uuid.uuid4().int % 0xFFFF))
    wait_for_a_fresh_window(client, margin=10)

    def hit() -> None:
        request = RequestFactory().get("/", REMOTE_ADDR=client)
        for _ in range(25):
            rate_limit_usage(request, group="api", rate="1000/m")

    threads = [threading.Thread(target=hit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    request = RequestFactory().get("/", REMOTE_ADDR=client)
    assert rate_limit_usage(request, group="api", rate="1000/m").count == 201


def test_the_limit_holds_with_a_cache_other_than_redis(api_client, settings, fresh_window):
    settings.RATELIMIT_API = "2/m"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"ratelimit-test-{uuid.uuid4().hex}",
        }
    }
    assert [api_client.get(PROTECTED).status_code for _ in range(2)] == [401, 401]
    assert_too_many(api_client.get(PROTECTED))


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "expected"),
    [
        ("203.0.113.9", "", [], "203.0.113.9"),
        ("203.0.113.9", "198.51.100.1", [], "203.0.113.9"),  # untrusted peer: header ignored
        ("10.0.0.2", "198.51.100.1", ["10.0.0.0/8"], "198.51.100.1"),
        # Client-written entries left of the first untrusted hop are never believed.
        ("10.0.0.2", "6.6.6.6, 198.51.100.1, 10.0.0.7", ["10.0.0.0/8"], "198.51.100.1"),
        ("10.0.0.2", "198.51.100.1:5555", ["10.0.0.0/8"], "198.51.100.1"),
        ("10.0.0.2", "[2001:db8::1]:443", ["10.0.0.0/8"], "2001:db8::1"),
        ("10.0.0.2", "not-an-ip", ["10.0.0.0/8"], "10.0.0.2"),
        ("10.0.0.2", "", ["10.0.0.0/8"], "10.0.0.2"),
        ("::1", "2001:db8::5", ["::1"], "2001:db8::5"),
    ],
)
def test_client_ip(settings, peer, forwarded, trusted, expected):
    settings.TRUSTED_PROXIES = parse_networks("TRUSTED_PROXIES", trusted)
    request = RequestFactory().get("/", REMOTE_ADDR=peer, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


@pytest.mark.parametrize(
    ("rate", "split"),
    [
        ("100/m", (100, 60)),
        ("10/s", (10, 1)),
        ("1000/5m", (1000, 300)),
        ("5/h", (5, 3600)),
        ("20/d", (20, 86400)),
    ],
)
def test_valid_rates(rate, split):
    assert parse_rate("RATELIMIT_API", rate) == rate
    assert rate_split(rate) == split


@pytest.mark.parametrize("period", [1, 60, 300])
def test_windows_are_consecutive_fixed_spans_of_the_period(period):
    start = 1_800_000_000
    ends = [window_end("198.51.100.7", period, now=now) for now in range(start, start + 3 * period)]
    assert all(
        now <= end < now + period
        for now, end in zip(range(start, start + 3 * period), ends, strict=True)
    )
    assert sorted(set(ends)) == list(range(min(ends), max(ends) + 1, period))
    # A window ends at the same second for one client whatever the second it is asked in.
    assert ends.count(ends[period]) == period


@pytest.mark.parametrize("rate", ["", "100", "100/minute", "0/m", "-1/m", "m/100"])
def test_invalid_rates_name_the_variable(rate):
    with pytest.raises(ValueError, match="RATELIMIT_API"):
        parse_rate("RATELIMIT_API", rate)


@pytest.mark.parametrize(
    ("variable", "value"),
    [("RATELIMIT_API", "lots"), ("RATELIMIT_LOGIN", "10/minute"), ("TRUSTED_PROXIES", "proxy1")],
)
def test_a_malformed_setting_stops_start_up_naming_it(variable, value):
    result = python("import django; django.setup()", **{variable: value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert variable in result.stderr


def test_the_defaults_are_on_100_a_minute_and_10_for_tokens():
    from tests.subprocess_env import settings_in_child

    values = settings_in_child(
        "s.RATELIMIT_ENABLE",
        "s.RATELIMIT_API",
        "s.RATELIMIT_LOGIN",
        "list(map(str, s.TRUSTED_PROXIES))",
        RATELIMIT_ENABLE=None,
        RATELIMIT_API=None,
        RATELIMIT_LOGIN=None,
        TRUSTED_PROXIES=None,
    )
    assert values == [True, "100/m", "10/m", []]


def test_check_passes_without_redis_despite_the_local_memory_cache():
    result = manage("check", REDIS_URL=None, DATABASE_URL=None, DEBUG="true")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_passes_with_redis_and_nothing_silenced():
    result = manage("check", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues (0 silenced)" in result.stdout
