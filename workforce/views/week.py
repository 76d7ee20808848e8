"""The manager's week grid: people x days, assign and remove shifts, the violations panel,
publish (with an override reason when rules are broken), and a print view."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from clinicops.core.models import Clinic, Staff
from clinicops.core.web import HtmxHttpRequest, current_clinic, is_fragment, render_page

from .. import credentials, selectors, timesheets
from ..forms import AssignForm, PublishForm
from ..models import Assignment, AutofillRun, RosterWeek, ShiftTemplate, weekdays_label
from ..rules import Violation
from ..services import weeks
from ..services.weeks import RosterError
from .common import week_start_from

WEEK = "workforce/week.html"


def _context(
    request: HtmxHttpRequest, clinic: Clinic, week: RosterWeek, *, flash: str = "", kind: str = ""
) -> dict[str, object]:
    found: list[Violation] = weeks.violations(week)
    by_cell: dict[tuple[int, str], list[str]] = {}
    keyed = {f"a{a.pk}": a for a in week.assignments.all()}
    for v in found:
        by_cell.setdefault((v.staff_id, v.day.isoformat()), []).append(v.message)
    rows = selectors.week_grid(week)
    templates = selectors.templates(clinic)
    risks = timesheets.overtime_risk(clinic, {r.contract.staff_id for r in rows}, week.week_start)
    lapsed = credentials.problems_today(
        {r.contract.staff_id: r.contract.roles for r in rows}, max(clinic.today(), week.week_start)
    )
    grid = [
        {
            "row": row,
            "risk": risks.get(row.contract.staff_id),
            "credentials": lapsed.get(row.contract.staff_id, []),
            "cells": [
                {
                    "day": day,
                    "assignments": row.cells[i],
                    "problems": by_cell.get((row.contract.staff_id, day.isoformat()), []),
                    "templates": [t for t in templates if day.weekday() in t.weekdays],
                }
                for i, day in enumerate(week.days)
            ],
        }
        for row in rows
    ]
    run = week.autofill_runs.exclude(
        status__in=[AutofillRun.Status.APPLIED, AutofillRun.Status.DISCARDED]
    ).first()
    return {
        "clinic": clinic,
        "week": week,
        "days": week.days,
        "grid": grid,
        "templates": [(t, weekdays_label(t.weekdays)) for t in templates],
        "templates_by_role": templates,
        "violations": found,
        "risks": [
            (row.contract.staff, risks[row.contract.staff_id])
            for row in rows
            if row.contract.staff_id in risks
        ],
        "violation_keys": [k for v in found for k in v.shift_keys if k in keyed],
        "prev_week": week.week_start - timedelta(days=7),
        "next_week": week.week_start + timedelta(days=7),
        "versions": list(week.versions.all()[:5]),
        "run": run,
        "print": request.GET.get("print") == "1",
        "flash": flash,
        "flash_kind": kind,
        "publish_form": PublishForm(),
    }


@never_cache
@require_GET
@permission_required("workforce.view_rosterweek", raise_exception=True)
def roster(request: HtmxHttpRequest) -> HttpResponse:
    clinic = current_clinic(request)
    week = weeks.week_for(clinic, week_start_from(request.GET, clinic))
    context = _context(request, clinic, week)
    if context["print"]:
        return render_page(request, "workforce/week_print.html", "grid", context)
    return render_page(request, WEEK, "week-body", context)


def _answer(
    request: HtmxHttpRequest, clinic: Clinic, week: RosterWeek, flash: str, ok: bool
) -> HttpResponse:
    if not is_fragment(request):
        messages.add_message(request, messages.SUCCESS if ok else messages.ERROR, flash)
        return redirect(f"{reverse('workforce:roster')}?week={week.week_start.isoformat()}")
    context = _context(request, clinic, week, flash=flash, kind="success" if ok else "error")
    return render_page(request, WEEK, "week-body", context)


def _week_of(clinic: Clinic, request: HtmxHttpRequest) -> RosterWeek:
    return weeks.week_for(clinic, week_start_from(request.POST, clinic))


@never_cache
@require_POST
@permission_required("workforce.change_rosterweek", raise_exception=True)
def assign(request: HtmxHttpRequest) -> HttpResponse:
    clinic = current_clinic(request)
    form = AssignForm(request.POST)
    if not form.is_valid():
        week = _week_of(clinic, request)
        field, errors = next(iter(form.errors.items()))
        label = (form.fields[field].label or field.capitalize()) if field in form.fields else ""
        return _answer(request, clinic, week, f"{label}: {errors[0]} Nothing was added.", False)
    day = form.cleaned_data["day"]
    week = weeks.week_for(clinic, day)
    staff = (
        Staff.objects.filter(pk=form.cleaned_data["staff"], clinics=clinic)
        .select_related("user")
        .first()
    )
    template = ShiftTemplate.objects.filter(pk=form.cleaned_data["template"], clinic=clinic).first()
    if staff is None or template is None:
        what = "person" if staff is None else "shift"
        return _answer(
            request, clinic, week, f"That {what} is not at {clinic}. Nothing was added.", False
        )
    try:
        a = weeks.add_assignment(
            actor=request.user, week=week, staff=staff, template=template, day=day
        )
    except RosterError as exc:
        return _answer(request, clinic, week, str(exc), False)
    return _answer(
        request, clinic, week, f"Added {staff} on {template.name}, {a.day:%a %d %b}.", True
    )


@never_cache
@require_POST
@permission_required("workforce.change_rosterweek", raise_exception=True)
def unassign(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    clinic = current_clinic(request)
    assignment = (
        Assignment.objects.filter(pk=pk, week__clinic=clinic)
        .select_related("week__clinic", "staff__user", "template")
        .first()
    )
    if assignment is None:
        raise Http404("No such shift at this clinic.")
    week = assignment.week
    try:
        text = weeks.remove_assignment(actor=request.user, assignment=assignment)
    except RosterError as exc:
        return _answer(request, clinic, week, str(exc), False)
    return _answer(request, clinic, week, f"Removed {text}.", True)


@never_cache
@require_POST
@permission_required("workforce.publish_rosterweek", raise_exception=True)
def publish(request: HtmxHttpRequest) -> HttpResponse:
    clinic = current_clinic(request)
    week = _week_of(clinic, request)
    form = PublishForm(request.POST)
    if not form.is_valid():
        return _answer(
            request,
            clinic,
            week,
            f"Reason: {form.errors['override_reason'][0]} Nothing was published.",
            False,
        )
    reason = form.cleaned_data["override_reason"]
    if reason and not request.user.has_perm("workforce.override_rosterweek"):
        return _answer(request, clinic, week, "You may not override rule violations.", False)
    try:
        version = weeks.publish(actor=request.user, week=week, override_reason=reason)
    except RosterError as exc:
        return _answer(request, clinic, week, str(exc), False)
    note = " over the rule violations (override recorded)" if version.override_reason else ""
    return _answer(
        request,
        clinic,
        week,
        f"Published the week of {week.week_start:%d %b} as version {version.number}: "
        f"{len(version.assignments)} shifts{note}.",
        True,
    )
