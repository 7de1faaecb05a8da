"""Changelist building blocks for tables of millions of rows (events, archive, deliveries).

What makes the stock admin slow on a big table, and what is done instead:
- COUNT(*) of the table: rows are counted exactly up to EstimatedCountPaginator.exact_limit,
  beyond that PostgreSQL's planner estimate is shown ("about 1,000,000 events");
- the date hierarchy's SELECT DISTINCT over every row: DateProbingQuerySet jumps from one
  year, month or day with rows to the next along the created_at index;
- facet counts: off. Search, filters and sorting are limited to indexed columns by each admin.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, tzinfo
from typing import Any, Literal, cast

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.safestring import SafeString


def planner_row_estimate(queryset: QuerySet[Any]) -> int | None:
    """PostgreSQL's estimate of how many rows a query returns (EXPLAIN, nothing is read)."""
    if connections[queryset.db].vendor != "postgresql":
        return None
    plan = json.loads(queryset.order_by().explain(format="json"))
    if isinstance(plan, list):
        plan = plan[0]
    return int(plan["Plan"]["Plan Rows"])


class EstimatedCountPaginator(Paginator):
    """Exact counts for small results; beyond `exact_limit` rows, the planner's estimate.

    Counting a million rows takes PostgreSQL a full scan on every page view; the changelist
    only needs to know how many pages to offer.
    """

    exact_limit = 1000
    estimated = False

    @cached_property
    def count(self) -> int:
        queryset = cast("QuerySet[Any]", self.object_list)
        exact = int(queryset.order_by()[: self.exact_limit].count())
        if exact < self.exact_limit:
            return exact
        estimate = planner_row_estimate(queryset)
        if estimate is None:  # SQLite (the embedded default): small enough to count
            return int(queryset.count())
        self.estimated = True
        return max(self.exact_limit, estimate)


def _period_start(moment: datetime, kind: str, tz: tzinfo) -> datetime:
    local = moment.astimezone(tz)
    if kind == "year":
        return datetime(local.year, 1, 1, tzinfo=tz)
    if kind == "month":
        return datetime(local.year, local.month, 1, tzinfo=tz)
    return datetime(local.year, local.month, local.day, tzinfo=tz)


def _next_period(start: datetime, kind: str) -> datetime:
    tz = start.tzinfo
    if kind == "year":
        return datetime(start.year + 1, 1, 1, tzinfo=tz)
    if kind == "month":
        year, month = divmod(start.month, 12)
        return datetime(start.year + year, month + 1, 1, tzinfo=tz)
    # Through the calendar date, not +24 h: a DST day is 23 or 25 hours long.
    following = start.date() + timedelta(days=1)
    return datetime(following.year, following.month, following.day, tzinfo=tz)


class DateProbingQuerySet(QuerySet[Any]):
    """The admin's date hierarchy without a scan of every row.

    Django lists the years (months, days) that have rows with SELECT DISTINCT date_trunc(…),
    which reads every row in range. Here each period with rows is found by one "first row at
    or after this moment" query (ORDER BY created_at LIMIT 1, an index range scan), then the
    search jumps to the next period: one fast query per period shown, whatever the number of
    rows.
    """

    max_periods = 400

    def datetimes(  # type: ignore[override]  # a list, which is all the date hierarchy needs
        self,
        field_name: str,
        kind: Literal["year", "month", "week", "day", "hour", "minute", "second"],
        order: Literal["ASC", "DESC"] = "ASC",
        tzinfo: tzinfo | None = None,
    ) -> list[datetime] | QuerySet[Any]:
        if kind not in {"year", "month", "day"}:
            return super().datetimes(field_name, kind, order=order, tzinfo=tzinfo)
        tz = tzinfo or timezone.get_current_timezone()
        ordered = self.order_by(field_name).values_list(field_name, flat=True)
        found: list[datetime] = []
        following = ordered.first()
        while following is not None:
            if len(found) >= self.max_periods:
                return super().datetimes(field_name, kind, order=order, tzinfo=tzinfo)
            period = _period_start(following, kind, tz)
            found.append(period)
            following = ordered.filter(**{f"{field_name}__gte": _next_period(period, kind)}).first()
        return found if order == "ASC" else found[::-1]


def pretty_json(value: Any) -> SafeString:
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    return format_html('<pre class="beo-json">{}</pre>', text)


def duration_text(duration_ms: float | None) -> str:
    return "" if duration_ms is None else f"{duration_ms:,.1f} ms"


class BigTableAdmin(admin.ModelAdmin):
    """Changelist settings for tables of millions of rows."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 100

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        return DateProbingQuerySet(model=queryset.model, query=queryset.query, using=queryset.db)


class ReadOnlyAdmin(admin.ModelAdmin):
    """History written by the system (archive, deliveries): staff read it, nobody edits it."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
