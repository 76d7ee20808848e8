"""Patient-flow screens: the flow board, the room board, check-in, walk-in, checkout.

Views parse a form, call a service or a selector, and render the page or (for htmx) the
fragment that changed. A refused action answers 200 with the fragment and a message, since
htmx does not swap 4xx bodies; the service has changed nothing.
"""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.html import format_html_join
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.middleware import HtmxDetails

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent
from clinicops.core import selectors as core_selectors
from clinicops.core import services as core_services
from clinicops.core.fields import new_submission_key, parse_id
from clinicops.core.middleware import is_background_poll
from clinicops.core.models import Clinic, Coverage, Patient, Room, Staff
from scheduling import availability
from scheduling import services as scheduling_services
from scheduling.models import Appointment

from . import selectors, services
from .forms import (
    ChangeRoomForm,
    CheckInForm,
    CheckoutForm,
    DemographicsForm,
    FollowUpBookForm,
    FollowUpSearchForm,
    MoveForm,
    ThresholdForm,
    UndoForm,
    WalkInForm,
)
from .models import NEXT_STEPS, Step, Visit
from .rows import board_rows, finished_rows

BOARD = "patientflow/board.html"
ROOMS = "patientflow/rooms.html"
CHECK_IN = "patientflow/check_in.html"
CHECKOUT = "patientflow/checkout.html"
VISIT = "patientflow/visit.html"


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails
    clinic: Clinic | None


def _current_clinic(request: HtmxHttpRequest) -> Clinic:
    if request.clinic is None:
        raise PermissionDenied("You are not assigned to a clinic yet. Ask an administrator.")
    return request.clinic


def _fragment(request: HtmxHttpRequest) -> bool:
    """An htmx request for a fragment (a history restore needs the whole page)."""
    return bool(request.htmx) and not request.htmx.history_restore_request


def _is_refresh(request: HtmxHttpRequest) -> bool:
    """A board re-rendered by a poll or after an action on it, not opened by someone: its audit
    entry is needed only if it shows other patients than the last one recorded."""
    return is_background_poll(request) or request.method == "POST"


def _expected_step(value: str | None) -> str:
    """The step the form was showing; the checkout form shows "ready for checkout"."""
    return value if value in Step.values else Step.READY_FOR_CHECKOUT


def _pk(value: str | None) -> int:
    """An id from a query string or form; a malformed one is simply not found."""
    number = parse_id(value)
    if number is None:
        raise Http404("Not found.")
    return number


def _visit_for(request: HtmxHttpRequest, pk: int) -> Visit:
    return get_object_or_404(
        Visit.objects.for_user(request.user).select_related(
            "clinic",
            "patient",
            "appointment__provider__user",
            "appointment__appointment_type",
            "room",
            "follow_up__provider__user",
            "coverage__payer",
        ),
        pk=pk,
    )


def _record_view(request: HtmxHttpRequest, visit: Visit, summary: str, *, action: str = "") -> None:
    audit.record(
        actor=request.user,
        action=action or AuditEvent.Action.VIEW,
        obj=visit,
        patient=visit.patient_id,
        clinic=visit.clinic_id,
        summary=summary,
    )


def _first_error(form: Any) -> str:
    for field, errors in form.errors.items():
        label = form.fields[field].label if field in form.fields else ""
        return f"{label}: {errors[0]}" if label else errors[0]
    return "Check the form and try again."


def _form_error(form: Any, error: services.FlowError) -> None:
    form.add_error(error.field if error.field in form.fields else None, error.message)


# --- the flow board -----------------------------------------------------------------------


def _board_params(source: QueryDict) -> dict[str, str]:
    group = source.get("group", "step")
    sort = source.get("sort", "time")
    return {
        "group": group if group in selectors.GROUPS else "step",
        "sort": sort if sort in selectors.SORTS else "time",
        "wall": "1" if source.get("wall") == "1" else "",
    }


def _url_format(name: str) -> str:
    """The URL of `name` for one object as a format string: reversed once, not per row."""
    return reverse(name, args=[987654321]).replace("987654321", "{}")


def _render_board(
    request: HtmxHttpRequest,
    clinic: Clinic,
    params: dict[str, str],
    *,
    flash: str = "",
    flash_kind: str = "success",
) -> HttpResponse:
    now = timezone.now()
    board = selectors.flow_board(
        user=request.user, clinic=clinic, now=now, group=params["group"], sort=params["sort"]
    )
    services.record_board_view(
        actor=request.user,  # type: ignore[arg-type]
        clinic=clinic,
        board="flow_board",
        patient_ids=board.patient_ids,
        poll=_is_refresh(request),
    )
    visit_url, move_url, checkout_url = (
        _url_format(name)
        for name in ("patientflow:visit", "patientflow:move", "patientflow:checkout")
    )
    # The free rooms' <option>s are the same on every row but for the one pre-selected (the
    # room the appointment was booked into): built once per choice, not once per row.
    options: dict[int | None, str] = {}
    for group in board.groups:
        for row in group.rows:
            row.url = visit_url.format(row.visit_id)
            ready = row.step == Step.READY_FOR_CHECKOUT
            row.action_url = (checkout_url if ready else move_url).format(row.visit_id)
            if row.step == Step.CHECKED_IN:
                if row.booked_room_id not in options:
                    options[row.booked_room_id] = format_html_join(
                        "",
                        '<option value="{}"{}>{}</option>',
                        (
                            (pk, " selected" if pk == row.booked_room_id else "", name)
                            for pk, name in board.free_rooms
                        ),
                    )
                row.room_options = options[row.booked_room_id]
    for row in board.finished:
        row.url = visit_url.format(row.visit_id)
    check_in_url = _url_format("patientflow:check_in")
    for arrival in board.arrivals:
        arrival.url = check_in_url.format(arrival.appointment_id)
    actions = params["wall"] != "1" and request.user.has_perm("patientflow.change_visit")
    can_check_out = request.user.has_perm("patientflow.checkout_visit")
    csrf_token = get_token(request)
    for group in board.groups:
        group.html = board_rows(
            group.rows,
            actions=actions,
            can_check_out=can_check_out,
            csrf_token=csrf_token,
            has_rooms=bool(board.free_rooms),
        )
    query = QueryDict(mutable=True)
    query.update({k: v for k, v in params.items() if v})
    context = {
        "board": board,
        "can_check_in": request.user.has_perm("patientflow.add_visit"),
        "actions": actions,
        "finished_html": finished_rows(board.finished),
        "updated": selectors.clock(now, clinic.tz, seconds=True),
        "params": params,
        "wall": params["wall"] == "1",
        "poll_url": f"{reverse('patientflow:board')}?{query.urlencode()}",
        "groups": selectors.GROUPS,
        "sorts": selectors.SORTS,
        "flash": flash,
        "flash_kind": flash_kind,
    }
    template = f"{BOARD}#board" if _fragment(request) else BOARD
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@never_cache
@require_GET
@permission_required("patientflow.view_visit", raise_exception=True)
def board(request: HtmxHttpRequest) -> HttpResponse:
    return _render_board(request, _current_clinic(request), _board_params(request.GET))


def _after_move(request: HtmxHttpRequest, visit: Visit, message: str, kind: str) -> HttpResponse:
    """Answer a step change: the board fragment for the board, else back where it came from."""
    if request.POST.get("source") == "board":
        params = _board_params(request.POST)
        if _fragment(request):
            return _render_board(
                request, _current_clinic(request), params, flash=message, flash_kind=kind
            )
        messages.add_message(request, _LEVELS[kind], message)
        query = QueryDict(mutable=True)
        query.update({k: v for k, v in params.items() if v})
        return redirect(f"{reverse('patientflow:board')}?{query.urlencode()}")
    messages.add_message(request, _LEVELS[kind], message)
    return redirect("patientflow:visit", pk=visit.pk)


_LEVELS = {"success": messages.SUCCESS, "warning": messages.WARNING, "error": messages.ERROR}


@require_POST
@permission_required("patientflow.change_visit", raise_exception=True)
def move(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    visit = get_object_or_404(Visit.objects.for_user(request.user).select_related("patient"), pk=pk)
    form = MoveForm(request.POST, clinic=visit.clinic)
    if not form.is_valid():
        return _after_move(request, visit, _first_error(form), "error")
    data = form.cleaned_data
    try:
        moved = services.move_visit(
            actor=request.user,  # type: ignore[arg-type]
            visit=visit,
            to_step=data["to"],
            expected_step=data["expected"],
            room=data["room"],
            reason=data["reason"],
        )
    except services.FlowError as error:
        return _after_move(request, visit, error.message, "warning")
    where = f" in {moved.room.name}" if moved.room and moved.step == Step.ROOMED else ""
    message = f"{visit.patient}: {moved.get_step_display().lower()}{where}."
    return _after_move(request, visit, message, "success")


@require_POST
@permission_required("patientflow.change_visit", raise_exception=True)
def change_room(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    visit = get_object_or_404(Visit.objects.for_user(request.user).select_related("patient"), pk=pk)
    form = ChangeRoomForm(request.POST, clinic=visit.clinic)
    if not form.is_valid():
        return _after_move(request, visit, _first_error(form), "error")
    try:
        moved = services.change_room(
            actor=request.user,  # type: ignore[arg-type]
            visit=visit,
            room=form.cleaned_data["room"],
            expected_step=form.cleaned_data["expected"],
        )
    except services.FlowError as error:
        return _after_move(request, visit, error.message, "warning")
    room = moved.room.name if moved.room else ""
    return _after_move(request, visit, f"{visit.patient} moved to {room}.", "success")


@require_POST
@permission_required("patientflow.change_visit", raise_exception=True)
def undo(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    visit = get_object_or_404(Visit.objects.for_user(request.user).select_related("patient"), pk=pk)
    form = UndoForm(request.POST)
    if not form.is_valid():
        return _after_move(request, visit, _first_error(form), "error")
    try:
        moved = services.undo_last_step(
            actor=request.user,  # type: ignore[arg-type]
            visit=visit,
            expected_step=form.cleaned_data["expected"],
            reason=form.cleaned_data["reason"],
        )
    except services.FlowError as error:
        return _after_move(request, visit, error.message, "warning")
    message = f"Undone: {visit.patient} is back at “{moved.get_step_display()}”."
    return _after_move(request, visit, message, "success")


@never_cache
@require_GET
@permission_required("patientflow.view_visit", raise_exception=True)
def visit_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    visit = _visit_for(request, pk)
    _record_view(request, visit, "Visit page")
    context = {
        "visit": visit,
        "timeline": selectors.visit_timeline(visit),
        "payments": list(visit.payments.order_by("taken_at", "pk")),
        "free_rooms": selectors.free_rooms(clinic=visit.clinic),
        "next_steps": [(s, Step(s).label) for s in NEXT_STEPS[visit.step]],
        "undo_form": UndoForm(initial={"expected": visit.step}),
        "tz": visit.clinic.tz,
    }
    return render(request, VISIT, context)


# --- rooms --------------------------------------------------------------------------------


def _render_rooms(
    request: HtmxHttpRequest, clinic: Clinic, *, flash: str = "", flash_kind: str = "success"
) -> HttpResponse:
    now = timezone.now()
    states = selectors.room_board(user=request.user, clinic=clinic, now=now)
    services.record_board_view(
        actor=request.user,  # type: ignore[arg-type]
        clinic=clinic,
        board="room_board",
        patient_ids=[s.patient_id for s in states if s.patient_id is not None],
        poll=_is_refresh(request),
    )
    wall = request.GET.get("wall") == "1"
    context = {
        "states": states,
        "clinic": clinic,
        "now": now,
        "wall": wall,
        "poll_url": reverse("patientflow:rooms") + ("?wall=1" if wall else ""),
        "updated": selectors.clock(now, clinic.tz, seconds=True),
        "can_view_visit": request.user.has_perm("patientflow.view_visit"),
        "can_clean": request.user.has_perm("patientflow.change_roomturn"),
        "flash": flash,
        "flash_kind": flash_kind,
        "counts": {
            state: sum(1 for s in states if s.state == state)
            for state in ("free", "occupied", "cleaning")
        },
    }
    template = f"{ROOMS}#rooms" if _fragment(request) else ROOMS
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@never_cache
@require_GET
@permission_required("patientflow.view_roomturn", raise_exception=True)
def rooms(request: HtmxHttpRequest) -> HttpResponse:
    return _render_rooms(request, _current_clinic(request))


@require_POST
@permission_required("patientflow.change_roomturn", raise_exception=True)
def room_clean(request: HtmxHttpRequest, room_id: int) -> HttpResponse:
    room = get_object_or_404(Room.objects.for_user(request.user), pk=room_id, is_active=True)
    try:
        turn = services.mark_room_clean(actor=request.user, room=room)  # type: ignore[arg-type]
    except services.FlowError as error:
        message, kind = error.message, "warning"
    else:
        message = f"{room.name} is clean and free." if turn else f"{room.name} was already clean."
        kind = "success"
    if _fragment(request):
        return _render_rooms(request, _current_clinic(request), flash=message, flash_kind=kind)
    messages.add_message(request, _LEVELS[kind], message)
    return redirect("patientflow:rooms")


# --- check-in -----------------------------------------------------------------------------


def _appointment_for(request: HtmxHttpRequest, appointment_id: int) -> Appointment:
    return get_object_or_404(
        Appointment.objects.for_user(request.user).select_related(
            "clinic", "patient", "provider__user", "appointment_type", "room"
        ),
        pk=appointment_id,
    )


def _check_in_context(
    request: HtmxHttpRequest,
    appointment: Appointment,
    *,
    form: CheckInForm | None = None,
    demographics_form: DemographicsForm | None = None,
    saved: str = "",
) -> dict[str, Any]:
    clinic = appointment.clinic
    now = timezone.now()
    today = clinic.today()
    patient = appointment.patient
    rows = core_selectors.coverage_rows(patient=patient, today=today)
    visit = Visit.objects.filter(appointment=appointment).first()
    is_today = appointment.start.astimezone(clinic.tz).date() == today
    status = appointment.status
    return {
        "appointment": appointment,
        "patient": patient,
        "clinic": clinic,
        "visit": visit,
        "form": form or CheckInForm(),
        "demographics_form": demographics_form,
        "saved": saved,
        "today": today,
        "coverage_rows": rows,
        "has_active_coverage": any(row.is_active for row in rows),
        "minutes_late": int((now - appointment.start) / timedelta(minutes=1)),
        "can_check_in": visit is None
        and is_today
        and status in (Appointment.Status.BOOKED, Appointment.Status.CONFIRMED),
        "is_today": is_today,
        "tz": clinic.tz,
    }


@never_cache
@require_http_methods(["GET", "POST"])
@permission_required("patientflow.add_visit", raise_exception=True)
def check_in(request: HtmxHttpRequest, appointment_id: int) -> HttpResponse:
    appointment = _appointment_for(request, appointment_id)
    form = CheckInForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            visit = services.check_in(
                actor=request.user,  # type: ignore[arg-type]
                appointment=appointment,
                **form.check_in_fields(),
            )
        except services.AlreadyCheckedIn as error:
            messages.warning(request, error.message)
            return redirect("patientflow:board")
        except services.FlowError as error:
            _form_error(form, error)
        else:
            messages.success(
                request, f"{appointment.patient} is checked in ({_arrival(visit.arrival_minutes)})."
            )
            return redirect("patientflow:board")
    if request.method != "POST":
        audit.record_view(request, appointment.patient, summary="Check-in screen")
    return render(request, CHECK_IN, _check_in_context(request, appointment, form=form))


def _arrival(minutes: int) -> str:
    if minutes < 0:
        return f"{-minutes} min early"
    if minutes > 0:
        return f"{minutes} min late"
    return "on time"


@never_cache
@require_http_methods(["GET", "POST"])
@permission_required("core.change_patient", raise_exception=True)
def demographics(request: HtmxHttpRequest, appointment_id: int) -> HttpResponse:
    """Edit the patient's contact details in place on the check-in screen."""
    appointment = _appointment_for(request, appointment_id)
    patient = appointment.patient
    saved = ""
    form: DemographicsForm | None = None
    if request.method == "POST":
        form = DemographicsForm(request.POST, instance=copy.copy(patient))
        if form.is_valid():
            try:
                if form.changed_data:
                    patient = core_services.update_patient(
                        actor=request.user,  # type: ignore[arg-type]
                        patient=patient,
                        **form.changed_fields(),
                    )
                    appointment.patient = patient
            except ValidationError as error:
                form.add_error(None, error)
            else:
                saved = "Changes saved." if form.changed_data else "Nothing was changed."
                form = None
                if not _fragment(request):
                    messages.success(request, saved)
                    return redirect("patientflow:check_in", appointment_id=appointment.pk)
    elif not request.GET.get("cancel"):
        form = DemographicsForm(instance=copy.copy(patient))
        audit.record_view(request, patient, summary="Opened for editing at check-in")
    context = _check_in_context(request, appointment, demographics_form=form, saved=saved)
    template = f"{CHECK_IN}#demographics" if _fragment(request) else CHECK_IN
    return render(request, template, context)


@require_POST
@permission_required("core.change_coverage", raise_exception=True)
def verify_coverage(
    request: HtmxHttpRequest, appointment_id: int, coverage_id: int
) -> HttpResponse:
    appointment = _appointment_for(request, appointment_id)
    coverage = get_object_or_404(
        Coverage.objects.for_user(request.user).filter(patient=appointment.patient), pk=coverage_id
    )
    try:
        core_services.update_coverage(
            actor=request.user,  # type: ignore[arg-type]
            coverage=coverage,
            eligibility_verified=True,
        )
    except ValidationError as error:
        message = "This coverage has a problem to fix first: " + "; ".join(error.messages)
    else:
        message = f"Eligibility with {coverage.payer} marked verified today."
    if _fragment(request):
        context = _check_in_context(request, appointment)
        context["coverage_saved"] = message
        return render(request, f"{CHECK_IN}#insurance", context)
    messages.success(request, message)
    return redirect("patientflow:check_in", appointment_id=appointment.pk)


@never_cache
@require_http_methods(["GET", "POST"])
@permission_required("patientflow.add_visit", raise_exception=True)
@permission_required("scheduling.add_appointment", raise_exception=True)
def walk_in(request: HtmxHttpRequest) -> HttpResponse:
    """Find the patient, then book them into today's schedule and check them in at once."""
    clinic = _current_clinic(request)
    source = request.POST if request.method == "POST" else request.GET
    context: dict[str, Any] = {"clinic": clinic}
    if not source.get("patient"):
        search = core_selectors.search_patients(
            user=request.user, clinic=clinic, query=request.GET.get("q", "")
        )
        core_services.record_patient_search(
            actor=request.user,  # type: ignore[arg-type]
            clinic=clinic,
            query=search.query,
            patients=search.patients,
        )
        context["search"] = search
        return render(request, "patientflow/walk_in.html", context)
    patient = get_object_or_404(
        Patient.objects.for_user(request.user).for_clinic(clinic), pk=_pk(source.get("patient"))
    )
    today = clinic.today()
    form = WalkInForm(
        request.POST if request.method == "POST" else None,
        providers=selectors.providers_at(user=request.user, clinic=clinic, day=today),
        types=selectors.appointment_types(clinic=clinic),
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            visit = services.walk_in(
                actor=request.user,  # type: ignore[arg-type]
                clinic=clinic,
                patient=patient,
                provider=data["provider"],
                appointment_type=data["appointment_type"],
                overbook_reason=data["overbook_reason"],
                submission_key=data["submission_key"],
                **form.check_in_fields(),
            )
        except services.AlreadyCheckedIn as repeat:
            messages.info(request, repeat.message)
            return redirect("patientflow:visit", pk=repeat.visit.pk)
        except services.FlowError as error:
            _form_error(form, error)
        else:
            local = visit.appointment.start.astimezone(clinic.tz)
            messages.success(
                request,
                f"{patient} is checked in as a walk-in, booked with {data['provider']} "
                f"at {local:%H:%M}.",
            )
            return redirect("patientflow:board")
    if request.method != "POST":
        audit.record_view(request, patient, summary="Walk-in check-in screen")
    rows = core_selectors.coverage_rows(patient=patient, today=today)
    context.update(
        {
            "patient": patient,
            "form": form,
            "today": today,
            "coverage_rows": rows,
            "has_active_coverage": any(row.is_active for row in rows),
        }
    )
    return render(request, "patientflow/walk_in.html", context)


# --- checkout -----------------------------------------------------------------------------


def _follow_up_context(
    request: HtmxHttpRequest, visit: Visit, source: QueryDict | None, *, error: str = ""
) -> dict[str, Any]:
    clinic = visit.clinic
    provider_ids = availability.providers_with_templates(clinic, clinic.today())
    providers = Staff.objects.filter(
        pk__in=[*provider_ids, visit.appointment.provider_id]
    ).select_related("user")
    types = selectors.appointment_types(clinic=clinic)
    initial = {
        "appointment_type": visit.appointment.appointment_type_id,
        "provider": visit.appointment.provider_id,
        "within": "2w",
        "time_of_day": "any",
    }
    search = FollowUpSearchForm(source, initial=initial, providers=providers, types=types)
    slots: list[dict[str, Any]] = []
    searched = source is not None and search.is_valid()
    if searched:
        data = search.cleaned_data
        found = availability.find_slots(
            clinic=clinic,
            appointment_type=data["appointment_type"],
            provider=data["provider"],
            count=6,
            start_date=search.start_date(clinic.today()),
            time_of_day=data["time_of_day"],
        )
        names = {p.pk: str(p) for p in providers}
        slots = [
            {
                "start": slot.start,
                "iso": slot.start.isoformat(),
                "provider_id": slot.provider_id,
                "provider": names.get(slot.provider_id, ""),
                "type_id": data["appointment_type"].pk,
            }
            for slot in found
        ]
    return {
        "search_form": search,
        "slots": slots,
        "searched": searched,
        "follow_up_error": error,
        # One key per rendering of the slots: of the slots shown, one booking.
        "submission_key": new_submission_key(),
    }


def _checkout_context(
    request: HtmxHttpRequest,
    visit: Visit,
    *,
    form: CheckoutForm | None = None,
    source: QueryDict | None = None,
    error: str = "",
) -> dict[str, Any]:
    context = {
        "visit": visit,
        "patient": visit.patient,
        "clinic": visit.clinic,
        "timeline": selectors.visit_timeline(visit),
        "payments": list(visit.payments.order_by("taken_at", "pk")),
        "form": form or CheckoutForm(),
        "tz": visit.clinic.tz,
        "can_check_out": visit.step == Step.READY_FOR_CHECKOUT,
    }
    context.update(_follow_up_context(request, visit, source, error=error))
    return context


@never_cache
@require_http_methods(["GET", "POST"])
@permission_required("patientflow.checkout_visit", raise_exception=True)
def checkout(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    visit = _visit_for(request, pk)
    form = CheckoutForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.check_out(
                actor=request.user,  # type: ignore[arg-type]
                visit=visit,
                expected_step=_expected_step(request.POST.get("expected")),
                balance=form.payment(),
            )
        except services.FlowError as error:
            _form_error(form, error)
            visit = _visit_for(request, pk)
        else:
            messages.success(request, f"{visit.patient} is checked out.")
            return redirect("patientflow:summary", pk=visit.pk)
    if request.method != "POST":
        _record_view(request, visit, "Checkout screen")
    source = request.GET if request.GET.get("appointment_type") else None
    return render(request, CHECKOUT, _checkout_context(request, visit, form=form, source=source))


@never_cache
@require_http_methods(["GET", "POST"])
@permission_required("patientflow.checkout_visit", raise_exception=True)
@permission_required("scheduling.add_appointment", raise_exception=True)
def follow_up(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Find follow-up slots (GET) and book one (POST) without leaving the checkout screen."""
    visit = _visit_for(request, pk)
    error = ""
    source: QueryDict | None = request.GET
    if request.method == "POST":
        clinic = visit.clinic
        form = FollowUpBookForm(
            request.POST,
            providers=Staff.objects.filter(clinics=clinic),
            types=selectors.appointment_types(clinic=clinic),
        )
        source = request.POST
        if not form.is_valid():
            error = _first_error(form)
        else:
            data = form.cleaned_data
            try:
                result = services.book_follow_up(
                    actor=request.user,  # type: ignore[arg-type]
                    visit=visit,
                    provider=data["provider"],
                    appointment_type=data["appointment_type"],
                    start=data["start"],
                    submission_key=data["submission_key"],
                )
            except (services.FlowError, scheduling_services.SchedulingError) as failure:
                error = failure.message
            else:
                visit = _visit_for(request, pk)
                if not _fragment(request):
                    if result.replayed:
                        messages.info(
                            request,
                            "Follow-up already booked; this was sent twice, nothing new was "
                            "booked.",
                        )
                    else:
                        messages.success(request, "Follow-up booked.")
                    return redirect("patientflow:checkout", pk=visit.pk)
        if error and not _fragment(request):
            messages.error(request, error)
            return redirect("patientflow:checkout", pk=visit.pk)
    context = _checkout_context(request, visit, source=source, error=error)
    template = f"{CHECKOUT}#follow-up" if _fragment(request) else CHECKOUT
    return render(request, template, context)


@never_cache
@require_GET
@permission_required("patientflow.view_visit", raise_exception=True)
def summary(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The printable visit summary handed to the patient at checkout."""
    visit = _visit_for(request, pk)
    _record_view(request, visit, "Visit summary for printing", action=AuditEvent.Action.PRINT)
    context = {
        "visit": visit,
        "patient": visit.patient,
        "clinic": visit.clinic,
        "timeline": selectors.visit_timeline(visit),
        "payments": list(visit.payments.order_by("taken_at", "pk")),
        "tz": visit.clinic.tz,
    }
    return render(request, "patientflow/summary.html", context)


# --- settings -----------------------------------------------------------------------------


@never_cache
@require_http_methods(["GET", "POST"])
@permission_required("patientflow.change_stepthreshold", raise_exception=True)
def thresholds(request: HtmxHttpRequest) -> HttpResponse:
    clinic = _current_clinic(request)
    form = ThresholdForm(
        request.POST if request.method == "POST" else None,
        current=selectors.thresholds_for(clinic),
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.set_thresholds(
                actor=request.user,  # type: ignore[arg-type]
                clinic=clinic,
                thresholds=form.thresholds(),
            )
        except services.FlowError as error:
            _form_error(form, error)
        else:
            messages.success(request, "Alert times saved.")
            return redirect("patientflow:board")
    return render(request, "patientflow/thresholds.html", {"form": form, "clinic": clinic})
