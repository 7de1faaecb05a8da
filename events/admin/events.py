"""Live events: read-only detail pages with Retry/Cancel buttons, a create form, and the
Retry/Cancel list actions.

Creating, retrying and cancelling go through events.services, exactly as the API does.
"""

from __future__ import annotations

from typing import Any

import structlog
from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from beo_automation.admin_actions import DetailAction, DetailActionsMixin
from beo_automation.errors import PayloadTooLargeError, ValidationError
from beo_automation.parsers import JSONFormField
from events.admin.event_table import (
    EVENT_DETAIL_FIELDS,
    EVENT_DETAIL_FIELDSETS,
    LIVE_EVENT_LIST_COLUMNS,
    EventTableAdmin,
)
from events.models import Event, Priority, Status, WebhookDelivery
from events.services import (
    ACTION_LIMIT,
    EventAction,
    EventInput,
    event_cancel,
    event_create,
    event_input_validate,
    event_retry,
    events_action_apply,
)
from events.submission import TYPE_RULE

logger = structlog.get_logger("events.admin")


class EventCreateForm(forms.ModelForm):
    """Staff create an event like an API client does: same validation, same service."""

    item: EventInput
    # The API's JSON rule (nesting limit), not Django's unbounded parser.
    payload = JSONFormField(help_text='A JSON object, e.g. {"beo": "BEO-1042", "guests": 120}.')

    class Meta:
        model = Event
        fields = ("type", "priority", "payload")
        help_texts = {"type": f"{TYPE_RULE} (e.g. beo.created)."}

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
        # The form's choice field has already turned the name into its number.
        priority = cleaned.get("priority")
        try:
            self.item = event_input_validate(
                type=cleaned.get("type", ""),
                payload={} if payload in (None, "") else payload,
                priority=Priority(priority) if priority in Priority.values else priority,
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


_DONE_WORD = {"retry": "Retried", "cancel": "Cancelled"}


# What each detail-page button calls: the API's services for POST /events/{id}/retry|cancel/.
_DETAIL_ACTIONS = {
    "retry": (Status.FAILED, DetailAction("retry", "Retry"), event_retry),
    "cancel": (Status.PENDING, DetailAction("cancel", "Cancel", danger=True), event_cancel),
}


@admin.register(Event)
class EventAdmin(DetailActionsMixin, EventTableAdmin):
    list_display = LIVE_EVENT_LIST_COLUMNS
    list_display_links = ("id", "type")
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

    def detail_actions(self, obj: Event) -> list[DetailAction]:
        return [button for status, button, _ in _DETAIL_ACTIONS.values() if obj.status == status]

    def detail_action_names(self) -> set[str]:
        return set(_DETAIL_ACTIONS)

    def detail_action_apply(self, request: HttpRequest, obj: Event, name: str) -> str:
        _, _, service = _DETAIL_ACTIONS[name]
        event = service(event_id=obj.pk)
        logger.info(
            "Admin action on an event",
            action=name,
            event_id=event.pk,
            user=request.user.get_username(),
        )
        return f"{_DONE_WORD[name]} event #{event.pk}: it is {event.status} now."

    @admin.action(description="Retry selected failed events", permissions=["change"])
    def retry_events(self, request: HttpRequest, queryset: QuerySet[Event]) -> None:
        self._act(request, queryset, "retry")

    @admin.action(description="Cancel selected pending events", permissions=["change"])
    def cancel_events(self, request: HttpRequest, queryset: QuerySet[Event]) -> None:
        self._act(request, queryset, "cancel")

    def _act(self, request: HttpRequest, queryset: QuerySet[Event], action: EventAction) -> None:
        """Apply the action through events_action_apply; say what happened."""
        outcome = events_action_apply(
            action=action,
            selection=queryset,
            # "Select all" across a huge filter: counting the rest would be a full count.
            count_ineligible=request.POST.get("select_across") != "1",
        )
        done_word = _DONE_WORD[action]
        for event in outcome.changed:
            self.log_change(request, event, f"{done_word} from the admin")
        for event_id, message in outcome.failed:
            self.message_user(request, f"Event #{event_id}: {message}", messages.ERROR)
        done, ineligible, raced = len(outcome.changed), outcome.ineligible or 0, outcome.raced
        eligible = outcome.eligible.value
        logger.info(
            "Admin action on events",
            action=action,
            user=request.user.get_username(),
            done=done,
            ineligible=ineligible,
            changed_meanwhile=raced,
            truncated=outcome.truncated,
        )
        noun = "event" if done == 1 else "events"
        level = messages.SUCCESS if done else messages.WARNING
        self.message_user(request, f"{done_word} {done} {noun}.", level)
        if ineligible:
            self.message_user(
                request,
                f"{ineligible} selected event{'s were' if ineligible != 1 else ' was'} not "
                f"{eligible} and left unchanged (only {eligible} events can be "
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
        if outcome.truncated:
            self.message_user(
                request,
                f"Only {ACTION_LIMIT:,} events are handled per action: run it again for the rest.",
                messages.WARNING,
            )
