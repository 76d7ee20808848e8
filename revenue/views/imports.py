"""CSV imports of billing reference data: procedure codes and fee schedules."""

from __future__ import annotations

from django.contrib.auth.decorators import permission_required
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from clinicops.core.web import HtmxHttpRequest, current_clinic

from .. import importers
from ..forms import CodeImportForm, FeeImportForm
from ..models import FeeSchedule

IMPORT = "revenue/import.html"


@never_cache
@require_http_methods(["GET", "POST"])
@permission_required("revenue.add_procedurecode", raise_exception=True)
def import_codes(request: HtmxHttpRequest) -> HttpResponse:
    form = CodeImportForm(request.POST or None, request.FILES or None)
    errors: list[importers.LineError] = []
    summary = None
    if request.method == "POST" and form.is_valid():
        try:
            summary = importers.import_procedure_codes(
                form.cleaned_data["file"].read(), actor=request.user
            )
        except importers.ImportRefused as refused:
            errors = refused.errors
    context = {
        "form": form,
        "errors": errors,
        "summary": summary,
        "kind": "codes",
        "columns": importers.CODE_COLUMNS,
        "required": importers.CODE_REQUIRED,
        "tab": "imports",
    }
    return render(request, IMPORT, context)


@never_cache
@require_http_methods(["GET", "POST"])
@permission_required("revenue.add_feeschedule", raise_exception=True)
def import_fees(request: HtmxHttpRequest) -> HttpResponse:
    clinic = current_clinic(request)
    form = FeeImportForm(request.POST or None, request.FILES or None)
    errors: list[importers.LineError] = []
    schedule = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            schedule = importers.import_fee_schedule(
                data["file"].read(),
                actor=request.user,
                clinic=clinic,
                payer=data["payer"],
                name=data["name"],
                effective_from=data["effective_from"],
                effective_to=data["effective_to"],
            )
        except importers.ImportRefused as refused:
            errors = refused.errors
    context = {
        "form": form,
        "errors": errors,
        "schedule": schedule,
        "kind": "fees",
        "schedule_items": schedule.items.count() if schedule else 0,
        "columns": importers.FEE_COLUMNS,
        "required": importers.FEE_REQUIRED,
        "schedules": FeeSchedule.objects.filter(clinic=clinic).select_related("payer")[:50],
        "clinic": clinic,
        "tab": "imports",
    }
    return render(request, IMPORT, context)
