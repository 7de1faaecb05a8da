"""/api/events/… (included by beo_automation.urls under the `events` namespace)."""

from __future__ import annotations

from django.urls import path

from events.api import views

app_name = "events"

urlpatterns = [
    path("", views.EventListCreateView.as_view(), name="event-list"),
    path("bulk/", views.EventBulkCreateView.as_view(), name="event-bulk"),
    path("<int:event_id>/", views.EventDetailView.as_view(), name="event-detail"),
    path("<int:event_id>/retry/", views.EventRetryView.as_view(), name="event-retry"),
    path("<int:event_id>/cancel/", views.EventCancelView.as_view(), name="event-cancel"),
]
