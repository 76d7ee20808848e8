from __future__ import annotations

from django.urls import path

from . import access_views, flag_views, incident_views, views

app_name = "compliance"

urlpatterns = [
    path("audit/", views.audit_log, name="audit_log"),
    path("audit/export.csv", views.audit_export, name="audit_export"),
    path("flags/new/", flag_views.flag_create, name="flag_create"),
    path("flags/mine/", flag_views.my_flags, name="my_flags"),
    path("flags/", flag_views.flag_inbox, name="flag_inbox"),
    path("flags/<int:pk>/", flag_views.flag_detail, name="flag_detail"),
    path("flags/<int:pk>/incident/", incident_views.flag_link, name="flag_link"),
    path("incidents/", incident_views.incident_list, name="incident_list"),
    path("incidents/new/", incident_views.incident_create, name="incident_create"),
    path("incidents/monthly/", incident_views.incident_monthly, name="incident_monthly"),
    path("incidents/<int:pk>/", incident_views.incident_detail, name="incident_detail"),
    path("incidents/<int:pk>/triage/", incident_views.incident_triage, name="incident_triage"),
    path(
        "incidents/<int:pk>/step/<slug:move>/", incident_views.incident_move, name="incident_move"
    ),
    path("incidents/<int:pk>/close/", incident_views.incident_close, name="incident_close"),
    path("incidents/<int:pk>/reopen/", incident_views.incident_reopen, name="incident_reopen"),
    path(
        "incidents/<int:pk>/analysis/", incident_views.incident_analysis, name="incident_analysis"
    ),
    path("incidents/<int:pk>/actions/", incident_views.action_add, name="action_add"),
    path("incidents/<int:pk>/events/", incident_views.incident_events, name="incident_events"),
    path("actions/<int:pk>/done/", incident_views.action_done, name="action_done"),
    path("actions/<int:pk>/verify/", incident_views.action_verify, name="action_verify"),
    path("actions/<int:pk>/cancel/", incident_views.action_cancel, name="action_cancel"),
    path("actions/<int:pk>/reassign/", incident_views.action_reassign, name="action_reassign"),
]

urlpatterns += [
    path("break-glass/", access_views.break_glass, name="break_glass"),
    path("break-glass/reviews/", access_views.break_glass_reviews, name="break_glass_reviews"),
    path("break-glass/<int:pk>/", access_views.break_glass_detail, name="break_glass_detail"),
    path("access-reviews/", access_views.access_reviews, name="access_reviews"),
    path(
        "access-reviews/<int:pk>/", access_views.access_review_detail, name="access_review_detail"
    ),
    path("hints/", access_views.hints, name="hints"),
    path("hints/<int:pk>/", access_views.hint_detail, name="hint_detail"),
]
