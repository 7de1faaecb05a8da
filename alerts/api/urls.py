from __future__ import annotations

from django.urls import path

from alerts.api import views

alert_urlpatterns = [
    path("", views.AlertListView.as_view(), name="alert-list"),
    path("<int:pk>/", views.AlertDetailView.as_view(), name="alert-detail"),
    path("<int:pk>/acknowledge/", views.AlertAcknowledgeView.as_view(), name="alert-acknowledge"),
    path("<int:pk>/resolve/", views.AlertResolveView.as_view(), name="alert-resolve"),
]

incident_urlpatterns = [
    path("", views.IncidentListCreateView.as_view(), name="incident-list"),
    path("<int:pk>/", views.IncidentDetailView.as_view(), name="incident-detail"),
    path(
        "<int:pk>/transition/", views.IncidentTransitionView.as_view(), name="incident-transition"
    ),
    path(
        "<int:pk>/acknowledge/",
        views.IncidentAcknowledgeView.as_view(),
        name="incident-acknowledge",
    ),
]
