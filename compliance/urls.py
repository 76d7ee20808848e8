from __future__ import annotations

from django.urls import path

from . import views

app_name = "compliance"

urlpatterns = [
    path("audit/", views.audit_log, name="audit_log"),
    path("audit/export.csv", views.audit_export, name="audit_export"),
]
