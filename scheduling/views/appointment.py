"""The appointment page (status, cancel, notes) and the patient page's appointments."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent
from clinicops.core.models import Patient
from clinicops.core.templatetags import formats
from clinicops.core.web import HtmxHttpRequest, is_fragment, render_page

from .. import screens, selectors, services
from ..forms import STATUS_ACTIONS, CancelForm, NotesForm
from ..models import Appointment, WaitlistOffer
from ..services import transitions
from .common import Status, _appointments

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
    actions = [
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
    # Undo of a cancellation this user just made: the seconds left by the server's clock (the
    # page counts down from them, so a wrong clock on the desk's computer does not matter).
    undo_until = transitions.cancellation_undo_until(appointment, actor=user)
    undo_seconds = int((undo_until - now).total_seconds()) if undo_until else 0
    return {
        "appointment": appointment,
        "undo_seconds": max(0, undo_seconds),
        "undo_until": undo_until if undo_seconds > 0 else None,
        "local_start": appointment.start.astimezone(appointment.clinic.tz),
        "local_end": appointment.end.astimezone(appointment.clinic.tz),
        "history": selectors.appointment_history(user=user, appointment=appointment),
        "transitions": actions,
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
    return render_page(
        request,
        "scheduling/appointment.html",
        "appointment",
        _detail_context(request, appointment),
    )


def _after_change(
    request: HtmxHttpRequest, pk: int, notice: str, *, level: int = messages.SUCCESS
) -> HttpResponse:
    """The appointment page after a change: the fragment for htmx, else a redirect to it."""
    if not is_fragment(request):
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
        Status.CONFIRMED: transitions.confirm_appointment,
        Status.ARRIVED: transitions.mark_arrived,
        Status.COMPLETED: transitions.complete_appointment,
        Status.NO_SHOW: transitions.mark_no_show,
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
        result = transitions.cancel_appointment(
            actor=request.user,
            appointment=appointment,
            reason=form.cleaned_data["reason"],
            note=form.cleaned_data["note"],
        )
    except services.SchedulingError as error:
        return _after_change(request, pk, error.message, level=messages.ERROR)
    stored = result.appointment
    notice = "Appointment cancelled" + (" (late cancellation)" if stored.late_cancel else "")
    notice += f": {stored.get_cancel_reason_display()}."
    if result.replayed:
        notice = f"Already cancelled ({stored.get_cancel_reason_display()}); nothing changed."
    if result.offers:
        notice += f" The freed slot was offered to {len(result.offers)} patient(s) on the waitlist."
    return _after_change(request, pk, notice)


@never_cache
@require_POST
@permission_required("scheduling.change_appointment", raise_exception=True)
def appointment_undo_cancel(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Take back the cancellation just made (within a few seconds, by the server's clock)."""
    appointment = get_object_or_404(_appointments(request), pk=pk)
    try:
        result = transitions.undo_cancellation(actor=request.user, appointment=appointment)
    except services.SchedulingError as error:
        return _after_change(request, pk, error.message, level=messages.ERROR)
    stored = result.appointment
    status = stored.get_status_display().lower()
    if result.replayed:
        return _after_change(request, pk, f"Already restored: the appointment is {status}.")
    when = formats.moment(stored.start, stored.clinic.tz)
    return _after_change(
        request, pk, f"Cancellation undone: the appointment at {when} is {status} again."
    )


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
    return render_page(request, "scheduling/patient_appointments.html", "appointments", context)
