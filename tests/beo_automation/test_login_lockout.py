"""Login lockout (django-axes): repeated wrong passwords lock out the admin login and the API
token endpoint, per client IP and per username; lockouts are recorded and can be lifted."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.core.management import call_command
from rest_framework.test import APIClient

from tests.logs import log_lines
from tests.subprocess_env import python

pytestmark = pytest.mark.django_db

ADMIN_LOGIN = "/admin/login/?next=/admin/"
TOKEN_URL = "/api/auth/token/"
LIMIT = 5  # AXES_FAILURE_LIMIT's default


@pytest.fixture(autouse=True)
def lots_of_login_budget(settings):
    # The per-IP rate limit (RATELIMIT_LOGIN) would answer first otherwise: this is the lockout.
    settings.RATELIMIT_LOGIN = "1000/m"


def admin_login(client, username: str, password: str, **extra):
    return client.post(
        ADMIN_LOGIN, {"username": username, "password": password, "next": "/admin/"}, **extra
    )


def api_login(username: str, password: str, **extra):
    return APIClient().post(
        TOKEN_URL, {"username": username, "password": password}, format="json", **extra
    )


def assert_admin_locked_out(response) -> None:
    assert response.status_code == 429
    assert response["Retry-After"] == "900"
    text = response.content.decode()
    assert "Too many failed login attempts" in text
    assert "15 minutes" in text
    assert "_auth_user_id" not in response.wsgi_request.session


def assert_api_locked_out(response) -> None:
    assert response.status_code == 429, response.content
    assert response["Retry-After"] == "900"
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == 429
    assert body["error"]["message"] == "Too many failed login attempts"
    assert "access" not in body


def test_thirty_wrong_admin_passwords_then_the_right_one_is_refused(client, staff_user, password):
    answers = [admin_login(client, "stella", f"guess {n}").status_code for n in range(30)]
    # The login form again for the first failures, then the lockout page.
    assert answers[: LIMIT - 1] == [200] * (LIMIT - 1)
    assert set(answers[LIMIT - 1 :]) == {429}
    assert_admin_locked_out(admin_login(client, "stella", password))
    assert client.get("/admin/").status_code == 302  # still not logged in


def test_a_few_wrong_admin_passwords_then_the_right_one_logs_in(client, staff_user, password):
    for n in range(LIMIT - 1):
        assert admin_login(client, "stella", f"guess {n}").status_code == 200
    assert admin_login(client, "stella", password).status_code == 302
    assert client.get("/admin/").status_code == 200


def test_thirty_wrong_api_passwords_then_the_right_one_is_refused(user, password):
    answers = [api_login("alice", f"guess {n}").status_code for n in range(30)]
    assert answers[: LIMIT - 1] == [401] * (LIMIT - 1)
    assert set(answers[LIMIT - 1 :]) == {429}
    assert_api_locked_out(api_login("alice", password))


def test_the_admin_and_the_api_share_one_count(client, staff_user, password):
    for n in range(LIMIT - 1):
        admin_login(client, "stella", f"guess {n}")
    assert_api_locked_out(api_login("stella", "one more"))
    assert_admin_locked_out(admin_login(client, "stella", password))


def test_a_username_guessed_from_many_addresses_is_locked_out(staff_user, password):
    for n in range(LIMIT):
        api_login("stella", f"guess {n}", REMOTE_ADDR=f"198.51.100.{n + 1}")
    assert_api_locked_out(api_login("stella", password, REMOTE_ADDR="203.0.113.7"))


def test_an_address_guessing_many_usernames_is_locked_out(user, password):
    for n in range(LIMIT):
        api_login(f"someone-{n}", "guess", REMOTE_ADDR="198.51.100.9")
    assert_api_locked_out(api_login("alice", password, REMOTE_ADDR="198.51.100.9"))
    # Another address and another user are unaffected.
    assert api_login("alice", password, REMOTE_ADDR="203.0.113.7").status_code == 200


def test_a_client_supplied_forwarded_for_does_not_dodge_the_address_lockout(user, password):
    for n in range(LIMIT):
        api_login(f"someone-{n}", "guess", HTTP_X_FORWARDED_FOR=f"192.0.2.{n + 1}")
    assert_api_locked_out(api_login("alice", password, HTTP_X_FORWARDED_FOR="192.0.2.200"))


def test_lockouts_are_recorded_who_what_when(client, staff_user):
    for n in range(LIMIT):
        admin_login(client, "stella", f"guess {n}", HTTP_USER_AGENT="hostile/1.0")
    failures = AccessFailureLog.objects.filter(username="stella").order_by("attempt_time")
    assert failures.count() == LIMIT
    last = failures.last()
    assert last.ip_address == "127.0.0.1"
    assert last.user_agent == "hostile/1.0"
    assert last.path_info == "/admin/login/"
    assert last.locked_out is True
    assert last.attempt_time is not None
    assert "guess" not in str(last.__dict__)  # the password is never stored
    [attempt] = AccessAttempt.objects.filter(username="stella")
    assert attempt.failures_since_start == LIMIT
    [line] = [line for line in log_lines() if line.get("event") == "Login locked out"][-1:]
    assert line["username"] == "stella"
    assert line["client_ip"] == "127.0.0.1"
    assert line["level"] == "warn"


def test_axes_reset_username_lifts_the_lockout(client, staff_user, password):
    for n in range(LIMIT):
        admin_login(client, "stella", f"guess {n}")
    assert_admin_locked_out(admin_login(client, "stella", password))
    call_command("axes_reset_username", "stella")
    # The address is locked out too (it made those failures): lift that as well.
    call_command("axes_reset_ip", "127.0.0.1")
    assert admin_login(client, "stella", password).status_code == 302


def test_axes_reset_lifts_every_lockout(user, password):
    for n in range(LIMIT):
        api_login("alice", f"guess {n}")
    call_command("axes_reset")
    assert api_login("alice", password).status_code == 200


def test_the_lockout_lasts_the_cool_off_time(user, password, settings):
    for n in range(LIMIT):
        api_login("alice", f"guess {n}")
    # The records are what a cool-off reads: move them back past it.
    from datetime import timedelta

    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=16)
    )
    assert api_login("alice", password).status_code == 200


def test_the_limits_come_from_the_environment():
    result = python(
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.AXES_FAILURE_LIMIT, s.AXES_COOLOFF_TIME.total_seconds(), "
        "s.AXES_LOCKOUT_PARAMETERS)",
        AXES_FAILURE_LIMIT="8",
        AXES_COOLOFF_MINUTES="30",
        AXES_LOCKOUT_PARAMETERS="username+ip_address",
        ENV_FILE="/dev/null",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "8 1800.0 [['username', 'ip_address']]"


@pytest.mark.parametrize(
    "env",
    [
        {"AXES_FAILURE_LIMIT": "0"},
        {"AXES_COOLOFF_MINUTES": "0"},
        {"AXES_LOCKOUT_PARAMETERS": "ip,username"},
    ],
)
def test_nonsense_lockout_settings_are_refused(env):
    result = python("import django; django.setup()", ENV_FILE="/dev/null", **env)
    assert result.returncode != 0
    assert "AXES_" in result.stderr


@pytest.mark.parametrize(
    "username_json",
    ['"' + "x" * 300 + '"', '"' + "é" * 100_000 + '"', '"a\\u0000b"', '"\\ud800"', "12", "null"],
    ids=["300-chars", "100k-chars", "nul", "lone-surrogate", "number", "null"],
)
def test_a_hostile_username_at_the_token_endpoint_is_an_answer_not_a_500(username_json):
    body = '{"username": ' + username_json + ', "password": "guess"}'
    response = APIClient().post(TOKEN_URL, body, content_type="application/json")
    assert response.status_code in {400, 401}, response.content
    error = response.json()["error"]
    assert error["code"] == response.status_code
    assert error["message"] in {"Invalid username or password", "Validation failed"}


@pytest.mark.parametrize(
    "username", ["x" * 300, "é" * 100_000, "a\x00b"], ids=["300", "100k", "nul"]
)
def test_a_hostile_username_at_the_admin_login_is_the_form_again(client, username):
    response = admin_login(client, username, "guess")
    assert response.status_code == 200
    assert b"login-form" in response.content


def test_a_long_username_is_recorded_cut_to_the_longest_real_one():
    api_login("x" * 300, "guess")
    [failure] = AccessFailureLog.objects.all()
    assert failure.username == "x" * 150
