"""The coverage heat map: required against rostered people per role, day and hour, from the
coverage rules applied to what is booked now; a cell lists who is on and who could be."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from django.contrib.auth.decorators import permission_required
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from clinicops.core.web import HtmxHttpRequest, current_clinic, render_page

from .. import coverage, rules
from ..forms import CellForm
from ..models import RosterRole
from ..services import weeks
from .common import week_start_from

HEATMAP = "workforce/coverage.html"


@never_cache
@require_GET
@permission_required("workforce.view_rosterweek", raise_exception=True)
def heatmap(request: HtmxHttpRequest) -> HttpResponse:
    clinic = current_clinic(request)
    week = weeks.week_for(clinic, week_start_from(request.GET, clinic))
    data = rules.load_week(week)
    bands, need = coverage.load_demand(clinic.pk, data.days, data.tz)
    have = coverage.rostered(data.shifts, bands)
    filled, total = coverage.fill(need, have)
    hours = sorted({b.local_start.hour for (_, b) in [*need.keys(), *have.keys()]}) or list(
        range(8, 18)
    )
    cells: dict[tuple[str, int, int], tuple[int, int]] = {}
    for band in bands:
        day_index = (band.day - week.week_start).days
        for role in RosterRole.values:
            n = need.get((role, band), 0)
            h = have.get((role, band), 0)
            if n or h:
                cells[(role, day_index, band.local_start.hour)] = (n, h)
    tables = []
    for role, label in RosterRole.choices:
        if not any(k[0] == role for k in cells):
            continue
        rows = []
        for hour in hours:
            row = []
            for i, day in enumerate(week.days):
                n, h = cells.get((role, i, hour), (0, 0))
                state = "gap" if h < n else "over" if h > n else "ok" if n else "none"
                row.append({"day": day, "need": n, "have": h, "state": state})
            rows.append({"hour": hour, "cells": row})
        tables.append({"role": role, "label": label, "rows": rows})
    context = {
        "clinic": clinic,
        "week": week,
        "days": week.days,
        "tables": tables,
        "filled": filled,
        "total": total,
        "rate": round(100 * filled / total, 1) if total else None,
        "computed_at": timezone.localtime(timezone.now(), clinic.tz),
        "prev_week": week.week_start - timedelta(days=7),
        "next_week": week.week_start + timedelta(days=7),
    }
    return render_page(request, HEATMAP, "heatmap", context)


@never_cache
@require_GET
@permission_required("workforce.view_rosterweek", raise_exception=True)
def cell(request: HtmxHttpRequest) -> HttpResponse:
    """Who is on, and who could be, for one role in one hour."""
    clinic = current_clinic(request)
    form = CellForm(request.GET)
    if not form.is_valid():
        field, errors = next(iter(form.errors.items()))
        return render(
            request, "workforce/_cell.html", {"error": f"{field.capitalize()}: {errors[0]}"}
        )
    day, hour, role = form.cleaned_data["day"], form.cleaned_data["hour"], form.cleaned_data["role"]
    week = weeks.week_for(clinic, day)
    data = rules.load_week(week)
    tz = clinic.tz
    start = datetime.combine(day, time(hour), tzinfo=tz).astimezone(UTC)
    band = coverage.Band(day, start, start + timedelta(hours=1), time(hour))
    on = [s for s in data.shifts if s.role == role and coverage.covers(s, band)]
    names = {p.staff_id: p for p in data.people}
    busy = {
        s.staff_id
        for s in [*data.shifts, *data.context]
        if rules.overlaps(s.start, s.end, band.start, band.end)
    }
    absent = {
        a.staff_id for a in data.absences if rules.overlaps(a.start, a.end, band.start, band.end)
    }
    could = [
        p
        for p in data.people
        if role in p.roles and p.staff_id not in busy and p.staff_id not in absent
    ]
    context = {
        "day": day,
        "hour": hour,
        "role_label": dict(RosterRole.choices).get(role, role),
        "on": [
            (names[s.staff_id].name if s.staff_id in names else s.staff_id, s.label) for s in on
        ],
        "could": [p.name for p in could],
    }
    return render(request, "workforce/_cell.html", context)
