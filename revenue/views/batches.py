"""Batch export: the scrubbed claims waiting, export (one payer or all), past batches, download."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.db.models import Count, Sum
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent
from clinicops.core.models import Clinic, Payer
from clinicops.core.web import HtmxHttpRequest, current_clinic

from .. import selectors
from ..forms import ExportForm
from ..models import ExportBatch
from ..services import RevenueError, export
from .common import id_or_404

BATCHES = "revenue/batches.html"


def _waiting(clinic: Clinic) -> list[dict[str, Any]]:
    return list(
        export.exportable(clinic)
        .values("payer_id", "payer__name")
        .annotate(claims=Count("id"), charges=Sum("total_charge"))
        .order_by("payer__name")
    )


def _render(
    request: HtmxHttpRequest, clinic: Clinic, form: ExportForm | None = None
) -> HttpResponse:
    waiting = _waiting(clinic)
    payers = Payer.objects.filter(pk__in=[w["payer_id"] for w in waiting])
    context = {
        "clinic": clinic,
        "waiting": waiting,
        "waiting_claims": sum(w["claims"] for w in waiting),
        "form": form or ExportForm(payers=payers),
        "batches": list(selectors.batches_for(request.user, clinic)[:50]),  # type: ignore[arg-type]
        "tab": "batches",
    }
    return render(request, BATCHES, context)


@never_cache
@require_GET
@permission_required("revenue.view_exportbatch", raise_exception=True)
def batches(request: HtmxHttpRequest) -> HttpResponse:
    return _render(request, current_clinic(request))


@never_cache
@require_POST
@permission_required("revenue.submit_claim", raise_exception=True)
def export_now(request: HtmxHttpRequest) -> HttpResponse:
    clinic = current_clinic(request)
    payers = Payer.objects.filter(pk__in=[w["payer_id"] for w in _waiting(clinic)])
    form = ExportForm(request.POST, payers=payers)
    if not form.is_valid():
        return _render(request, clinic, form)
    try:
        result = export.export_batch(
            actor=request.user, clinic=clinic, payer=form.cleaned_data["payer"]
        )
    except RevenueError as error:
        messages.error(request, f"Nothing was exported: {error.message}")
        return redirect("revenue:batches")
    if result is None:
        messages.info(request, "Nothing to export: no scrubbed claim is waiting.")
    else:
        messages.success(
            request,
            f"Exported batch {result.batch.interchange_control_number:09d}: "
            f"{result.claims} claims, {result.lines} lines.",
        )
    return redirect("revenue:batches")


@never_cache
@require_GET
@permission_required("revenue.submit_claim", raise_exception=True)
def download(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    try:
        batch = ExportBatch.objects.for_user(request.user).get(pk=id_or_404(pk))
    except ExportBatch.DoesNotExist:
        raise Http404 from None
    audit.record(
        actor=request.user,
        action=AuditEvent.Action.EXPORT,
        obj=batch,
        summary=f"Downloaded 837P batch {batch.interchange_control_number:09d}",
    )
    response = HttpResponse(bytes(batch.content), content_type="application/edi-x12")
    response["Content-Disposition"] = f'attachment; filename="{batch.filename}"'
    return response
