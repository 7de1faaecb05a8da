"""Staff-only API: alerts (list, filters, acknowledge, resolve) and incidents (list, create,
detail, transition, acknowledge)."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator

from alerts.models import Alert, AlertStatus, Incident
from alerts.postmortem import PLACEHOLDER
from alerts.resolution import alert_resolve
from tests.alerts.helpers import critical_incident, fire

pytestmark = pytest.mark.django_db

ALERTS = "/api/alerts/"
INCIDENTS = "/api/incidents/"


def error_of(response) -> dict:
    body = response.json()
    assert body["success"] is False
    return body["error"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", ALERTS),
        ("get", f"{ALERTS}1/"),
        ("post", f"{ALERTS}1/acknowledge/"),
        ("post", f"{ALERTS}1/resolve/"),
        ("get", INCIDENTS),
        ("post", INCIDENTS),
        ("get", f"{INCIDENTS}1/"),
        ("post", f"{INCIDENTS}1/transition/"),
        ("post", f"{INCIDENTS}1/acknowledge/"),
    ],
)
def test_non_staff_users_get_a_403_envelope(auth_client, method, path):
    response = getattr(auth_client, method)(path, {}, format="json")
    assert response.status_code == 403
    assert error_of(response)["code"] == 403


def test_anonymous_callers_get_a_401_envelope(api_client):
    response = api_client.get(ALERTS)
    assert response.status_code == 401
    assert error_of(response)["message"] == "Missing or invalid authorization header"


def test_alerts_are_listed_newest_first_with_cursor_links(staff_client):
    for i in range(3):
        fire(f"A{i}", severity="medium", message="m")

    response = staff_client.get(ALERTS, {"page_size": 2})

    assert response.status_code == 200
    body = response.json()
    assert [a["name"] for a in body["results"]] == ["A2", "A1"]
    assert body["next"].startswith("http://testserver/api/alerts/?cursor=")
    older = staff_client.get(body["next"]).json()
    assert [a["name"] for a in older["results"]] == ["A0"]


def test_alerts_are_filtered_by_status_and_severity(staff_client, staff_user):
    fire("High one", "high", "m")
    low = fire("Low one", "low", "m")
    fire("Critical one", "critical", "m")
    alert_resolve(alert_id=low.pk, user=staff_user)

    def names(**params) -> set[str]:
        return {a["name"] for a in staff_client.get(ALERTS, params).json()["results"]}

    assert names(status="resolved") == {"Low one"}
    assert names(status="firing") == {"High one", "Critical one"}
    assert names(severity="high,critical") == {"High one", "Critical one"}
    assert names(status="open", severity="low") == set()


def test_an_unknown_filter_value_is_a_400_naming_the_field(staff_client):
    response = staff_client.get(ALERTS, {"severity": "urgent"})
    assert response.status_code == 400
    assert "severity" in error_of(response)["details"]


def test_an_alert_is_shown_with_its_lifecycle_fields(staff_client):
    alert = fire("Disk", "high", "95 %", labels={"path": "/srv"})
    body = staff_client.get(f"{ALERTS}{alert.pk}/").json()
    assert body["status"] == "firing"
    assert body["labels"] == {"path": "/srv"}
    assert body["occurrences"] == 1
    assert body["silenced"] is False
    assert len(body["fingerprint"]) == 64


def test_acknowledge_then_resolve_through_the_api(staff_client, staff_user):
    alert = fire("Disk", "high", "95 %")

    ack = staff_client.post(f"{ALERTS}{alert.pk}/acknowledge/")
    assert ack.status_code == 200
    assert ack.json()["status"] == "acknowledged"
    assert ack.json()["acknowledged_by"] == staff_user.username

    resolved = staff_client.post(
        f"{ALERTS}{alert.pk}/resolve/", {"resolution": "Freed 20 GB"}, format="json"
    )
    assert resolved.status_code == 200
    assert resolved.json()["status"] == "resolved"
    assert resolved.json()["resolution"] == "Freed 20 GB"
    assert resolved.json()["resolved_by"] == staff_user.username


def test_acknowledging_a_resolved_alert_is_a_409(staff_client, staff_user):
    alert = fire("Disk", "high", "95 %")
    alert_resolve(alert_id=alert.pk, user=staff_user)

    response = staff_client.post(f"{ALERTS}{alert.pk}/acknowledge/")

    assert response.status_code == 409
    assert "only a firing alert can be acknowledged" in error_of(response)["message"]


def test_resolving_twice_is_a_409(staff_client):
    alert = fire("Disk", "high", "95 %")
    assert staff_client.post(f"{ALERTS}{alert.pk}/resolve/").status_code == 200
    response = staff_client.post(f"{ALERTS}{alert.pk}/resolve/")
    assert response.status_code == 409
    assert error_of(response)["message"] == "Alert is already resolved"
    assert Alert.objects.get().status == AlertStatus.RESOLVED


def test_an_unknown_alert_is_a_404(staff_client):
    response = staff_client.post(f"{ALERTS}999999/acknowledge/")
    assert response.status_code == 404
    assert error_of(response)["message"] == "Alert not found"


def test_unknown_fields_are_refused(staff_client):
    alert = fire("Disk", "high", "95 %")
    response = staff_client.post(f"{ALERTS}{alert.pk}/resolve/", {"reason": "x"}, format="json")
    assert response.status_code == 400
    assert error_of(response)["details"] == {"reason": ["Unknown field."]}


def test_staff_open_an_incident(staff_client, staff_user):
    alert = fire("Slow API", "medium", "1.4 s")

    response = staff_client.post(
        INCIDENTS,
        {
            "title": "Slow API responses",
            "severity": "medium",
            "description": "p99 over 1 s",
            "commander": staff_user.username,
            "alert_ids": [alert.pk],
        },
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    assert body["stage"] == "detected"
    assert body["commander"] == staff_user.username
    assert body["acknowledged_at"] is not None  # a commander was named
    assert [a["id"] for a in body["alerts"]] == [alert.pk]
    assert body["next_stages"][0] == "assessed"
    assert body["timeline"][0]["kind"] == "opened"
    assert body["timeline"][0]["actor"] == staff_user.username


def test_creating_an_incident_validates_each_field(staff_client):
    response = staff_client.post(
        INCIDENTS, {"title": "", "severity": "sev1", "commander": "nobody"}, format="json"
    )
    assert response.status_code == 400
    assert set(error_of(response)["details"]) == {"title", "severity", "commander"}


def test_incidents_are_listed_and_filtered(staff_client):
    fire("Down", "critical", "m")
    staff_client.post(INCIDENTS, {"title": "Glitch", "severity": "low"}, format="json")

    all_ = staff_client.get(INCIDENTS).json()["results"]
    critical = staff_client.get(INCIDENTS, {"severity": "critical"}).json()["results"]

    assert [i["title"] for i in all_] == ["Glitch", "Down"]
    assert [i["title"] for i in critical] == ["Down"]


def test_an_incident_detail_offers_the_postmortem_template(staff_client):
    incident = critical_incident("Down", "m")
    body = staff_client.get(f"{INCIDENTS}{incident.pk}/").json()
    assert body["postmortem_required"] is True
    assert body["postmortem_template"].startswith("# Post-mortem: Down")
    assert PLACEHOLDER in body["postmortem_template"]


def test_transition_moves_forward_and_records_the_note(staff_client, staff_user):
    incident = critical_incident("Down", "m")

    response = staff_client.post(
        f"{INCIDENTS}{incident.pk}/transition/",
        {"stage": "assessed", "note": "Primary DB crashed"},
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert body["stage"] == "assessed"
    move = body["timeline"][-1]
    assert (move["from_stage"], move["to_stage"], move["text"]) == (
        "detected",
        "assessed",
        "Primary DB crashed",
    )
    assert move["actor"] == staff_user.username


def test_an_illegal_transition_is_a_409(staff_client):
    incident = critical_incident("Down", "m")
    staff_client.post(
        f"{INCIDENTS}{incident.pk}/transition/", {"stage": "responding"}, format="json"
    )

    backwards = staff_client.post(
        f"{INCIDENTS}{incident.pk}/transition/", {"stage": "assessed"}, format="json"
    )
    early_close = staff_client.post(
        f"{INCIDENTS}{incident.pk}/transition/", {"stage": "closed"}, format="json"
    )

    assert backwards.status_code == 409
    assert "stages only move forward" in error_of(backwards)["message"]
    assert early_close.status_code == 409
    assert "needs a post-mortem" in error_of(early_close)["message"]
    assert Incident.objects.get().stage == "responding"


def test_a_bad_stage_is_a_400(staff_client):
    incident = critical_incident("Down", "m")
    response = staff_client.post(
        f"{INCIDENTS}{incident.pk}/transition/", {"stage": "done"}, format="json"
    )
    assert response.status_code == 400
    assert "stage" in error_of(response)["details"]


def test_the_full_procedure_through_the_api(staff_client):
    incident = critical_incident("Down", "m")
    url = f"{INCIDENTS}{incident.pk}/transition/"
    for stage in ("assessed", "responding", "communicating", "resolved", "postmortem"):
        assert staff_client.post(url, {"stage": stage}, format="json").status_code == 200
    template = staff_client.get(f"{INCIDENTS}{incident.pk}/").json()["postmortem"]

    closed = staff_client.post(
        url,
        {"stage": "closed", "postmortem": template.replace(PLACEHOLDER, "Done.")},
        format="json",
    )

    assert closed.status_code == 200
    assert closed.json()["stage"] == "closed"
    assert closed.json()["closed_at"] is not None


def test_acknowledging_an_incident_twice_is_a_409(staff_client):
    incident = critical_incident("Down", "m")
    assert staff_client.post(f"{INCIDENTS}{incident.pk}/acknowledge/").status_code == 200
    assert staff_client.post(f"{INCIDENTS}{incident.pk}/acknowledge/").status_code == 409


def test_the_schema_documents_every_alerts_endpoint():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    expected = {
        "/api/alerts/": {"get"},
        "/api/alerts/{id}/": {"get"},
        "/api/alerts/{id}/acknowledge/": {"post"},
        "/api/alerts/{id}/resolve/": {"post"},
        "/api/incidents/": {"get", "post"},
        "/api/incidents/{id}/": {"get"},
        "/api/incidents/{id}/transition/": {"post"},
        "/api/incidents/{id}/acknowledge/": {"post"},
    }
    for path, methods in expected.items():
        assert set(schema["paths"][path]) >= methods, path
    transition = schema["paths"]["/api/incidents/{id}/transition/"]["post"]
    assert {"200", "400", "401", "403", "404", "409"} <= set(transition["responses"])
    listing = schema["paths"]["/api/alerts/"]["get"]["responses"]["200"]
    page = listing["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert set(schema["components"]["schemas"][page]["properties"]) == {
        "next",
        "previous",
        "results",
    }
