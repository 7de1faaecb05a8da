"""GET /metrics: the key metrics in Prometheus text format (prometheus-client).

A custom collector builds every family at scrape time from the same sources as the alert
evaluation: request counters and latency histograms from Redis (shared by all gunicorn
workers, see .requests), the rolling window, database connections, memory, CPU and disks
(.resources), events by status and priority, open alerts and incidents, failing channels. A
source that cannot be read is left out and `beo_up{dependency=...}` says so, instead of a
made-up zero.

A scrape answers while Redis is down: the first Redis read that fails marks it down for the
rest of the scrape, so a hung Redis costs one REDIS_SOCKET_TIMEOUT, not one per family, and
the event counts come from the database directly instead of through the cache.
"""

from __future__ import annotations

import contextlib
import hmac
from collections.abc import Generator, Iterator

import structlog
from django.conf import settings
from django.core.cache import cache
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from alerts.metrics import (
    NotMeasured,
    database_reachability,
    db_connections_measure,
    requests_measure,
)
from alerts.models import ACTIVE_STAGES, OPEN_ALERT_STATUSES, Alert, Incident
from beo_automation.metrics.requests import DURATION_BUCKETS, request_counters
from beo_automation.metrics.resources import cpu_measure, disks_measure, memory_measure
from events.models import Event, Priority, Status
from events.selectors import event_queue_stats

logger = structlog.get_logger("beo_automation.metrics.prometheus")

PREFIX = "beo"
# Counting a million-row events table by status on every scrape (and by every worker) is
# wasteful: share the answer for a few seconds through the cache.
EVENT_COUNTS_CACHE_SECONDS = 10


def _event_counts(*, use_cache: bool) -> dict[str, int]:
    key = f"{settings.ALERTS_KEY_PREFIX}:event-status-counts"
    counts = _cache_get(key) if use_cache else None
    if counts is None:
        counts = {s.value: 0 for s in Status}
        for row in Event.objects.values("status").annotate(n=Count("id")).order_by():
            counts[row["status"]] = row["n"]
        if use_cache:
            with contextlib.suppress(Exception):  # the cache is only a saving
                cache.set(key, counts, EVENT_COUNTS_CACHE_SECONDS)
    return dict(counts)


def _cache_get(key: str) -> dict[str, int] | None:
    try:
        value = cache.get(key)
    except Exception as exc:  # noqa: BLE001 - Redis went down since the counters were read
        logger.warning("Metrics cache unavailable", error=str(exc))
        return None
    return value if isinstance(value, dict) else None


class BeoCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            f"{PREFIX}_up",
            "Whether a dependency could be read (1) or not (0).",
            labels=["dependency"],
        )
        redis_up = yield from self._requests(up)
        database = database_reachability()
        up.add_metric(["database"], 1 if database.ok else 0)
        if database.ok:
            # Without Redis the default cache is per process memory: always usable.
            yield from self._database(use_cache=redis_up or not settings.REDIS_URL)
        yield from self._system()
        yield up

    def _requests(self, up: GaugeMetricFamily) -> Generator[Metric, None, bool]:
        """The request families; returns whether Redis answered (False: it is not read again
        in this scrape)."""
        try:
            counters = request_counters()
        except Exception as exc:  # noqa: BLE001 - Redis down: leave the families out
            logger.warning("Request counters unavailable", error=str(exc))
            up.add_metric(["redis"], 0)
            return False
        if settings.REDIS_URL:
            up.add_metric(["redis"], 1)
        total = CounterMetricFamily(
            f"{PREFIX}_http_requests",
            "HTTP requests by method, route and status (every process).",
            labels=["method", "route", "status"],
        )
        for (method, route, status), value in sorted(counters.requests.items()):
            total.add_metric([method, route, status], value)
        yield total

        histogram = HistogramMetricFamily(
            f"{PREFIX}_http_request_duration_seconds",
            "HTTP request duration by method and route (every process).",
            labels=["method", "route"],
        )
        series = sorted({(m, r) for m, r, _ in counters.duration_buckets})
        bounds = [repr(b) for b in DURATION_BUCKETS] + ["+Inf"]
        for method, route in series:
            cumulative: float = 0.0
            buckets: list[tuple[str, float]] = []
            for bound in bounds:
                cumulative += counters.duration_buckets.get((method, route, bound), 0)
                buckets.append((bound, cumulative))
            histogram.add_metric(
                [method, route], buckets, sum_value=counters.duration_sums.get((method, route), 0.0)
            )
        yield histogram

        window = requests_measure(now=timezone.now())
        if not isinstance(window, NotMeasured):
            labels = ["window_minutes"]
            w = str(window.minutes)
            gauges: list[tuple[str, str, float | None]] = [
                ("window_requests", "Requests in the rolling window.", window.requests),
                ("window_errors", "5xx responses in the rolling window.", window.errors),
                ("window_error_ratio", "Share of 5xx responses in the window.", window.error_rate),
                (
                    "window_response_time_avg_milliseconds",
                    "Average response time in the window.",
                    window.avg_ms,
                ),
            ]
            for name, doc, amount in gauges:
                if amount is not None:
                    gauge = GaugeMetricFamily(f"{PREFIX}_http_{name}", doc, labels=labels)
                    gauge.add_metric([w], amount)
                    yield gauge
        return True

    def _database(self, *, use_cache: bool) -> Iterator[Metric]:
        connections = db_connections_measure()
        if not isinstance(connections, NotMeasured):
            used = GaugeMetricFamily(
                f"{PREFIX}_db_connections",
                "Client connections to this database (pg_stat_activity).",
                labels=["state"],
            )
            used.add_metric(["all"], connections.used)
            used.add_metric(["active"], connections.active)
            yield used
            capacity = GaugeMetricFamily(
                f"{PREFIX}_db_connections_capacity",
                "Connections that can be opened (pool x processes, or max_connections).",
                labels=["source"],
            )
            capacity.add_metric([connections.capacity_source], connections.capacity)
            yield capacity
            yield GaugeMetricFamily(
                f"{PREFIX}_db_connections_percent",
                "Connections in use, percent of capacity.",
                value=connections.percent,
            )

        events = GaugeMetricFamily(f"{PREFIX}_events", "Events by status.", labels=["status"])
        for status, count in sorted(_event_counts(use_cache=use_cache).items()):
            events.add_metric([status], count)
        yield events
        stats = event_queue_stats()
        pending = GaugeMetricFamily(
            f"{PREFIX}_events_pending", "Pending events by priority.", labels=["priority"]
        )
        for priority in Priority:
            pending.add_metric([priority.label], stats.pending_by_priority.get(priority.label, 0))
        yield pending
        if stats.oldest_pending_age_seconds is not None:
            yield GaugeMetricFamily(
                f"{PREFIX}_events_oldest_pending_age_seconds",
                "Age of the oldest pending event.",
                value=stats.oldest_pending_age_seconds,
            )

        alerts = GaugeMetricFamily(
            f"{PREFIX}_alerts_open",
            "Open alerts by severity and status.",
            labels=["severity", "status"],
        )
        for row in (
            Alert.objects.filter(status__in=OPEN_ALERT_STATUSES)
            .values("severity", "status")
            .annotate(n=Count("id"))
            .order_by("severity", "status")
        ):
            alerts.add_metric([row["severity"], row["status"]], row["n"])
        yield alerts
        incidents = GaugeMetricFamily(
            f"{PREFIX}_incidents_active",
            "Incidents not yet resolved, by severity.",
            labels=["severity"],
        )
        for row in (
            Incident.objects.filter(stage__in=ACTIVE_STAGES)
            .values("severity")
            .annotate(n=Count("id"))
            .order_by("severity")
        ):
            incidents.add_metric([row["severity"]], row["n"])
        yield incidents

        from alerts.selectors import channel_states

        failing = GaugeMetricFamily(
            f"{PREFIX}_notification_channel_failing",
            "1 when a notification channel keeps failing.",
            labels=["channel"],
        )
        for state in channel_states():
            failing.add_metric([state.label], 1 if state.failing else 0)
        yield failing

    def _system(self) -> Iterator[Metric]:
        memory = memory_measure()
        yield GaugeMetricFamily(
            f"{PREFIX}_memory_used_percent", "System memory in use, percent.", value=memory.percent
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_process_resident_memory_bytes",
            "Resident memory of the process serving this scrape.",
            value=memory.process_rss_bytes,
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_cpu_used_percent",
            "System CPU use, percent (since this process's previous sample).",
            value=cpu_measure(),
        )
        disk = GaugeMetricFamily(
            f"{PREFIX}_disk_used_percent",
            "Disk use of the data and backup directories.",
            labels=["path"],
        )
        free = GaugeMetricFamily(
            f"{PREFIX}_disk_free_bytes",
            "Free space on the disk of each directory.",
            labels=["path"],
        )
        try:
            disks = disks_measure()
        except OSError:
            disks = []
        for usage in disks:
            disk.add_metric([usage.path], usage.percent)
            free.add_metric([usage.path], usage.free_bytes)
        yield disk
        yield free


def metrics_text() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(BeoCollector())
    return generate_latest(registry)


def _authorized(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if not token:
        return True
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    # Bytes: compare_digest refuses str with non-ASCII characters (a TypeError, a 500).
    return scheme.lower() == "bearer" and hmac.compare_digest(
        _header_bytes(value.strip()), token.encode()
    )


def _header_bytes(value: str) -> bytes:
    # A WSGI server hands header bytes over decoded as latin-1 (PEP 3333): encode them back to
    # compare the bytes the client sent; anything else (no latin-1 form) is compared as UTF-8.
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogatepass")


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus scrape endpoint; `Authorization: Bearer <METRICS_TOKEN>` when one is set."""
    if not _authorized(request):
        response = HttpResponse("Unauthorized\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(metrics_text(), content_type=CONTENT_TYPE_LATEST)
