from __future__ import annotations

from django.urls import path
from django.views.generic import RedirectView

from . import template_views
from .views import appointment, booking, confirm, day_week, waitlist

app_name = "scheduling"

urlpatterns = [
    path(
        "",
        RedirectView.as_view(pattern_name="scheduling:day", http_method_names=["get", "head"]),
        name="index",
    ),
    path("day/", day_week.day_view, name="day"),
    path("week/", day_week.week_view, name="week"),
    path("day-sheet/", day_week.day_sheet, name="day_sheet"),
    path("find/", booking.find_slot, name="find"),
    path("find/book/", booking.find_book, name="find_book"),
    path("book/", booking.book, name="book"),
    path("patients/", booking.patient_options, name="patient_options"),
    path(
        "patients/<int:pk>/appointments/",
        appointment.patient_appointments,
        name="patient_appointments",
    ),
    path("appointments/<int:pk>/", appointment.appointment_detail, name="appointment"),
    path(
        "appointments/<int:pk>/status/", appointment.appointment_status, name="appointment_status"
    ),
    path(
        "appointments/<int:pk>/cancel/", appointment.appointment_cancel, name="appointment_cancel"
    ),
    path(
        "appointments/<int:pk>/undo-cancel/",
        appointment.appointment_undo_cancel,
        name="appointment_undo_cancel",
    ),
    path("appointments/<int:pk>/notes/", appointment.appointment_notes, name="appointment_notes"),
    path("waitlist/", waitlist.waitlist, name="waitlist"),
    path("waitlist/offers/<int:pk>/", waitlist.offer_respond, name="offer_respond"),
    path("waitlist/<int:pk>/remove/", waitlist.waitlist_remove, name="waitlist_remove"),
    path("types.css", day_week.type_colors, name="type_colors"),
    path("confirm/<str:token>/", confirm.confirm, name="confirm"),
    path("templates/", template_views.template_list, name="templates"),
    path("templates/new/", template_views.template_new, name="template_new"),
    path("templates/preview/", template_views.template_preview, name="template_preview"),
    path("templates/<int:pk>/", template_views.template_detail, name="template_detail"),
    path("time-off/", template_views.time_off, name="time_off"),
    path("time-off/add/", template_views.time_off_add, name="time_off_add"),
    path("closures/add/", template_views.closure_add, name="closure_add"),
]
