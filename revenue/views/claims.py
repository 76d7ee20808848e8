"""Claims: the list with filters and the held claims, the claim page and its actions."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from clinicops.audit import audit
from clinicops.core.models import Clinic, Payer
from clinicops.core.web import HtmxHttpRequest, current_clinic, render_page

from .. import claim_status, selectors
from ..forms import ClaimFilterForm, ClaimUpdateForm, ReplaceForm, StatusForm
from ..models import Claim, ClaimStatus
from ..services import RevenueError, claims, scrubber
from ..x12.segments import claim_segments
from .common import add_service_error, id_or_404, record_list_view

LIST = "revenue/claims.html"
DETAIL = "revenue/claim.html"
PAGE_SIZE = 100


@never_cache
@require_GET
@permission_required("revenue.view_claim", raise_exception=True)
def claim_list(request: HtmxHttpRequest) -> HttpResponse:
    clinic = current_clinic(request)
    clinics = list(Clinic.objects.for_user(request.user))
    form = ClaimFilterForm(request.GET)
    data: dict[str, Any] = form.cleaned_data if form.is_valid() else {}
    clinic_ids = [c.pk for c in clinics]
    chosen = data.get("clinic")
    if chosen is not None:
        clinic_ids = [pk for pk in clinic_ids if pk == chosen]
    payer = data.get("payer")
    qs = selectors.claims_for(
        request.user,  # type: ignore[arg-type]
        clinic_ids=clinic_ids,
        status=data.get("status") or "",
        payer_id=payer.pk if payer else None,
        min_age=data.get("min_age"),
        today=clinic.today(),
    )
    total = qs.count()
    rows = list(qs[:PAGE_SIZE])
    for row in rows:
        row.age_days = (clinic.today() - row.service_date).days  # type: ignore[attr-defined]
    held = list(selectors.held_claims(request.user, clinic_ids)[:50])  # type: ignore[arg-type]
    record_list_view(request, "revenue.claim", f"Claim list ({total} claims)", clinic)
    context = {
        "clinic": clinic,
        "clinics": clinics,
        "form": form,
        "rows": rows,
        "total": total,
        "shown": len(rows),
        "held": held,
        "payers": Payer.objects.filter(claims__clinic_id__in=clinic_ids).distinct(),
        "today": clinic.today(),
        "tab": "claims",
    }
    return render_page(request, LIST, "claim-results", context)


def _claim(request: HtmxHttpRequest, pk: int) -> Claim:
    try:
        return selectors.claim_for(request.user, id_or_404(pk))  # type: ignore[arg-type]
    except Claim.DoesNotExist:
        raise Http404 from None


def _edit_rows(claim: Claim) -> list[dict[str, Any]]:
    failures: dict[str, list[dict[str, str]]] = {}
    for failure in claim.edit_failures:
        failures.setdefault(failure["code"], []).append(failure)
    return [
        {"code": code, "label": label, "failures": failures.get(code, [])}
        for code, label, _edit in scrubber.EDITS
    ]


def _segments(claim: Claim) -> tuple[list[tuple[str, str]], str]:
    """The claim's 837P segments: from its batch when sent, else a preview."""
    if claim.batch_id is not None and claim.batch is not None:
        return claim_segments(
            bytes(claim.batch.content).decode("ascii"), claim.control_number
        ), "sent"
    if claim.status == ClaimStatus.SCRUBBED:
        from ..services.export import preview

        try:
            return claim_segments(preview(claim), claim.control_number), "preview"
        except (RevenueError, ValueError) as error:
            return [("", f"Cannot be written yet: {error}")], "error"
    return [], ""


def _render(request: HtmxHttpRequest, claim: Claim, **forms: Any) -> HttpResponse:
    segments, segment_kind = _segments(claim)
    context = {
        "claim": claim,
        "lines": list(claim.lines.all()),
        "events": list(claim.events.select_related("actor").all()),
        "edit_rows": _edit_rows(claim),
        "segments": segments,
        "segment_kind": segment_kind,
        "next_statuses": claim_status.next_statuses(claim.status),
        "can_scrub": claim.status in claim_status.SCRUBBABLE and not claim.is_self_pay,
        "can_replace": claim.status in claim_status.REPLACEABLE,
        "status_form": forms.get("status_form") or StatusForm(),
        "update_form": forms.get("update_form")
        or ClaimUpdateForm(initial={"prior_auth_number": claim.prior_auth_number}),
        "replace_form": forms.get("replace_form")
        or ReplaceForm(initial={"payer_claim_number": claim.payer_claim_number}),
        "error": forms.get("error", ""),
    }
    return render(request, DETAIL, context)


@never_cache
@require_GET
@permission_required("revenue.view_claim", raise_exception=True)
def claim_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    claim = _claim(request, pk)
    audit.record_view(request, claim, summary=f"Viewed claim {claim.control_number}")
    return _render(request, claim)


def _after(request: HtmxHttpRequest, claim: Claim, message: str) -> HttpResponse:
    messages.success(request, message)
    return redirect("revenue:claim", pk=claim.pk)


@never_cache
@require_POST
@permission_required("revenue.scrub_claim", raise_exception=True)
def scrub(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    claim = _claim(request, pk)
    try:
        stored = claims.scrub(actor=request.user, claim=claim)
    except RevenueError as error:
        return _render(request, claim, error=error.message)
    verdict = (
        "passed every edit"
        if stored.status == ClaimStatus.SCRUBBED
        else (f"is held: {len(stored.edit_failures)} edit(s) failed")
    )
    return _after(request, claim, f"Scrubbed: claim {stored.control_number} {verdict}.")


@never_cache
@require_POST
@permission_required("revenue.scrub_claim", raise_exception=True)
def update(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    claim = _claim(request, pk)
    form = ClaimUpdateForm(request.POST)
    if not form.is_valid():
        return _render(request, claim, update_form=form, error="Check the claim's fields.")
    try:
        stored = claims.update_claim(
            actor=request.user,
            claim=claim,
            prior_auth_number=form.cleaned_data["prior_auth_number"],
        )
    except RevenueError as error:
        add_service_error(form, error)
        return _render(request, claim, update_form=form, error=error.message)
    return _after(
        request,
        claim,
        f"Saved prior authorization {stored.prior_auth_number or '(none)'}; the claim is now "
        f"{stored.get_status_display().lower()}.",
    )


@never_cache
@require_POST
@permission_required("revenue.change_claim_status", raise_exception=True)
def change_status(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    claim = _claim(request, pk)
    form = StatusForm(request.POST)
    if not form.is_valid():
        return _render(request, claim, status_form=form, error="Choose a status and say why.")
    try:
        stored = claims.transition(
            actor=request.user,
            claim=claim,
            to_status=form.cleaned_data["status"],
            reason=form.cleaned_data["reason"],
        )
    except RevenueError as error:
        add_service_error(form, error)
        return _render(request, claim, status_form=form, error=error.message)
    return _after(
        request,
        claim,
        f"Claim {stored.control_number} is now {stored.get_status_display().lower()}.",
    )


@never_cache
@require_POST
@permission_required("revenue.scrub_claim", raise_exception=True)
def replace(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    claim = _claim(request, pk)
    form = ReplaceForm(request.POST)
    if not form.is_valid():
        return _render(request, claim, replace_form=form, error="Check the corrected/void claim.")
    try:
        new = claims.replace_claim(
            actor=request.user,
            claim=claim,
            frequency=form.cleaned_data["frequency"],
            payer_claim_number=form.cleaned_data["payer_claim_number"],
            reason=form.cleaned_data["reason"],
        )
    except RevenueError as error:
        add_service_error(form, error)
        return _render(request, claim, replace_form=form, error=error.message)
    messages.success(
        request,
        f"Built {new.get_frequency_display().lower()} claim {new.control_number} for "
        f"{claim.control_number}; it is {new.get_status_display().lower()}.",
    )
    return redirect("revenue:claim", pk=new.pk)
