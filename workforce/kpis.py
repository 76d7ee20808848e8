"""Workforce's metric for the weekly dashboard: shift fill rate, as parts per clinic and day.

A required shift-slot is one person of a role in one hour band that the coverage rules require
(applied to what is booked); it is filled when a qualified person (the role is one they cover)
is rostered through the band in a published week. See shared/KPIS.md.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from clinicops.core.models import Clinic, Staff
from clinicops.kpis.registry import Drilldown, Metric, Source, Unit, register

from . import coverage, credentials, overtime, rules
from . import timesheets as timesheets_mod
from .models import Punch, RosterRole, RosterWeek, StaffContract
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


# ---------------------------------------------------------------------------------------------
# Workforce II: overtime and credential currency.


def _overtime_day(clinic: Clinic, day: date) -> dict[int, overtime.Split]:
    """Each person's split of the clinic-local workday `day` at this clinic (overtime over
    their hours at every clinic in the clinic's work week)."""
    first = timesheets_mod.work_week_of_day(clinic, day)
    rule = timesheets_mod.rule_for(clinic, first)
    bounds = overtime.workday_bounds(first, rule, clinic.tz)
    index = (day - first).days
    start, end = bounds[index], bounds[index + 1]
    staff_ids = set(
        Punch.objects.filter(
            clinic=clinic, at__gte=start - timedelta(days=1), at__lt=end + timedelta(days=1)
        ).values_list("staff_id", flat=True)
    )
    if not staff_ids:
        return {}
    results = timesheets_mod.overtime_by_day(staff_ids, clinic, first)
    return {
        sid: split
        for sid, result in results.items()
        if (split := result.by_clinic_day.get((clinic.pk, day))) is not None and split.worked
    }


def overtime_pct_parts(clinic: Clinic, day: date) -> tuple[int, int]:
    """(seconds of overtime and double time, seconds worked) at the clinic on a local day."""
    splits = _overtime_day(clinic, day).values()
    return sum(s.overtime + s.double for s in splits), sum(s.worked for s in splits)


def overtime_pct_drilldown(clinic: Clinic, first: date, last: date) -> Drilldown:
    names: dict[int, str] = {}
    rows = []
    day = first
    while day <= last:
        splits = _overtime_day(clinic, day)
        missing = set(splits) - set(names)
        if missing:
            names.update(
                {s.pk: str(s) for s in Staff.objects.filter(pk__in=missing).select_related("user")}
            )
        for sid, s in sorted(splits.items(), key=lambda kv: names.get(kv[0], "")):
            rows.append(
                (
                    day,
                    names.get(sid, str(sid)),
                    overtime.hours(s.worked),
                    overtime.hours(s.regular),
                    overtime.hours(s.overtime),
                    overtime.hours(s.double),
                )
            )
        day += timedelta(days=1)
    return Drilldown(
        columns=("Day", "Person", "Worked (h)", "Regular (h)", "Overtime (h)", "Double (h)"),
        rows=tuple(rows),
        patient_ids=tuple(None for _ in rows),
        caption="Hours clocked at this clinic per person and workday, and the overtime in them.",
    )


register(
    Metric(
        key="overtime_pct",
        label="Overtime hours",
        unit=Unit.PERCENT,
        compute=overtime_pct_parts,
        drilldown=overtime_pct_drilldown,
        higher_is_better=False,
        default_target=Decimal(5),
        default_alert=Decimal(10),
        sources=(Source("workforce.Punch", clinic="staff__clinics", day="at", onward=True),),
        description="Overtime hours / worked hours, from the time clock.",
        definition=(
            "Worked time is clock-in to clock-out less breaks, from the time clock's punches "
            "(a manager's corrections replace the punches they correct). Overtime follows the "
            "clinic's rule in force: time past the weekly threshold (40 h by default) in the "
            "clinic's work week, which starts on a configured day and hour, and where the rule "
            "says so time past 8 h in a workday (double time past 12 h counts as overtime here). "
            "Hours at every clinic count together towards the thresholds; each hour is counted "
            "at the clinic and on the workday it was worked. A clock-in with no clock-out counts "
            "nothing until it is corrected."
        ),
    )
)


def _currency_day(clinic: Clinic, day: date) -> list[tuple[int, str, bool, date | None]]:
    """(staff id, credential code, valid on the day, expiry) for every required pair of the
    clinic's active rostered staff."""
    contracts = {
        c.staff_id: c.roles
        for c in StaffContract.objects.filter(staff__clinics=clinic, is_active=True)
    }
    pairs = []
    for sid, statuses in credentials.statuses_for(contracts).items():
        for s in statuses:
            covering = [last for first_, last in s.spans if first_ <= day <= last]
            last = max(covering) if covering else None
            pairs.append((sid, s.code, bool(covering), None if last == date.max else last))
    return pairs


def credential_currency_parts(clinic: Clinic, day: date) -> tuple[int, int]:
    """(required staff-credential pairs valid on the day, required pairs)."""
    pairs = _currency_day(clinic, day)
    return sum(1 for p in pairs if p[2]), len(pairs)


def credential_currency_drilldown(clinic: Clinic, first: date, last: date) -> Drilldown:
    names = {s.pk: str(s) for s in Staff.objects.filter(clinics=clinic).select_related("user")}
    rows = []
    day = first
    while day <= last:
        for sid, code, valid, expires in sorted(
            _currency_day(clinic, day), key=lambda p: (names.get(p[0], ""), p[1])
        ):
            rows.append((day, names.get(sid, str(sid)), code, "yes" if valid else "no", expires))
        day += timedelta(days=1)
    return Drilldown(
        columns=("Day", "Person", "Credential", "Valid", "Expires"),
        rows=tuple(rows),
        patient_ids=tuple(None for _ in rows),
        caption="Each credential a rostered person's roles require, and whether it was valid.",
    )


register(
    Metric(
        key="credential_currency",
        label="Credential currency",
        unit=Unit.PERCENT,
        compute=credential_currency_parts,
        drilldown=credential_currency_drilldown,
        higher_is_better=True,
        default_target=Decimal(100),
        default_alert=Decimal(95),
        sources=(
            Source(
                "workforce.Credential", clinic="staff__clinics", day="issued_on", until="expires_on"
            ),
        ),
        description="Required staff-credential pairs valid on the day / required pairs.",
        definition=(
            "A required pair is a person with an active roster contract at the clinic and a "
            "credential type one of their roles (their contract's role or one they also cover) "
            "requires. It is valid on a day when a credential of that type held by the person "
            "was issued on or before the day and expires on or after it (or does not expire). "
            "The period's figure sums the days: pair-days valid / pair-days required, so a "
            "lapse of three days in a week shows. Contracts and requirements have no history: "
            "today's apply to every day."
        ),
    )
)
