"""Patient search, registration, the patient page, and the patient's insurance coverage."""

from __future__ import annotations

import copy

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from clinicops.audit import audit

from . import selectors, services
from .forms import CoverageForm, PatientForm
from .models import Coverage, Patient
from .web import HtmxHttpRequest, current_clinic, render_page


@never_cache
@require_GET
@permission_required("core.view_patient", raise_exception=True)
def patient_search(request: HtmxHttpRequest) -> HttpResponse:
    search = selectors.search_patients(
        user=request.user, clinic=request.clinic, query=request.GET.get("q", "")
    )
    services.record_patient_search(
        actor=request.user, clinic=request.clinic, query=search.query, patients=search.patients
    )
    context = {
        "search": search,
        "limit": selectors.SEARCH_LIMIT,
        "today": request.clinic.today() if request.clinic else None,
    }
    return render_page(request, "core/patient_search.html", "results", context)


@never_cache
@require_http_methods(["GET", "POST"])
@permission_required("core.add_patient", raise_exception=True)
def patient_create(request: HtmxHttpRequest) -> HttpResponse:
    clinic = current_clinic(request)
    form = PatientForm(
        request.POST if request.method == "POST" else None, clinic=clinic, user=request.user
    )
    if request.method == "POST" and form.is_valid():
        try:
            patient = services.register_patient(
                actor=request.user, clinic=clinic, **form.patient_fields()
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Registered {patient.full_name} with MRN {patient.mrn}.")
            return redirect("core:patient_detail", pk=patient.pk)
    return render(request, "core/patient_form.html", {"form": form, "clinic": clinic})


@never_cache
@require_GET
@permission_required("core.view_patient", raise_exception=True)
def patient_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    patient = get_object_or_404(
        Patient.objects.for_user(request.user).select_related("clinic"), pk=pk
    )
    audit.record_view(request, patient)
    today = patient.clinic.today()
    rows = selectors.coverage_rows(patient=patient, today=today)
    context = {
        "patient": patient,
        "today": today,
        "coverage_rows": rows,
        "has_active_coverage": any(row.is_active for row in rows),
    }
    return render(request, "core/patient_detail.html", context)


@never_cache
@require_http_methods(["GET", "POST"])
@permission_required("core.change_patient", raise_exception=True)
def patient_edit(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    patient = get_object_or_404(
        Patient.objects.for_user(request.user).select_related("clinic"), pk=pk
    )
    # The form writes into its instance while validating; keep the page header on the original.
    form = PatientForm(
        request.POST if request.method == "POST" else None,
        instance=copy.copy(patient),
        clinic=patient.clinic,
        user=request.user,
    )
    if request.method != "POST":
        audit.record_view(request, patient, summary="Opened for editing")
    elif form.is_valid():
        if not form.has_changed():
            messages.info(request, "Nothing was changed.")
            return redirect("core:patient_detail", pk=patient.pk)
        try:
            services.update_patient(
                actor=request.user, patient=patient, **form.patient_fields(changed_only=True)
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, "Changes saved.")
            return redirect("core:patient_detail", pk=patient.pk)
    context = {"form": form, "patient": patient, "clinic": patient.clinic}
    return render(request, "core/patient_form.html", context)


@never_cache
@require_http_methods(["GET", "POST"])
@permission_required("core.add_coverage", raise_exception=True)
def coverage_add(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    patient = get_object_or_404(Patient.objects.for_user(request.user), pk=pk)
    form = CoverageForm(
        request.POST if request.method == "POST" else None,
        initial={"effective_from": patient.clinic.today()},
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.add_coverage(actor=request.user, patient=patient, **form.coverage_fields())
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, "Coverage added.")
            return redirect("core:patient_detail", pk=patient.pk)
    return render(request, "core/coverage_form.html", {"form": form, "patient": patient})


@never_cache
@require_http_methods(["GET", "POST"])
@permission_required("core.change_coverage", raise_exception=True)
def coverage_edit(request: HtmxHttpRequest, pk: int, coverage_pk: int) -> HttpResponse:
    patient = get_object_or_404(Patient.objects.for_user(request.user), pk=pk)
    coverage = get_object_or_404(Coverage.objects.filter(patient=patient), pk=coverage_pk)
    form = CoverageForm(
        request.POST if request.method == "POST" else None, instance=copy.copy(coverage)
    )
    if request.method != "POST":
        audit.record_view(request, patient, summary=f"Opened coverage {coverage.pk} for editing")
    elif form.is_valid():
        try:
            services.update_coverage(
                actor=request.user, coverage=coverage, **form.coverage_fields()
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, "Coverage saved.")
            return redirect("core:patient_detail", pk=patient.pk)
    return render(
        request, "core/coverage_form.html", {"form": form, "patient": patient, "coverage": coverage}
    )
