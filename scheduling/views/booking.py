"""Finding a slot and booking it: the patient picker, find-a-slot, and the booking form."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent
from clinicops.core import selectors as core_selectors
from clinicops.core import services as core_services
from clinicops.core.fields import new_submission_key, parse_id
from clinicops.core.models import Clinic, Patient, Staff
from clinicops.core.templatetags.formats import clock, longday, moment
from clinicops.core.web import HtmxHttpRequest, current_clinic, is_fragment, render_page

from .. import availability, services
from ..forms import BookingForm, FindSlotForm
from ..services import booking, transitions
from .common import Status, _appointments

SLOT_TAKEN = "That slot was just taken. Pick another."


# --- patient picker -----------------------------------------------------------------------


def _chosen_patient(request: HtmxHttpRequest, form: Any, raw: Any) -> Patient | None:
    """The patient a form names, if the form accepts them; showing them is an audited read."""
    if not raw:
        return None
    try:
        patient = form.fields["patient"].clean(raw)
    except ValidationError:
        return None
    audit.record_view(request, patient, summary="Chosen for booking")
    return patient


def _patient_search(request: HtmxHttpRequest, clinic: Clinic, query: str) -> Any:
    search = core_selectors.search_patients(user=request.user, clinic=clinic, query=query)
    core_services.record_patient_search(
        actor=request.user, clinic=clinic, query=search.query, patients=search.patients
    )
    return search


@never_cache
@require_GET
@permission_required("core.view_patient", raise_exception=True)
def patient_options(request: HtmxHttpRequest) -> HttpResponse:
    """Live patient search for the booking forms: matching patients as radio choices."""
    clinic = current_clinic(request)
    search = _patient_search(request, clinic, request.GET.get("q", ""))
    context = {"search": search, "limit": core_selectors.SEARCH_LIMIT, "today": clinic.today()}
    return render_page(request, "scheduling/patient_options.html", "options", context)


# --- find a slot, book ------------------------------------------------------------------------


@dataclass
class SlotView:
    start: datetime
    end: datetime
    provider: Staff
    kind: str
    room_id: int | None

    @property
    def is_hold(self) -> bool:
        return self.kind == "same_day_hold"


def _slot_views(slots: Iterable[availability.Slot], clinic: Clinic) -> list[dict[str, Any]]:
    """Slots grouped by local day, each with its provider."""
    slots = list(slots)
    providers = Staff.objects.select_related("user").in_bulk({s.provider_id for s in slots})
    days: dict[date, list[SlotView]] = {}
    for slot in slots:
        local_start = slot.start.astimezone(clinic.tz)
        days.setdefault(local_start.date(), []).append(
            SlotView(
                start=local_start,
                end=slot.end.astimezone(clinic.tz),
                provider=providers[slot.provider_id],
                kind=slot.kind,
                room_id=slot.room_id,
            )
        )
    return [{"day": day, "slots": day_slots} for day, day_slots in days.items()]


def _find_context(request: HtmxHttpRequest, clinic: Clinic, params: QueryDict) -> dict[str, Any]:
    """The find-a-slot form for `params`, and the slots it finds when it is complete."""
    initial: dict[str, Any] = {"count": 8}
    reschedule = None
    reschedule_id = parse_id(params.get("reschedule", ""))
    if reschedule_id is not None:
        reschedule = (
            _appointments(request)
            .filter(clinic=clinic, pk=reschedule_id, status__in=(Status.BOOKED, Status.CONFIRMED))
            .first()
        )
        if reschedule is not None:
            audit.record(
                actor=request.user,
                action=AuditEvent.Action.VIEW,
                obj=reschedule,
                patient=reschedule.patient_id,
                clinic=reschedule.clinic_id,
                summary="Opened for rescheduling",
            )
            initial.update(
                patient=reschedule.patient_id,
                appointment_type=reschedule.appointment_type_id,
                provider=reschedule.provider_id,
                reschedule=reschedule.pk,
            )
    for name in ("patient", "appointment_type", "provider"):
        if params.get(name):
            initial[name] = params[name]
    bound = "appointment_type" in params
    form = FindSlotForm(
        params if bound else None, initial=initial, clinic=clinic, user=request.user
    )
    slots = None
    if bound and form.is_valid():
        found = availability.find_slots(clinic=clinic, now=timezone.now(), **form.search_kwargs())
        slots = _slot_views(found, clinic)
    raw_patient = params.get("patient") or initial.get("patient")
    query = params.get("q", "")
    more_count = None
    if slots is not None:
        wanted = form.cleaned_data.get("count") or 8
        if sum(len(d["slots"]) for d in slots) >= wanted and wanted < 48:
            more_count = min(wanted + 8, 48)
    return {
        "form": form,
        "slots": slots,
        "slot_count": sum(len(d["slots"]) for d in slots or []),
        "patient": _chosen_patient(request, form, raw_patient),
        "reschedule": reschedule,
        "criteria": _without(params, "q").urlencode(),
        "params": params,
        "search": _patient_search(request, clinic, query) if query else None,
        "today": clinic.today(),
        "more_count": more_count,
        # One key per rendering of the slots: of the slots shown, one booking.
        "submission_key": new_submission_key(),
    }


def _without(params: QueryDict, *names: str) -> QueryDict:
    copy = params.copy()
    for name in names:
        copy.pop(name, None)
    return copy


@never_cache
@require_GET
@permission_required("scheduling.add_appointment", raise_exception=True)
def find_slot(request: HtmxHttpRequest) -> HttpResponse:
    clinic = current_clinic(request)
    context = _find_context(request, clinic, request.GET)
    return render_page(request, "scheduling/find.html", "slot-results", context)


def _book(request: HtmxHttpRequest, form: BookingForm, clinic: Clinic) -> Any:
    """Book (or reschedule) what a valid form says; on refusal, put the reason on the form."""
    data = form.cleaned_data
    try:
        if data["reschedule"] is not None:
            if not request.user.has_perm("scheduling.change_appointment"):
                raise PermissionDenied("You may not reschedule appointments.")
            return transitions.reschedule_appointment(
                actor=request.user,
                appointment=data["reschedule"],
                start=data["start"],
                provider=data["provider"],
                appointment_type=data["appointment_type"],
                submission_key=data["submission_key"],
            )
        return booking.book_appointment(
            actor=request.user,
            clinic=clinic,
            patient=data["patient"],
            provider=data["provider"],
            appointment_type=data["appointment_type"],
            start=data["start"],
            end=data["end"],
            notes=data["notes"],
            overbook=bool(data.get("overbook")),
            overbook_reason=data.get("overbook_reason") or "",
            submission_key=data["submission_key"],
        )
    except services.RoomTaken as error:
        form.add_error(None, error.message)
    except services.SlotTaken:
        form.add_error(None, SLOT_TAKEN)
    except services.SchedulingError as error:
        field = error.field if error.field in form.fields else None
        form.add_error(field, error.message)
    return None


def _booked_message(result: Any, clinic: Clinic) -> str:
    appointment = result.appointment
    when = moment(appointment.start, clinic.tz)
    previous = appointment.rescheduled_from if appointment.rescheduled_from_id else None
    if previous is not None and not result.replayed:
        # "Moved ... from Tue 8 Dec 09:00 to Thu 10 Dec 14:20": both times, as stored.
        return (
            f"Moved {appointment.appointment_type.name} for {appointment.patient} from "
            f"{moment(previous.start, clinic.tz)} to {when} with {appointment.provider}."
        )
    local = appointment.start.astimezone(clinic.tz)
    what = (
        f"{appointment.appointment_type.name} for {appointment.patient} with "
        f"{appointment.provider} on {longday(local)} at {clock(local)}"
    )
    if result.replayed:
        return f"Already booked: {what}. This was sent twice; nothing new was booked."
    return f"Booked {what}."


def _report_booking(request: HtmxHttpRequest, result: Any, clinic: Clinic) -> None:
    """The message after a booking: what was stored, or that a repeat stored nothing new."""
    level = messages.INFO if result.replayed else messages.SUCCESS
    messages.add_message(request, level, _booked_message(result, clinic))
    for warning in result.warnings:
        messages.warning(request, warning)


@never_cache
@require_POST
@permission_required("scheduling.add_appointment", raise_exception=True)
def find_book(request: HtmxHttpRequest) -> HttpResponse:
    """Book a slot shown by find-a-slot; a refusal shows the search again with fresh slots."""
    clinic = current_clinic(request)
    form = BookingForm(request.POST, clinic=clinic, user=request.user)
    result = _book(request, form, clinic) if form.is_valid() else None
    if result is None:
        criteria = QueryDict(request.POST.get("criteria", "")[:2000])
        context = _find_context(request, clinic, criteria)
        context["booking_form"] = form
        return render_page(request, "scheduling/find.html", "slot-results", context)
    if not is_fragment(request):
        _report_booking(request, result, clinic)
        return redirect("scheduling:appointment", pk=result.appointment.pk)
    context = {
        "booked": result.appointment,
        "booked_message": _booked_message(result, clinic),
        "replayed": result.replayed,
        "warnings": result.warnings,
    }
    return render(request, "scheduling/find.html#booked", context)


@never_cache
@require_http_methods(["GET", "POST"])
@permission_required("scheduling.add_appointment", raise_exception=True)
def book(request: HtmxHttpRequest) -> HttpResponse:
    """Book a particular time (an open slot clicked on the day view, or a time typed in)."""
    clinic = current_clinic(request)
    if request.method == "POST":
        form = BookingForm(request.POST, clinic=clinic, user=request.user)
        result = _book(request, form, clinic) if form.is_valid() else None
        if result is not None:
            _report_booking(request, result, clinic)
            return redirect("scheduling:appointment", pk=result.appointment.pk)
        raw_patient = request.POST.get("patient")
    else:
        initial = {
            name: request.GET[name]
            for name in ("patient", "provider", "appointment_type", "start")
            if request.GET.get(name)
        }
        form = BookingForm(initial=initial, clinic=clinic, user=request.user)
        raw_patient = initial.get("patient")
    query = request.GET.get("q", "")
    context = {
        "form": form,
        "patient": _chosen_patient(request, form, raw_patient),
        "search": _patient_search(request, clinic, query) if query else None,
        "today": clinic.today(),
    }
    return render(request, "scheduling/book.html", context)
