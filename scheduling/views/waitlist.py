"""The waitlist: who waits for a slot, answering an offer, taking someone off."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent
from clinicops.core.models import Clinic
from clinicops.core.web import HtmxHttpRequest, current_clinic

from .. import selectors, services
from ..forms import WaitlistEntryForm
from ..models import WaitlistEntry, WaitlistOffer
from ..services import waitlist as waitlist_services
from .booking import _chosen_patient, _report_booking


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
    clinic = current_clinic(request)
    form = None
    if request.method == "POST":
        if not request.user.has_perm("scheduling.add_waitlistentry"):
            raise PermissionDenied
        form = WaitlistEntryForm(request.POST, clinic=clinic, user=request.user)
        if form.is_valid():
            data = form.cleaned_data
            try:
                entry = waitlist_services.add_to_waitlist(
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
    clinic = current_clinic(request)
    offer = get_object_or_404(
        WaitlistOffer.objects.for_user(request.user).filter(entry__clinic=clinic), pk=pk
    )
    if request.POST.get("answer") == "accept":
        if not request.user.has_perm("scheduling.add_appointment"):
            raise PermissionDenied
        try:
            result = waitlist_services.accept_waitlist_offer(actor=request.user, offer=offer)
        except services.SchedulingError as error:
            messages.error(request, f"Could not book the offer: {error.message}")
        else:
            _report_booking(request, result, clinic)
            return redirect("scheduling:appointment", pk=result.appointment.pk)
    elif request.POST.get("answer") == "decline":
        waitlist_services.decline_waitlist_offer(actor=request.user, offer=offer)
        messages.info(request, "Offer declined; the patient stays on the waitlist.")
    else:
        messages.error(request, "Choose to accept or decline the offer.")
    return redirect("scheduling:waitlist")


@never_cache
@require_POST
@permission_required("scheduling.change_waitlistentry", raise_exception=True)
def waitlist_remove(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    clinic = current_clinic(request)
    entry = get_object_or_404(
        WaitlistEntry.objects.for_user(request.user).filter(clinic=clinic), pk=pk
    )
    waitlist_services.remove_from_waitlist(actor=request.user, entry=entry)
    messages.info(request, f"{entry.patient} removed from the waitlist.")
    return redirect("scheduling:waitlist")
