"""Time off: anyone asks for their own days off; a manager approves or declines the clinic's."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from clinicops.core.models import Staff
from clinicops.core.web import HtmxHttpRequest, current_clinic, render_page

from ..forms import DecideForm, TimeOffForm
from ..models import TimeOffRequest
from ..services import timeoff
from ..services.weeks import RosterError

PAGE = "workforce/time_off.html"


def _page(request: HtmxHttpRequest, form: TimeOffForm | None = None) -> HttpResponse:
    clinic = current_clinic(request)
    staff = Staff.objects.filter(user_id=request.user.pk or 0).first()
    mine = list(TimeOffRequest.objects.filter(staff=staff)[:20]) if staff else []
    pending: list[TimeOffRequest] = []
    if request.user.has_perm("workforce.change_timeoffrequest"):
        pending = list(
            TimeOffRequest.objects.filter(clinic=clinic, status=TimeOffRequest.Status.PENDING)
            .select_related("staff__user")
            .order_by("first_day")
        )
    context = {
        "clinic": clinic,
        "form": form or TimeOffForm(),
        "mine": mine,
        "pending": pending,
        "staff": staff,
    }
    return render_page(request, PAGE, "time-off", context)


@never_cache
@require_GET
@permission_required("workforce.add_timeoffrequest", raise_exception=True)
def time_off(request: HtmxHttpRequest) -> HttpResponse:
    return _page(request)


@never_cache
@require_POST
@permission_required("workforce.add_timeoffrequest", raise_exception=True)
def request_time_off(request: HtmxHttpRequest) -> HttpResponse:
    clinic = current_clinic(request)
    staff = Staff.objects.filter(user_id=request.user.pk or 0).first()
    form = TimeOffForm(request.POST)
    if staff is None:
        messages.error(request, "You have no staff profile; ask an administrator.")
        return redirect("workforce:time_off")
    if not form.is_valid():
        return _page(request, form)
    try:
        req = timeoff.request_time_off(
            actor=request.user,
            staff=staff,
            clinic=clinic,
            first_day=form.cleaned_data["first_day"],
            last_day=form.cleaned_data["last_day"],
            reason=form.cleaned_data["reason"],
        )
    except RosterError as exc:
        messages.error(request, str(exc))
        return redirect("workforce:time_off")
    messages.success(
        request,
        f"Asked for {req.first_day:%a %d %b} to {req.last_day:%a %d %b} off; "
        "a manager will decide.",
    )
    return redirect("workforce:time_off")


@never_cache
@require_POST
@permission_required("workforce.change_timeoffrequest", raise_exception=True)
def decide(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    clinic = current_clinic(request)
    req = TimeOffRequest.objects.filter(pk=pk, clinic=clinic).select_related("staff__user").first()
    if req is None:
        raise Http404("No such request at this clinic.")
    form = DecideForm(request.POST)
    if not form.is_valid():
        field, errors = next(iter(form.errors.items()))
        messages.error(request, f"{field.capitalize()}: {errors[0]} Nothing was decided.")
        return redirect("workforce:time_off")
    try:
        req = timeoff.decide(
            actor=request.user,
            request=req,
            approve=form.cleaned_data["decision"] == "approve",
            note=form.cleaned_data["note"],
        )
    except RosterError as exc:
        messages.error(request, str(exc))
        return redirect("workforce:time_off")
    messages.success(
        request,
        f"{req.get_status_display()}: {req.staff} off "
        f"{req.first_day:%a %d %b} to {req.last_day:%a %d %b}.",
    )
    return redirect("workforce:time_off")
