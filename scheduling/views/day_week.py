"""The front desk's day and week views, the printable day sheet, and the appointment types'
colour stylesheet.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django.contrib.auth.decorators import permission_required
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import cache_control, never_cache
from django.views.decorators.http import require_GET

from clinicops.core.web import HtmxHttpRequest, current_clinic, render_page

from .. import refcache, screens, selectors
from ..forms import DayForm, WeekForm
from ..models import AppointmentType
from .common import Status

# Only #rrggbb reaches the colour stylesheet, whatever got into the table.
HEX_COLOR = re.compile(r"#[0-9a-fA-F]{6}")


# --- day and week -----------------------------------------------------------------------


@never_cache
@require_GET
@permission_required("scheduling.view_appointment", raise_exception=True)
def day_view(request: HtmxHttpRequest) -> HttpResponse:
    clinic = current_clinic(request)
    form = DayForm(request.GET or None, clinic=clinic)
    day = form.chosen_day()
    provider = form.chosen_provider()
    now = timezone.now()
    schedule = screens.day_schedule(
        user=request.user,
        clinic=clinic,
        day=day,
        provider=provider,
        now=now,
        count_offers=request.user.has_perm("scheduling.view_waitlistoffer"),
    )
    can_book = request.user.has_perm("scheduling.add_appointment")
    screens.link_grid(schedule.grid, clinic=clinic, can_book=can_book)
    screens.mark_now(schedule.grid, clinic=clinic, day=day, now=now)
    screens.record_list_view(
        actor=request.user,
        clinic=clinic,
        appointments=schedule.appointments,
        summary=f"Day view {day:%Y-%m-%d}",
    )
    reference = schedule.reference
    types = reference.types if reference is not None else None
    if types is None:
        types = refcache.cached(
            f"active-types:{clinic.pk}",
            lambda: list(AppointmentType.objects.filter(clinic=clinic, is_active=True)),
        )
    if reference is not None and reference.clinic_providers is not None:
        form.fields["provider"].preloaded = reference.clinic_providers  # type: ignore[attr-defined]
    context = {
        "form": form,
        "day": day,
        "provider": provider,
        "schedule": schedule,
        "grid": schedule.grid,
        "today": clinic.today(),
        "previous_day": day - timedelta(days=1),
        "next_day": day + timedelta(days=1),
        "open_offers": schedule.open_offers,
        "types": types,
    }
    return render_page(request, "scheduling/day.html", "day-view", context)


@never_cache
@require_GET
@permission_required("scheduling.view_appointment", raise_exception=True)
def week_view(request: HtmxHttpRequest) -> HttpResponse:
    clinic = current_clinic(request)
    form = WeekForm(request.GET or None, clinic=clinic)
    day = form.chosen_day()
    provider = form.chosen_provider()
    week_start = screens.week_start_of(day)
    schedule = None
    if provider is not None:
        schedule = screens.week_schedule(
            user=request.user,
            clinic=clinic,
            provider=provider,
            week_start=week_start,
            now=timezone.now(),
        )
        can_book = request.user.has_perm("scheduling.add_appointment")
        screens.link_grid(schedule.grid, clinic=clinic, can_book=can_book)
        screens.record_list_view(
            actor=request.user,
            clinic=clinic,
            appointments=schedule.appointments,
            summary=f"Week view of {provider} from {week_start:%Y-%m-%d}",
        )
    context = {
        "form": form,
        "day": day,
        "provider": provider,
        "schedule": schedule,
        "grid": schedule.grid if schedule else None,
        "week_start": week_start,
        "week_end": week_start + timedelta(days=6),
        "previous_week": week_start - timedelta(days=7),
        "next_week": week_start + timedelta(days=7),
        "today": clinic.today(),
        "types": AppointmentType.objects.filter(clinic=clinic, is_active=True),
    }
    return render_page(request, "scheduling/week.html", "week-view", context)


@never_cache
@require_GET
@permission_required("scheduling.view_appointment", raise_exception=True)
def day_sheet(request: HtmxHttpRequest) -> HttpResponse:
    """A printable list of each provider's patients for one day."""
    clinic = current_clinic(request)
    form = DayForm(request.GET or None, clinic=clinic)
    day = form.chosen_day()
    provider = form.chosen_provider()
    appointments = [
        a
        for a in selectors.appointments_for_day(
            user=request.user, clinic=clinic, day=day, provider=provider
        )
        if a.status != Status.CANCELLED
    ]
    sheets: dict[int, dict[str, Any]] = {}
    if provider is not None:
        sheets[provider.pk] = {"provider": provider, "appointments": []}
    for appointment in appointments:
        sheet = sheets.setdefault(
            appointment.provider_id, {"provider": appointment.provider, "appointments": []}
        )
        sheet["appointments"].append(appointment)
    screens.record_list_view(
        actor=request.user,
        clinic=clinic,
        appointments=appointments,
        summary=f"Day sheet {day:%Y-%m-%d}",
    )
    ordered = sorted(
        sheets.values(), key=lambda s: (s["provider"].user.last_name, s["provider"].pk)
    )
    context = {
        "form": form,
        "day": day,
        "provider": provider,
        "sheets": ordered,
        "printed_at": timezone.now(),
    }
    return render(request, "scheduling/day_sheet.html", context)


# --- the appointment types' colours ---------------------------------------------------------


@require_GET
@cache_control(private=True, max_age=300)
@permission_required("scheduling.view_appointmenttype", raise_exception=True)
def type_colors(request: HtmxHttpRequest) -> HttpResponse:
    """A stylesheet giving each appointment type its colour (the CSP forbids inline styles)."""
    lines = [
        f".appt-type-{pk} {{ --type-color: {color}; }}"
        for pk, color in AppointmentType.objects.for_user(request.user).values_list("pk", "color")
        if HEX_COLOR.fullmatch(color)
    ]
    return HttpResponse("\n".join(lines) + "\n", content_type="text/css; charset=utf-8")
