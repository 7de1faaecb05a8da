"""Processing bench: events/s completed by one worker against plain Celery no-op tasks.

    .venv/bin/python bench/process.py [--events 10000] [--rounds 2] [--touch-tasks 3000]

What it does, on this machine's PostgreSQL and Redis (DATABASE_URL / REDIS_URL, or the local
defaults), with a database, a Redis db and key prefix, a Celery queue and log directory of its
own, created here and removed at the end whatever happens:

1. migrates a fresh database;
2. starts one worker as the Procfile does (`celery worker`, prefork, concurrency 2, production
   settings: DEBUG off, LOG_LEVEL=info with JSON log files), plus bench/process_worker.py's
   no-op event handler and no-op task;
3. per round, in alternating order so drift hits both sides:
   - baseline: --events plain Celery no-op tasks, one message each, published to a queue the
     worker is not consuming yet; the clock starts when the worker is told to consume it
     (`add_consumer`) and stops when the queue and the unacknowledged set are empty;
   - pipeline: --events pending events inserted, then one doorbell rung (events_enqueue, as a
     request does); the clock stops when no event is pending or processing (and every one is
     completed);
4. the Celery pitfall: --touch-tasks one-row UPDATE tasks, on this worker (connections returned
   to Django's pool between tasks) and on a second worker with Celery's stock Django fix-up
   (CELERY_DB_REUSE_MAX=0: connection, and pool, closed before and after every task);
5. writes bench/results/process-<time>.json and prints the ratios last.

Target (issue 3): pipeline events/s / plain Celery tasks/s ≥ 1.0.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    BIN,
    admin_url,
    child_env,
    log,
    manage,
    scratch_database,
    scratch_redis,
    write_result,
)

TARGET_RATIO = 1.0
POLL_SECONDS = 0.005


@contextlib.contextmanager
def worker(env: dict[str, str], hostname: str, label: str) -> Iterator[subprocess.Popen[str]]:
    output = tempfile.NamedTemporaryFile(prefix=f"bench-{label}-", suffix=".log", delete=False)  # noqa: SIM115
    proc = subprocess.Popen(
        [
            str(BIN / "celery"),
            "-A",
            "beo_automation",
            "worker",
            "--loglevel=INFO",
            "--pool=prefork",
            "--concurrency=2",
            "-n",
            hostname,
            "--without-mingle",
            "--without-gossip",
            "--include",
            "bench.process_worker",
        ],
        cwd=ROOT,
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    path = Path(output.name)
    try:
        deadline = time.monotonic() + 60
        while " ready." not in path.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"the {label} worker did not start:\n{path.read_text()[-5000:]}")
            time.sleep(0.1)
        time.sleep(1.0)  # let the pool processes settle before measuring
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        output.close()
        path.unlink(missing_ok=True)


# --- Measurements ----------------------------------------------------------------------------


def wait_until(done: Callable[[], bool], *, timeout: float, what: str) -> float:
    """Poll `done`; the perf_counter time at which it first held."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            sys.exit(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(POLL_SECONDS)
    return time.perf_counter()


def measure_tasks(
    *,
    app: Any,
    broker: redis.Redis,
    prefix: str,
    hostname: str,
    task: str,
    args_for: Callable[[int], list[Any]],
    count: int,
    label: str,
) -> dict[str, Any]:
    """`count` messages of `task` to a held queue, then time the worker draining it."""
    queue = f"{prefix}.hold.{uuid.uuid4().hex[:6]}"
    queue_key = f"{prefix}:{queue}"
    unacked_key = f"{prefix}:unacked"
    with app.producer_or_acquire() as producer:
        for i in range(count):
            app.send_task(task, args=args_for(i), queue=queue, producer=producer)
    queued = broker.llen(queue_key)
    if queued != count:
        sys.exit(f"{label}: expected {count} queued messages under {queue_key}, found {queued}")
    started = time.perf_counter()
    app.control.add_consumer(queue, destination=[hostname], reply=True, timeout=5)
    finished = wait_until(
        lambda: broker.llen(queue_key) == 0 and broker.hlen(unacked_key) == 0,
        timeout=600,
        what=f"{label} tasks",
    )
    app.control.cancel_consumer(queue, destination=[hostname], reply=True, timeout=5)
    elapsed = finished - started
    result = {"count": count, "seconds": round(elapsed, 3), "per_second": round(count / elapsed, 1)}
    log(f"{label}: {count:,} tasks in {elapsed:.2f}s = {result['per_second']:,.0f}/s")
    return result


def measure_pipeline(*, owner: Any, count: int) -> dict[str, Any]:
    """`count` pending no-op events, one doorbell, time until every one is completed."""
    from django.core.cache import cache
    from django.db.models import Max
    from django.utils import timezone

    from events.doorbell import BACKSTOP_KEY, DOORBELL_KEY, events_enqueue
    from events.models import Event, Priority, Status

    now = timezone.now()
    events = Event.objects.bulk_create(
        (
            Event(
                owner=owner,
                type="bench.noop",
                payload={"n": i, "beo": f"BEO-{i}"},
                priority=Priority(i % 4),
                created_at=now,
                updated_at=now,
                available_at=now,
            )
            for i in range(count)
        ),
        batch_size=2000,
    )
    ids = [e.pk for e in events]
    unfinished = Event.objects.filter(status__in=[Status.PENDING, Status.PROCESSING])
    cache.delete_many([DOORBELL_KEY, BACKSTOP_KEY])
    wall_start = timezone.now()
    started = time.perf_counter()
    events_enqueue()  # what a request does after creating events (autocommit: at once)
    finished = wait_until(lambda: not unfinished.exists(), timeout=600, what="the events")
    batch = Event.objects.filter(pk__in=ids)
    completed = batch.filter(status=Status.COMPLETED).count()
    if completed != count:
        sys.exit(f"pipeline: {completed} of {count} events completed")
    last = batch.aggregate(last=Max("completed_at"))["last"]
    elapsed = finished - started
    exact = (last - wall_start).total_seconds()
    result = {
        "count": count,
        "seconds": round(elapsed, 3),
        "per_second": round(count / elapsed, 1),
        "seconds_to_last_completed_at": round(exact, 3),
    }
    log(
        f"pipeline: {count:,} events in {elapsed:.2f}s = {result['per_second']:,.0f}/s "
        f"(last completed_at after {exact:.2f}s)"
    )
    return result


# --- Main ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000, help="events (and tasks) per side")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--touch-tasks", type=int, default=3000, help="one-row update tasks (0: skip)"
    )
    parser.add_argument("--batch-size", type=int, help="EVENT_CLAIM_BATCH_SIZE for the worker")
    args = parser.parse_args()

    run = uuid.uuid4().hex[:8]
    prefix = f"bench-process-{run}"
    hostname = f"bench-{run}@localhost"
    with (
        scratch_database(f"bench_process_{run}") as database_url,
        scratch_redis(prefix, db="13") as redis_url,
        tempfile.TemporaryDirectory(prefix="bench-process-") as tmp,
    ):
        base = {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "CACHE_KEY_PREFIX": prefix,
            "CELERY_KEY_PREFIX": f"{prefix}:",
            "CELERY_QUEUE": prefix,
            "SECRET_KEY": secrets.token_urlsafe(50),
            "DEBUG": "false",
            "ENV_FILE": os.devnull,
            "LOG_LEVEL": "info",
            "LOG_FORMAT": "json",
            "LOG_DIR": str(Path(tmp) / "logs"),
            "CELERY_BEAT_SCHEDULE_FILENAME": str(Path(tmp) / "beat"),
        }
        if args.batch_size:
            base["EVENT_CLAIM_BATCH_SIZE"] = str(args.batch_size)
        worker_env = child_env(base)
        log(f"migrating database bench_process_{run}")
        manage(worker_env, "migrate", "--no-input")

        # This process publishes and observes: same database and broker, quiet logs.
        os.environ.update(base)
        os.environ.update(
            {
                "DJANGO_SETTINGS_MODULE": "beo_automation.settings",
                "LOG_LEVEL": "warn",
                "LOG_DIR": "",
            }
        )
        import django

        django.setup()
        from django.conf import settings
        from django.contrib.auth import get_user_model
        from django.db import connection

        from beo_automation.celery import app
        from events.models import Event, Status

        owner = get_user_model().objects.create_user(username=f"bench-{run}")
        broker = redis.Redis.from_url(redis_url)
        samples: dict[str, list[dict[str, Any]]] = {
            "celery_noop": [],
            "pipeline": [],
            "touch_pooled": [],
            "touch_stock": [],
        }
        # Rows for the one-row update tasks (completed: the pipeline never looks at them).
        touch_ids = [
            e.pk
            for e in Event.objects.bulk_create(
                Event(owner=owner, type="bench.touch", status=Status.COMPLETED) for _ in range(100)
            )
        ]

        def celery_side() -> None:
            samples["celery_noop"].append(
                measure_tasks(
                    app=app,
                    broker=broker,
                    prefix=prefix,
                    hostname=hostname,
                    task="bench.noop",
                    args_for=lambda i: [],
                    count=args.events,
                    label="plain Celery no-op",
                )
            )

        def pipeline_side() -> None:
            samples["pipeline"].append(measure_pipeline(owner=owner, count=args.events))

        def touch(label: str, key: str, host: str) -> None:
            samples[key].append(
                measure_tasks(
                    app=app,
                    broker=broker,
                    prefix=prefix,
                    hostname=host,
                    task="bench.touch",
                    args_for=lambda i: [touch_ids[i % len(touch_ids)]],
                    count=args.touch_tasks,
                    label=label,
                )
            )

        for round_no in range(1, args.rounds + 1):
            log(f"round {round_no} of {args.rounds}")
            with worker(worker_env, hostname, "product"):
                sides = [celery_side, pipeline_side]
                for side in sides if round_no % 2 else sides[::-1]:
                    side()
                if args.touch_tasks:
                    touch("one-row update, pooled connections", "touch_pooled", hostname)
            if args.touch_tasks:
                stock_host = f"bench-stock-{run}@localhost"
                with worker(child_env(base, CELERY_DB_REUSE_MAX="0"), stock_host, "stock"):
                    touch(
                        "one-row update, Celery's stock close-per-task", "touch_stock", stock_host
                    )
        connection.close()

        def best(key: str) -> float:
            return max((s["per_second"] for s in samples[key]), default=0.0)

        def median(key: str) -> float:
            values = [s["per_second"] for s in samples[key]]
            return float(statistics.median(values)) if values else 0.0

        ratio = median("pipeline") / median("celery_noop")
        touch_ratio = (
            median("touch_pooled") / median("touch_stock") if args.touch_tasks else float("nan")
        )
        with psycopg.connect(admin_url(), connect_timeout=5) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        result = {
            "bench": "process",
            "time": datetime.now(UTC).isoformat(),
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "postgres": row[0] if row else None,
                "celery": __import__("celery").__version__,
            },
            "settings": {
                "events": args.events,
                "rounds": args.rounds,
                "touch_tasks": args.touch_tasks,
                "worker_concurrency": 2,
                "EVENT_CLAIM_BATCH_SIZE": int(
                    base.get("EVENT_CLAIM_BATCH_SIZE", settings.EVENT_CLAIM_BATCH_SIZE)
                ),
            },
            "samples": samples,
            "median_per_second": {key: median(key) for key in samples},
            "best_per_second": {key: best(key) for key in samples},
            "ratios": {
                "pipeline_vs_celery_noop": round(ratio, 2),
                "touch_pooled_vs_stock": round(touch_ratio, 2) if args.touch_tasks else None,
            },
            "target": {"pipeline_vs_celery_noop": TARGET_RATIO},
        }
        out = write_result("process", result)
        log(f"wrote {out.relative_to(ROOT)}")

    print()
    print(f"plain Celery no-op tasks (one message each): {median('celery_noop'):>9,.0f}/s (median)")
    print(f"pipeline no-op events (one worker, c=2):     {median('pipeline'):>9,.0f}/s (median)")
    if args.touch_tasks:
        print(f"one-row update tasks, pooled connections:    {median('touch_pooled'):>9,.0f}/s")
        print(f"one-row update tasks, Celery stock closing:  {median('touch_stock'):>9,.0f}/s")
    verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
    print(f"ratio pipeline / plain Celery: {ratio:.2f} ({verdict} the target >= {TARGET_RATIO})")
    if args.touch_tasks:
        print(f"ratio pooled / stock connection handling (one-row update task): {touch_ratio:.2f}")


if __name__ == "__main__":
    main()
