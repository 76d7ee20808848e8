"""A/R aging (0-30 ... 120+) by payer or by patient as of a date, on screen and as CSV."""

from __future__ import annotations

import csv
from typing import Any

from django.contrib.auth.decorators import permission_required
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent
from clinicops.core.web import HtmxHttpRequest, current_clinic

from .. import selectors
from ..forms import AgingForm
from .common import record_list_view

AGING = "revenue/aging.html"


def _params(request: HtmxHttpRequest) -> tuple[Any, AgingForm, Any, str]:
    clinic = current_clinic(request)
    form = AgingForm(request.GET or None)
    data: dict[str, Any] = form.cleaned_data if form.is_bound and form.is_valid() else {}
    as_of = data.get("as_of") or clinic.today()
    by = data.get("by") or "payer"
    return clinic, form, as_of, by


@never_cache
@require_GET
@permission_required("revenue.view_claim", raise_exception=True)
def aging(request: HtmxHttpRequest) -> HttpResponse:
    clinic, form, as_of, by = _params(request)
    rows, totals = selectors.ar_aging(clinic, as_of=as_of, by=by)
    record_list_view(
        request, "revenue.claim", f"A/R aging by {by} as of {as_of.isoformat()}", clinic
    )
    if not form.is_bound:
        form = AgingForm(initial={"as_of": as_of, "by": by})
    context = {
        "clinic": clinic,
        "form": form,
        "rows": rows,
        "totals": totals,
        "buckets": [b[0] for b in selectors.AGING_BUCKETS],
        "as_of": as_of,
        "by": by,
        "tab": "aging",
    }
    return render(request, AGING, context)


@never_cache
@require_GET
@permission_required("revenue.view_claim", raise_exception=True)
def aging_csv(request: HtmxHttpRequest) -> HttpResponse:
    clinic, _form, as_of, by = _params(request)
    rows, totals = selectors.ar_aging(clinic, as_of=as_of, by=by)
    buckets = [b[0] for b in selectors.AGING_BUCKETS]
    audit.record(
        actor=request.user,
        action=AuditEvent.Action.EXPORT,
        object_type="revenue.claim",
        clinic=clinic,
        summary=f"Exported A/R aging by {by} as of {as_of.isoformat()} ({len(rows)} rows)",
    )
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="ar-aging-{by}-{as_of.isoformat()}.csv"'
    )
    writer = csv.writer(response)
    writer.writerow([by.capitalize(), *buckets, "Total"])
    for row in [*rows, totals]:
        label = row.label
        if label[:1] in ("=", "+", "-", "@"):
            label = "'" + label  # never a formula in a spreadsheet
        writer.writerow([label, *(f"{row.amounts[b]:.2f}" for b in buckets), f"{row.total:.2f}"])
    return response
