"""The operations console in a real browser: a new staff member logs in with trouble seeded (a
critical firing alert, its overdue incident, a failed event, no notification channel), sees it
on the admin index, acknowledges the alert from there, and the panels refresh themselves in
place; all under the Content-Security-Policy."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.models import AlertStatus, Incident, MetricSample
from events.models import Status
from tests.alerts.helpers import fire
from tests.beo_automation.test_csp_browser import log_in
from tests.factories import EventFactory

pytestmark = pytest.mark.django_db(transaction=True)

NO_CHANNEL = "No notification channel is configured: alerts reach nobody."
DEAD_LETTERS = "return document.querySelector('#ops-events a[data-link=failed]').textContent"
RED = "rgb(186, 33, 33)"  # #ba2121, static/css/ops.css


def seed_samples() -> None:
    now = timezone.now()
    for minutes in range(55, 0, -5):
        MetricSample.objects.create(
            at=now - timedelta(minutes=minutes),
            values={
                "error_rate": {
                    "title": "Error rate",
                    "value": float(60 - minutes) / 5,
                    "threshold": 5.0,
                    "unit": "%",
                    "severity": "high",
                },
                "queue:normal": {
                    "title": "Queue (normal)",
                    "value": float(minutes % 20),
                    "threshold": 100.0,
                    "unit": "events",
                    "severity": None,
                },
            },
        )


def tall_screenshot(browser, name: str) -> None:
    """The whole overview in one picture (the window as tall as the page), then back."""
    height = browser.run_js("return document.documentElement.scrollHeight")
    browser.driver.set_window_size(1440, min(max(height, 1000), 4000))
    browser.screenshot(name)
    browser.driver.set_window_size(1280, 1000)


def test_staff_see_the_trouble_act_on_it_and_the_panels_refresh_in_place(
    browser, live_site, superuser, password, settings
):
    settings.ALERT_NOTIFY_URLS = ""
    alert = fire("Database Unreachable", "critical", "connection to 10.0.0.12:5432 refused")
    assert alert.incident is not None
    Incident.objects.filter(pk=alert.incident.pk).update(
        response_due_at=timezone.now() - timedelta(minutes=20)
    )
    EventFactory.create(
        owner=superuser, type="beo.menu.changed", status=Status.FAILED, last_error="gave up"
    )
    seed_samples()

    log_in(browser, live_site, "root", password)
    browser.wait_for("#ops-overview .ops-panels")

    # Healthy? What broke? Said where a newcomer looks first, above the app list.
    loud = browser.wait_for(".ops-loud")
    assert loud.text == NO_CHANNEL
    assert browser.run_js("return getComputedStyle(arguments[0]).color", loud) == RED
    row = browser.wait_for(f'#ops-alerts tr[data-alert="{alert.pk}"]')
    assert "Database Unreachable" in row.text
    assert "critical" in row.text
    left = browser.wait_for(f'#ops-incidents tr[data-incident="{alert.incident.pk}"] .ops-left')
    assert left.text.startswith("overdue by 2")
    assert browser.run_js("return getComputedStyle(arguments[0]).color", left) == RED
    assert browser.wait_for('#ops-events a[data-link="failed"]').text == "1"
    assert browser.wait_for('#ops-events a[data-link="status-failed"]').text == "1"
    assert len(browser.find_all("#ops-metrics svg.ops-spark polyline")) == 2
    assert browser.find_all("#ops-health tr.ops-check")
    assert browser.find_all("#content-main .app-events")  # the app list is still there
    tall_screenshot(browser, "ops-overview-trouble")

    # Refresh without a reload: the timer (shortened from 30 s) swaps in the new panels.
    browser.run_js("window.__samePage = true")
    generated = browser.wait_for(".ops-panels").get_attribute("data-generated-at")
    EventFactory.create(owner=superuser, type="beo.created", status=Status.FAILED)
    browser.run_js(
        "document.getElementById('ops-overview').dataset.refreshSeconds = '0.5';"
        "window.beoOpsOverview.start();"
    )
    # Read in one script: the panels are swapped every half second meanwhile.
    browser.until(
        lambda: browser.run_js(DEAD_LETTERS) == "2", "the dead-letter count was not refreshed"
    )
    browser.run_js(
        "document.getElementById('ops-overview').dataset.refreshSeconds = '30';"
        "window.beoOpsOverview.start();"
    )
    assert browser.run_js("return window.__samePage") is True
    assert browser.wait_for(".ops-panels").get_attribute("data-generated-at") != generated
    browser.screenshot("ops-overview-refreshed")

    # Act from the overview (a button of the refreshed panels): back on the index, done.
    browser.wait_for(
        f'#ops-alerts tr[data-alert="{alert.pk}"] button.ops-action__button--acknowledge'
    ).click()
    message = browser.wait_for(".messagelist .success")
    assert message.text.startswith(f"Acknowledged alert #{alert.pk} Database Unreachable")
    assert browser.driver.current_url == f"{live_site.url}/admin/"
    alert.refresh_from_db()
    assert alert.status == AlertStatus.ACKNOWLEDGED
    assert alert.acknowledged_by == superuser
    buttons = browser.find_all(f'#ops-alerts tr[data-alert="{alert.pk}"] button')
    assert [b.get_attribute("value") for b in buttons] == ["resolve"]
    tall_screenshot(browser, "ops-overview-acknowledged")

    assert browser.csp_violations() == []
    assert browser.console_errors() == []


def test_a_refresh_after_logging_out_marks_the_panels_stale(
    browser, live_site, superuser, password
):
    log_in(browser, live_site, "root", password)
    browser.wait_for("#ops-overview .ops-panels")
    browser.driver.delete_cookie("sessionid")
    assert browser.run_js("return window.beoOpsOverview.refresh()") is False
    state = browser.wait_for(".ops-refresh-state--stale")
    assert state.text.endswith("not refreshed: logged out")
    # The panels shown stay (nothing swapped in from a login page).
    assert browser.find_all("#ops-overview #ops-alerts")
    assert browser.csp_violations() == []
