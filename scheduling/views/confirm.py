"""The reminder's confirm link: a patient confirms or cancels without logging in."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent

from .. import services
from ..services import reminders


@login_not_required
@never_cache
@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    """The reminder email's link: shows the appointment, and confirms it on POST.

    GET never changes anything, so a mail scanner that follows links cannot confirm for the
    patient. The signed token is the only credential; it names one appointment.
    """
    try:
        appointment = reminders.appointment_for_token(token)
    except services.SchedulingError as error:
        return render(request, "scheduling/confirm.html", {"error": error.message}, status=400)
    context: dict[str, object] = {"appointment": appointment}
    if request.method == "POST":
        try:
            appointment = reminders.confirm_by_token(token=token)
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
