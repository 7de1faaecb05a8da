"""The operations console: the admin index shows staff the ops overview's panels with the
database's numbers, never shows them to anyone else, acts on alerts from there and links each
event count to the changelist rows it counted; and the index outlives a failing overview."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from alerts.models import AlertStatus, Incident, MetricSample
from events.models import Event, Status
from maintenance.models import MaintenanceRun, Outcome, Trigger
from tests.alerts.helpers import fire
from tests.factories import EventFactory

pytestmark = pytest.mark.django_db

NO_CHANNEL = "No notification channel is configured: alerts reach nobody."


@pytest.fixture
def admin_client(client, superuser, settings):
    settings.ALERT_NOTIFY_URLS = ""
    client.force_login(superuser)
    return client


def section(page: str, panel_id: str) -> str:
    """One panel's HTML (<section id="...">…</section>)."""
    match = re.search(rf'<section [^>]*id="{panel_id}".*?</section>', page, re.S)
    assert match, f"no panel {panel_id}"
    return match.group(0)


def text_of(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def link(page: str, name: str) -> tuple[str, str]:
    """The (href, shown count) of the panel link data-link=name."""
    match = re.search(
        rf'<a href="([^"]+)" class="[^"]*" data-link="{re.escape(name)}">(\d+)</a>', page
    )
    assert match, f"no link {name}"
    return unescape(match.group(1)), match.group(2)


def changelist_ids(client, url: str) -> set[int]:
    response = client.get(url)
    assert response.status_code == 200, url
    assert "?e=1" not in response.get("Location", "")
    return {int(pk) for pk in re.findall(r'name="_selected_action" value="(\d+)"', response.text)}


@pytest.fixture
def trouble(superuser):
    """A critical firing alert with its (overdue) incident, a high one acknowledged, failed
    events today and one from last week, a backup and a failed job run."""
    now = timezone.now()
    critical = fire("Database Unreachable", "critical", "connection refused")
    assert critical.incident is not None
    Incident.objects.filter(pk=critical.incident.pk).update(
        detected_at=now - timedelta(hours=1), response_due_at=now - timedelta(minutes=30)
    )
    high = fire("Disk almost full", "high", "91 % used")
    high.status = AlertStatus.ACKNOWLEDGED
    high.acknowledged_at = now
    high.save()
    today_failed = [
        EventFactory.create(owner=superuser, type="beo.menu.changed", status=Status.FAILED)
        for _ in range(2)
    ]
    completed = [
        EventFactory.create(owner=superuser, type="beo.created", status=Status.COMPLETED)
        for _ in range(3)
    ]
    old_failed = EventFactory.create(owner=superuser, type="beo.created", status=Status.FAILED)
    Event.objects.filter(pk=old_failed.pk).update(created_at=now - timedelta(days=7))
    backup = MaintenanceRun.objects.create(
        operation="backup_db",
        trigger=Trigger.SCHEDULE,
        triggered_by="celery beat",
        outcome=Outcome.SUCCESS,
        started_at=now - timedelta(hours=3),
        finished_at=now - timedelta(hours=3),
        summary={"file": "beo_20261202_031500.sql.gz", "bytes": 5 * 1024 * 1024},
    )
    failed_run = MaintenanceRun.objects.create(
        operation="archive_events",
        trigger=Trigger.COMMAND,
        triggered_by="manage.py archive_events (ops)",
        outcome=Outcome.FAILED,
        error="disk full",
    )
    return {
        "critical": critical,
        "high": high,
        "today_failed": today_failed,
        "completed": completed,
        "old_failed": old_failed,
        "backup": backup,
        "failed_run": failed_run,
    }


def test_staff_see_the_panels_with_the_numbers_of_the_database(admin_client, trouble):
    page = admin_client.get("/admin/").text

    # Above the app list, which is still there.
    assert page.index('id="ops-overview"') < page.index('id="content-main"')
    assert "app-events" in page

    alerts = section(page, "ops-alerts")
    assert "Open alerts: 2" in text_of(alerts)
    assert 'data-severity="critical">critical: 1' in alerts
    assert 'data-severity="high">high: 1' in alerts
    assert 'data-severity="medium">medium: 0' in alerts
    # Worst first; the acknowledged one offers only Resolve.
    rows = re.findall(r'data-alert="(\d+)"', alerts)
    assert rows == [str(trouble["critical"].pk), str(trouble["high"].pk)]

    incidents = section(page, "ops-incidents")
    incident = trouble["critical"].incident
    assert f'href="/admin/alerts/incident/{incident.pk}/change/"' in incidents
    assert "ops-incident--overdue" in incidents
    assert re.search(r'class="ops-left ops-overdue">overdue by 3\d min<', incidents)
    assert "1 overdue" in text_of(incidents)

    events = section(page, "ops-events")
    assert link(events, "total")[1] == "5"
    assert link(events, "status-failed")[1] == "2"
    assert link(events, "status-completed")[1] == "3"
    assert link(events, "status-pending")[1] == "0"
    assert link(events, "type-beo.created")[1] == "3"
    assert link(events, "type-beo.menu.changed")[1] == "2"
    # Dead letters: all time, the week-old one included.
    assert link(events, "failed")[1] == "3"

    backups = text_of(section(page, "ops-backups"))
    assert re.search(r"Last successful backup 3 h ago\s*,\s*5\.0 MB", backups), backups
    assert "never verified" in backups

    runs = section(page, "ops-runs")
    assert f'href="/admin/maintenance/maintenancerun/{trouble["failed_run"].pk}/change/"' in runs
    assert "beo-status--failed" in runs

    health = section(page, "ops-health")
    assert 'data-check="database"' in health
    assert re.search(r'data-check="database">.*?ok.*?\d+\.\d ms', health, re.S)

    schedule = section(page, "ops-schedule")
    assert re.search(r'data-job="\w+"', schedule)


def test_no_channel_configured_is_said_loudly(admin_client):
    page = admin_client.get("/admin/").text
    assert f'<p class="ops-loud" role="alert">{NO_CHANNEL}</p>' in page


def test_a_configured_channel_is_listed_without_the_warning(admin_client, settings):
    settings.ALERT_NOTIFY_URLS = "json://127.0.0.1:23999/hook"
    page = admin_client.get("/admin/").text
    assert NO_CHANNEL not in page
    channels = text_of(section(page, "ops-channels"))
    assert "Notification channels: 1" in channels
    assert "OK" in channels.upper()


def test_each_event_link_filters_the_changelist_to_the_counted_rows(admin_client, trouble):
    page = admin_client.get("/admin/").text
    today_failed = {e.pk for e in trouble["today_failed"]}
    completed = {e.pk for e in trouble["completed"]}
    expected = {
        "total": today_failed | completed,
        "status-failed": today_failed,
        "status-completed": completed,
        "status-pending": set(),
        "type-beo.created": completed,
        "type-beo.menu.changed": today_failed,
        "failed": today_failed | {trouble["old_failed"].pk},
    }
    for name, ids in expected.items():
        url, count = link(page, name)
        assert changelist_ids(admin_client, url) == ids, name
        assert int(count) == len(ids), name


def test_acknowledge_and_resolve_from_the_overview_return_to_it(admin_client, trouble):
    alert = trouble["critical"]
    page = admin_client.get("/admin/").text
    forms = re.findall(
        rf'<form method="post" action="(/admin/alerts/alert/{alert.pk}/act/(\w+)/)" '
        r'class="ops-action">.*?name="next" value="([^"]+)"',
        page,
    )
    assert [(name, nxt) for _, name, nxt in forms] == [
        ("acknowledge", "/admin/"),
        ("resolve", "/admin/"),
    ]

    response = admin_client.post(forms[0][0], {"next": "/admin/"})
    assert (response.status_code, response["Location"]) == (302, "/admin/")
    alert.refresh_from_db()
    assert alert.status == AlertStatus.ACKNOWLEDGED
    page = admin_client.get("/admin/").text
    assert "Acknowledged alert #" in page
    assert re.findall(rf"/admin/alerts/alert/{alert.pk}/act/(\w+)/", page) == ["resolve"]

    response = admin_client.post(forms[1][0], {"next": "/admin/"})
    assert response["Location"] == "/admin/"
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED
    assert f'data-alert="{alert.pk}"' not in admin_client.get("/admin/").text


@pytest.mark.parametrize(
    "target", ["https://evil.example/admin/", "//evil.example/", "javascript:alert(1)"]
)
def test_a_next_off_this_site_returns_to_the_alert_page(admin_client, target):
    alert = fire("Disk full", "high")
    response = admin_client.post(
        f"/admin/alerts/alert/{alert.pk}/act/acknowledge/", {"next": target}
    )
    assert response["Location"] == f"/admin/alerts/alert/{alert.pk}/change/"


def test_anonymous_and_non_staff_never_see_the_overview(client, user, trouble):
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert client.get("/admin/ops/panels/").status_code == 403

    client.force_login(user)
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    partial = client.get("/admin/ops/panels/")
    assert partial.status_code == 403
    assert "Database Unreachable" not in partial.text


def test_the_partial_is_the_panels_alone_and_never_cached(admin_client, trouble):
    response = admin_client.get("/admin/ops/panels/")
    assert response.status_code == 200
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    assert '<div class="ops-panels"' in response.text
    assert "<html" not in response.text
    assert "Database Unreachable" in response.text


def test_the_page_links_its_script_and_stylesheet_by_hashed_names(admin_client):
    page = admin_client.get("/admin/").text
    script = re.search(r'<script src="(/static/js/ops-overview\.[0-9a-f]{12}\.js)" defer>', page)
    style = re.search(r'href="(/static/css/ops\.[0-9a-f]{12}\.css)"', page)
    assert script, "ManifestStaticFilesStorage's hashed name (collectstatic)"
    assert style, "ManifestStaticFilesStorage's hashed name (collectstatic)"
    body = page.split("<body", 1)[1]
    assert 'style="' not in body
    assert "<script>" not in page
    assert re.search(r'data-refresh-url="/admin/ops/panels/" data-refresh-seconds="30"', page)


def test_the_index_still_renders_when_the_overview_raises(admin_client, monkeypatch):
    from beo_automation.ops import overview

    def broken(**_):
        raise RuntimeError("boom")

    monkeypatch.setattr(overview, "ops_overview_get", broken)
    response = admin_client.get("/admin/")
    assert response.status_code == 200
    assert "Operations overview unavailable" in response.text
    assert "app-events" in response.text
    assert admin_client.get("/admin/ops/panels/").status_code == 200


def test_a_failed_part_is_said_in_its_panel_and_the_others_shown(
    admin_client, monkeypatch, trouble
):
    from beo_automation.ops import overview

    real = overview.ops_overview_get

    def without_backups(**kwargs):
        data = real(**kwargs)
        data["backups"] = {"error": "database unavailable"}
        data["events"]["by_status"] = "not a dict"  # unreadable: its panel says so
        return data

    monkeypatch.setattr(overview, "ops_overview_get", without_backups)
    page = admin_client.get("/admin/").text
    assert "Backups: database unavailable" in text_of(section(page, "ops-backups"))
    assert "Events: could not be shown" in text_of(section(page, "ops-events"))
    assert 'data-alert="' in section(page, "ops-alerts")
    assert "app-events" in page


def test_each_metric_shows_its_threshold_and_last_hour_as_a_sparkline(admin_client):
    now = timezone.now()
    values = [1.0, 2.0, None, 8.0, 12.0]  # a missing sample is a gap, not a zero
    for minutes, value in zip((50, 40, 30, 20, 10), values, strict=True):
        MetricSample.objects.create(
            at=now - timedelta(minutes=minutes),
            values={
                "error_rate": {
                    "title": "Error rate",
                    "value": value,
                    "threshold": 5.0,
                    "unit": "%",
                    "severity": "high",
                }
            },
        )
    # Older than the hour: not drawn.
    MetricSample.objects.create(
        at=now - timedelta(minutes=90), values={"error_rate": {"value": 99.0, "threshold": 5.0}}
    )

    metrics = section(admin_client.get("/admin/").text, "ops-metrics")

    row = re.search(
        r'<tr class="ops-metric ops-metric--over" data-metric="error_rate">.*?</tr>', metrics, re.S
    )
    assert row, "12 % is over its 5 % threshold"
    assert "12 %" in text_of(row.group(0))
    assert "5 %" in text_of(row.group(0))
    lines = re.findall(r'<polyline class="ops-spark__line" points="([^"]+)"', row.group(0))
    assert [len(points.split()) for points in lines] == [2, 2]
    xs = [float(p.split(",")[0]) for points in lines for p in points.split()]
    assert xs == sorted(xs)
    assert 10 <= xs[0] <= 30  # 50 min ago on a 60 min axis 120 px wide
    threshold = re.search(r'class="ops-spark__threshold"[^>]*y1="([\d.]+)"', row.group(0))
    ys = [float(p.split(",")[1]) for p in lines[1].split()]
    # SVG's y grows downwards: 8 and 12 are above (less than) the threshold's line.
    assert threshold
    assert all(y < float(threshold.group(1)) for y in ys)


def test_staff_who_may_only_view_alerts_see_them_without_buttons(client, staff_user, settings):
    settings.ALERT_NOTIFY_URLS = ""
    staff_user.user_permissions.add(Permission.objects.get(codename="view_alert"))
    client.force_login(staff_user)
    alert = fire("Disk full", "high")

    alerts = section(client.get("/admin/").text, "ops-alerts")

    assert f'data-alert="{alert.pk}"' in alerts
    assert "<form" not in alerts


def test_a_verified_backup_says_so_with_its_last_verify(admin_client, trouble):
    now = timezone.now()
    verify = MaintenanceRun.objects.create(
        operation="verify_backup",
        trigger=Trigger.SCHEDULE,
        outcome=Outcome.SUCCESS,
        started_at=now - timedelta(hours=2),
        finished_at=now - timedelta(hours=2),
        summary={"backup": "beo_20261202_031500.sql.gz"},
    )

    backups = section(admin_client.get("/admin/").text, "ops-backups")

    assert "never verified" not in backups
    assert re.search(r"Verified\s*verified", text_of(backups))
    assert re.search(r"Last verify\s*2 h ago\s*:\s*success", text_of(backups))
    assert f'href="/admin/maintenance/maintenancerun/{verify.pk}/change/"' in backups
    assert f'href="/admin/maintenance/maintenancerun/{trouble["backup"].pk}/change/"' in backups


def test_alerts_and_runs_say_how_long_ago_in_words(admin_client, trouble):
    page = admin_client.get("/admin/").text
    assert ", last just now" in text_of(section(page, "ops-alerts"))
    assert "just now" in text_of(section(page, "ops-runs"))


@pytest.mark.parametrize("query", ["?x=%ED%A0%80", "?" + "a[" * 500 + "=1", "?%C0%AF=1"])
def test_the_panels_partial_ignores_a_crafted_query_string(admin_client, query):
    response = admin_client.get("/admin/ops/panels/" + query)
    assert response.status_code == 200
    assert b"ops-panel" in response.content


def test_a_nul_in_the_panels_query_string_is_a_400_not_a_500(admin_client):
    # As on every admin page (beo_automation.middleware.AdminQueryNulMiddleware).
    assert admin_client.get("/admin/ops/panels/?x=%00").status_code == 400
