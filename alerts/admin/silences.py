"""Silences: add one (the service's rules shown on the form), end selected ones now."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from alerts.admin.common import each_selected
from alerts.models import Silence
from alerts.silences import silence_create, silence_expire, silence_input_errors


class SilenceAdminForm(forms.ModelForm):
    class Meta:
        model = Silence
        fields = ("fingerprint", "name_pattern", "starts_at", "ends_at", "comment")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        errors = silence_input_errors(
            fingerprint=(data.get("fingerprint") or "").strip().lower(),
            name_pattern=(data.get("name_pattern") or "").strip(),
            starts_at=data.get("starts_at"),
            ends_at=data.get("ends_at"),
        )
        for field, messages in errors.items():
            self.add_error(None if field == "non_field_errors" else field, messages)
        return data


@admin.register(Silence)
class SilenceAdmin(admin.ModelAdmin):
    form = SilenceAdminForm
    list_display = (
        "__str__",
        "name_pattern",
        "short_fingerprint",
        "starts_at",
        "ends_at",
        "active",
        "created_by",
        "comment",
    )
    list_filter = ("ends_at",)
    search_fields = ("name_pattern", "fingerprint", "comment")
    actions = ("end_silences",)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A silence is changed by ending it (action) and adding another: history stays true.
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="fingerprint")
    def short_fingerprint(self, silence: Silence) -> str:
        return silence.fingerprint[:12]

    @admin.display(description="active", boolean=True)
    def active(self, silence: Silence) -> bool:
        return silence.is_active()

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        now = timezone.now()
        return {"starts_at": now, "ends_at": now + timedelta(hours=2)}

    def save_model(self, request: HttpRequest, obj: Silence, form: Any, change: bool) -> None:
        created = silence_create(
            fingerprint=obj.fingerprint,
            name_pattern=obj.name_pattern,
            starts_at=obj.starts_at,
            ends_at=obj.ends_at,
            comment=obj.comment,
            user=request.user,  # type: ignore[arg-type]
        )
        obj.pk = created.pk
        obj.created_by = created.created_by

    @admin.action(description="End selected silences now")
    def end_silences(self, request: HttpRequest, queryset: QuerySet[Silence]) -> None:
        each_selected(
            self,
            request,
            queryset,
            call=lambda s: silence_expire(silence_id=s.pk, user=request.user),  # type: ignore[arg-type]
            logged="Ended from the admin.",
            summary=lambda n: f"Ended {n} silence(s).",
            describe=str,
        )
