from __future__ import annotations

from django.urls import path

from .views import autofill, clock, coverage, credentials, mine, timeoff, timesheets, week

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
    path("clock/", clock.my_clock, name="my_clock"),
    path("clock/punch/", clock.my_punch, name="my_punch"),
    path("clock/confirm/", clock.my_confirm, name="my_confirm"),
    path("clock/pin/", clock.my_pin, name="my_pin"),
    path("kiosk/", clock.kiosk, name="kiosk"),
    path("kiosk/<int:staff_id>/", clock.kiosk_person, name="kiosk_person"),
    path("kiosk/punch/", clock.kiosk_punch, name="kiosk_punch"),
    path("timesheets/", timesheets.week_list, name="timesheets"),
    path("timesheets/export.csv", timesheets.export, name="timesheets_export"),
    path("timesheets/<int:staff_id>/", timesheets.detail, name="timesheet"),
    path("timesheets/<int:staff_id>/correct/", timesheets.correct, name="timesheet_correct"),
    path("timesheets/<int:staff_id>/approve/", timesheets.approve, name="timesheet_approve"),
    path("credentials/", credentials.clinic_list, name="credentials"),
    path("credentials/mine/", credentials.mine, name="my_credentials"),
    path("credentials/people/<int:staff_id>/", credentials.person, name="credential_person"),
    path("credentials/people/<int:staff_id>/add/", credentials.add, name="credential_add"),
    path("credentials/<int:pk>/scan/", credentials.scan, name="credential_scan"),
]
