"""The manager's weekly dashboard: tiles and trends, the metric choice, drill-downs, exports."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from clinicops.core.models import Clinic
from clinicops.core.web import HtmxHttpRequest, current_clinic, render_page

from . import dashboard, markup, registry, selectors, services
from .forms import MetricChoiceForm, WeekForm
from .registry import Drilldown, Metric

DASHBOARD = "kpis/dashboard.html"
DRILLDOWN = "kpis/drilldown.html"
SYSTEM = "kpis/system.html"
# A drill-down page shows this many records; the CSV holds them all.
DRILLDOWN_PAGE_ROWS = 500


def _clinic(request: HtmxHttpRequest, clinic_id: int | None) -> Clinic:
    """The clinic asked for, among the user's own (another clinic's id is a 404)."""
    if clinic_id is None:
        return current_clinic(request)
    return get_object_or_404(Clinic.objects.for_user(request.user), pk=clinic_id)


def _week_form(request: HttpRequest, clinic: Clinic) -> WeekForm:
    return WeekForm(
        request.GET or None,
        today=clinic.today(),
        default=dashboard.last_complete_week(clinic),
    )


def _metric(key: str) -> Metric:
    try:
        return registry.get(key)
    except KeyError:
        raise Http404("No such metric.") from None


@never_cache
@require_GET
@permission_required("kpis.view_metricday", raise_exception=True)
def clinic_dashboard(request: HtmxHttpRequest, clinic_id: int | None = None) -> HttpResponse:
    clinic = _clinic(request, clinic_id)
    form = _week_form(request, clinic)
    board = dashboard.dashboard(clinic, form.week_or_default())
    context = {
        "clinic": clinic,
        "form": form,
        "board": board,
        "tiles_html": markup.tiles_html(
            board.tiles, clinic_id=clinic.pk, week_start=board.week_start
        ),
        "can_choose": request.user.has_perm("kpis.change_clinicmetricchoice"),
        "several_clinics": len(request.user.clinic_ids) > 1,
        "catalogue_size": len(registry.all_metrics()),
    }
    return render_page(request, DASHBOARD, "week", context)


@never_cache
@require_http_methods(["GET", "POST"])
@permission_required("kpis.change_clinicmetricchoice", raise_exception=True)
def choose_metrics(request: HtmxHttpRequest, clinic_id: int) -> HttpResponse:
    clinic = _clinic(request, clinic_id)
    form = MetricChoiceForm(request.POST or None, clinic=clinic)
    if request.method == "POST" and form.is_valid():
        try:
            chosen = services.choose_metrics(
                actor=request.user, clinic=clinic, choices=form.choices()
            )
        except ValidationError as error:
            for message in error.messages:
                form.add_error(None, message)
        else:
            messages.success(
                request,
                f"{clinic.name}'s dashboard now shows {len(chosen)} metrics.",
            )
            return redirect("kpis:clinic_dashboard", clinic_id=clinic.pk)
    context = {
        "clinic": clinic,
        "form": form,
        "rows": form.rows(),
        "catalogue_size": len(form.metrics),
        "min_chosen": services.MIN_CHOSEN,
        "max_chosen": services.MAX_CHOSEN,
    }
    return render(request, "kpis/choose.html", context)


def _drilldown(
    request: HtmxHttpRequest, clinic_id: int, key: str
) -> tuple[Clinic, Metric, WeekForm, date, date, Drilldown]:
    clinic = _clinic(request, clinic_id)
    metric = _metric(key)
    if not metric.has_drilldown:
        raise Http404("This metric has no drill-down.")
    form = _week_form(request, clinic)
    first = selectors.week_start(form.week_or_default())
    last = first + timedelta(days=6)
    records = metric.drill(clinic, first, last)
    assert records is not None  # noqa: S101 - has_drilldown above
    if records.patients and not request.user.has_perm("core.view_patient"):
        raise PermissionDenied("These records name patients, and your role cannot see patients.")
    return clinic, metric, form, first, last, records


@never_cache
@require_GET
@permission_required("kpis.view_metricday", raise_exception=True)
def drilldown(request: HtmxHttpRequest, clinic_id: int, key: str) -> HttpResponse:
    clinic, metric, form, first, last, records = _drilldown(request, clinic_id, key)
    services.record_drilldown(
        actor=request.user,
        clinic=clinic,
        metric=metric,
        first=first,
        last=last,
        patient_ids=records.patients,
        rows=len(records.rows),
    )
    figure = selectors.figures(clinic=clinic, keys=[metric.key], start=first, end=last)[metric.key]
    shown = records.rows[:DRILLDOWN_PAGE_ROWS]
    context = {
        "clinic": clinic,
        "metric": metric,
        "form": form,
        "first": first,
        "last": last,
        "figure": metric.format(figure.value),
        "basis": dashboard.basis_text(metric, figure),
        "records": records,
        "cells": [[_display(cell, clinic) for cell in row] for row in shown],
        "truncated": len(records.rows) - len(shown),
        "week_query": first.isoformat(),
    }
    return render_page(request, DRILLDOWN, "records", context)


@never_cache
@require_GET
@permission_required("kpis.view_metricday", raise_exception=True)
def drilldown_csv(request: HtmxHttpRequest, clinic_id: int, key: str) -> HttpResponse:
    clinic, metric, _form, first, last, records = _drilldown(request, clinic_id, key)
    services.record_drilldown(
        actor=request.user,
        clinic=clinic,
        metric=metric,
        first=first,
        last=last,
        patient_ids=records.patients,
        rows=len(records.rows),
        export=True,
    )
    lines = _csv_lines(records.columns, ([_csv(c, clinic) for c in row] for row in records.rows))
    return _csv_response(lines, f"{metric.key}-{first:%Y-%m-%d}.csv")


@never_cache
@require_GET
@permission_required("kpis.view_metricday", raise_exception=True)
def weekly_csv(request: HtmxHttpRequest, clinic_id: int) -> HttpResponse:
    clinic = _clinic(request, clinic_id)
    form = _week_form(request, clinic)
    week_of = form.week_or_default()
    choices = selectors.chosen_metrics(clinic)
    table = selectors.weekly_table(clinic=clinic, keys=[c.key for c in choices], week_of=week_of)
    units = {registry.get(c.key).label: _unit_suffix(registry.get(c.key)) for c in choices}
    header = ["Week of", *[f"{label}{units[label]}" for label in table.columns]]
    rows = (
        [week.isoformat(), *(_number_cell(v) for v in values)]
        for week, values in zip(table.index, table.itertuples(index=False), strict=True)
    )
    return _csv_response(
        _csv_lines(header, rows), f"kpis-{clinic.pk}-{selectors.week_start(week_of):%Y-%m-%d}.csv"
    )


@never_cache
@require_GET
@permission_required("kpis.view_metricday", raise_exception=True)
def system(request: HtmxHttpRequest) -> HttpResponse:
    clinics = list(selectors.dashboard_clinics(request.user).order_by("name"))
    reference = clinics[0] if clinics else current_clinic(request)
    form = _week_form(request, reference)
    view = dashboard.system_view(clinics, form.week_or_default())
    context = {"form": form, "view": view, "today": reference.today()}
    return render_page(request, SYSTEM, "grid", context)


# --- cells ------------------------------------------------------------------------------


def _display(value: Any, clinic: Clinic) -> str:
    """A drill-down cell as the page shows it (times in the clinic's zone)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return f"{timezone.localtime(value, clinic.tz):%a %d %b %H:%M}"
    if isinstance(value, date):
        return f"{value:%a %d %b %Y}"
    if isinstance(value, Decimal):
        return f"{value.normalize():,f}" if value == value.to_integral() else f"{value:,}"
    return str(value)


def _csv(value: Any, clinic: Clinic) -> Any:
    if isinstance(value, datetime):
        return timezone.localtime(value, clinic.tz).isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _unit_suffix(metric: Metric) -> str:
    return {
        "percent": " (%)",
        "currency": " ($)",
        "minutes": " (minutes)",
        "days": " (days)",
    }.get(metric.unit, "")


def _number_cell(value: float) -> str:
    """A weekly figure for the CSV: empty for a week without data, never 0."""
    return "" if value is None or math.isnan(value) else f"{value:.2f}"


class _Echo:
    def write(self, value: str) -> str:
        return value


def _cell(value: Any) -> str:
    """A CSV cell a spreadsheet will not run as a formula (item names are typed in)."""
    text = "" if value is None else str(value)
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv_lines(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow([_cell(h) for h in header])
    for row in rows:
        yield writer.writerow([v if isinstance(v, int | Decimal) else _cell(v) for v in row])


def _csv_response(lines: Iterator[str], filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
