"""The flow settings: how long a visit may stay at each step before the board flags it."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from clinicops.core.web import HtmxHttpRequest, current_clinic

from .. import selectors, services
from ..forms import ThresholdForm
from ..services import housekeeping
from .common import _form_error


@never_cache
@require_http_methods(["GET", "POST"])
@permission_required("patientflow.change_stepthreshold", raise_exception=True)
def thresholds(request: HtmxHttpRequest) -> HttpResponse:
    clinic = current_clinic(request)
    form = ThresholdForm(
        request.POST if request.method == "POST" else None,
        current=selectors.thresholds_for(clinic),
    )
    if request.method == "POST" and form.is_valid():
        try:
            housekeeping.set_thresholds(
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
