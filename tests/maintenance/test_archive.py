"""archive_events against real PostgreSQL: eligibility, batches, crash safety, concurrency."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from events.list_cache import events_list_version
from events.models import Event, EventArchive, Status
from events.services import EventInput, event_create
from maintenance.models import MaintenanceRun, Outcome
from maintenance.services import archive
from tests.factories import EventFactory
from tests.maintenance.helpers import database_url, fast_owner, old_completed_events, pg
from tests.subprocess_env import PYTHON, ROOT, child_env

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def all_ids() -> tuple[set[int], set[int]]:
    return (
        set(Event.objects.values_list("id", flat=True)),
        set(EventArchive.objects.values_list("id", flat=True)),
    )


def test_archive_moves_exactly_the_completed_events_older_than_the_cutoff():
    owner = fast_owner()
    now = timezone.now()
    cutoff = now - timedelta(days=90)
    eligible = [
        EventFactory(
            owner=owner, status=Status.COMPLETED, created_at=cutoff - timedelta(minutes=5)
        ),
        EventFactory(owner=owner, status=Status.COMPLETED, created_at=now - timedelta(days=400)),
    ]
    kept = [
        # Just inside the window: younger than 90 days.
        EventFactory(
            owner=owner, status=Status.COMPLETED, created_at=cutoff + timedelta(minutes=5)
        ),
        # Old, but not completed.
        *(
            EventFactory(owner=owner, status=status, created_at=now - timedelta(days=400))
            for status in (Status.PENDING, Status.PROCESSING, Status.FAILED, Status.CANCELLED)
        ),
    ]

    summary = call_command("archive_events", "--days", "90", verbosity=0)

    live, archived = all_ids()
    assert archived == {e.id for e in eligible}
    assert live == {e.id for e in kept}
    assert summary.startswith("Archived 2 events in 1 batches")


def test_archived_events_keep_every_column_and_get_archived_at():
    event = EventFactory(
        owner=fast_owner(),
        status=Status.COMPLETED,
        created_at=timezone.now() - timedelta(days=120),
        payload={"beo": "BEO-77", "guests": 40},
        attempts=2,
        result={"ok": True},
        duration_ms=12.5,
    )
    before = timezone.now()

    call_command("archive_events", verbosity=0)

    copy = EventArchive.objects.get(id=event.id)
    for field in (
        "type",
        "payload",
        "priority",
        "status",
        "created_at",
        "attempts",
        "result",
        "duration_ms",
        "owner_id",
        "updated_at",
        "available_at",
    ):
        assert getattr(copy, field) == getattr(event, field), field
    assert copy.archived_at >= before - timedelta(seconds=5)


def test_archive_moves_in_batches_of_the_given_size():
    old_completed_events(7)

    call_command("archive_events", "--batch-size", "3", verbosity=0)

    run = MaintenanceRun.objects.get(operation="archive_events")
    assert run.summary["moved"] == 7
    assert run.summary["batches"] == 3
    assert run.arguments == {"days": 90, "batch_size": 3, "dry_run": False}
    assert EventArchive.objects.count() == 7


def test_dry_run_moves_nothing_and_says_what_would_move():
    events = old_completed_events(4)

    summary = call_command("archive_events", "--dry-run", "--batch-size", "3", verbosity=0)

    assert "would archive 4 completed events" in summary
    assert "in about 2 batches; nothing was moved" in summary
    assert f"ids {events[0].id} to {events[-1].id}" in summary
    assert EventArchive.objects.count() == 0
    assert Event.objects.count() == 4


def test_nothing_eligible_is_a_successful_no_op():
    EventFactory(owner=fast_owner(), status=Status.COMPLETED)

    summary = call_command("archive_events", verbosity=0)

    assert summary.startswith("Archived 0 events")
    assert MaintenanceRun.objects.get().outcome == Outcome.SUCCESS


def test_progress_lines_and_a_summary_are_printed(capsys):
    old_completed_events(3)

    call_command("archive_events", "--batch-size", "2")

    out = capsys.readouterr().out
    assert "3 completed events created before" in out
    assert "Archived 3 / 3 events (100.0 %)" in out
    assert "Archived 3 events in 2 batches" in out


FAIL_ON_ID = """
CREATE FUNCTION maint_test_fail() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.id = {event_id} THEN RAISE EXCEPTION 'injected failure on event %', NEW.id; END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER maint_test_fail BEFORE INSERT ON events_eventarchive
  FOR EACH ROW EXECUTE FUNCTION maint_test_fail();
"""
DROP_FAIL = (
    "DROP TRIGGER IF EXISTS maint_test_fail ON events_eventarchive; "
    "DROP FUNCTION IF EXISTS maint_test_fail();"
)


def test_a_failure_in_the_middle_of_a_batch_loses_and_duplicates_nothing():
    events = old_completed_events(9)
    everything = {e.id for e in events}
    poisoned = events[4].id  # in the third batch of two
    with pg() as conn:
        conn.execute(FAIL_ON_ID.format(event_id=poisoned))
    try:
        with pytest.raises(CommandError, match=f"injected failure on event {poisoned}"):
            call_command("archive_events", "--batch-size", "2", verbosity=0)

        live, archived = all_ids()
        assert archived == {e.id for e in events[:4]}  # the two committed batches
        assert live == everything - archived  # the failed batch rolled back entirely
        assert live & archived == set()
        assert MaintenanceRun.objects.get().outcome == Outcome.FAILED
    finally:
        with pg() as conn:
            conn.execute(DROP_FAIL)

    call_command("archive_events", "--batch-size", "2", verbosity=0)

    live, archived = all_ids()
    assert archived == everything
    assert live == set()
    assert EventArchive.objects.count() == len(everything)  # each exactly once


SLOW_BATCHES = """
CREATE FUNCTION maint_test_slow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_sleep(0.05); RETURN NULL; END $$;
CREATE TRIGGER maint_test_slow AFTER INSERT ON events_eventarchive
  FOR EACH STATEMENT EXECUTE FUNCTION maint_test_slow();
"""
DROP_SLOW = (
    "DROP TRIGGER IF EXISTS maint_test_slow ON events_eventarchive; "
    "DROP FUNCTION IF EXISTS maint_test_slow();"
)


@pytest.fixture
def slow_batches():
    """Every batch statement takes ≥ 50 ms (a statement trigger), so a run can be caught mid-way."""
    with pg() as conn:
        conn.execute(SLOW_BATCHES)
    yield
    with pg() as conn:
        conn.execute(DROP_SLOW)


def test_a_killed_archive_run_loses_and_duplicates_nothing(slow_batches):
    events = old_completed_events(400)
    everything = {e.id for e in events}
    process = subprocess.Popen(
        [PYTHON, str(ROOT / "manage.py"), "archive_events", "--batch-size", "10"],
        cwd=ROOT,
        env=child_env(DATABASE_URL=database_url(), LOG_LEVEL="warn"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while EventArchive.objects.count() < 50 and time.monotonic() < deadline:
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)  # no cleanup, no outcome recorded
    finally:
        process.wait(timeout=30)

    live, archived = all_ids()
    assert 50 <= len(archived) < len(everything), "killed mid-run"
    assert live | archived == everything
    assert live & archived == set()

    call_command("archive_events", "--batch-size", "50", verbosity=0)

    live, archived = all_ids()
    assert (live, archived) == (set(), everything)
    killed, finished = MaintenanceRun.objects.order_by("started_at")
    assert (killed.outcome, finished.outcome) == (Outcome.FAILED, Outcome.SUCCESS)
    assert "Interrupted" in killed.error


def test_event_creation_keeps_working_during_an_archive_run(slow_batches):
    old_completed_events(200)
    owner = fast_owner("other-owner")
    created: list[int] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def create_events() -> None:
        from django.db import connection

        try:
            while not stop.is_set():
                event, _ = event_create(
                    owner=owner, item=EventInput(type="beo.created", payload={"n": len(created)})
                )
                created.append(event.id)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    writer = threading.Thread(target=create_events)
    writer.start()
    try:
        call_command("archive_events", "--batch-size", "10", verbosity=0)
    finally:
        stop.set()
        writer.join(timeout=30)

    run = MaintenanceRun.objects.get(operation="archive_events")
    assert errors == []
    assert run.summary["moved"] == 200
    during = Event.objects.filter(
        id__in=created, created_at__gte=run.started_at, created_at__lte=run.finished_at
    ).count()
    assert during > 0, "events were created while the archive ran"
    assert Event.objects.filter(id__in=created).count() == len(created)


def test_a_locked_row_makes_the_run_stop_quickly_with_nothing_lost(settings, monkeypatch):
    settings.ARCHIVE_LOCK_TIMEOUT_MS = 100
    monkeypatch.setattr(archive, "LOCK_RETRY_WAIT", 0.01)
    events = old_completed_events(3)
    with pg() as holder:
        holder.autocommit = False
        holder.execute("SELECT 1 FROM events_event WHERE id = %s FOR UPDATE", [events[0].id])
        with pytest.raises(
            CommandError, match="Could not lock the events table or rows within 100 ms"
        ):
            call_command("archive_events", verbosity=0)
        holder.rollback()

    assert EventArchive.objects.count() == 0
    assert Event.objects.count() == 3
    call_command("archive_events", verbosity=0)
    assert EventArchive.objects.count() == 3


def test_an_exclusively_locked_table_does_not_make_the_run_wait(settings, monkeypatch):
    settings.ARCHIVE_LOCK_TIMEOUT_MS = 100
    monkeypatch.setattr(archive, "LOCK_RETRY_WAIT", 0.01)
    old_completed_events(2)
    with pg() as holder:
        holder.autocommit = False
        holder.execute("LOCK TABLE events_event IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        with pytest.raises(CommandError, match="nothing was lost"):
            call_command("archive_events", verbosity=0)
        waited = time.monotonic() - started
        holder.rollback()
    assert waited < 30  # gave up instead of queueing behind the lock indefinitely


def test_archiving_invalidates_the_owners_cached_event_lists():
    owner = fast_owner("other-owner")
    old_completed_events(2, owner=owner)
    before = events_list_version(scope=owner.id)

    call_command("archive_events", verbosity=0)

    assert events_list_version(scope=owner.id) != before


def test_an_event_already_in_the_archive_stops_the_batch_with_advice():
    events = old_completed_events(2)
    EventArchive.objects.create(
        **{f.attname: getattr(events[1], f.attname) for f in Event._meta.concrete_fields}
    )

    with pytest.raises(CommandError, match="already in the archive table"):
        call_command("archive_events", verbosity=0)

    assert Event.objects.count() == 2  # the batch rolled back: nothing deleted


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--batch-size", "0"], "--batch-size must be between 1 and 100000"),
        (["--days", "-1"], "--days must be between 0 and 36,500"),
    ],
)
def test_bad_options_are_refused_with_the_rule(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("archive_events", *args, verbosity=0)
