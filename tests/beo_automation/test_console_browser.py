"""Acting from one place, in a real browser at 1440 px: staff acknowledge an alert and retry a
failed event from their detail pages, and the columns staff need stay on screen."""

from __future__ import annotations

import pytest
from django.utils import timezone

from alerts.models import AlertStatus
from events.models import Status
from maintenance.models import MaintenanceRun, Outcome, Trigger
from tests.alerts.helpers import critical_incident, fire
from tests.beo_automation.test_csp_browser import log_in
from tests.factories import EventFactory

pytestmark = pytest.mark.django_db(transaction=True)

WIDTH = 1440
LONG = (
    "psycopg.OperationalError: connection to server at 10.0.0.12, port 5432 failed: "
    "Connection refused. Is the server running on that host and accepting TCP/IP connections? "
) * 3


@pytest.fixture
def wide(browser):
    browser.driver.set_window_size(WIDTH, 1000)
    yield browser
    browser.driver.set_window_size(1280, 1000)


def column_on_screen(browser, css: str, screenshot: str) -> None:
    """The column's header and every cell end inside the list's box: neither cut off by it nor
    behind its horizontal scroll bar, nor off the window."""
    browser.wait_for(css)
    browser.screenshot(screenshot)
    edges = browser.run_js(
        "const box = document.querySelector('#changelist-form .results');"
        "return {right: Math.max(...Array.from(document.querySelectorAll(arguments[0]))"
        ".map(e => e.getBoundingClientRect().right)),"
        " box: box.getBoundingClientRect().right,"
        " boxScroll: box.scrollWidth - box.clientWidth,"
        " window: document.documentElement.clientWidth}",
        css,
    )
    widths = browser.run_js(
        "return Array.from(document.querySelectorAll('#result_list thead th'))"
        ".map(e => [e.className, Math.round(e.getBoundingClientRect().width)])"
    )
    assert edges["boxScroll"] <= 1, f"the list scrolls sideways: {edges} {widths}"
    assert edges["right"] <= edges["box"] + 1, f"{css} is cut off: {edges}"
    assert edges["box"] <= edges["window"], f"the list is off the window: {edges}"


def test_staff_act_from_detail_pages_and_see_every_column_at_1440px(
    wide, live_site, superuser, password
):
    browser = wide
    alert = fire("Database Unreachable", "critical", LONG)  # opens an incident
    assert alert.incident is not None
    critical_incident("Queue stalled", LONG)
    event = EventFactory.create(
        owner=superuser,
        type="beo.menu.changed",
        status=Status.FAILED,
        attempts=5,
        max_attempts=5,
        last_error=LONG,
        completed_at=timezone.now(),
    )
    for minutes in range(3):
        MaintenanceRun.objects.create(
            operation="archive_events",
            trigger=Trigger.SCHEDULE,
            triggered_by="celery beat",
            outcome=Outcome.FAILED,
            error=LONG,
        )
        MaintenanceRun.objects.create(
            operation="backup_db",
            trigger=Trigger.COMMAND,
            triggered_by=f"manage.py backup_db (ops{minutes})",
            outcome=Outcome.SUCCESS,
            summary={"file": "beo_automation_20261202_031500.sql.gz" * 3, "size": 123456789},
        )
    log_in(browser, live_site, "root", password)

    browser.open(f"{live_site.url}/admin/alerts/alert/")
    column_on_screen(
        browser,
        "#result_list .column-incident_link, #result_list .field-incident_link",
        "console-alerts-list-1440",
    )
    browser.open(f"{live_site.url}/admin/alerts/incident/")
    column_on_screen(
        browser,
        "#result_list .column-response, #result_list .field-response",
        "console-incidents-list-1440",
    )
    browser.open(f"{live_site.url}/admin/maintenance/maintenancerun/")
    column_on_screen(
        browser,
        "#result_list .column-summary_short, #result_list .field-summary_short",
        "console-runs-list-1440",
    )
    browser.open(f"{live_site.url}/admin/events/event/")
    column_on_screen(
        browser,
        "#result_list .column-last_error_short, #result_list .field-last_error_short",
        "console-events-list-1440",
    )

    # An alert's page: Acknowledge, then only Resolve is left.
    browser.open(f"{live_site.url}/admin/alerts/alert/{alert.pk}/change/")
    browser.wait_for("button.beo-detail-action__button[value=acknowledge]").click()
    message = browser.wait_for(".messagelist .success")
    assert (
        message.text
        == f"Acknowledged alert #{alert.pk} Database Unreachable: no repeat notifications."
    )
    alert.refresh_from_db()
    assert alert.status == AlertStatus.ACKNOWLEDGED
    assert alert.acknowledged_by == superuser
    values = [
        b.get_attribute("value") for b in browser.find_all("button.beo-detail-action__button")
    ]
    assert values == ["resolve"]
    browser.screenshot("console-alert-acknowledged")

    # A failed event's page: it says when it failed, and Retry makes it pending.
    browser.open(f"{live_site.url}/admin/events/event/{event.pk}/change/")
    assert "Failed (gave up)" in browser.wait_for(".field-finished_at").text
    browser.wait_for("button.beo-detail-action__button[value=retry]").click()
    message = browser.wait_for(".messagelist .success")
    assert message.text == f"Retried event #{event.pk}: it is pending now."
    # No worker runs in this test: it waits, pending, with more attempts.
    event.refresh_from_db()
    assert (event.status, event.max_attempts > 5) == (Status.PENDING, True)
    assert browser.wait_for(".field-status_badge .beo-status").text == "pending"
    values = [
        b.get_attribute("value") for b in browser.find_all("button.beo-detail-action__button")
    ]
    assert values == ["cancel"]
    browser.screenshot("console-event-retried")

    assert browser.csp_violations() == []
    assert browser.console_errors() == []
