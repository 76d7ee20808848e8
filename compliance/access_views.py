"""Break-glass (request, review), the access review, and the anomaly hints' inbox."""

from __future__ import annotations

from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent
from clinicops.core.fields import clean_text, parse_id
from clinicops.core.models import Patient, User
from clinicops.core.web import HtmxHttpRequest, current_clinic

from . import access_review, anomalies, breakglass
from .access_forms import (
    AccessDecisionForm,
    BreakGlassForm,
    BreakGlassReviewForm,
    HintComputeForm,
    HintReviewForm,
)
from .models import AccessReview, AccessReviewLine, AnomalyHint, BreakGlassAccess


def _user(request: HtmxHttpRequest) -> User:
    return cast(User, request.user)


# -- Break-glass ------------------------------------------------------------------------------


def _add_errors(form: BreakGlassForm, exc: ValidationError) -> None:
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for field, errors in exc.error_dict.items():
        form.add_error(field if field in form.fields else None, errors)


@never_cache
@require_http_methods(["GET", "POST"])
@permission_required("core.view_patient", raise_exception=True)
def break_glass(request: HtmxHttpRequest) -> HttpResponse:
    """Open another clinic's patient: exact MRN, a reason from the list and an explanation."""
    user = _user(request)
    if not breakglass.may_break_glass(user):
        raise PermissionDenied(
            "Your role may not use emergency access. Ask a colleague at the patient's clinic."
        )
    if request.method == "GET":
        initial = {"mrn": clean_text(request.GET.get("mrn", ""))[:12]}
        form = BreakGlassForm(initial=initial)
    else:
        form = BreakGlassForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                patient = breakglass.find_patient(user, data["mrn"])
                access = breakglass.break_glass(
                    user=user,
                    patient=patient,
                    reason=data["reason"],
                    explanation=data["explanation"],
                )
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                stored = BreakGlassAccess.objects.select_related("patient").get(pk=access.pk)
                # What was stored, not the banner again (the banner already says whose record
                # and until when, on every page while the access lasts).
                minutes = round((stored.expires_at - stored.started_at).total_seconds() / 60)
                reason = stored.get_reason_display().split(":")[0].split(" (")[0]
                messages.success(
                    request,
                    f"Break-glass use {stored.pk} recorded ({reason.lower()}) for {minutes} "
                    "minutes. The compliance officer reviews it.",
                )
                return redirect("core:patient_detail", pk=stored.patient_id)
    context = {"form": form, "minutes": breakglass.minutes()}
    return render(request, "compliance/break_glass_form.html", context)


@require_GET
@permission_required("compliance.view_breakglassaccess", raise_exception=True)
def break_glass_reviews(request: HtmxHttpRequest) -> HttpResponse:
    clinic = current_clinic(request)
    show = "all" if request.GET.get("show") == "all" else "pending"
    rows = list(breakglass.review_queue(clinic, pending_only=show == "pending")[:200])
    return render(
        request,
        "compliance/break_glass_reviews.html",
        {"clinic": clinic, "rows": rows, "show": show, "now": timezone.now()},
    )


@never_cache
@require_http_methods(["GET", "POST"])
@permission_required("compliance.view_breakglassaccess", raise_exception=True)
def break_glass_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    access_id = parse_id(str(pk))
    access = breakglass.visible_access(_user(request), access_id).first() if access_id else None
    if access is None:
        raise Http404("No such break-glass use.")
    form = BreakGlassReviewForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if not request.user.has_perm("compliance.change_breakglassaccess"):
            raise PermissionDenied("You may not review emergency access.")
        if form.is_valid():
            data = form.cleaned_data
            try:
                if data["outcome"] == BreakGlassAccess.Review.REFERRED:
                    access = breakglass.refer_to_incident(
                        actor=_user(request), access=access, note=data["note"]
                    )
                else:
                    access = breakglass.approve(
                        actor=_user(request), access=access, note=data["note"]
                    )
            except ValidationError as exc:
                form.add_error("note", exc.messages)
            else:
                stored = BreakGlassAccess.objects.get(pk=access.pk)
                opened = f" Incident {stored.incident_id} opened." if stored.incident_id else ""
                messages.success(
                    request, f"Break-glass use {stored.pk}: {stored.get_review_display()}.{opened}"
                )
                return redirect("compliance:break_glass_detail", pk=stored.pk)
    else:
        audit.record(
            actor=request.user,
            action=AuditEvent.Action.VIEW,
            obj=access,
            patient=access.patient,
            clinic=access.clinic_id,
            summary=f"Opened break-glass use {access.pk} for review",
        )
    events = list(breakglass.flagged_events(access)[:500])
    context = {"access": access, "form": form, "events": events, "now": timezone.now()}
    return render(request, "compliance/break_glass_detail.html", context)


# -- Access review ----------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@permission_required("compliance.view_accessreview", raise_exception=True)
def access_reviews(request: HtmxHttpRequest) -> HttpResponse:
    clinic = current_clinic(request)
    if request.method == "POST":
        if not request.user.has_perm("compliance.add_accessreview"):
            raise PermissionDenied("You may not start an access review.")
        asked_at = timezone.now()
        review = access_review.start_review(clinic=clinic, actor=_user(request), now=asked_at)
        stored = AccessReview.objects.get(pk=review.pk)
        if stored.created_at < asked_at:
            messages.info(
                request, f"Access review {stored.pk} is still in progress: finish it first."
            )
        else:
            messages.success(
                request, f"Access review {stored.pk} started: {stored.lines.count()} active users."
            )
        return redirect("compliance:access_review_detail", pk=stored.pk)
    reviews = list(access_review.reviews_for(clinic)[:50])
    return render(request, "compliance/access_reviews.html", {"clinic": clinic, "reviews": reviews})


@never_cache
@require_http_methods(["GET", "POST"])
@permission_required("compliance.view_accessreview", raise_exception=True)
def access_review_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    review_id = parse_id(str(pk))
    review = access_review.visible_review(_user(request), review_id).first() if review_id else None
    if review is None:
        raise Http404("No such access review.")
    error = ""
    if request.method == "POST":
        if not request.user.has_perm("compliance.change_accessreview"):
            raise PermissionDenied("You may not decide access.")
        form = AccessDecisionForm(request.POST)
        line = None
        if form.is_valid():
            line = review.lines.filter(pk=form.cleaned_data["line"]).first()
        if line is None:
            error = "That line is not part of this review, or the decision was not one offered."
        else:
            try:
                done = access_review.decide(
                    actor=_user(request),
                    line=line,
                    decision=form.cleaned_data["decision"],
                    note=form.cleaned_data["note"],
                )
            except PermissionDenied as exc:
                error = str(exc)
            else:
                stored = AccessReviewLine.objects.select_related("user").get(pk=done.line.pk)
                text = f"{stored.user.get_username()}: {stored.get_decision_display().lower()}"
                if stored.decision == AccessReviewLine.Decision.REVOKED and done.changed:
                    text += f"; {done.sessions_ended} session(s) ended"
                messages.success(request, text + ".")
                return redirect("compliance:access_review_detail", pk=review.pk)
    lines = list(review.lines.select_related("user", "decided_by"))
    context: dict[str, Any] = {
        "review": review,
        "lines": lines,
        "error": error,
        "pending": sum(1 for line in lines if line.decision == AccessReviewLine.Decision.PENDING),
    }
    return render(
        request,
        "compliance/access_review_detail.html",
        context,
        status=400 if error else 200,
    )


# -- Anomaly hints ----------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@permission_required("compliance.view_anomalyhint", raise_exception=True)
def hints(request: HtmxHttpRequest) -> HttpResponse:
    clinic = current_clinic(request)
    today = clinic.today()
    form = HintComputeForm(
        request.POST if request.method == "POST" else None,
        today=today,
        initial={"day": today},
    )
    if request.method == "POST":
        if not request.user.has_perm("compliance.change_anomalyhint"):
            raise PermissionDenied("You may not compute hints.")
        if form.is_valid():
            day = form.cleaned_data["day"]
            made = anomalies.compute_hints(clinic, day)
            total = AnomalyHint.objects.filter(clinic=clinic, day=day).count()
            messages.success(
                request, f"{len(made)} new hint(s) for {day:%Y-%m-%d}; {total} in all that day."
            )
            return redirect("compliance:hints")
    status = request.GET.get("status", "open")
    if status not in ("all", *AnomalyHint.Status.values):
        status = "open"
    rows = list(anomalies.inbox(clinic, status=status)[:200])
    statuses = [*AnomalyHint.Status.choices, ("all", "All")]
    context = {"clinic": clinic, "rows": rows, "status": status, "statuses": statuses}
    context["form"] = form
    return render(request, "compliance/hints.html", context, status=400 if form.errors else 200)


@never_cache
@require_http_methods(["GET", "POST"])
@permission_required("compliance.view_anomalyhint", raise_exception=True)
def hint_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    hint_id = parse_id(str(pk))
    hint = anomalies.visible_hint(_user(request), hint_id).first() if hint_id else None
    if hint is None:
        raise Http404("No such hint.")
    form = HintReviewForm(
        request.POST if request.method == "POST" else None,
        initial={"status": hint.status, "note": hint.review_note},
    )
    if request.method == "POST":
        if not request.user.has_perm("compliance.change_anomalyhint"):
            raise PermissionDenied("You may not review hints.")
        if form.is_valid():
            hint = anomalies.review_hint(
                actor=_user(request),
                hint=hint,
                status=form.cleaned_data["status"],
                note=form.cleaned_data["note"],
            )
            stored = AnomalyHint.objects.get(pk=hint.pk)
            messages.success(request, f"Hint {stored.pk}: {stored.get_status_display()}.")
            return redirect("compliance:hint_detail", pk=stored.pk)
    events = list(anomalies.hint_events(hint))
    patients = Patient.objects.in_bulk({e.patient_id for e in events if e.patient_id})
    rows = [{"event": e, "patient": patients.get(e.patient_id or 0)} for e in events]
    if request.method == "GET":
        audit.record(
            actor=request.user,
            action=AuditEvent.Action.VIEW,
            obj=hint,
            clinic=hint.clinic_id,
            summary=f"Opened anomaly hint {hint.pk} ({len(rows)} events)",
            changes={"patients": sorted(patients)},
        )
    return render(
        request, "compliance/hint_detail.html", {"hint": hint, "rows": rows, "form": form}
    )
