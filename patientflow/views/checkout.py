"""Checkout: ending the visit, booking the follow-up, and the visit summary."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from clinicops.audit.models import AuditEvent
from clinicops.core.fields import new_submission_key
from clinicops.core.models import Staff
from clinicops.core.web import HtmxHttpRequest, is_fragment, page_or_partial
from scheduling import availability
from scheduling import services as scheduling_services

from .. import balances, selectors, services
from ..forms import CheckoutForm, FollowUpBookForm, FollowUpSearchForm
from ..models import Step, Visit
from ..services import checkout as checkout_services
from .common import _expected_step, _first_error, _form_error, _record_view, _visit_for

CHECKOUT = "patientflow/checkout.html"


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
        "open_balance": balances.patient_balance(visit.patient_id),
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
            checkout_services.check_out(
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
                result = checkout_services.book_follow_up(
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
                if not is_fragment(request):
                    if result.replayed:
                        messages.info(
                            request,
                            "Follow-up already booked; this was sent twice, nothing new was "
                            "booked.",
                        )
                    else:
                        messages.success(request, "Follow-up booked.")
                    return redirect("patientflow:checkout", pk=visit.pk)
        if error and not is_fragment(request):
            messages.error(request, error)
            return redirect("patientflow:checkout", pk=visit.pk)
    context = _checkout_context(request, visit, source=source, error=error)
    return render(request, page_or_partial(request, CHECKOUT, "follow-up"), context)


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
