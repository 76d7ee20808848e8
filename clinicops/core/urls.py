from __future__ import annotations

from django.urls import path

from . import patient_views

app_name = "core"

urlpatterns = [
    path("", patient_views.patient_search, name="patient_search"),
    path("new/", patient_views.patient_create, name="patient_create"),
    path("<int:pk>/", patient_views.patient_detail, name="patient_detail"),
    path("<int:pk>/edit/", patient_views.patient_edit, name="patient_edit"),
    path("<int:pk>/coverage/new/", patient_views.coverage_add, name="coverage_add"),
    path(
        "<int:pk>/coverage/<int:coverage_pk>/edit/",
        patient_views.coverage_edit,
        name="coverage_edit",
    ),
]
