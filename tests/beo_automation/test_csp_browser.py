"""The admin and the Swagger UI work under the Content-Security-Policy, in a real browser."""

from __future__ import annotations

import pytest

from tests.factories import EventFactory

pytestmark = pytest.mark.django_db(transaction=True)


def log_in(browser, live_site, username: str, password: str) -> None:
    browser.open(f"{live_site.url}/admin/login/?next=/admin/")
    browser.wait_for("#id_username").send_keys(username)
    browser.wait_for("#id_password").send_keys(password)
    browser.wait_for("#login-form [type=submit]").click()
    browser.wait_for("#site-name")
    browser.until(lambda: "/admin/login/" not in browser.driver.current_url, "still on login")


def test_the_admin_login_page_renders_and_logs_in(browser, live_site, superuser, password):
    browser.open(f"{live_site.url}/admin/login/")
    assert browser.wait_for("#login-form").is_displayed()
    # The admin's stylesheets applied (a blocked one would leave the header transparent).
    assert browser.run_js(
        "return getComputedStyle(document.getElementById('header')).backgroundColor"
    ) not in {"", "transparent", "rgba(0, 0, 0, 0)"}
    log_in(browser, live_site, "root", password)
    assert browser.wait_for("#content h1").text == "Site administration"
    assert browser.csp_violations() == []
    assert browser.console_errors() == []


def test_a_changelist_renders_and_its_javascript_works(browser, live_site, superuser, password):
    for _ in range(3):
        EventFactory(owner=superuser)
    log_in(browser, live_site, "root", password)
    browser.open(f"{live_site.url}/admin/events/event/")
    browser.wait_for("#result_list tbody tr", count=3)
    # actions.js: "select all" ticks every row and updates the counter.
    browser.wait_for("#action-toggle").click()
    browser.until(
        lambda: all(box.is_selected() for box in browser.find_all("input.action-select")),
        "the select-all checkbox did not tick the rows",
    )
    counter = browser.wait_for(".action-counter")
    browser.until(lambda: counter.text.startswith("3 of 3"), f"counter says {counter.text!r}")
    # The action dropdown offers the admin's actions.
    options = [o.get_attribute("value") for o in browser.find_all("select[name=action] option")]
    assert {"retry_events", "cancel_events"} <= set(options)
    # A filter link (the sidebar) narrows the list.
    browser.wait_for("#changelist-filter")
    browser.open(f"{live_site.url}/admin/events/event/?status__exact=failed")
    browser.wait_for("#changelist-filter")
    assert browser.find_all("#result_list tbody tr") == []
    assert browser.csp_violations() == []
    assert browser.console_errors() == []


def test_the_swagger_ui_lists_the_operations(browser, live_site):
    browser.open(f"{live_site.url}/api/docs/")
    browser.wait_for(".opblock", count=5)
    paths = {e.text for e in browser.find_all(".opblock-summary-path")}
    assert "/api/events/" in paths
    assert "/api/auth/token/" in paths
    # An operation opens (Swagger UI's own scripts at work).
    browser.wait_for(".opblock-summary").click()
    browser.wait_for(".opblock-body")
    assert browser.csp_violations() == []
    assert browser.console_errors() == []


def test_a_violation_would_be_seen(browser, live_site):
    """The detector itself: an inline script on a page under the policy is refused and reported."""
    browser.open(f"{live_site.url}/admin/login/")
    browser.wait_for("#login-form")
    browser.run_js(
        "var s = document.createElement('script'); s.textContent = 'window.ran = 1';"
        "document.body.appendChild(s);"
    )
    assert browser.run_js("return window.ran") is None
    violations = browser.until(browser.csp_violations, "no violation reported")
    assert any(v.get("directive") == "script-src-elem" for v in violations), violations
