from __future__ import annotations

from django.urls import path
from django.views.generic import RedirectView

from . import template_views, views

app_name = "scheduling"

urlpatterns = [
    path(
        "",
        RedirectView.as_view(pattern_name="scheduling:day", http_method_names=["get", "head"]),
        name="index",
    ),
    path("day/", views.day_view, name="day"),
    path("week/", views.week_view, name="week"),
    path("day-sheet/", views.day_sheet, name="day_sheet"),
    path("find/", views.find_slot, name="find"),
    path("find/book/", views.find_book, name="find_book"),
    path("book/", views.book, name="book"),
    path("patients/", views.patient_options, name="patient_options"),
    path(
        "patients/<int:pk>/appointments/", views.patient_appointments, name="patient_appointments"
    ),
    path("appointments/<int:pk>/", views.appointment_detail, name="appointment"),
    path("appointments/<int:pk>/status/", views.appointment_status, name="appointment_status"),
    path("appointments/<int:pk>/cancel/", views.appointment_cancel, name="appointment_cancel"),
    path("appointments/<int:pk>/notes/", views.appointment_notes, name="appointment_notes"),
    path("waitlist/", views.waitlist, name="waitlist"),
    path("waitlist/offers/<int:pk>/", views.offer_respond, name="offer_respond"),
    path("waitlist/<int:pk>/remove/", views.waitlist_remove, name="waitlist_remove"),
    path("types.css", views.type_colors, name="type_colors"),
    path("confirm/<str:token>/", views.confirm, name="confirm"),
    path("templates/", template_views.template_list, name="templates"),
    path("templates/new/", template_views.template_new, name="template_new"),
    path("templates/preview/", template_views.template_preview, name="template_preview"),
    path("templates/<int:pk>/", template_views.template_detail, name="template_detail"),
    path("time-off/", template_views.time_off, name="time_off"),
    path("time-off/add/", template_views.time_off_add, name="time_off_add"),
    path("closures/add/", template_views.closure_add, name="closure_add"),
]
