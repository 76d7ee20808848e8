"""Workforce's metric for the weekly dashboard: shift fill rate, as parts per clinic and day.

A required shift-slot is one person of a role in one hour band that the coverage rules require
(applied to what is booked); it is filled when a qualified person (the role is one they cover)
is rostered through the band in a published week. See shared/KPIS.md.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from clinicops.core.models import Clinic
from clinicops.kpis.registry import Drilldown, Metric, Source, Unit, register

from . import coverage, rules
from .models import RosterRole, RosterWeek
from .services.weeks import monday_of


def _day(
    clinic: Clinic, day: date
) -> tuple[dict[tuple[str, coverage.Band], int], dict[tuple[str, coverage.Band], int]]:
    """(required, rostered by a qualified person) per role and hour band of a local day."""
    bands, need = coverage.load_demand(clinic.pk, [day], clinic.tz)
    if not need:
        return {}, {}
    week = RosterWeek.objects.filter(
        clinic=clinic, week_start=monday_of(day), version__gt=0
    ).first()
    if week is None:
        return need, {}
    data = rules.load_week(week)
    qualified = {p.staff_id: p.roles for p in data.people}
    shifts = [
        s for s in data.shifts if s.day == day and s.role in qualified.get(s.staff_id, frozenset())
    ]
    return need, coverage.rostered(shifts, bands)


def shift_fill_rate_parts(clinic: Clinic, day: date) -> tuple[int, int]:
    """(required slots filled by a qualified person, required slots) of a local day."""
    need, have = _day(clinic, day)
    return coverage.fill(need, have)


def shift_fill_rate_drilldown(clinic: Clinic, first: date, last: date) -> Drilldown:
    """Each required role-hour of the period: required, filled and short."""
    rows = []
    day = first
    while day <= last:
        need, have = _day(clinic, day)
        for (role, band), n in sorted(need.items(), key=lambda kv: (kv[0][1].start, kv[0][0])):
            got = min(n, have.get((role, band), 0))
            rows.append(
                (day, band.label, dict(RosterRole.choices).get(role, role), n, got, n - got)
            )
        day += timedelta(days=1)
    return Drilldown(
        columns=("Day", "Hour", "Role", "Required", "Filled", "Short"),
        rows=tuple(rows),
        patient_ids=tuple(None for _ in rows),
        caption="Required people per role and hour, and how many a qualified person filled.",
    )


register(
    Metric(
        key="shift_fill_rate",
        label="Shift fill rate",
        unit=Unit.PERCENT,
        compute=shift_fill_rate_parts,
        drilldown=shift_fill_rate_drilldown,
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
