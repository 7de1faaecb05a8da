"""Staff screens for events, archived events, webhook subscriptions and deliveries.

The events table holds millions of rows, so every changelist here avoids what makes the stock
admin slow on a big table:
- no COUNT(*) of the table: rows are counted exactly up to EstimatedCountPaginator.exact_limit,
  beyond that PostgreSQL's planner estimate is shown ("about 1,000,000 events");
- the date hierarchy does not SELECT DISTINCT over every row: it jumps from one year, month
  or day with rows to the next along the created_at index (DateProbingQuerySet);
- search uses indexes (id, owner, a type prefix), filters are on indexed columns, sorting is
  limited to indexed orders, and facet counts are off.
Retry and cancel go through events.services, exactly as the API does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo
from typing import Any, Literal, cast

import structlog
from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.safestring import SafeString

from beo_automation.errors import (
    AppError,
    ConflictError,
    NotFoundError,
    PayloadTooLargeError,
    ValidationError,
)
from beo_automation.parsers import JSONFormField
from events.models import Event, EventArchive, Status, Subscription, WebhookDelivery
from events.services import (
    EventInput,
    event_cancel,
    event_create,
    event_input_validate,
    event_retry,
)

logger = structlog.get_logger("events.admin")

# An admin action handles at most this many events per click; the rest on the next click.
ACTION_LIMIT = 1000
# A username search term matching more users than this is too vague to narrow events by owner.
OWNER_MATCH_LIMIT = 500
ID_TERM = re.compile(r"^#?(\d{1,18})$")


# --- Big-table building blocks -------------------------------------------------------------


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
    which reads every row in range: seconds on a million events. Here each period with rows is
    found by one "first row at or after this moment" query (ORDER BY created_at LIMIT 1, an
    index range scan), then the search jumps to the next period: one fast query per period
    shown, whatever the number of rows.
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


class BigTableAdmin(admin.ModelAdmin):
    """Changelist settings for tables of millions of rows."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 100

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        return DateProbingQuerySet(model=queryset.model, query=queryset.query, using=queryset.db)


class EventTableAdmin(BigTableAdmin):
    """Live and archived events: shared columns, and a search that uses indexes.

    Search by id (123 or #123), owner username, or the beginning of the type: each branch has
    an index (primary key, owner, type); a substring search on type would read the whole table.
    """

    search_help_text = (
        "An event id (123 or #123), the beginning of a type (beo. finds beo.created), "
        "or part of the owner's username."
    )

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        # A number is an id (types are never just digits); anything else a type prefix.
        if match := ID_TERM.fullmatch(term):
            condition = Q(pk=int(match[1]))
        else:
            condition = Q(type__startswith=term)
        owners = list(
            get_user_model()
            .objects.filter(username__icontains=term)
            .values_list("pk", flat=True)[: OWNER_MATCH_LIMIT + 1]
        )
        if owners and len(owners) <= OWNER_MATCH_LIMIT:
            condition |= Q(owner_id__in=owners)
        return queryset.filter(condition), False

    @admin.display(description="priority", ordering="priority")
    def priority_label(self, obj: Event | EventArchive) -> str:
        return obj.priority_name

    @admin.display(description="duration")
    def duration(self, obj: Event | EventArchive) -> str:
        return "" if obj.duration_ms is None else f"{obj.duration_ms:,.1f} ms"

    @admin.display(description="payload")
    def payload_json(self, obj: Event | EventArchive) -> SafeString:
        return pretty_json(obj.payload)

    @admin.display(description="result")
    def result_json(self, obj: Event | EventArchive) -> SafeString:
        return pretty_json(obj.result)


# --- Events ----------------------------------------------------------------------------------


class EventCreateForm(forms.ModelForm):
    """Staff create an event like an API client does: same validation, same service."""

    item: EventInput
    # The API's JSON rule (nesting limit), not Django's unbounded parser.
    payload = JSONFormField(help_text='A JSON object, e.g. {"beo": "BEO-1042", "guests": 120}.')

    class Meta:
        model = Event
        fields = ("type", "priority", "payload")
        help_texts = {
            "type": "1-100 characters: letters, digits and . _ : - (e.g. beo.created).",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # {} is a valid payload (form fields count it as "empty"); empty input means {} too.
        self.fields["payload"].required = False
        self.fields["payload"].initial = dict

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        payload = cleaned.get("payload")
        try:
            self.item = event_input_validate(
                type=cleaned.get("type", ""),
                payload={} if payload in (None, "") else payload,
                priority=cleaned.get("priority", ""),
            )
        except ValidationError as exc:
            for field, problems in (exc.details or {}).items():
                self.add_error(field if field in self.fields else None, problems)
        except PayloadTooLargeError as exc:
            self.add_error("payload", exc.message)
        return cleaned


class WebhookDeliveryInline(admin.TabularInline):
    model = WebhookDelivery
    fk_name = "event"
    fields = ("subscription", "attempt", "succeeded", "status_code", "duration_ms", "error")
    readonly_fields = fields
    ordering = ("created_at", "id")
    extra = 0
    can_delete = False
    verbose_name_plural = "webhook deliveries"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


EVENT_LIST_COLUMNS = (
    "id",
    "type",
    "status",
    "priority_label",
    "owner",
    "created_at",
    "attempts",
    "duration",
)


EVENT_DETAIL_FIELDSETS: Any = (
    (None, {"fields": ("id", "type", "status", "priority_label", "owner")}),
    ("Payload and result", {"fields": ("payload_json", "result_json", "last_error")}),
    (
        "Processing",
        {
            "fields": (
                "attempts",
                "max_attempts",
                "duration",
                "created_at",
                "available_at",
                "started_at",
                "completed_at",
                "updated_at",
            )
        },
    ),
    ("Request", {"fields": ("request_id", "idempotency_key")}),
)
EVENT_DETAIL_FIELDS = tuple(f for _, opts in EVENT_DETAIL_FIELDSETS for f in opts["fields"])


@admin.register(Event)
class EventAdmin(EventTableAdmin):
    list_display = EVENT_LIST_COLUMNS
    list_display_links = ("id", "type")
    list_filter = ("status", "priority")
    list_select_related = ("owner",)
    date_hierarchy = "created_at"
    # The search box appears when search_fields is set; get_search_results does the work.
    search_fields = ("id", "type", "owner__username")
    # Only orders an index serves: any other sort is a sort of the whole table.
    sortable_by = ("id", "created_at")
    ordering = ("-created_at", "-id")
    actions = ("retry_events", "cancel_events")

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is None:
            kwargs["form"] = EventCreateForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ((None, {"fields": ("type", "priority", "payload")}),)
        return EVENT_DETAIL_FIELDSETS

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return () if obj is None else EVENT_DETAIL_FIELDS

    def get_inlines(self, request: HttpRequest, obj: Any) -> Any:
        return [] if obj is None else [WebhookDeliveryInline]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # An event changes only through the pipeline and the Retry/Cancel actions: its page
        # is read-only; the change permission is what allows those actions.
        if obj is not None:
            return False
        return super().has_change_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Events are records; old ones leave through the archival, not a delete button.
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            return
        event, _ = event_create(
            owner=request.user,  # type: ignore[arg-type]
            item=form.item,
            request_id=getattr(request, "request_id", ""),
        )
        # The admin goes on with `obj` (history entry, message, redirect): make it the event.
        for field in Event._meta.concrete_fields:
            setattr(obj, field.attname, getattr(event, field.attname))
        obj._state.adding = False
        obj._state.db = event._state.db
        logger.info(
            "Event created in the admin", event_id=event.pk, user=request.user.get_username()
        )

    @admin.action(description="Retry selected failed events", permissions=["change"])
    def retry_events(self, request: HttpRequest, queryset: QuerySet[Event]) -> None:
        self._run_action(
            request, queryset, name="retry", eligible=Status.FAILED, service=event_retry
        )

    @admin.action(description="Cancel selected pending events", permissions=["change"])
    def cancel_events(self, request: HttpRequest, queryset: QuerySet[Event]) -> None:
        self._run_action(
            request, queryset, name="cancel", eligible=Status.PENDING, service=event_cancel
        )

    def _run_action(
        self,
        request: HttpRequest,
        queryset: QuerySet[Event],
        *,
        name: str,
        eligible: Status,
        service: Callable[..., Event],
    ) -> None:
        """Call the service for each selected event in the eligible state; report the rest."""
        done_word = {"retry": "Retried", "cancel": "Cancelled"}[name]
        # Counted before acting: afterwards the acted-on events are no longer in that state.
        # Selecting "all" across a huge filter would make this a full count: skipped there.
        select_across = request.POST.get("select_across") == "1"
        ineligible = 0 if select_across else queryset.exclude(status=eligible).count()
        ids = list(
            queryset.filter(status=eligible)
            .order_by("-created_at", "-id")
            .values_list("id", flat=True)[: ACTION_LIMIT + 1]
        )
        truncated = len(ids) > ACTION_LIMIT
        done = raced = 0
        for event_id in ids[:ACTION_LIMIT]:
            try:
                event = service(event_id=event_id)
            except (ConflictError, NotFoundError):
                raced += 1  # its state changed since the page was shown
                continue
            except AppError as exc:
                self.message_user(request, f"Event #{event_id}: {exc.message}", messages.ERROR)
                continue
            done += 1
            self.log_change(request, event, f"{done_word} from the admin")
        logger.info(
            "Admin action on events",
            action=name,
            user=request.user.get_username(),
            done=done,
            ineligible=ineligible,
            changed_meanwhile=raced,
            truncated=truncated,
        )
        noun = "event" if done == 1 else "events"
        level = messages.SUCCESS if done else messages.WARNING
        self.message_user(request, f"{done_word} {done} {noun}.", level)
        if ineligible:
            self.message_user(
                request,
                f"{ineligible} selected event{'s were' if ineligible != 1 else ' was'} not "
                f"{eligible.value} and left unchanged (only {eligible.value} events can be "
                f"{done_word.lower()}).",
                messages.WARNING,
            )
        if raced:
            self.message_user(
                request,
                f"{raced} event{'s' if raced != 1 else ''} changed state meanwhile and "
                f"{'were' if raced != 1 else 'was'} left unchanged.",
                messages.WARNING,
            )
        if truncated:
            self.message_user(
                request,
                f"Only {ACTION_LIMIT:,} events are handled per action: run it again for the rest.",
                messages.WARNING,
            )


@admin.register(EventArchive)
class EventArchiveAdmin(EventTableAdmin):
    """Archived events: read-only history (the maintenance archival writes them)."""

    list_display = (*EVENT_LIST_COLUMNS, "archived_at")
    list_filter = ("status", "priority")
    list_select_related = ("owner",)
    date_hierarchy = "created_at"
    search_fields = ("id", "type", "owner__username")
    sortable_by = ("id", "created_at")
    ordering = ("-created_at", "-id")
    fieldsets = (
        *EVENT_DETAIL_FIELDSETS,
        ("Archive", {"fields": ("archived_at",)}),
    )
    readonly_fields = (*EVENT_DETAIL_FIELDS, "archived_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- Webhooks --------------------------------------------------------------------------------


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ("name", "type_pattern", "target_url", "is_active", "deliveries", "updated_at")
    list_filter = ("is_active",)
    search_fields = ("name", "type_pattern", "target_url")
    fields = ("name", "type_pattern", "target_url", "secret", "is_active")
    actions = ("activate", "deactivate")

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "target_url":
            kwargs["assume_scheme"] = "https"  # a bare host becomes https://, never http://
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    @admin.display(description="deliveries")
    def deliveries(self, obj: Subscription) -> SafeString:
        url = reverse("admin:events_webhookdelivery_changelist")
        return format_html('<a href="{}?subscription__id__exact={}">history</a>', url, obj.pk)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Deleting would take the delivery history with it: deactivate instead. Only a
        # subscription that never delivered anything can go.
        if obj is None:
            return False
        has_history = WebhookDelivery.objects.filter(subscription=obj).exists()
        return not has_history and super().has_delete_permission(request, obj)

    @admin.action(description="Activate selected subscriptions", permissions=["change"])
    def activate(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> None:
        count = queryset.filter(is_active=False).update(is_active=True)
        self.message_user(request, f"Activated {count} subscription(s).", messages.SUCCESS)

    @admin.action(description="Deactivate selected subscriptions", permissions=["change"])
    def deactivate(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> None:
        count = queryset.filter(is_active=True).update(is_active=False)
        self.message_user(request, f"Deactivated {count} subscription(s).", messages.SUCCESS)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(BigTableAdmin):
    """Every delivery attempt, read-only."""

    list_display = (
        "id",
        "event_link",
        "subscription",
        "attempt",
        "succeeded",
        "status_code",
        "duration",
        "short_error",
        "created_at",
    )
    list_filter = ("succeeded", "subscription")
    list_select_related = ("subscription",)
    search_fields = ("event__id", "webhook_id")
    search_help_text = "An event id (123 or #123) or a webhook-id (msg_…)."
    sortable_by = ("id", "created_at")
    ordering = ("-created_at", "-id")
    fields = (
        "event_link",
        "subscription",
        "attempt",
        "webhook_id",
        "succeeded",
        "status_code",
        "duration",
        "error",
        "created_at",
    )
    readonly_fields = fields

    @admin.display(description="event")
    def event_link(self, obj: WebhookDelivery) -> SafeString:
        url = reverse("admin:events_event_change", args=[obj.event_id])
        return format_html('<a href="{}">#{}</a>', url, obj.event_id)

    @admin.display(description="duration")
    def duration(self, obj: WebhookDelivery) -> str:
        return "" if obj.duration_ms is None else f"{obj.duration_ms:,.1f} ms"

    @admin.display(description="error")
    def short_error(self, obj: WebhookDelivery) -> str:
        return obj.error if len(obj.error) <= 80 else obj.error[:79] + "…"

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        if match := ID_TERM.fullmatch(term):
            return queryset.filter(event_id=int(match[1])), False
        return queryset.filter(webhook_id=term), False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
