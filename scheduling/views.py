"""Scheduling screens: the front desk's day and week views, find-a-slot, booking, the
appointment page, the printable day sheet and the waitlist; and the reminder's confirm link.

Each view renders its whole page, or for an htmx request only the fragment that changed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required, permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.cache import cache_control, never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.middleware import HtmxDetails

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent
from clinicops.core import selectors as core_selectors
from clinicops.core import services as core_services
from clinicops.core.fields import new_submission_key, parse_id
from clinicops.core.models import Clinic, Patient, Staff

from . import availability, screens, selectors, services
from .forms import (
    STATUS_ACTIONS,
    BookingForm,
    CancelForm,
    DayForm,
    FindSlotForm,
    NotesForm,
    WaitlistEntryForm,
    WeekForm,
)
from .models import Appointment, AppointmentType, WaitlistEntry, WaitlistOffer

Status = Appointment.Status
SLOT_TAKEN = "That slot was just taken. Pick another."
# Only #rrggbb reaches the colour stylesheet, whatever got into the table.
HEX_COLOR = re.compile(r"#[0-9a-fA-F]{6}")


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails
    clinic: Clinic | None


def _clinic(request: HtmxHttpRequest) -> Clinic:
    if request.clinic is None:
        raise PermissionDenied("You are not assigned to a clinic yet. Ask an administrator.")
    return request.clinic


def _is_fragment(request: HtmxHttpRequest) -> bool:
    # A history restore (back button, with htmx's cache off) needs the whole page.
    return bool(request.htmx) and not request.htmx.history_restore_request


def _render(
    request: HtmxHttpRequest, template: str, partial: str, context: dict[str, Any]
) -> HttpResponse:
    """The full page, or for an htmx request only `partial`."""
    name = f"{template}#{partial}" if _is_fragment(request) else template
    response = render(request, name, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


def _appointments(request: HtmxHttpRequest) -> Any:
    return Appointment.objects.for_user(request.user).select_related(
        "clinic", "patient", "provider__user", "appointment_type", "room", "booked_by"
    )


# --- day and week -----------------------------------------------------------------------


@never_cache
@require_GET
@permission_required("scheduling.view_appointment", raise_exception=True)
def day_view(request: HtmxHttpRequest) -> HttpResponse:
    clinic = _clinic(request)
    form = DayForm(request.GET or None, clinic=clinic)
    day = form.chosen_day()
    provider = form.chosen_provider()
    schedule = screens.day_schedule(
        user=request.user, clinic=clinic, day=day, provider=provider, now=timezone.now()
    )
    can_book = request.user.has_perm("scheduling.add_appointment")
    screens.link_grid(schedule.grid, clinic=clinic, can_book=can_book)
    screens.record_list_view(
        actor=request.user,
        clinic=clinic,
        appointments=schedule.appointments,
        summary=f"Day view {day:%Y-%m-%d}",
    )
    offers = 0
    if request.user.has_perm("scheduling.view_waitlistoffer"):
        offers = selectors.open_waitlist_offers(user=request.user, clinic=clinic).count()
    context = {
        "form": form,
        "day": day,
        "provider": provider,
        "schedule": schedule,
        "grid": schedule.grid,
        "today": clinic.today(),
        "previous_day": day - timedelta(days=1),
        "next_day": day + timedelta(days=1),
        "open_offers": offers,
        "types": AppointmentType.objects.filter(clinic=clinic, is_active=True),
    }
    return _render(request, "scheduling/day.html", "day-view", context)


@never_cache
@require_GET
@permission_required("scheduling.view_appointment", raise_exception=True)
def week_view(request: HtmxHttpRequest) -> HttpResponse:
    clinic = _clinic(request)
    form = WeekForm(request.GET or None, clinic=clinic)
    day = form.chosen_day()
    provider = form.chosen_provider()
    week_start = screens.week_start_of(day)
    schedule = None
    if provider is not None:
        schedule = screens.week_schedule(
            user=request.user,
            clinic=clinic,
            provider=provider,
            week_start=week_start,
            now=timezone.now(),
        )
        can_book = request.user.has_perm("scheduling.add_appointment")
        screens.link_grid(schedule.grid, clinic=clinic, can_book=can_book)
        screens.record_list_view(
            actor=request.user,
            clinic=clinic,
            appointments=schedule.appointments,
            summary=f"Week view of {provider} from {week_start:%Y-%m-%d}",
        )
    context = {
        "form": form,
        "day": day,
        "provider": provider,
        "schedule": schedule,
        "grid": schedule.grid if schedule else None,
        "week_start": week_start,
        "week_end": week_start + timedelta(days=6),
        "previous_week": week_start - timedelta(days=7),
        "next_week": week_start + timedelta(days=7),
        "today": clinic.today(),
        "types": AppointmentType.objects.filter(clinic=clinic, is_active=True),
    }
    return _render(request, "scheduling/week.html", "week-view", context)


@never_cache
@require_GET
@permission_required("scheduling.view_appointment", raise_exception=True)
def day_sheet(request: HtmxHttpRequest) -> HttpResponse:
    """A printable list of each provider's patients for one day."""
    clinic = _clinic(request)
    form = DayForm(request.GET or None, clinic=clinic)
    day = form.chosen_day()
    provider = form.chosen_provider()
    appointments = [
        a
        for a in selectors.appointments_for_day(
            user=request.user, clinic=clinic, day=day, provider=provider
        )
        if a.status != Status.CANCELLED
    ]
    sheets: dict[int, dict[str, Any]] = {}
    if provider is not None:
        sheets[provider.pk] = {"provider": provider, "appointments": []}
    for appointment in appointments:
        sheet = sheets.setdefault(
            appointment.provider_id, {"provider": appointment.provider, "appointments": []}
        )
        sheet["appointments"].append(appointment)
    screens.record_list_view(
        actor=request.user,
        clinic=clinic,
        appointments=appointments,
        summary=f"Day sheet {day:%Y-%m-%d}",
    )
    ordered = sorted(
        sheets.values(), key=lambda s: (s["provider"].user.last_name, s["provider"].pk)
    )
    context = {
        "form": form,
        "day": day,
        "provider": provider,
        "sheets": ordered,
        "printed_at": timezone.now(),
    }
    return render(request, "scheduling/day_sheet.html", context)


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
    clinic = _clinic(request)
    search = _patient_search(request, clinic, request.GET.get("q", ""))
    context = {"search": search, "limit": core_selectors.SEARCH_LIMIT, "today": clinic.today()}
    return _render(request, "scheduling/patient_options.html", "options", context)


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
    clinic = _clinic(request)
    context = _find_context(request, clinic, request.GET)
    return _render(request, "scheduling/find.html", "slot-results", context)


def _book(request: HtmxHttpRequest, form: BookingForm, clinic: Clinic) -> Any:
    """Book (or reschedule) what a valid form says; on refusal, put the reason on the form."""
    data = form.cleaned_data
    try:
        if data["reschedule"] is not None:
            if not request.user.has_perm("scheduling.change_appointment"):
                raise PermissionDenied("You may not reschedule appointments.")
            return services.reschedule_appointment(
                actor=request.user,
                appointment=data["reschedule"],
                start=data["start"],
                provider=data["provider"],
                appointment_type=data["appointment_type"],
                submission_key=data["submission_key"],
            )
        return services.book_appointment(
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
    when = appointment.start.astimezone(clinic.tz)
    what = (
        f"{appointment.appointment_type.name} for {appointment.patient} with "
        f"{appointment.provider} on {when:%A %-d %B %Y at %H:%M}"
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
    clinic = _clinic(request)
    form = BookingForm(request.POST, clinic=clinic, user=request.user)
    result = _book(request, form, clinic) if form.is_valid() else None
    if result is None:
        criteria = QueryDict(request.POST.get("criteria", "")[:2000])
        context = _find_context(request, clinic, criteria)
        context["booking_form"] = form
        return _render(request, "scheduling/find.html", "slot-results", context)
    if not _is_fragment(request):
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
    clinic = _clinic(request)
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


# --- the appointment page ---------------------------------------------------------------------


def _detail_context(request: HtmxHttpRequest, appointment: Appointment) -> dict[str, Any]:
    user = request.user
    now = timezone.now()
    tz = appointment.clinic.tz
    # Offer what the services would accept now: arrival on the day, a no-show once started.
    too_early = {
        Status.ARRIVED: appointment.start.astimezone(tz).date() != now.astimezone(tz).date(),
        Status.NO_SHOW: now < appointment.start,
    }
    transitions = [
        (status, label)
        for status, label in STATUS_ACTIONS.items()
        if appointment.can_become(status) and not too_early.get(status, False)
    ]
    try:
        rescheduled_to = appointment.rescheduled_to  # type: ignore[attr-defined]
    except Appointment.DoesNotExist:
        rescheduled_to = None
    offers: list[WaitlistOffer] = []
    if user.has_perm("scheduling.view_waitlistoffer"):
        offers = list(
            WaitlistOffer.objects.for_user(user)
            .filter(freed_by=appointment)
            .select_related("entry__patient")
        )
    return {
        "appointment": appointment,
        "local_start": appointment.start.astimezone(appointment.clinic.tz),
        "local_end": appointment.end.astimezone(appointment.clinic.tz),
        "history": selectors.appointment_history(user=user, appointment=appointment),
        "transitions": transitions,
        "can_cancel": appointment.can_become(Status.CANCELLED),
        "can_reschedule": appointment.status in (Status.BOOKED, Status.CONFIRMED),
        "rescheduled_to": rescheduled_to,
        "offers": offers,
        "cancel_form": CancelForm(),
        "notes_form": NotesForm(initial={"notes": appointment.notes}),
    }


@never_cache
@require_GET
@permission_required("scheduling.view_appointment", raise_exception=True)
def appointment_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    appointment = get_object_or_404(_appointments(request), pk=pk)
    audit.record(
        actor=request.user,
        action=AuditEvent.Action.VIEW,
        obj=appointment,
        patient=appointment.patient_id,
        clinic=appointment.clinic_id,
        summary="Appointment opened",
    )
    return _render(
        request,
        "scheduling/appointment.html",
        "appointment",
        _detail_context(request, appointment),
    )


def _after_change(
    request: HtmxHttpRequest, pk: int, notice: str, *, level: int = messages.SUCCESS
) -> HttpResponse:
    """The appointment page after a change: the fragment for htmx, else a redirect to it."""
    if not _is_fragment(request):
        messages.add_message(request, level, notice)
        return redirect("scheduling:appointment", pk=pk)
    appointment = get_object_or_404(_appointments(request), pk=pk)
    context = _detail_context(request, appointment)
    context["notice"] = notice
    context["notice_level"] = "error" if level >= messages.ERROR else "success"
    return render(request, "scheduling/appointment.html#appointment", context)


@never_cache
@require_POST
@permission_required("scheduling.change_appointment", raise_exception=True)
def appointment_status(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    appointment = get_object_or_404(_appointments(request), pk=pk)
    wanted = request.POST.get("status", "")
    changes = {
        Status.CONFIRMED: services.confirm_appointment,
        Status.ARRIVED: services.mark_arrived,
        Status.COMPLETED: services.complete_appointment,
        Status.NO_SHOW: services.mark_no_show,
    }
    change = changes.get(wanted)  # type: ignore[call-overload]
    if change is None:
        return _after_change(request, pk, "That status cannot be set here.", level=messages.ERROR)
    try:
        updated = change(actor=request.user, appointment=appointment)
    except services.SchedulingError as error:
        return _after_change(request, pk, error.message, level=messages.ERROR)
    return _after_change(request, pk, f"Appointment marked {updated.get_status_display().lower()}.")


@never_cache
@require_POST
@permission_required("scheduling.change_appointment", raise_exception=True)
def appointment_cancel(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    appointment = get_object_or_404(_appointments(request), pk=pk)
    form = CancelForm(request.POST)
    if not form.is_valid():
        problems = " ".join(e for errors in form.errors.values() for e in errors)
        return _after_change(request, pk, problems, level=messages.ERROR)
    try:
        result = services.cancel_appointment(
            actor=request.user,
            appointment=appointment,
            reason=form.cleaned_data["reason"],
            note=form.cleaned_data["note"],
        )
    except services.SchedulingError as error:
        return _after_change(request, pk, error.message, level=messages.ERROR)
    notice = "Appointment cancelled" + (
        " (late cancellation)." if result.appointment.late_cancel else "."
    )
    if result.offers:
        notice += f" The freed slot was offered to {len(result.offers)} patient(s) on the waitlist."
    return _after_change(request, pk, notice)


@never_cache
@require_POST
@permission_required("scheduling.change_appointment", raise_exception=True)
def appointment_notes(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    appointment = get_object_or_404(_appointments(request), pk=pk)
    form = NotesForm(request.POST)
    if not form.is_valid():
        problems = " ".join(e for errors in form.errors.values() for e in errors)
        return _after_change(request, pk, f"Notes not saved: {problems}", level=messages.ERROR)
    screens.update_appointment_notes(
        actor=request.user, appointment=appointment, notes=form.cleaned_data["notes"]
    )
    return _after_change(request, pk, "Notes saved.")


# --- the patient page's appointments --------------------------------------------------------


@never_cache
@require_GET
@permission_required("scheduling.view_appointment", raise_exception=True)
def patient_appointments(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """A patient's upcoming and past appointments (loaded into the patient page by htmx)."""
    patient = get_object_or_404(
        Patient.objects.for_user(request.user).select_related("clinic"), pk=pk
    )
    found = selectors.patient_appointments(user=request.user, patient=patient)
    audit.record_view(request, patient, summary="Appointments listed")
    context = {
        "patient": patient,
        "upcoming": found.upcoming,
        "past": found.past[:50],
        "past_total": len(found.past),
        "no_show_count": found.no_show_count,
    }
    return _render(request, "scheduling/patient_appointments.html", "appointments", context)


# --- waitlist -------------------------------------------------------------------------------


def _waitlist_context(
    request: HtmxHttpRequest, clinic: Clinic, form: WaitlistEntryForm | None = None
) -> dict[str, Any]:
    can_add = request.user.has_perm("scheduling.add_waitlistentry")
    if form is None and can_add:
        today = clinic.today()
        form = WaitlistEntryForm(
            initial={"earliest": today, "latest": today + timedelta(days=30)},
            clinic=clinic,
            user=request.user,
        )
    entries = list(selectors.waitlist(user=request.user, clinic=clinic))
    offers = list(selectors.open_waitlist_offers(user=request.user, clinic=clinic))
    raw_patient = form.data.get("patient") if form is not None and form.is_bound else None
    return {
        "offers": offers,
        "entries": entries,
        "form": form,
        "patient": _chosen_patient(request, form, raw_patient) if form is not None else None,
        "today": clinic.today(),
    }


def _record_waitlist_view(request: HtmxHttpRequest, clinic: Clinic, context: dict) -> None:
    patient_ids = sorted(
        {o.entry.patient_id for o in context["offers"]} | {e.patient_id for e in context["entries"]}
    )
    if patient_ids:
        audit.record(
            actor=request.user,
            action=AuditEvent.Action.VIEW,
            object_type="scheduling.waitlistentry",
            clinic=clinic,
            summary=f"Waitlist: {len(patient_ids)} patient(s) shown",
            changes={"patient_ids": patient_ids},
        )


@never_cache
@require_http_methods(["GET", "POST"])
@permission_required("scheduling.view_waitlistoffer", raise_exception=True)
def waitlist(request: HtmxHttpRequest) -> HttpResponse:
    """Freed slots to offer to waiting patients, the waitlist itself, and adding to it."""
    clinic = _clinic(request)
    form = None
    if request.method == "POST":
        if not request.user.has_perm("scheduling.add_waitlistentry"):
            raise PermissionDenied
        form = WaitlistEntryForm(request.POST, clinic=clinic, user=request.user)
        if form.is_valid():
            data = form.cleaned_data
            try:
                entry = services.add_to_waitlist(
                    actor=request.user,
                    clinic=clinic,
                    patient=data["patient"],
                    appointment_type=data["appointment_type"],
                    earliest=data["earliest"],
                    latest=data["latest"],
                    provider=data["provider"],
                    time_of_day=data["time_of_day"],
                    notes=data["notes"],
                )
            except services.SchedulingError as error:
                field = error.field if error.field in form.fields else None
                form.add_error(field, error.message)
            else:
                messages.success(request, f"{entry.patient} added to the waitlist.")
                return redirect("scheduling:waitlist")
    context = _waitlist_context(request, clinic, form)
    _record_waitlist_view(request, clinic, context)
    return render(request, "scheduling/waitlist.html", context)


@never_cache
@require_POST
@permission_required("scheduling.change_waitlistoffer", raise_exception=True)
def offer_respond(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Accept (book) or decline a waitlist offer."""
    clinic = _clinic(request)
    offer = get_object_or_404(
        WaitlistOffer.objects.for_user(request.user).filter(entry__clinic=clinic), pk=pk
    )
    if request.POST.get("answer") == "accept":
        if not request.user.has_perm("scheduling.add_appointment"):
            raise PermissionDenied
        try:
            result = services.accept_waitlist_offer(actor=request.user, offer=offer)
        except services.SchedulingError as error:
            messages.error(request, f"Could not book the offer: {error.message}")
        else:
            _report_booking(request, result, clinic)
            return redirect("scheduling:appointment", pk=result.appointment.pk)
    elif request.POST.get("answer") == "decline":
        services.decline_waitlist_offer(actor=request.user, offer=offer)
        messages.info(request, "Offer declined; the patient stays on the waitlist.")
    else:
        messages.error(request, "Choose to accept or decline the offer.")
    return redirect("scheduling:waitlist")


@never_cache
@require_POST
@permission_required("scheduling.change_waitlistentry", raise_exception=True)
def waitlist_remove(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    clinic = _clinic(request)
    entry = get_object_or_404(
        WaitlistEntry.objects.for_user(request.user).filter(clinic=clinic), pk=pk
    )
    services.remove_from_waitlist(actor=request.user, entry=entry)
    messages.info(request, f"{entry.patient} removed from the waitlist.")
    return redirect("scheduling:waitlist")


# --- the appointment types' colours ---------------------------------------------------------


@require_GET
@cache_control(private=True, max_age=300)
@permission_required("scheduling.view_appointmenttype", raise_exception=True)
def type_colors(request: HtmxHttpRequest) -> HttpResponse:
    """A stylesheet giving each appointment type its colour (the CSP forbids inline styles)."""
    lines = [
        f".appt-type-{pk} {{ --type-color: {color}; }}"
        for pk, color in AppointmentType.objects.for_user(request.user).values_list("pk", "color")
        if HEX_COLOR.fullmatch(color)
    ]
    return HttpResponse("\n".join(lines) + "\n", content_type="text/css; charset=utf-8")


# --- the reminder's confirm link -------------------------------------------------------------


@login_not_required
@never_cache
@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    """The reminder email's link: shows the appointment, and confirms it on POST.

    GET never changes anything, so a mail scanner that follows links cannot confirm for the
    patient. The signed token is the only credential; it names one appointment.
    """
    try:
        appointment = services.appointment_for_token(token)
    except services.SchedulingError as error:
        return render(request, "scheduling/confirm.html", {"error": error.message}, status=400)
    context: dict[str, object] = {"appointment": appointment}
    if request.method == "POST":
        try:
            appointment = services.confirm_by_token(token=token)
        except services.SchedulingError as error:
            context["error"] = error.message
            return render(request, "scheduling/confirm.html", context, status=409)
        context["confirmed"] = True
        return render(request, "scheduling/confirm.html", context)
    audit.record(
        actor="patient (reminder link)",
        action=AuditEvent.Action.VIEW,
        obj=appointment,
        patient=appointment.patient_id,
        clinic=appointment.clinic_id,
        summary="Reminder link opened",
    )
    context["confirmed"] = appointment.status == appointment.Status.CONFIRMED
    return render(request, "scheduling/confirm.html", context)
