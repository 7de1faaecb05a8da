"""The embedded default (no REDIS_URL): tasks run in-process on commit, the local beat sweeps.

Run in a child process with the real embedded configuration (SQLite file, no Redis, eager
Celery), the way `make run` starts it without DATABASE_URL/REDIS_URL.
"""

from __future__ import annotations

import json
import textwrap

from tests.subprocess_env import python

SCRIPT = textwrap.dedent(
    """
    import json, time
    import django
    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    call_command("migrate", verbosity=0, interactive=False)

    from django.contrib.auth.models import User
    from events.handlers import registry
    from events.models import Event
    from events.services import EventInput, event_create, event_retry
    from events.tasks import sweep_events

    calls = {}

    def fails_first(times):
        def handle(event):
            calls[event.pk] = calls.get(event.pk, 0) + 1
            if calls[event.pk] <= times:
                raise RuntimeError(f"attempt {calls[event.pk]} fails")
            return {"attempt": event.attempts}
        return handle

    registry.register("embedded.ok", name="ok")(lambda event: {"ok": True})
    registry.register("embedded.flaky", name="flaky")(fails_first(1))
    registry.register("embedded.dead", name="dead")(fails_first(2))

    def status(event):
        return Event.objects.get(pk=event.pk).status

    owner = User.objects.create_user("embedded")
    out = {"eager": settings.CELERY_TASK_ALWAYS_EAGER, "redis": settings.REDIS_URL}
    ok, _ = event_create(owner=owner, item=EventInput(type="embedded.ok", payload={}))
    flaky, _ = event_create(owner=owner, item=EventInput(type="embedded.flaky", payload={}))
    dead, _ = event_create(owner=owner, item=EventInput(type="embedded.dead", payload={}))
    out["ok_after_create"] = status(ok)
    out["flaky_after_create"] = status(flaky)

    time.sleep(0.6)  # the backoff (EVENT_RETRY_BACKOFF_BASE=0.4) passes
    sweep_events.apply_async()  # what the local beat sends every minute
    out["flaky_after_sweep"] = status(flaky)
    out["dead_after_sweep"] = status(dead)

    event_retry(event_id=dead.pk)  # the admin's / API's retry of a dead-lettered event
    out["dead_after_retry"] = status(dead)
    out["dead_attempts"] = Event.objects.get(pk=dead.pk).attempts
    print(json.dumps(out))
    """
)


def test_events_complete_and_retries_run_without_a_broker(tmp_path):
    result = python(
        SCRIPT,
        timeout=120,
        DATABASE_URL=f"sqlite:///{tmp_path / 'embedded.sqlite3'}",
        REDIS_URL=None,
        EVENT_MAX_ATTEMPTS="2",
        EVENT_RETRY_BACKOFF_BASE="0.4",
        LOG_DIR="",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["eager"] is True
    assert out["redis"] == ""
    # Processed in-process as soon as the creating transaction committed.
    assert out["ok_after_create"] == "completed"
    # Failed once: waits for its backoff (no delayed doorbell without a broker)...
    assert out["flaky_after_create"] == "pending"
    # ...and the local beat's sweep runs it once due.
    assert out["flaky_after_sweep"] == "completed"
    # Two failures with EVENT_MAX_ATTEMPTS=2: dead letter.
    assert out["dead_after_sweep"] == "failed"
    # A retry from the admin or the API processes it at once, as a new attempt.
    assert out["dead_after_retry"] == "completed"
    assert out["dead_attempts"] == 3
