from __future__ import annotations

from django.urls import path

from . import access_views, flag_views, views

app_name = "compliance"

urlpatterns = [
    path("audit/", views.audit_log, name="audit_log"),
    path("audit/export.csv", views.audit_export, name="audit_export"),
    path("flags/new/", flag_views.flag_create, name="flag_create"),
    path("flags/mine/", flag_views.my_flags, name="my_flags"),
    path("flags/", flag_views.flag_inbox, name="flag_inbox"),
    path("flags/<int:pk>/", flag_views.flag_detail, name="flag_detail"),
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
