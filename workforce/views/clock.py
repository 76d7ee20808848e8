"""The time clock: the shared tablet's kiosk (tap your name or scan your badge, then your PIN)
and one's own clock (in, out, breaks, the week's timesheet to confirm, one's PIN)."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from clinicops.core.fields import parse_id
from clinicops.core.models import Clinic, Staff
from clinicops.core.templatetags.formats import moment
from clinicops.core.web import HtmxHttpRequest, current_clinic, render_page

from .. import pinlock, timesheets
from ..forms import BadgeForm, KioskPunchForm, PinForm, PunchForm
from ..models import Punch, TimeclockBadge
from ..services import timeclock, timesheet_weeks
from ..services.timeclock import PunchError
from .common import day_from

KIOSK = "workforce/kiosk.html"
MINE = "workforce/my_clock.html"

ACTION_LABELS: dict[str, str] = {
    Punch.Kind.IN: "Clock in",
    Punch.Kind.BREAK_START: "Start break",
    Punch.Kind.BREAK_END: "End break",
    Punch.Kind.OUT: "Clock out",
}


def _kiosk_people(clinic: Clinic) -> list[Staff]:
    return list(
        Staff.objects.filter(clinics=clinic, timeclock_badge__isnull=False, user__is_active=True)
        .select_related("user")
        .order_by("user__first_name", "user__last_name")
    )


def _stored(row: Punch, clinic: Clinic) -> str:
    """What was stored, read back from the row."""
    text = f"{row.get_kind_display()} at {moment(row.at, clinic.tz)} for {row.staff}"
    if row.assignment_id and row.assignment is not None:
        shift = row.assignment
        text += f" ({shift.template.name} {moment(shift.start, clinic.tz)}"
        text += f", {row.get_flag_display().lower()})" if row.flag else ", on time)"
    elif row.flag == Punch.Flag.UNROSTERED:
        text += " (no rostered shift now)"
    return text + "."


def _kiosk_page(
    request: HtmxHttpRequest,
    *,
    chosen: Staff | None = None,
    error: str = "",
    done: str = "",
    status: int = 200,
) -> HttpResponse:
    clinic = current_clinic(request)
    state = timeclock.current_state(chosen) if chosen is not None else None
    context = {
        "clinic": clinic,
        "people": _kiosk_people(clinic) if chosen is None else [],
        "chosen": chosen,
        "state": state,
        "actions": [(k, ACTION_LABELS[k]) for k in state.allowed] if state else [],
        "request_key": timeclock.new_key(),
        "error": error,
        "done": done,
        "badge_form": BadgeForm(),
    }
    response = render_page(request, KIOSK, "kiosk-body", context)
    response.status_code = status
    return response


@never_cache
@require_GET
@permission_required("workforce.use_kiosk", raise_exception=True)
def kiosk(request: HtmxHttpRequest) -> HttpResponse:
    clinic = current_clinic(request)
    form = BadgeForm(request.GET)
    code = form.cleaned_data.get("badge", "") if form.is_valid() else ""
    if code:
        badge = (
            TimeclockBadge.objects.filter(badge_code=code, staff__clinics=clinic)
            .select_related("staff__user")
            .first()
        )
        if badge is None:
            return _kiosk_page(
                request, error="That badge is not known at this clinic; tap your name instead."
            )
        return redirect("workforce:kiosk_person", staff_id=badge.staff_id)
    return _kiosk_page(request)


def _person(clinic: Clinic, staff_id: int) -> Staff:
    staff = (
        Staff.objects.filter(pk=staff_id, clinics=clinic, timeclock_badge__isnull=False)
        .select_related("user")
        .first()
    )
    if staff is None:
        raise Http404("Nobody with a time clock PIN by that id at this clinic.")
    return staff


@never_cache
@require_GET
@permission_required("workforce.use_kiosk", raise_exception=True)
def kiosk_person(request: HtmxHttpRequest, staff_id: int) -> HttpResponse:
    return _kiosk_page(request, chosen=_person(current_clinic(request), staff_id))


@never_cache
@require_POST
@permission_required("workforce.use_kiosk", raise_exception=True)
def kiosk_punch(request: HtmxHttpRequest) -> HttpResponse:
    clinic = current_clinic(request)
    form = KioskPunchForm(request.POST)
    staff_id = parse_id(request.POST.get("staff", ""))
    staff = (
        Staff.objects.filter(pk=staff_id, clinics=clinic).select_related("user").first()
        if staff_id
        else None
    )
    if staff is None:
        # Someone not on staff here (or no one chosen): nothing to check a PIN against.
        return _kiosk_page(
            request,
            error=f"That person is not on staff at {clinic}; nothing was recorded.",
            status=400,
        )
    if pinlock.is_locked(request, staff):
        return _locked(request, staff)
    if not form.is_valid():
        field = next(f for f in ("pin", "kind", "request_key", "staff") if f in form.errors)
        errors = form.errors[field]
        label = {"pin": "PIN", "kind": "Action", "request_key": "Form"}.get(field, field)
        return _kiosk_page(
            request, chosen=staff, error=f"{label}: {errors[0]} Nothing was recorded.", status=400
        )
    if not timeclock.pin_matches(staff, form.cleaned_data["pin"]):
        if pinlock.failed(request, staff):
            return _locked(request, staff)
        return _kiosk_page(
            request, chosen=staff, error="PIN: that PIN is wrong. Nothing was recorded.", status=400
        )
    pinlock.succeeded(request, staff)
    try:
        row, _new = timeclock.punch(
            actor=request.user,
            staff=staff,
            clinic=clinic,
            kind=form.cleaned_data["kind"],
            request_key=form.cleaned_data["request_key"],
            source=Punch.Source.KIOSK,
        )
    except PunchError as exc:
        return _kiosk_page(request, chosen=staff, error=str(exc), status=409)
    return _kiosk_page(request, done=_stored(row, clinic))


def _locked(request: HtmxHttpRequest, staff: Staff) -> HttpResponse:
    return _kiosk_page(
        request,
        error=(
            f"Too many wrong PINs for {staff}: the PIN is locked for 15 minutes. "
            "Nothing was recorded; ask a manager if you need to clock now."
        ),
        status=403,
    )


# ---------------------------------------------------------------------------------------------
# One's own clock


def _me(request: HtmxHttpRequest) -> Staff | None:
    return Staff.objects.filter(user_id=request.user.pk or 0).select_related("user").first()


@never_cache
@require_GET
@permission_required("workforce.punch_own", raise_exception=True)
def my_clock(request: HtmxHttpRequest, *, pin_form: PinForm | None = None) -> HttpResponse:
    clinic = current_clinic(request)
    staff = _me(request)
    state = timeclock.current_state(staff) if staff else None
    sheets = []
    if staff is not None:
        this_week = timesheets.work_week_of(clinic, timezone.now())
        first = (
            timesheets.work_week_of_day(clinic, day_from(request.GET, clinic))
            if request.GET.get("week")
            else this_week
        )
        sheets = [timesheets.sheet_for(staff, clinic, first)]
        if first == this_week:
            sheets.append(timesheets.sheet_for(staff, clinic, first - timedelta(days=7)))
    context = {
        "clinic": clinic,
        "staff": staff,
        "state": state,
        "actions": [(k, ACTION_LABELS[k]) for k in state.allowed] if state else [],
        "request_key": timeclock.new_key(),
        "sheets": sheets,
        "has_pin": bool(staff and TimeclockBadge.objects.filter(staff=staff).exists()),
        "pin_form": pin_form or PinForm(),
    }
    return render_page(request, MINE, "clock-body", context)


@never_cache
@require_POST
@permission_required("workforce.punch_own", raise_exception=True)
def my_punch(request: HtmxHttpRequest) -> HttpResponse:
    clinic = current_clinic(request)
    staff = _me(request)
    if staff is None:
        messages.error(request, "You have no staff profile; ask an administrator.")
        return redirect("workforce:my_clock")
    form = PunchForm(request.POST)
    if not form.is_valid():
        field, errors = next(iter(form.errors.items()))
        messages.error(request, f"{field.capitalize()}: {errors[0]} Nothing was recorded.")
        return redirect("workforce:my_clock")
    try:
        row, _new = timeclock.punch(
            actor=request.user,
            staff=staff,
            clinic=clinic,
            kind=form.cleaned_data["kind"],
            request_key=form.cleaned_data["request_key"],
            source=Punch.Source.SELF,
        )
    except PunchError as exc:
        messages.error(request, str(exc))
        return redirect("workforce:my_clock")
    messages.success(request, f"Recorded: {_stored(row, clinic)}")
    return redirect("workforce:my_clock")


@never_cache
@require_POST
@permission_required("workforce.punch_own", raise_exception=True)
def my_confirm(request: HtmxHttpRequest) -> HttpResponse:
    clinic = current_clinic(request)
    staff = _me(request)
    if staff is None:
        messages.error(request, "You have no staff profile; ask an administrator.")
        return redirect("workforce:my_clock")
    first = timesheets.work_week_of_day(clinic, day_from(request.POST, clinic))
    try:
        row = timesheet_weeks.confirm(
            actor=request.user, staff=staff, clinic=clinic, first_day=first
        )
    except PunchError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            f"Your timesheet for the week of {first:%a %d %b} is "
            f"{row.get_status_display().lower()}.",
        )
    return redirect(f"{reverse('workforce:my_clock')}?week={first.isoformat()}")


@never_cache
@require_POST
@permission_required("workforce.punch_own", raise_exception=True)
def my_pin(request: HtmxHttpRequest) -> HttpResponse:
    staff = _me(request)
    if staff is None:
        messages.error(request, "You have no staff profile; ask an administrator.")
        return redirect("workforce:my_clock")
    form = PinForm(request.POST)
    if not form.is_valid():
        field, errors = next(iter(form.errors.items()))
        label = form.fields[field].label if field in form.fields else field
        messages.error(request, f"{label}: {errors[0]} The PIN was not changed.")
        return redirect("workforce:my_clock")
    try:
        timeclock.set_pin(actor=request.user, staff=staff, pin=form.cleaned_data["pin"])
    except PunchError as exc:
        messages.error(request, str(exc))
        return redirect("workforce:my_clock")
    messages.success(request, "Your time clock PIN is set; use it at the kiosk.")
    return redirect("workforce:my_clock")
