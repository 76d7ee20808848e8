"""Flag a problem (every signed-in user), follow it (the reporter), and the clinic's inbox."""

from __future__ import annotations

from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent
from clinicops.core.fields import clean_text, parse_id
from clinicops.core.models import User
from clinicops.core.web import HtmxHttpRequest, current_clinic

from . import flags
from .forms import FlagForm, FlagUpdateForm
from .incident_forms import LinkFlagForm
from .models import Flag


def _user(request: HtmxHttpRequest) -> User:
    """The signed-in user (every view here requires one)."""
    return cast(User, request.user)


@require_http_methods(["GET", "POST"])
@permission_required("compliance.add_flag", raise_exception=True)
def flag_create(request: HtmxHttpRequest) -> HttpResponse:
    """The form every page carries (base template) posts here; GET shows it on a page of its own."""
    clinic = current_clinic(request)
    if request.method == "GET":
        form = FlagForm(
            initial={"page": clean_text(request.GET.get("from", ""))[:300]},
            user=_user(request),
            clinic=clinic,
        )
        return render(request, "compliance/flag_form.html", {"form": form, "clinic": clinic})
    form = FlagForm(request.POST, user=_user(request), clinic=clinic)
    if not form.is_valid():
        return render(request, "compliance/flag_form.html", {"form": form, "clinic": clinic})
    data = form.cleaned_data
    flag = flags.flag_problem(
        reporter=_user(request),
        clinic=clinic,
        description=data["description"],
        urgency=data["urgency"],
        patient=form.patient,
        page=data["page"],
        anonymous=data["anonymous"],
    )
    if flag.anonymous:
        # Shown on this response only: a message or a redirect would keep the receipt in the
        # session, which is stored with the user's id.
        return render(request, "compliance/flag_sent.html", {"flag": flag})
    messages.success(
        request,
        f"Flag {flag.pk} sent to {clinic.name}'s compliance inbox "
        f"({flag.get_urgency_display().split(':')[0].lower()} urgency). "
        "Follow it under My flags.",
    )
    back = data["page"]
    if back and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        return redirect(back)
    return redirect("compliance:my_flags")


@require_GET
@login_required
def my_flags(request: HtmxHttpRequest) -> HttpResponse:
    code = clean_text(request.GET.get("receipt", "")).strip()[:16]
    found = flags.by_receipt(code) if code else None
    context: dict[str, Any] = {
        "flags": list(flags.my_flags(_user(request)).select_related("clinic")[:100]),
        "receipt": code,
        "found": found,
    }
    return render(request, "compliance/my_flags.html", context)


@require_GET
@permission_required("compliance.view_flag", raise_exception=True)
def flag_inbox(request: HtmxHttpRequest) -> HttpResponse:
    clinic = current_clinic(request)
    status = request.GET.get("status", "open")
    if status not in ("open", "all", *Flag.Status.values):
        status = "open"
    rows = list(flags.inbox(clinic, status=status)[:200])
    statuses = [("open", "Open"), ("all", "All"), *Flag.Status.choices]
    return render(
        request,
        "compliance/flag_inbox.html",
        {"clinic": clinic, "flags": rows, "status": status, "statuses": statuses},
    )


@require_http_methods(["GET", "POST"])
@permission_required("compliance.view_flag", raise_exception=True)
def flag_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    flag_id = parse_id(str(pk))
    flag = flags.visible_flag(_user(request), flag_id).first() if flag_id else None
    if flag is None:
        raise Http404("No such flag.")
    if request.method == "POST":
        if not request.user.has_perm("compliance.change_flag"):
            raise Http404("No such flag.")
        form = FlagUpdateForm(request.POST)
        if form.is_valid():
            flag = flags.update_flag(
                actor=_user(request),
                flag=flag,
                status=form.cleaned_data["status"],
                response=form.cleaned_data["response"],
            )
            messages.success(request, f"Flag {flag.pk} is now {flag.get_status_display()}.")
            return redirect("compliance:flag_detail", pk=flag.pk)
    else:
        form = FlagUpdateForm(initial={"status": flag.status, "response": flag.response})
        if flag.patient_id:
            audit.record(
                actor=request.user,
                action=AuditEvent.Action.VIEW,
                obj=flag,
                patient=flag.patient_id,
                clinic=flag.clinic_id,
                summary=f"Flag {flag.pk} naming a patient",
            )
    context: dict[str, Any] = {"flag": flag, "form": form, "incidents": list(flag.incidents.all())}
    if request.user.has_perm("compliance.change_incident"):
        context["link_form"] = LinkFlagForm(clinic=flag.clinic)
    return render(request, "compliance/flag_detail.html", context)
