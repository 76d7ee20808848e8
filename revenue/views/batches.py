"""Batch export: the scrubbed claims waiting, export (one payer or all), past batches with
pyx12's verdict on each, a batch's page (the verdict and its findings, "Check now"), download."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.db.models import Count, Sum
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent
from clinicops.core.models import Clinic, Payer
from clinicops.core.web import HtmxHttpRequest, current_clinic, render_page

from .. import selectors
from ..forms import ExportForm
from ..models import CheckStatus, ExportBatch
from ..services import RevenueError, batch_check, export
from .common import id_or_404

BATCHES = "revenue/batches.html"
BATCH = "revenue/batch.html"
SHOWN_FINDINGS = 10


def _waiting(clinic: Clinic) -> list[dict[str, Any]]:
    return list(
        export.exportable(clinic)
        .values("payer_id", "payer__name")
        .annotate(claims=Count("id"), charges=Sum("total_charge"))
        .order_by("payer__name")
    )


def _context(request: HtmxHttpRequest, clinic: Clinic, form: ExportForm | None) -> dict[str, Any]:
    waiting = _waiting(clinic)
    payers = Payer.objects.filter(pk__in=[w["payer_id"] for w in waiting])
    now = timezone.now()
    listed = list(selectors.batches_for(request.user, clinic)[:50])  # type: ignore[arg-type]
    stale = {b.pk: batch_check.is_stale(b, now) for b in listed}
    return {
        "clinic": clinic,
        "waiting": waiting,
        "waiting_claims": sum(w["claims"] for w in waiting),
        "form": form or ExportForm(payers=payers),
        "batches": [{"b": b, "stale": stale[b.pk]} for b in listed],
        # The table polls while a check is queued (it ends within a minute or two).
        "checking": any(b.check_status == CheckStatus.PENDING and not stale[b.pk] for b in listed),
        "tab": "batches",
    }


def _render(
    request: HtmxHttpRequest, clinic: Clinic, form: ExportForm | None = None
) -> HttpResponse:
    return render(request, BATCHES, _context(request, clinic, form))


@never_cache
@require_GET
@permission_required("revenue.view_exportbatch", raise_exception=True)
def batches(request: HtmxHttpRequest) -> HttpResponse:
    clinic = current_clinic(request)
    return render_page(request, BATCHES, "batch-table", _context(request, clinic, None))


def _batch_or_404(request: HtmxHttpRequest, pk: int) -> ExportBatch:
    found = (
        ExportBatch.objects.for_user(request.user)
        .select_related("payer", "clinic")
        .defer("content")
        .filter(pk=id_or_404(pk))
        .first()
    )
    if found is None:
        raise Http404
    return found


@never_cache
@require_GET
@permission_required("revenue.view_exportbatch", raise_exception=True)
def batch_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    batch = _batch_or_404(request, pk)
    if batch.check_status == CheckStatus.FINDINGS:
        # pyx12's messages can quote the file's values (names, member ids): a read of PHI.
        audit.record_view(
            request,
            batch,
            summary=f"Viewed pyx12 findings of 837P batch {batch.interchange_control_number:09d}",
        )
    context = {
        "batch": batch,
        "stale": batch_check.is_stale(batch),
        "shown": batch.findings[:SHOWN_FINDINGS],
        "more": max(0, batch.finding_count - SHOWN_FINDINGS),
        "tab": "batches",
    }
    return render_page(request, BATCH, "batch-check", context)


@never_cache
@require_POST
@permission_required("revenue.submit_claim", raise_exception=True)
def check_now(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Queue pyx12's check of a batch nobody is checking (the broker was down at export)."""
    batch = _batch_or_404(request, pk)
    if not batch_check.is_stale(batch):
        messages.info(
            request,
            "This batch is already checked."
            if batch.check_status != CheckStatus.PENDING
            else "This batch is being checked.",
        )
    elif batch_check.request_check(batch.pk):
        messages.success(request, "The check is queued: pyx12 takes about a minute a 5,000 claims.")
    else:
        messages.error(
            request,
            "The background worker cannot be reached; the batch is checked once it is back.",
        )
    return redirect("revenue:batch", pk=batch.pk)


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
            f"{result.claims} claim{pluralize(result.claims)}, "
            f"{result.lines} line{pluralize(result.lines)}.",
        )
    return redirect("revenue:batches")


@never_cache
@require_GET
@permission_required("revenue.submit_claim", raise_exception=True)
def download(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The stored file, byte for byte, once pyx12 has checked it: a file nobody has checked
    could reach the clearinghouse broken. One with findings downloads (to look into), its page
    and the list saying not to send it."""
    try:
        batch = ExportBatch.objects.for_user(request.user).get(pk=id_or_404(pk))
    except ExportBatch.DoesNotExist:
        raise Http404 from None
    if batch.check_status == CheckStatus.PENDING:
        messages.warning(
            request,
            f"Batch {batch.interchange_control_number:09d} is not checked yet: it can be "
            "downloaded once pyx12 has checked it (a minute or two).",
        )
        return redirect("revenue:batch", pk=batch.pk)
    audit.record(
        actor=request.user,
        action=AuditEvent.Action.EXPORT,
        obj=batch,
        summary=f"Downloaded 837P batch {batch.interchange_control_number:09d}",
    )
    response = HttpResponse(bytes(batch.content), content_type="application/edi-x12")
    response["Content-Disposition"] = f'attachment; filename="{batch.filename}"'
    return response
