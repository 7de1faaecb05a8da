"""Processing bench: events/s completed by the product's worker against what a Celery user
writes — default Celery running no-op tasks, and default Celery tasks that update one row.

    .venv/bin/python bench/process.py [--events 10000] [--update-tasks 3000] [--rounds 5]

On this machine's PostgreSQL and Redis (DATABASE_URL / REDIS_URL, or the local defaults), with a
database, a Redis db (BENCH_REDIS_DB, default 13) and key prefix, Celery queues and a log
directory of its own, created here and removed at the end whatever happens:

1. migrates a fresh database and creates bench_celery_row (100 rows) for the update tasks;
2. starts two workers, each prefork with 2 processes (this machine's CPU count):
   - product: `celery -A beo_automation worker` as the Procfile runs it (production settings:
     DEBUG off, LOG_LEVEL=info, JSON log files, late acks, prefetch 1, connections returned to
     the pool between tasks), plus bench/process_worker.py's no-op event handler;
   - Celery default: bench/celery_default.py, a Celery app with Celery's default settings
     (prefetch 4, early acks, WARNING logging, Django fix-up closing the connection around
     every task) and nothing of the project;
3. per round, the three sides in an order rotated each round (bench/common.py):
   - pipeline: --events pending no-op events inserted, then one doorbell rung (events_enqueue,
     as a request does); the clock stops when no event is pending or processing;
   - celery_noop: --events messages of a task that does nothing, published to a queue the
     default worker does not consume yet; the clock starts at `add_consumer` and stops when
     the queue and the unacknowledged set are empty;
   - celery_update: --update-tasks messages of a task doing one ORM UPDATE of one row, same
     clock, stopping when every update is in the table;
   - product_noop: --events no-op tasks on the product worker, same clock: what the product's
     worker configuration (four JSON log lines per task, late acks, prefetch 1) costs a task;
4. writes bench/results/process-<time>.json; prints each side's median and min-max and the
   per-round ratios pipeline/celery_noop, pipeline/celery_update and product_noop/celery_noop.

Target (issue 11): pipeline events/s >= 6 x Celery default no-op tasks/s (median ratio).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import secrets
import signal
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
    add_rounds_argument,
    admin_url,
    child_env,
    compare,
    interleave,
    log,
    machine_load,
    manage,
    print_comparison,
    scratch_database,
    scratch_redis,
    write_result,
)

TARGET_RATIO = 6.0
POLL_SECONDS = 0.005
UPDATE_ROWS = 100
LABELS = {
    "pipeline": "pipeline (product worker, no-op events)",
    "celery_noop": "Celery default, no-op tasks",
    "celery_update": "Celery default, one-row UPDATE tasks",
    "product_noop": "product worker, no-op tasks",
}


@contextlib.contextmanager
def worker(
    env: dict[str, str], *, app: str, hostname: str, label: str, extra: list[str]
) -> Iterator[subprocess.Popen[str]]:
    output = tempfile.NamedTemporaryFile(prefix=f"bench-{label}-", suffix=".log", delete=False)  # noqa: SIM115
    proc = subprocess.Popen(
        [str(BIN / "celery"), "-A", app, "worker", "-n", hostname, *extra],
        cwd=ROOT,
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    path = Path(output.name)
    control = None
    try:
        # Ready when it answers a ping (the default worker logs nothing at WARNING).
        from celery import Celery

        control = Celery(broker=env["BENCH_CONTROL_BROKER"], set_as_current=False)
        control.conf.broker_transport_options = {"global_keyprefix": env["BENCH_KEY_PREFIX"]}
        deadline = time.monotonic() + 90
        while not control.control.ping(destination=[hostname], timeout=0.5):
            if proc.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"the {label} worker did not start:\n{path.read_text()[-5000:]}")
        time.sleep(1.0)  # let the pool processes settle before measuring
        yield proc
    finally:
        if control is not None:
            control.close()
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
    done: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """`count` messages of `task` to a held queue, then time the worker draining it (and,
    with `done`, until `done()` holds: early acks empty the queue before the last task ran)."""
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
        lambda: (
            broker.llen(queue_key) == 0
            and broker.hlen(unacked_key) == 0
            and (done is None or done())
        ),
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
    started = time.perf_counter()
    events_enqueue()  # what a request does after creating events (autocommit: at once)
    finished = wait_until(lambda: not unfinished.exists(), timeout=600, what="the events")
    completed = Event.objects.filter(pk__in=ids, status=Status.COMPLETED).count()
    if completed != count:
        sys.exit(f"pipeline: {completed} of {count} events completed")
    elapsed = finished - started
    result = {"count": count, "seconds": round(elapsed, 3), "per_second": round(count / elapsed, 1)}
    log(f"pipeline: {count:,} events in {elapsed:.2f}s = {result['per_second']:,.0f}/s")
    return result


def row_updates(database_url: str) -> int:
    with psycopg.connect(database_url.replace("postgres://", "postgresql://", 1)) as conn:
        row = conn.execute("SELECT coalesce(sum(n), 0) FROM bench_celery_row").fetchone()
    return int(row[0]) if row else 0


# --- Main ------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000, help="events and no-op tasks")
    parser.add_argument("--update-tasks", type=int, default=3000, help="one-row update tasks")
    add_rounds_argument(parser)
    parser.add_argument("--batch-size", type=int, help="EVENT_CLAIM_BATCH_SIZE for the worker")
    args = parser.parse_args()

    run = uuid.uuid4().hex[:8]
    prefix = f"bench-process-{run}"
    product_host = f"bench-product-{run}@localhost"
    default_host = f"bench-default-{run}@localhost"
    started_at = time.monotonic()
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
            "BENCH_CONTROL_BROKER": redis_url,
            "BENCH_KEY_PREFIX": f"{prefix}:",
        }
        if args.batch_size:
            base["EVENT_CLAIM_BATCH_SIZE"] = str(args.batch_size)
        product_env = child_env(base)
        default_env = child_env(
            base,
            DJANGO_SETTINGS_MODULE="bench.celery_default_settings",
            BENCH_DATABASE_URL=database_url,
            BENCH_BROKER_URL=redis_url,
        )
        log(f"migrating database bench_process_{run}")
        manage(product_env, "migrate", "--no-input")
        with psycopg.connect(database_url.replace("postgres://", "postgresql://", 1)) as conn:
            conn.execute(
                "CREATE TABLE bench_celery_row (id bigserial PRIMARY KEY,"
                " n integer NOT NULL DEFAULT 0, updated_at timestamptz)"
            )
            conn.execute(
                "INSERT INTO bench_celery_row (n) SELECT 0 FROM generate_series(1, %s)",
                [UPDATE_ROWS],
            )

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
        from celery import Celery
        from django.conf import settings
        from django.contrib.auth import get_user_model
        from django.db import connection

        from beo_automation.celery import app as product_app

        default_app = Celery("bench_default_publisher", broker=redis_url, set_as_current=False)
        default_app.conf.broker_transport_options = {"global_keyprefix": f"{prefix}:"}
        owner = get_user_model().objects.create_user(username=f"bench-{run}")
        broker = redis.Redis.from_url(redis_url)

        def pipeline() -> dict[str, Any]:
            return measure_pipeline(owner=owner, count=args.events)

        def celery_noop() -> dict[str, Any]:
            return measure_tasks(
                app=default_app,
                broker=broker,
                prefix=prefix,
                hostname=default_host,
                task="bench.default.noop",
                args_for=lambda i: [],
                count=args.events,
                label="Celery default no-op",
            )

        def celery_update() -> dict[str, Any]:
            target = row_updates(database_url) + args.update_tasks
            return measure_tasks(
                app=default_app,
                broker=broker,
                prefix=prefix,
                hostname=default_host,
                task="bench.default.touch",
                args_for=lambda i: [1 + i % UPDATE_ROWS],
                count=args.update_tasks,
                label="Celery default one-row update",
                done=lambda: row_updates(database_url) >= target,
            )

        def product_noop() -> dict[str, Any]:
            return measure_tasks(
                app=product_app,
                broker=broker,
                prefix=prefix,
                hostname=product_host,
                task="bench.product.noop",
                args_for=lambda i: [],
                count=args.events,
                label="product worker no-op",
            )

        with (
            worker(
                product_env,
                app="beo_automation",
                hostname=product_host,
                label="product",
                # As the Procfile's worker, plus the bench's no-op event handler.
                extra=[
                    *("--loglevel=INFO", "--pool=prefork", "--concurrency=2"),
                    *("--without-mingle", "--without-gossip", "--include", "bench.process_worker"),
                ],
            ),
            worker(
                default_env,
                app="bench.celery_default",
                hostname=default_host,
                label="celery-default",
                # Only where it listens; a held queue is added per round (add_consumer).
                extra=["-Q", f"{prefix}.default-idle"],
            ),
        ):
            results = interleave(
                {
                    "pipeline": pipeline,
                    "celery_noop": celery_noop,
                    "celery_update": celery_update,
                    "product_noop": product_noop,
                },
                rounds=args.rounds,
            )
        connection.close()
        default_app.close()
        comparison = compare(
            results,
            metric="per_second",
            ratios=[
                ("pipeline", "celery_noop"),
                ("pipeline", "celery_update"),
                ("product_noop", "celery_noop"),
            ],
        )
        with psycopg.connect(admin_url(), connect_timeout=5) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        ratio = comparison["ratios"]["pipeline/celery_noop"]["median"]
        result = {
            "bench": "process",
            "time": datetime.now(UTC).isoformat(),
            "machine": {
                **machine_load(),
                "python": platform.python_version(),
                "postgres": row[0] if row else None,
                "celery": __import__("celery").__version__,
            },
            "settings": {
                "events": args.events,
                "update_tasks": args.update_tasks,
                "rounds": args.rounds,
                "worker_concurrency": 2,
                "EVENT_CLAIM_BATCH_SIZE": int(
                    base.get("EVENT_CLAIM_BATCH_SIZE", settings.EVENT_CLAIM_BATCH_SIZE)
                ),
            },
            "sides": LABELS,
            "rounds": results,
            "comparison": comparison,
            "target": {"pipeline/celery_noop": TARGET_RATIO},
            "duration_s": round(time.monotonic() - started_at, 1),
        }
        out = write_result("process", result)
        log(f"wrote {out.relative_to(ROOT)}")

    print_comparison(comparison, unit="events or tasks per second", labels=LABELS)
    verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
    print(f"pipeline / Celery default no-op: {ratio:.2f} ({verdict} the target >= {TARGET_RATIO})")
    return 0 if ratio >= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
