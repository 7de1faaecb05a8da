"""bench/process.py's baseline: a Celery application as Celery's "First steps with Django"
guide writes one, with Celery's default settings, and nothing of the project.

    celery -A bench.celery_default worker -n NAME -Q QUEUE

Defaults it keeps: prefork pool with one process per CPU, prefetch multiplier 4, early acks,
no result backend, Celery's own logging at WARNING (no line per task), and Celery's Django
fix-up, which closes the database connection before and after every task (one new
PostgreSQL connection per task that touches the database). Its own Django settings
(bench.celery_default_settings): one database, one app, Django's default LOGGING.

What it sets: the broker URL and a Redis key prefix (BENCH_BROKER_URL, BENCH_KEY_PREFIX), so
a run never meets another run's messages.
"""

from __future__ import annotations

import os

import django
from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.celery_default_settings")
django.setup()  # the model below needs the app registry

from django.db import models  # noqa: E402
from django.db.models import F  # noqa: E402
from django.utils import timezone  # noqa: E402

app = Celery("bench_default", broker=os.environ.get("BENCH_BROKER_URL", "redis://"))
app.conf.broker_transport_options = {"global_keyprefix": os.environ.get("BENCH_KEY_PREFIX", "")}


class Row(models.Model):
    """One row per task to update (the bench creates the table: bench/process.py)."""

    n = models.IntegerField(default=0)
    updated_at = models.DateTimeField(null=True)

    class Meta:
        app_label = "bench"
        db_table = "bench_celery_row"
        managed = False

    def __str__(self) -> str:
        return f"row {self.pk}"


@app.task(name="bench.default.noop")
def noop() -> None:
    """Does nothing: the cost of a Celery task itself."""


@app.task(name="bench.default.touch")
def touch(row_id: int) -> None:
    """One UPDATE of one row through the ORM, as a task that records something does."""
    Row.objects.filter(pk=row_id).update(n=F("n") + 1, updated_at=timezone.now())
