"""Auto-fill from the screen: start a run (a Celery task), watch its progress, then accept the
proposal whole or a day at a time, or discard it."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from clinicops.core.web import HtmxHttpRequest, current_clinic, render_page

from ..forms import ApplyForm, AutofillForm
from ..models import AutofillRun
from ..services import autofill_runs, weeks
from ..services.weeks import RosterError

log = logging.getLogger(__name__)
RUN = "workforce/autofill.html"


def _enqueue(run_id: int) -> None:
    from ..tasks import autofill_week

    try:
        autofill_week.apply_async((run_id,), retry=False)
    except Exception:  # the broker is down: solve here instead (within the time limit)
        log.warning("autofill: broker unavailable, solving run %s in the request", run_id)
        autofill_runs.execute(run_id)


@never_cache
@require_POST
@permission_required("workforce.change_rosterweek", raise_exception=True)
def start(request: HtmxHttpRequest) -> HttpResponse:
    clinic = current_clinic(request)
    form = AutofillForm(request.POST)
    if not form.is_valid():
        field, errors = next(iter(form.errors.items()))
        messages.error(request, f"{form.fields[field].label or field.capitalize()}: {errors[0]}")
        return redirect("workforce:roster")
    week = weeks.week_for(clinic, form.cleaned_data["week"])
    try:
        run = autofill_runs.start(
            actor=request.user, week=week, time_limit=form.cleaned_data["time_limit"] or 10
        )
    except RosterError as exc:
        messages.error(request, str(exc))
        return redirect(f"{reverse('workforce:roster')}?week={week.week_start.isoformat()}")
    transaction.on_commit(lambda: _enqueue(run.pk))
    return redirect("workforce:autofill_run", pk=run.pk)


def _run_for(request: HtmxHttpRequest, pk: int) -> AutofillRun:
    clinic = current_clinic(request)
    run = (
        AutofillRun.objects.filter(pk=pk, week__clinic=clinic)
        .select_related("week__clinic")
        .first()
    )
    if run is None:
        raise Http404("No such auto-fill at this clinic.")
    return run


@never_cache
@require_GET
@permission_required("workforce.view_rosterweek", raise_exception=True)
def run(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    item = _run_for(request, pk)
    result = item.result or {}
    by_day: dict[str, dict[str, Any]] = {}
    for kind in ("add", "remove"):
        for change in result.get(kind, []):
            day = change["day"]
            label = f"{date.fromisoformat(day):%a %d %b}"
            by_day.setdefault(day, {"add": [], "remove": [], "label": label})[kind].append(change)
    context = {
        "run": item,
        "week": item.week,
        "result": result,
        "by_day": sorted(by_day.items()),
        "working": item.status in (AutofillRun.Status.QUEUED, AutofillRun.Status.RUNNING),
    }
    return render_page(request, RUN, "run-body", context)


@never_cache
@require_POST
@permission_required("workforce.change_rosterweek", raise_exception=True)
def apply(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    item = _run_for(request, pk)
    form = ApplyForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Day: {form.errors['day'][0]} Nothing was applied.")
        return redirect("workforce:autofill_run", pk=item.pk)
    day = form.cleaned_data.get("day")
    try:
        added, removed = autofill_runs.apply(
            actor=request.user, run=item, days=[day] if day else None
        )
    except RosterError as exc:
        messages.error(request, f"{exc} Nothing was applied.")
        return redirect("workforce:autofill_run", pk=item.pk)
    scope = f" for {day:%a %d %b}" if day else ""
    messages.success(
        request, f"Applied the proposal{scope}: {added} shifts added, {removed} removed."
    )
    item.refresh_from_db()
    if item.status == AutofillRun.Status.DONE:
        return redirect("workforce:autofill_run", pk=item.pk)
    return redirect(f"{reverse('workforce:roster')}?week={item.week.week_start.isoformat()}")


@never_cache
@require_POST
@permission_required("workforce.change_rosterweek", raise_exception=True)
def discard(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    item = _run_for(request, pk)
    autofill_runs.discard(actor=request.user, run=item)
    messages.info(request, "Discarded the proposal; the roster is unchanged.")
    return redirect(f"{reverse('workforce:roster')}?week={item.week.week_start.isoformat()}")
