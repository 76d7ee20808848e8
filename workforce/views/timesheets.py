"""Timesheets for managers: the week's people with their hours, one person's week with the
punches and corrections, approving (locking) a week, and the CSV for payroll."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from clinicops.core.models import Clinic, Staff
from clinicops.core.templatetags.formats import moment
from clinicops.core.web import HtmxHttpRequest, current_clinic, render_page

from .. import timesheets
from ..forms import CorrectionForm
from ..models import Punch
from ..services import timeclock, timesheet_weeks
from ..services.timeclock import PunchError
from .clock import _stored
from .common import day_from

LIST = "workforce/timesheets.html"
DETAIL = "workforce/timesheet.html"


def _week(request: HtmxHttpRequest, clinic: Clinic) -> date:
    source = request.POST if request.method == "POST" else request.GET
    if "week" in source and source.get("week"):
        return timesheets.work_week_of_day(clinic, day_from(source, clinic))
    # By default the last full week: the one people confirm and managers approve.
    return timesheets.work_week_of(clinic, timezone.now() - timedelta(days=7))


def _person(clinic: Clinic, staff_id: int) -> Staff:
    staff = Staff.objects.filter(pk=staff_id, clinics=clinic).select_related("user").first()
    if staff is None:
        raise Http404("Nobody by that id works at this clinic.")
    return staff


@never_cache
@require_GET
@permission_required("workforce.view_timesheetweek", raise_exception=True)
def week_list(request: HtmxHttpRequest) -> HttpResponse:
    clinic = current_clinic(request)
    first = _week(request, clinic)
    sheets = [
        timesheets.sheet_for(s, clinic, first) for s in timesheets.people_in_week(clinic, first)
    ]
    context = {
        "clinic": clinic,
        "first": first,
        "prev_week": first - timedelta(days=7),
        "next_week": first + timedelta(days=7),
        "sheets": sheets,
        "approved": sum(1 for s in sheets if s.locked),
    }
    return render_page(request, LIST, "sheets", context)


def _detail(
    request: HtmxHttpRequest, staff: Staff, first: date, form: CorrectionForm | None = None
) -> HttpResponse:
    clinic = current_clinic(request)
    sheet = timesheets.sheet_for(staff, clinic, first)
    context = {
        "clinic": clinic,
        "sheet": sheet,
        "first": first,
        "form": form or CorrectionForm(),
        "request_key": timeclock.new_key(),
        "replaceable": timeclock.effective(sheet.punches),
        "replaced_ids": {p.replaces_id for p in sheet.punches if p.replaces_id},
    }
    return render_page(request, DETAIL, "sheet", context)


@never_cache
@require_GET
@permission_required("workforce.view_timesheetweek", raise_exception=True)
def detail(request: HtmxHttpRequest, staff_id: int) -> HttpResponse:
    clinic = current_clinic(request)
    return _detail(request, _person(clinic, staff_id), _week(request, clinic))


def _back(staff: Staff, first: date) -> HttpResponse:
    url = reverse("workforce:timesheet", args=[staff.pk])
    return redirect(f"{url}?week={first.isoformat()}")


@never_cache
@require_POST
@permission_required("workforce.correct_punch", raise_exception=True)
def correct(request: HtmxHttpRequest, staff_id: int) -> HttpResponse:
    clinic = current_clinic(request)
    staff = _person(clinic, staff_id)
    first = _week(request, clinic)
    form = CorrectionForm(request.POST)
    if not form.is_valid():
        field, errors = next(iter(form.errors.items()))
        label = form.fields[field].label if field in form.fields else "Correction"
        messages.error(request, f"{label or field.capitalize()}: {errors[0]} Nothing was recorded.")
        return _back(staff, first)
    data = form.cleaned_data
    replaces = None
    if data["replaces"]:
        replaces = (
            Punch.objects.filter(pk=data["replaces"], staff=staff, clinic=clinic)
            .select_related("clinic")
            .first()
        )
        if replaces is None:
            messages.error(request, "That punch is not this person's here. Nothing was recorded.")
            return _back(staff, first)
    at = None
    if data.get("day") and data.get("time"):
        at = datetime.combine(data["day"], data["time"], tzinfo=clinic.tz)
    try:
        row, _new = timeclock.correct(
            actor=request.user,
            staff=staff,
            clinic=clinic,
            kind=data["kind"],
            at=at,
            reason=data["reason"],
            request_key=data["request_key"],
            replaces=replaces,
        )
    except PunchError as exc:
        messages.error(request, str(exc))
        return _back(staff, first)
    if row.kind == Punch.Kind.VOID and row.replaces is not None:
        gone = row.replaces
        text = f"Cancelled the {gone.get_kind_display().lower()} of {moment(gone.at, clinic.tz)}."
    else:
        text = f"Added {_stored(row, clinic)}"
    messages.success(request, f"{text} Reason: {row.reason}")
    return _back(staff, first)


@never_cache
@require_POST
@permission_required("workforce.approve_timesheetweek", raise_exception=True)
def approve(request: HtmxHttpRequest, staff_id: int) -> HttpResponse:
    clinic = current_clinic(request)
    staff = _person(clinic, staff_id)
    first = _week(request, clinic)
    try:
        row = timesheet_weeks.approve(
            actor=request.user, staff=staff, clinic=clinic, first_day=first
        )
    except PunchError as exc:
        messages.error(request, str(exc))
    else:
        t = row.totals
        messages.success(
            request,
            f"Approved and locked {staff}'s week of {row.week_start:%a %d %b}: {t['worked']} h "
            f"worked, {t['overtime']} h overtime, {t['double']} h double time.",
        )
    if request.POST.get("next") == "list":
        return redirect(f"{reverse('workforce:timesheets')}?week={first.isoformat()}")
    return _back(staff, first)


@never_cache
@require_GET
@permission_required("workforce.export_timesheetweek", raise_exception=True)
def export(request: HtmxHttpRequest) -> HttpResponse:
    clinic = current_clinic(request)
    first = _week(request, clinic)
    text, count = timesheet_weeks.export_csv(actor=request.user, clinic=clinic, first_day=first)
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    name = f"timesheets-{(clinic.short_name or 'clinic').lower()}-{first.isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["X-Rows"] = str(count)
    return response
