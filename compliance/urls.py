from __future__ import annotations

from django.urls import path

from . import flag_views, views

app_name = "compliance"

urlpatterns = [
    path("audit/", views.audit_log, name="audit_log"),
    path("audit/export.csv", views.audit_export, name="audit_export"),
    path("flags/new/", flag_views.flag_create, name="flag_create"),
    path("flags/mine/", flag_views.my_flags, name="my_flags"),
    path("flags/", flag_views.flag_inbox, name="flag_inbox"),
    path("flags/<int:pk>/", flag_views.flag_detail, name="flag_detail"),
]
