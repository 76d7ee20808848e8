from __future__ import annotations

from django.urls import path

from .views import autofill, coverage, mine, timeoff, week

app_name = "workforce"

urlpatterns = [
    path("", week.roster, name="roster"),
    path("assign/", week.assign, name="assign"),
    path("shifts/<int:pk>/remove/", week.unassign, name="unassign"),
    path("publish/", week.publish, name="publish"),
    path("coverage/", coverage.heatmap, name="coverage"),
    path("coverage/cell/", coverage.cell, name="coverage_cell"),
    path("autofill/", autofill.start, name="autofill"),
    path("autofill/<int:pk>/", autofill.run, name="autofill_run"),
    path("autofill/<int:pk>/apply/", autofill.apply, name="autofill_apply"),
    path("autofill/<int:pk>/discard/", autofill.discard, name="autofill_discard"),
    path("mine/", mine.my_shifts, name="my_shifts"),
    path("ical/<str:token>/shifts.ics", mine.ical, name="ical"),
    path("time-off/", timeoff.time_off, name="time_off"),
    path("time-off/request/", timeoff.request_time_off, name="time_off_request"),
    path("time-off/<int:pk>/decide/", timeoff.decide, name="time_off_decide"),
]
