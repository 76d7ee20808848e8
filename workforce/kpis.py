"""Workforce's metric for the weekly dashboard: shift fill rate, as parts per clinic and day.

A required shift-slot is one person of a role in one hour band that the coverage rules require
(applied to what is booked); it is filled when a qualified person (the role is one they cover)
is rostered through the band in a published week. See shared/KPIS.md.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from clinicops.core.models import Clinic
from clinicops.kpis.registry import Metric, Source, Unit, register

from . import coverage, rules
from .models import RosterWeek
from .services.weeks import monday_of


def shift_fill_rate_parts(clinic: Clinic, day: date) -> tuple[int, int]:
    """(required slots filled by a qualified person, required slots) of a local day."""
    tz = clinic.tz
    bands, need = coverage.load_demand(clinic.pk, [day], tz)
    if not need:
        return 0, 0
    week = RosterWeek.objects.filter(
        clinic=clinic, week_start=monday_of(day), version__gt=0
    ).first()
    if week is None:
        return 0, sum(need.values())
    data = rules.load_week(week)
    qualified = {p.staff_id: p.roles for p in data.people}
    shifts = [
        s for s in data.shifts if s.day == day and s.role in qualified.get(s.staff_id, frozenset())
    ]
    return coverage.fill(need, coverage.rostered(shifts, bands))


register(
    Metric(
        key="shift_fill_rate",
        label="Shift fill rate",
        unit=Unit.PERCENT,
        compute=shift_fill_rate_parts,
        higher_is_better=True,
        default_target=Decimal(98),
        default_alert=Decimal(90),
        sources=(
            Source("workforce.Assignment", clinic="week__clinic", day="day"),
            Source("scheduling.Appointment", clinic="clinic", day="start"),
        ),
        description=(
            "Required shift-slots that had a qualified person assigned / required shift-slots."
        ),
        definition=(
            "A required shift-slot is one person of a roster role in one clinic-local hour "
            "that the clinic's coverage rules require on the day: fixed minimums, and ratios "
            "to providers' template sessions and to appointments booked (not cancelled or "
            "no-show) in that hour; required is the larger of the fixed minimum and the sum of "
            "the ratios. It is filled when a person qualified for the role (their contract's "
            "role or a role they also cover) is rostered through the whole hour in a week "
            "that has been published. Coverage rules and templates have no history: their "
            "current values apply to every day."
        ),
    )
)
