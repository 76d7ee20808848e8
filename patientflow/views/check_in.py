"""Check-in: arriving a booked patient (demographics and insurance on the way), and walk-ins."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from clinicops.audit import audit
from clinicops.core import selectors as core_selectors
from clinicops.core import services as core_services
from clinicops.core.models import Coverage, Patient
from clinicops.core.web import HtmxHttpRequest, current_clinic, is_fragment, page_or_partial
from scheduling import selectors as scheduling_selectors
from scheduling.models import Appointment

from .. import balances, check_in_read, selectors, services
from ..forms import CheckInForm, DemographicsForm, WalkInForm
from ..models import Visit
from ..services import checkin
from .common import _form_error, _pk

CHECK_IN = "patientflow/check_in.html"


def _appointment_for(request: HtmxHttpRequest, appointment_id: int) -> Appointment:
    """The appointment, as `check_in_read` reads it, among the user's (404 otherwise). Its
    clinic is one of the user's, which the middleware has read already (the join cost
    planning time)."""
    appointment = check_in_read.check_in_appointment(user=request.user, pk=appointment_id)
    if appointment is None:
        raise Http404("No appointment matches the given query.")
    clinics = getattr(request, "user_clinics", [])
    clinic = next((c for c in clinics if c.pk == appointment.clinic_id), None)
    if clinic is not None:
        appointment.clinic = clinic
    return appointment


def _visit_of(appointment: Appointment) -> Visit | None:
    try:
        return appointment.visit  # read with the appointment (select_related)
    except Visit.DoesNotExist:
        return None


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
    primary = next((row.coverage for row in rows if row.status == "active"), None)
    copay = scheduling_selectors.expected_copay(
        coverage=primary, appointment_type=appointment.appointment_type
    )
    visit = _visit_of(appointment)
    is_today = appointment.start.astimezone(clinic.tz).date() == today
    status = appointment.status
    return {
        "appointment": appointment,
        "patient": patient,
        "clinic": clinic,
        "visit": visit,
        "form": form or _check_in_form(None, has_coverage=primary is not None, copay=copay),
        "expected_copay": copay,
        "open_balance": (
            appointment.open_balance
            if hasattr(appointment, "open_balance")
            else balances.patient_balance(patient.pk)
        ),
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
    form = None
    if request.method == "POST":
        has_coverage = any(
            row.status == "active"
            for row in core_selectors.coverage_rows(
                patient=appointment.patient, today=appointment.clinic.today()
            )
        )
        form = _check_in_form(request.POST, has_coverage=has_coverage, copay=None)
    if form is not None and form.is_valid():
        try:
            visit = checkin.check_in(
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
            confirmed = ""
            if form.cleaned_data.get("demographics_confirmed"):
                core_services.confirm_demographics(
                    actor=request.user,  # type: ignore[arg-type]
                    patient=appointment.patient,
                )
                confirmed = " Demographics confirmed."
            messages.success(
                request,
                f"{appointment.patient} is checked in ({_arrival(visit.arrival_minutes)})."
                + confirmed,
            )
            return redirect("patientflow:board")
    if request.method != "POST":
        audit.record_view(request, appointment.patient, summary="Check-in screen")
    return render(request, CHECK_IN, _check_in_context(request, appointment, form=form))


def _check_in_form(
    data: Any, *, has_coverage: bool, copay: scheduling_selectors.ExpectedCopay | None
) -> CheckInForm:
    """The check-in form; a fresh one has the expected copay (from the coverage) filled in."""
    initial = {}
    if data is None and copay is not None and copay.amount is not None:
        initial["copay_amount"] = copay.amount
    return CheckInForm(data, has_coverage=has_coverage, initial=initial)


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
                if not is_fragment(request):
                    messages.success(request, saved)
                    return redirect("patientflow:check_in", appointment_id=appointment.pk)
    elif not request.GET.get("cancel"):
        form = DemographicsForm(instance=copy.copy(patient))
        audit.record_view(request, patient, summary="Opened for editing at check-in")
    context = _check_in_context(request, appointment, demographics_form=form, saved=saved)
    return render(request, page_or_partial(request, CHECK_IN, "demographics"), context)


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
    if is_fragment(request):
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
    clinic = current_clinic(request)
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
            visit = checkin.walk_in(
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
