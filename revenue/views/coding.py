"""Coding: the biller's queue of visits to code, and charge entry for one visit."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Q
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from clinicops.audit import audit
from clinicops.core.fields import clean_text
from clinicops.core.web import HtmxHttpRequest, current_clinic, is_fragment, render_page
from patientflow.models import Visit

from .. import codes, selectors
from ..forms import DiagnosesForm, LineForm, ReasonForm
from ..models import Encounter, ProcedureCode
from ..services import RevenueError, charges
from ..services.fees import schedule_in_force
from .common import add_service_error, id_or_404, record_list_view

QUEUE = "revenue/queue.html"
ENTRY = "revenue/charge_entry.html"


@never_cache
@require_GET
@permission_required("revenue.view_encounter", raise_exception=True)
def queue(request: HtmxHttpRequest) -> HttpResponse:
    clinic = current_clinic(request)
    rows = selectors.queue_rows(clinic, today=clinic.today())
    record_list_view(request, "revenue.encounter", f"Coding queue ({len(rows)} visits)", clinic)
    return render(request, QUEUE, {"clinic": clinic, "rows": rows, "tab": "queue"})


@never_cache
@require_POST
@permission_required("revenue.code_encounter", raise_exception=True)
def start(request: HtmxHttpRequest, visit_id: int) -> HttpResponse:
    try:
        visit = Visit.objects.for_user(request.user).get(pk=id_or_404(visit_id))
        encounter = charges.start_encounter(actor=request.user, visit=visit)
    except ObjectDoesNotExist:
        raise Http404 from None
    except RevenueError as error:
        messages.error(request, error.message)
        return redirect("revenue:queue")
    return redirect("revenue:charge_entry", pk=encounter.pk)


def _encounter(request: HtmxHttpRequest, pk: int) -> Encounter:
    try:
        return selectors.encounter_for(request.user, id_or_404(pk))  # type: ignore[arg-type]
    except Encounter.DoesNotExist:
        raise Http404 from None


def _context(
    encounter: Encounter,
    *,
    dx_form: DiagnosesForm | None = None,
    line_form: LineForm | None = None,
    error: str = "",
    flash: str = "",
) -> dict[str, Any]:
    coverage = charges.billing_coverage(encounter.visit, encounter.service_date)
    schedule = schedule_in_force(
        encounter.clinic_id, coverage.payer_id if coverage else None, encounter.service_date
    )
    lines = list(encounter.lines.all())
    return {
        "encounter": encounter,
        "coverage": coverage,
        "schedule": schedule,
        "diagnoses": [
            (n, code, codes.icd_description(code)) for n, code in enumerate(encounter.diagnoses, 1)
        ],
        "lines": lines,
        "total": sum((line.charge for line in lines), start=0),
        "dx_form": dx_form
        or DiagnosesForm(
            initial={
                "diagnoses": " ".join(encounter.diagnoses),
                "prior_auth_number": encounter.prior_auth_number,
            }
        ),
        "line_form": line_form or LineForm(initial={"units": 1, "pointers": "1"}),
        "reason_form": ReasonForm(),
        "claims": list(encounter.claims.order_by("-pk")),
        "error": error,
        "flash": flash,
        "is_draft": encounter.status == Encounter.Status.DRAFT,
    }


def _render(request: HtmxHttpRequest, encounter: Encounter, **kwargs: Any) -> HttpResponse:
    return render_page(request, ENTRY, "coding", _context(encounter, **kwargs))


@never_cache
@require_GET
@permission_required("revenue.view_encounter", raise_exception=True)
def charge_entry(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    encounter = _encounter(request, pk)
    audit.record_view(request, encounter, summary="Viewed the visit's coding")
    return _render(request, encounter)


def _done(request: HtmxHttpRequest, encounter: Encounter, flash: str) -> HttpResponse:
    if is_fragment(request):
        return _render(request, _encounter(request, encounter.pk), flash=flash)
    messages.success(request, flash)
    return redirect("revenue:charge_entry", pk=encounter.pk)


@never_cache
@require_POST
@permission_required("revenue.code_encounter", raise_exception=True)
def set_diagnoses(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    encounter = _encounter(request, pk)
    form = DiagnosesForm(request.POST)
    if not form.is_valid():
        return _render(request, encounter, dx_form=form, error="Check the diagnoses.")
    try:
        charges.set_diagnoses(
            actor=request.user, encounter=encounter, diagnoses=form.cleaned_data["diagnoses"]
        )
        if form.cleaned_data["prior_auth_number"] != encounter.prior_auth_number:
            charges.set_prior_auth(
                actor=request.user,
                encounter=encounter,
                number=form.cleaned_data["prior_auth_number"],
            )
    except RevenueError as error:
        add_service_error(form, error)
        return _render(request, encounter, dx_form=form, error=error.message)
    stored = _encounter(request, encounter.pk)
    return _done(
        request,
        stored,
        f"Saved {len(stored.diagnoses)} diagnoses: {' '.join(stored.diagnoses) or 'none'}.",
    )


@never_cache
@require_POST
@permission_required("revenue.code_encounter", raise_exception=True)
def add_line(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    encounter = _encounter(request, pk)
    form = LineForm(request.POST)
    if not form.is_valid():
        return _render(request, encounter, line_form=form, error="Check the service line.")
    data = form.cleaned_data
    try:
        line = charges.add_line(
            actor=request.user,
            encounter=encounter,
            code=data["procedure_code"],
            modifiers=data["modifiers"],
            units=data["units"],
            pointers=data["pointers"],
        )
    except RevenueError as error:
        add_service_error(form, error)
        return _render(request, encounter, line_form=form, error=error.message)
    return _done(
        request,
        encounter,
        f"Added line {line.position}: {line.procedure_code} x{line.units}, {line.charge}.",
    )


@never_cache
@require_POST
@permission_required("revenue.code_encounter", raise_exception=True)
def remove_line(request: HtmxHttpRequest, pk: int, position: int) -> HttpResponse:
    encounter = _encounter(request, pk)
    try:
        charges.remove_line(actor=request.user, encounter=encounter, position=id_or_404(position))
    except RevenueError as error:
        return _render(request, encounter, error=error.message)
    return _done(request, encounter, f"Removed line {position}.")


@never_cache
@require_POST
@permission_required("revenue.code_encounter", raise_exception=True)
def mark_ready(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    encounter = _encounter(request, pk)
    try:
        claim = charges.mark_ready(actor=request.user, encounter=encounter)
    except RevenueError as error:
        return _render(request, encounter, error=error.message)
    verdict = (
        "passed every edit"
        if claim.status == "scrubbed"
        else (
            f"is held: {len(claim.edit_failures)} edit(s) failed"
            if claim.status == "held"
            else "is self-pay (billed to the patient)"
        )
    )
    messages.success(request, f"Ready to bill: claim {claim.control_number} {verdict}.")
    target = (
        reverse("revenue:claim", args=[claim.pk])
        if request.user.has_perm("revenue.view_claim")
        else reverse("revenue:queue")
    )
    if is_fragment(request):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = target
        return response
    return redirect(target)


@never_cache
@require_POST
@permission_required("revenue.code_encounter", raise_exception=True)
def reopen(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    encounter = _encounter(request, pk)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        return _render(request, encounter, error="Say why the coding changes.")
    try:
        charges.reopen(actor=request.user, encounter=encounter, reason=form.cleaned_data["reason"])
    except RevenueError as error:
        return _render(request, encounter, error=error.message)
    return _done(request, encounter, "Reopened the coding; its unsent claim was closed.")


@never_cache
@require_GET
@permission_required("revenue.view_encounter", raise_exception=True)
def code_search(request: HtmxHttpRequest) -> HttpResponse:
    """Code search as you type: ICD-10-CM (kind=icd) or the imported procedure codes."""
    kind = request.GET.get("kind", "icd")
    raw = request.GET.get("q") or request.GET.get("procedure_code") or ""
    if not raw:
        # The diagnoses box holds a list: search for the code being typed (the last one).
        typed = request.GET.get("diagnoses", "").replace(",", " ").split()
        raw = typed[-1] if typed else ""
    query = clean_text(raw)[:60].strip()
    results: list[tuple[str, str]] = []
    if kind == "icd":
        results = codes.search_icd(query)
    elif len(query) >= 1:
        found = ProcedureCode.objects.filter(is_active=True).filter(
            Q(code__istartswith=query) | Q(description__icontains=query)
        )[:15]
        results = [(p.code, p.description) for p in found]
    return render(
        request, "revenue/_code_results.html", {"results": results, "query": query, "kind": kind}
    )
