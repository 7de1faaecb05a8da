"""Buttons on an object's detail page for the actions its list page offers.

A ModelAdmin with `DetailActionsMixin` says which actions the object's current state allows
(`detail_actions`) and applies one by calling the same service as the API
(`detail_action_apply`). The mixin owns what every such button shares: POST only (CSRF by the
admin's view wrapper), the change permission (403 without it, and no buttons shown), a success
message or the service's refusal as a warning, the admin history entry, and the redirect back.
The service decides: a button shown on a page that has since gone stale is refused there.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils.http import url_has_allowed_host_and_scheme

from beo_automation.errors import AppError


def error_text(exc: AppError) -> str:
    """A service's refusal as one line for a message: the reason and each field's problems."""
    if exc.details:
        return f"{exc.message}: " + "; ".join(
            f"{field}: {' '.join(map(str, msgs))}" for field, msgs in exc.details.items()
        )
    return exc.message


@dataclasses.dataclass(frozen=True)
class DetailAction:
    name: str
    label: str
    # A destructive or final step gets the danger style.
    danger: bool = False


class DetailActionsMixin(admin.ModelAdmin):
    def detail_actions(self, obj: Any) -> list[DetailAction]:
        """The actions the object's current state allows (the buttons shown)."""
        raise NotImplementedError

    def detail_action_apply(self, request: HttpRequest, obj: Any, name: str) -> str:
        """Apply `name` through its service; return the success message. The service raises
        an AppError (Conflict…) when it refuses."""
        raise NotImplementedError

    def has_detail_action_permission(self, request: HttpRequest) -> bool:
        # The model's change permission, as for the list page's actions.
        return super().has_change_permission(request)

    def _detail_action_url_name(self) -> str:
        opts = self.model._meta
        return f"{opts.app_label}_{opts.model_name}_act"

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "<path:object_id>/act/<str:name>/",
                self.admin_site.admin_view(self.detail_action_view),
                name=self._detail_action_url_name(),
            ),
            *super().get_urls(),
        ]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        extra_context = dict(extra_context or {})
        obj = self.get_object(request, unquote(object_id))
        if obj is not None and self.has_detail_action_permission(request):
            extra_context["detail_actions"] = [
                (
                    action,
                    reverse(f"admin:{self._detail_action_url_name()}", args=[obj.pk, action.name]),
                )
                for action in self.detail_actions(obj)
            ]
        return super().change_view(request, object_id, form_url, extra_context)

    def detail_action_view(self, request: HttpRequest, object_id: str, name: str) -> HttpResponse:
        if not self.has_detail_action_permission(request):
            raise PermissionDenied
        if request.method != "POST":
            # A link or a reload never changes anything.
            return HttpResponse(status=405, headers={"Allow": "POST"})
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404
        back = self._detail_action_back(request, obj)
        # Only names this admin declares for some state; the service checks the current one.
        if name not in self.detail_action_names():
            raise Http404
        try:
            done = self.detail_action_apply(request, obj, name)
        except AppError as exc:
            self.message_user(request, f"Not done: {error_text(exc)}", messages.WARNING)
            return HttpResponseRedirect(back)
        self.log_change(request, obj, f"{done} (from its page)")
        self.message_user(request, done, messages.SUCCESS)
        return HttpResponseRedirect(back)

    def detail_action_names(self) -> set[str]:
        """Every action name this admin can show, whatever the state."""
        raise NotImplementedError

    def _detail_action_back(self, request: HttpRequest, obj: Any) -> str:
        """Where the button returns: the form's `next` (the console's overview posts one) when
        it stays on this site, else the object's page."""
        target = request.POST.get("next", "")
        if target and url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            return target
        opts = self.model._meta
        return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
