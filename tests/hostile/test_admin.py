"""Hostile query strings on every admin changelist and hostile JSON in the admin's forms:
never a 500. A changelist answers a bad filter as Django's admin does (a redirect to `?e=1`,
the unfiltered list); other pages a 400."""

from __future__ import annotations

from typing import Any

import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse

from beo_automation.parsers import JSON_MAX_DEPTH
from events.models import Event

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("isolated_cache")]

REGISTERED = [m for m in apps.get_models() if admin.site.is_registered(m)]


def changelist(model: Any) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def filter_params(model: Any) -> list[str]:
    """`<field>__exact` for each of the ModelAdmin's simple list filters, plus the search."""
    model_admin = admin.site.get_model_admin(model)
    params = ["q"]
    for item in model_admin.list_filter:
        if isinstance(item, str):
            params.append(f"{item}__exact")
        elif isinstance(item, tuple):
            params.append(f"{item[0]}__exact")
        else:
            params.append(getattr(item, "parameter_name", None) or "x")
    return params


CASES = [(model, param) for model in REGISTERED for param in filter_params(model)]


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def assert_error_flag_redirect(response: Any, url: str) -> None:
    assert response.status_code == 302, (response.status_code, response.content[:300])
    assert response["Location"] == f"{url}?e=1"


def test_every_registered_model_is_covered():
    names = {m._meta.label for m in REGISTERED}
    assert {
        "events.Event",
        "alerts.Alert",
        "alerts.Incident",
        "maintenance.MaintenanceRun",
    } <= names
    assert "events.Subscription" in names


@pytest.mark.parametrize(("model", "param"), CASES, ids=[f"{m._meta.label}-{p}" for m, p in CASES])
def test_a_nul_in_any_changelist_filter_redirects_to_the_error_flag(admin_client, model, param):
    url = changelist(model)

    response = admin_client.get(f"{url}?{param}=a%00b")

    assert_error_flag_redirect(response, url)
    # ...and the list it lands on works.
    assert admin_client.get(response["Location"]).status_code == 200


@pytest.mark.parametrize("model", REGISTERED, ids=[m._meta.label for m in REGISTERED])
@pytest.mark.parametrize(
    "query",
    ["%00=1", "q=x&status__exact=%00", "o=%00", "p=%00", "e=%00", "_to_field=%00", "q=%00%00"],
)
def test_a_nul_anywhere_in_a_changelist_query_redirects(admin_client, model, query):
    url = changelist(model)

    assert_error_flag_redirect(admin_client.get(f"{url}?{query}"), url)


@pytest.mark.parametrize("model", REGISTERED, ids=[m._meta.label for m in REGISTERED])
@pytest.mark.parametrize(
    "query",
    ["q=%ED%A0%80", "q=%ff", "p=99999999999999999999", "o=99999", "q=" + "x" * 5000, "id__gt=1"],
)
def test_other_hostile_changelist_queries_never_fail(admin_client, model, query):
    response = admin_client.get(f"{changelist(model)}?{query}")

    # Django's own answers: the list, its ?e=1 redirect, or a 400 for a lookup not offered.
    assert response.status_code in {200, 302, 400}, response.status_code


def test_a_nul_on_another_admin_page_is_a_400(admin_client):
    response = admin_client.get(reverse("admin:events_event_add") + "?type=%00")

    assert response.status_code == 400


def test_a_nul_outside_the_admin_is_left_to_the_page(admin_client):
    # The API has its own answers (field errors in the envelope); the middleware stays out.
    response = admin_client.get("/api/health/live/?x=%00")

    assert response.status_code == 200


ADD_EVENT = "/admin/events/event/add/"


@pytest.mark.parametrize(
    "payload",
    [
        "[" * 5000 + "]" * 5000,
        '{"a":' * 2000 + "1" + "}" * 2000,
        '{"x": ' + "[" * JSON_MAX_DEPTH + "]" * JSON_MAX_DEPTH + "}",
        '{"x": NaN}',
        '{"x": 1e400}',
        '{"x": "\\u0000"}',
        '{"x": "\\ud800"}',
        '{"\\ud800": 1}',
        "[]",
        '"text"',
        "{",
    ],
    ids=[
        "arrays 5,000 deep",
        "objects 2,000 deep",
        "over the limit",
        "NaN",
        "1e400",
        "NUL",
        "surrogate",
        "surrogate key",
        "array",
        "string",
        "truncated",
    ],
)
def test_the_add_event_form_shows_an_error_for_a_hostile_payload(admin_client, payload):
    response = admin_client.post(
        ADD_EVENT, {"type": "beo.created", "priority": "2", "payload": payload}
    )

    assert response.status_code == 200, response.status_code
    assert "errorlist" in response.text
    assert Event.objects.count() == 0


@pytest.mark.parametrize(
    "raw_type",
    ["a%00b", "beo%ED%A0%80", "beo%ff", "%C0%80"],
    ids=["NUL", "CESU surrogate", "not UTF-8", "overlong NUL"],
)
def test_the_add_event_form_shows_an_error_for_a_hostile_type(admin_client, raw_type):
    # Raw form bytes, as a crafted request would send them.
    response = admin_client.post(
        ADD_EVENT,
        f"type={raw_type}&priority=2&payload=%7B%7D",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 200
    assert "errorlist" in response.text
    assert Event.objects.count() == 0


@pytest.mark.parametrize("selected", ["abc", "\x00", str(2**80), "1e400"])
def test_a_changelist_action_on_hostile_ids_never_fails(admin_client, selected):
    from tests.factories import EventFactory

    EventFactory()
    response = admin_client.post(
        "/admin/events/event/", {"action": "delete_selected", "_selected_action": [selected]}
    )

    assert response.status_code in {200, 302}, response.status_code
    assert Event.objects.count() == 1
