"""GET /api/events/: visibility, newest first, keyset cursor pagination, filters."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from events.models import Event, Priority, Status
from events.selectors import EventListFilters, KeysetPosition, event_list_page
from tests.factories import EventFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("isolated_cache")]

URL = "/api/events/"


def make_events(owner, n: int, **fields) -> list:
    """n events one second apart, the last one the newest."""
    start = timezone.now() - timedelta(hours=1)
    return [
        EventFactory(owner=owner, created_at=start + timedelta(seconds=i), **fields)
        for i in range(n)
    ]


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [e["id"] for e in response.json()["results"]]


def walk(client, url: str) -> tuple[list[int], int]:
    """Follow `next` to the end: every id seen, and the number of pages."""
    seen: list[int] = []
    pages = 0
    while url:
        response = client.get(url)
        seen += ids(response)
        pages += 1
        url = response.json()["next"]
    return seen, pages


def test_a_user_sees_only_their_own_events_newest_first(auth_client, user, other_user):
    mine = make_events(user, 3)
    make_events(other_user, 2)
    response = auth_client.get(URL)
    assert ids(response) == [e.pk for e in reversed(mine)]
    body = response.json()
    assert body["next"] is None
    assert body["previous"] is None


def test_staff_see_everyones_events(staff_client, user, other_user):
    everyone = make_events(user, 2) + make_events(other_user, 2)
    assert sorted(ids(staff_client.get(URL))) == sorted(e.pk for e in everyone)


def test_each_event_has_the_documented_fields(auth_client, user):
    EventFactory(
        owner=user,
        status=Status.FAILED,
        attempts=5,
        last_error="RuntimeError: printer offline",
        duration_ms=12.5,
        priority=Priority.URGENT,
    )
    [event] = auth_client.get(URL).json()["results"]
    assert event["priority"] == "urgent"
    assert event["status"] == "failed"
    assert event["attempts"] == 5
    assert event["last_error"] == "RuntimeError: printer offline"
    assert event["duration_ms"] == 12.5
    assert set(event) == {
        "id",
        "type",
        "payload",
        "priority",
        "status",
        "created_at",
        "started_at",
        "completed_at",
        "attempts",
        "last_error",
        "duration_ms",
        "result",
    }


def test_pages_hold_50_events_by_default_with_absolute_links(auth_client, user):
    make_events(user, 60)
    body = auth_client.get(URL).json()
    assert len(body["results"]) == 50
    assert body["next"].startswith("http://testserver/api/events/?cursor=")
    assert body["previous"] is None


def test_following_next_visits_every_event_once_in_order(auth_client, user):
    created = make_events(user, 23)
    seen, pages = walk(auth_client, f"{URL}?page_size=5")
    assert seen == [e.pk for e in reversed(created)]
    assert pages == 5


def test_previous_leads_back_to_the_same_page(auth_client, user):
    make_events(user, 12)
    first = auth_client.get(f"{URL}?page_size=5").json()
    second = auth_client.get(first["next"]).json()
    back = auth_client.get(second["previous"]).json()
    assert [e["id"] for e in back["results"]] == [e["id"] for e in first["results"]]
    assert back["previous"] is None
    assert back["next"] is not None


def test_links_keep_the_filters_and_page_size(auth_client, user):
    make_events(user, 6, status=Status.FAILED)
    body = auth_client.get(f"{URL}?status=failed&page_size=2").json()
    query = parse_qs(urlsplit(body["next"]).query)
    assert query["status"] == ["failed"]
    assert query["page_size"] == ["2"]


def test_events_sharing_a_timestamp_are_paged_without_loss_or_repeat(auth_client, user):
    same = timezone.now()
    created = [EventFactory(owner=user, created_at=same) for _ in range(7)]
    seen, _ = walk(auth_client, f"{URL}?page_size=3")
    assert seen == sorted((e.pk for e in created), reverse=True)


def test_an_event_created_while_paging_does_not_shift_the_pages(auth_client, user):
    created = make_events(user, 6)
    first = auth_client.get(f"{URL}?page_size=3").json()
    EventFactory(owner=user)  # newer than everything
    second = auth_client.get(first["next"]).json()
    assert [e["id"] for e in second["results"]] == [e.pk for e in reversed(created[:3])]


@pytest.mark.parametrize("page_size", ["0", "501", "ten"])
def test_page_size_must_be_between_1_and_500(auth_client, page_size):
    response = auth_client.get(f"{URL}?page_size={page_size}")
    assert response.status_code == 400
    assert list(response.json()["error"]["details"]) == ["page_size"]


def test_page_size_500_is_allowed(auth_client, user):
    make_events(user, 3)
    assert len(ids(auth_client.get(f"{URL}?page_size=500"))) == 3


@pytest.mark.parametrize(
    "cursor", ["garbage", "eyJ4IjoxfQ", "WyJvIiwiMjAyNi0wMS0wMVQwMDowMDowMCIsMV0"]
)
def test_a_tampered_cursor_is_a_400(auth_client, cursor):
    response = auth_client.get(f"{URL}?cursor={cursor}")
    assert response.status_code == 400
    assert "Invalid cursor" in response.json()["error"]["details"]["cursor"][0]


def test_filter_by_status(auth_client, user):
    failed = EventFactory(owner=user, status=Status.FAILED)
    EventFactory(owner=user, status=Status.COMPLETED)
    assert ids(auth_client.get(f"{URL}?status=failed")) == [failed.pk]


def test_filter_by_priority_name(auth_client, user):
    urgent = EventFactory(owner=user, priority=Priority.URGENT)
    EventFactory(owner=user, priority=Priority.LOW)
    assert ids(auth_client.get(f"{URL}?priority=urgent")) == [urgent.pk]


def test_filter_by_type(auth_client, user):
    updated = EventFactory(owner=user, type="beo.updated")
    EventFactory(owner=user, type="beo.created")
    assert ids(auth_client.get(f"{URL}?type=beo.updated")) == [updated.pk]


def test_filter_by_creation_time_is_a_half_open_range(auth_client, user):
    events = make_events(user, 4)
    after = events[1].created_at.isoformat()
    before = events[3].created_at.isoformat()
    response = auth_client.get(URL, {"created_after": after, "created_before": before})
    assert ids(response) == [events[2].pk, events[1].pk]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=done", "status"),
        ("priority=3", "priority"),
        ("created_after=yesterday", "created_after"),
        ("statuss=failed", "statuss"),
    ],
)
def test_bad_or_unknown_query_parameters_are_a_400(auth_client, query, field):
    response = auth_client.get(f"{URL}?{query}")
    assert response.status_code == 400
    assert list(response.json()["error"]["details"]) == [field]


def test_listing_needs_a_token(api_client):
    response = api_client.get(URL)
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Missing or invalid authorization header"


def test_only_the_columns_the_response_needs_are_read(auth_client, user, settings):
    settings.EVENT_LIST_CACHE_TTL = 0
    make_events(user, 2)
    with CaptureQueriesContext(connection) as queries:
        auth_client.get(URL)
    [listing] = [q["sql"] for q in queries if 'FROM "events_event"' in q["sql"]]
    select_list = listing.split(" FROM ")[0]
    for column in ("request_hash", "idempotency_key", "available_at", "request_id", "owner_id"):
        assert column not in select_list
    for column in ("payload", "status", "last_error", "result", "duration_ms"):
        assert f'"{column}"' in select_list


@pytest.mark.postgres
@pytest.mark.parametrize("staff", [False, True])
def test_a_deep_page_reads_no_more_rows_than_the_first(user, other_user, staff_user, staff):
    """Keyset, not OFFSET: 1,000 events deep, a page reads what the first page reads."""
    start = timezone.now() - timedelta(days=1)
    rows = [
        Event(
            owner=owner,
            type="bench.row",
            payload={},
            created_at=start + timedelta(seconds=i),
            updated_at=start,
            available_at=start,
        )
        for i in range(3000)
        for owner in (user, other_user)
    ]
    Event.objects.bulk_create(rows, batch_size=1000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE events_event")
    viewer = staff_user if staff else user
    deep = Event.objects.filter(owner=user).order_by("-created_at", "-id")[1000]
    read = _rows_read(viewer, KeysetPosition(deep.created_at, deep.pk))
    # OFFSET would read the 1,000 rows above the page. Keyset reads the page and one row more;
    # through the all-owners index, the other owner's events (interleaved one to one) double
    # that — still independent of depth.
    assert read <= 2 * 51 + 2, f"read {read} rows for a page of 50 at depth 1,000"


def _rows_read(viewer, older_than) -> int:
    """Rows the page's query made PostgreSQL read (EXPLAIN ANALYZE of the executed SQL)."""
    with CaptureQueriesContext(connection) as queries:
        page = event_list_page(
            viewer=viewer, filters=EventListFilters(), limit=50, older_than=older_than
        )
    assert len(page.rows) == 50
    [query] = queries.captured_queries
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {query['sql']}")
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    # Rows each table scan produced or threw away (a bitmap's index half only feeds its heap).
    scans = [
        node
        for node in _nodes(plan[0]["Plan"])
        if "Scan" in node["Node Type"] and node["Node Type"] != "Bitmap Index Scan"
    ]
    return sum(n["Actual Rows"] + n.get("Rows Removed by Filter", 0) for n in scans)


def _nodes(node):
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)
