"""Workforce's metric for the weekly dashboard: shift fill rate, as parts per clinic and day.

A required shift-slot is one person of a role in one hour band that the coverage rules require
(applied to what is booked); it is filled when a qualified person (the role is one they cover)
is rostered through the band in a published week. See shared/KPIS.md.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.db import connection
from django.utils import timezone

from clinicops.core.models import Clinic, Staff
from clinicops.kpis.registry import Drilldown, Metric, Source, Unit, register

from . import coverage, credentials, overtime, rules
from . import timesheets as timesheets_mod
from .models import Assignment, Punch, RosterRole, RosterWeek, StaffContract
from .rules import CredentialStatus, Shift
from .services.weeks import monday_of

Demand = dict[tuple[str, coverage.Band], int]


def _days(clinic: Clinic, first: date, last: date) -> dict[date, tuple[Demand, Demand]]:
    """(required, rostered by a qualified person) per role and hour band, for each local day
    first..last: the coverage rules, templates, time off, bookings, published weeks and
    contracts read once for the run of days, then each day worked out on its own (a band
    only meets the sessions, bookings and shifts of its own day)."""
    tz = clinic.tz
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    found: dict[date, tuple[Demand, Demand]] = {day: ({}, {}) for day in days}
    rules_ = coverage.load_rules(clinic.pk)
    if not rules_:
        return found
    bands: dict[date, list[coverage.Band]] = defaultdict(list)
    for band in coverage.bands_for(days, tz):
        bands[band.day].append(band)
    sessions: dict[date, list[coverage.Session]] = defaultdict(list)
    for session in coverage.load_sessions(clinic.pk, days, tz):
        # a session is a template block of one local day, cut by time off
        sessions[session.start.astimezone(tz).date()].append(session)
    starts: dict[date, list[datetime]] = defaultdict(list)
    for start in coverage.load_appointment_starts(clinic.pk, days, tz):
        starts[start.astimezone(tz).date()].append(start)
    weeks = {
        w.week_start: w.pk
        for w in RosterWeek.objects.filter(
            clinic=clinic,
            week_start__gte=monday_of(first),
            week_start__lte=last,
            version__gt=0,
        )
    }
    qualified = {
        c.staff_id: c.roles
        for c in StaffContract.objects.filter(staff__clinics=clinic, is_active=True).distinct()
    }
    shifts: dict[tuple[int, date], list[Shift]] = defaultdict(list)
    for assignment in Assignment.objects.filter(
        week_id__in=weeks.values(), day__gte=first, day__lte=last
    ).select_related("template", "week"):
        shift = rules.shift_of(assignment)
        if shift.role in qualified.get(shift.staff_id, frozenset()):
            shifts[(assignment.week_id, shift.day)].append(shift)
    for day in days:
        need = coverage.required(
            rules_, bands[day], sessions=sessions[day], appointment_starts=starts[day], tz=tz
        )
        if not need:
            continue
        week_id = weeks.get(monday_of(day))
        if week_id is None:
            found[day] = (need, {})
            continue
        found[day] = (need, coverage.rostered(shifts[(week_id, day)], bands[day]))
    return found


def shift_fill_rate_parts(clinic: Clinic, day: date) -> tuple[int, int]:
    """(required slots filled by a qualified person, required slots) of a local day."""
    return shift_fill_rate_range(clinic, day, day)[day]


def shift_fill_rate_range(clinic: Clinic, first: date, last: date) -> dict[date, tuple[int, int]]:
    """`shift_fill_rate_parts` of every local day first..last, from one read of each table."""
    return {
        day: coverage.fill(need, have) for day, (need, have) in _days(clinic, first, last).items()
    }


def shift_fill_rate_drilldown(clinic: Clinic, first: date, last: date) -> Drilldown:
    """Each required role-hour of the period: required, filled and short."""
    rows = []
    for day, (need, have) in sorted(_days(clinic, first, last).items()):
        for (role, band), n in sorted(need.items(), key=lambda kv: (kv[0][1].start, kv[0][0])):
            got = min(n, have.get((role, band), 0))
            rows.append(
                (day, band.label, dict(RosterRole.choices).get(role, role), n, got, n - got)
            )
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
        compute_range=shift_fill_rate_range,
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


# The range reads the run's punches as plain tuples (no model instances) and replays them over
# integer microseconds: a year is ~26,000 punches, and building Punch objects, converting
# datetimes and going through the Segment/Split dataclasses cost seconds. The day function
# stays the definition (the timesheet's own `worked_from` and `overtime.compute` over Punch
# rows), so the correctness suite's range-vs-day test compares two computations.

# (punch id, clinic id, kind, at in microseconds since the epoch, id of the punch it replaces)
PunchRow = tuple[int, int, str, int, int | None]
WeekPlan = tuple[
    dict[date, tuple[date, datetime, datetime]],  # day: (its work week, workday start, end)
    dict[date, tuple[overtime.Rule, list[datetime]]],  # work week: (its rule, workday bounds)
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)
_SECOND = 1_000_000  # microseconds
_MARGIN = timedelta(days=1)  # punches read either side of a work week, as the timesheet does

_PUNCH_ROWS_SQL = """
    SELECT p.staff_id, p.id, p.clinic_id, p.kind,
           (extract(epoch FROM p.at) * 1000000)::bigint, p.replaces_id
    FROM workforce_punch p
    WHERE p.at >= %(low)s AND p.at < %(high)s
      AND p.staff_id IN (SELECT q.staff_id FROM workforce_punch q
                         WHERE q.clinic_id = %(clinic)s AND q.at >= %(low)s AND q.at < %(high)s)
    ORDER BY p.staff_id, p.at, p.id"""


def _us(moment: datetime) -> int:
    """A UTC moment as whole microseconds since the epoch (exact, unlike `timestamp()`)."""
    return (moment - _EPOCH) // _MICRO


def _work_weeks(clinic: Clinic, first: date, last: date) -> WeekPlan:
    """Each local day's work week and workday bounds under the rule in force, and each work
    week's own rule and bounds (a week's rule is the one in force on its first day)."""
    tz = clinic.tz
    rule_on = timesheets_mod.rule_lookup(clinic)
    plan: dict[date, tuple[date, datetime, datetime]] = {}
    weeks: dict[date, tuple[overtime.Rule, list[datetime]]] = {}
    day = first
    while day <= last:
        rule = rule_on(day)
        week = overtime.week_start_day(
            overtime.local_moment(day, rule.week_start_hour, tz), rule, tz
        )
        if week not in weeks:
            week_rule = rule_on(week)
            weeks[week] = (week_rule, overtime.workday_bounds(week, week_rule, tz))
        bounds = weeks[week][1]
        index = (day - week).days
        plan[day] = (week, bounds[index], bounds[index + 1])
        day += timedelta(days=1)
    return plan, weeks


def _replay(window: list[PunchRow], now: int) -> list[tuple[int, int, int]]:
    """(start, end, clinic id) worked from one person's punches in time order: exactly
    `timesheets.worked_from` (effective punches, the clock's state machine skipping a refused
    punch, an open shift counted up to now while under 16 h), on tuples."""
    replaced = {row[4] for row in window if row[4] is not None}
    worked: list[tuple[int, int, int]] = []
    status, mark, clinic_id, opened = "out", 0, 0, 0
    for pk, cid, kind, at, _ in window:
        if kind == Punch.Kind.VOID or pk in replaced:
            continue
        if status == "out":
            if kind != Punch.Kind.IN:
                continue  # refused: nothing to end
            status, mark, clinic_id, opened = "in", at, cid, at
        elif status == "in":
            if kind == Punch.Kind.OUT or kind == Punch.Kind.BREAK_START:
                worked.append((mark, at, clinic_id))
                status, mark = ("out" if kind == Punch.Kind.OUT else "break"), at
            # a second clock-in or a break end while working is refused
        elif kind == Punch.Kind.OUT or kind == Punch.Kind.BREAK_END:
            status, mark = ("out" if kind == Punch.Kind.OUT else "in"), at
        # (a clock-in or a break start while on a break is refused)
    if status == "in" and now - opened < timesheets_mod.OPEN_TOO_LONG // _MICRO:
        worked.append((mark, now, clinic_id))
    return worked


def _split_at(
    worked: list[tuple[int, int, int]], rule: overtime.Rule, bounds: list[int], clinic_id: int
) -> dict[int, list[int]]:
    """[regular, overtime, double] seconds at the clinic per workday index (0-6) of the work
    week: `overtime.compute` on integers, for time worked in time order (as `_replay` gives
    it), counting every clinic's hours towards the thresholds."""
    infinity = overtime.INFINITY
    daily = rule.daily_minutes * 60 if rule.daily_minutes else infinity
    double = rule.double_minutes * 60 if rule.double_minutes else infinity
    cap = min(daily, double)
    weekly = rule.weekly_minutes * 60
    day_total = [0] * 7
    week_regular = 0
    found: dict[int, list[int]] = {}
    first, last = bounds[0], bounds[7]
    for start, end, cid in worked:
        if start < first:
            start = first
        if end > last:
            end = last
        if start >= end:
            continue
        i = bisect_right(bounds, start) - 1  # the workday the time starts in
        while i < 7 and bounds[i] < end:
            ps = bounds[i] if bounds[i] > start else start
            pe = bounds[i + 1] if bounds[i + 1] < end else end
            length = (pe - ps) // _SECOND
            d0 = day_total[i]
            d1 = d0 + length
            day_total[i] = d1
            under = max(0, min(d1, cap) - d0)
            dbl = max(0, d1 - max(d0, double))
            regular = max(0, min(week_regular + under, weekly) - week_regular)
            week_regular += under
            if cid == clinic_id:
                parts = found.setdefault(i, [0, 0, 0])
                parts[0] += regular
                parts[1] += length - dbl - regular
                parts[2] += dbl
            i += 1
    return found


def _overtime_days(
    clinic: Clinic, first: date, last: date
) -> dict[date, dict[int, overtime.Split]]:
    """Each person's split of each clinic-local workday first..last at this clinic (overtime
    over their hours at every clinic in the clinic's work week).

    A workday's people are those with a punch at the clinic from a day before it to a day
    after it; each person's work week is computed once from their punches at every clinic
    from a day before the week to a day after it, as the timesheet does. The punches of the
    whole run are read in one query, as tuples."""
    plan, weeks = _work_weeks(clinic, first, last)
    low = min(bounds[0] for _, bounds in weeks.values()) - _MARGIN
    high = max(bounds[7] for _, bounds in weeks.values()) + _MARGIN
    rows: dict[int, list[PunchRow]] = defaultdict(list)
    here: list[tuple[int, int]] = []  # (at, staff id) of the clinic's punches
    with connection.cursor() as cursor:
        cursor.execute(_PUNCH_ROWS_SQL, {"low": low, "high": high, "clinic": clinic.pk})
        for sid, pk, cid, kind, at, replaces in cursor.fetchall():
            rows[sid].append((pk, cid, kind, at, replaces))
            if cid == clinic.pk:
                here.append((at, sid))
    if not here:
        return {day: {} for day in plan}
    here.sort()
    here_at = [at for at, _ in here]
    margin = _MARGIN // _MICRO

    def people(start: int, end: int) -> set[int]:
        return {sid for _, sid in here[bisect_left(here_at, start) : bisect_left(here_at, end)]}

    ats = {sid: [row[3] for row in punches] for sid, punches in rows.items()}
    week_us = {week: [_us(b) for b in bounds] for week, (_, bounds) in weeks.items()}
    now = _us(timezone.now())
    results: dict[tuple[date, int], dict[int, list[int]]] = {}
    found: dict[date, dict[int, overtime.Split]] = {}
    for day, (week, start, end) in plan.items():
        rule, bounds = weeks[week][0], week_us[week]
        index = (day - week).days
        splits: dict[int, overtime.Split] = {}
        for sid in people(_us(start) - margin, _us(end) + margin):
            if (week, sid) not in results:
                at = ats[sid]
                window = rows[sid][
                    bisect_left(at, bounds[0] - margin) : bisect_left(at, bounds[7] + margin)
                ]
                results[(week, sid)] = _split_at(_replay(window, now), rule, bounds, clinic.pk)
            parts = results[(week, sid)].get(index)
            if parts is not None and any(parts):  # (each part is >= 0)
                splits[sid] = overtime.Split(*parts)
        found[day] = splits
    return found


def _overtime_by_definition(clinic: Clinic, day: date) -> dict[int, overtime.Split]:
    """Each person's split of one workday at the clinic, the timesheet's way: the Punch rows
    of their work week (a day either side), `timesheets.worked_from`, `overtime.compute`."""
    plan, weeks = _work_weeks(clinic, day, day)
    week, start, end = plan[day]
    rule, bounds = weeks[week]
    present = set(
        Punch.objects.filter(
            clinic=clinic, at__gte=start - _MARGIN, at__lt=end + _MARGIN
        ).values_list("staff_id", flat=True)
    )
    punches: dict[int, list[Punch]] = defaultdict(list)
    for p in Punch.objects.filter(
        staff_id__in=present, at__gte=bounds[0] - _MARGIN, at__lt=bounds[7] + _MARGIN
    ).order_by("at", "id"):
        punches[p.staff_id].append(p)
    now = timezone.now()
    splits = {}
    for sid in present:
        worked = timesheets_mod.worked_from(punches[sid], now=now)
        split = overtime.compute(worked.segments, rule, clinic.tz, week).by_clinic_day.get(
            (clinic.pk, day)
        )
        if split is not None and split.worked:
            splits[sid] = split
    return splits


def overtime_pct_parts(clinic: Clinic, day: date) -> tuple[int, int]:
    """(seconds of overtime and double time, seconds worked) at the clinic on a local day: the
    definition, from the timesheet's own computation."""
    splits = _overtime_by_definition(clinic, day).values()
    return sum(s.overtime + s.double for s in splits), sum(s.worked for s in splits)


def overtime_pct_range(clinic: Clinic, first: date, last: date) -> dict[date, tuple[int, int]]:
    """`overtime_pct_parts` of every local day first..last (each work week computed once, the
    punches replayed as tuples)."""
    return {
        day: (
            sum(s.overtime + s.double for s in splits.values()),
            sum(s.worked for s in splits.values()),
        )
        for day, splits in _overtime_days(clinic, first, last).items()
    }


def overtime_pct_drilldown(clinic: Clinic, first: date, last: date) -> Drilldown:
    names: dict[int, str] = {}
    rows = []
    for day, splits in sorted(_overtime_days(clinic, first, last).items()):
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
        compute_range=overtime_pct_range,
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


Pair = tuple[int, str, bool, date | None]


def _required_pairs(clinic: Clinic) -> list[tuple[int, CredentialStatus]]:
    """(staff id, status) for every credential type one of the roles of the clinic's active
    rostered staff requires, with the spans they hold it for."""
    contracts = {
        c.staff_id: c.roles
        for c in StaffContract.objects.filter(staff__clinics=clinic, is_active=True)
    }
    return [
        (sid, status)
        for sid, statuses in credentials.statuses_for(contracts).items()
        for status in statuses
    ]


def _pair_on(sid: int, status: CredentialStatus, day: date) -> Pair:
    """(staff id, credential code, valid on the day, expiry) of one required pair."""
    covering = [last for first_, last in status.spans if first_ <= day <= last]
    last = max(covering) if covering else None
    return (sid, status.code, bool(covering), None if last == date.max else last)


def credential_currency_parts(clinic: Clinic, day: date) -> tuple[int, int]:
    """(required staff-credential pairs valid on the day, required pairs): the definition,
    pair by pair as the drill-down lists them; `credential_currency_range` counts the same."""
    pairs = [_pair_on(sid, status, day) for sid, status in _required_pairs(clinic)]
    return sum(1 for p in pairs if p[2]), len(pairs)


def credential_currency_range(
    clinic: Clinic, first: date, last: date
) -> dict[date, tuple[int, int]]:
    """`credential_currency_parts` of every local day first..last: the pairs read once, and
    each pair's spans merged into the days it is valid (a pair held twice over on a day is
    one valid pair), counted with a running sum rather than pair by pair and day by day."""
    pairs = _required_pairs(clinic)
    change: dict[date, int] = defaultdict(int)  # valid pairs from this day on, +/-
    for _, status in pairs:
        for start, end in _merged(status.spans):
            if end < first or start > last:
                continue
            change[max(start, first)] += 1
            if end < last:
                change[end + timedelta(days=1)] -= 1
    found, valid, day = {}, 0, first
    while day <= last:
        valid += change.get(day, 0)
        found[day] = (valid, len(pairs))
        day += timedelta(days=1)
    return found


def _merged(spans: tuple[tuple[date, date], ...]) -> list[tuple[date, date]]:
    """Inclusive date spans merged where they overlap or touch."""
    merged: list[tuple[date, date]] = []
    for start, end in sorted(spans):
        if merged and (merged[-1][1] == date.max or start <= merged[-1][1] + timedelta(days=1)):
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def credential_currency_drilldown(clinic: Clinic, first: date, last: date) -> Drilldown:
    names = {s.pk: str(s) for s in Staff.objects.filter(clinics=clinic).select_related("user")}
    pairs = _required_pairs(clinic)
    rows = []
    day = first
    while day <= last:
        for sid, code, valid, expires in sorted(
            (_pair_on(sid, status, day) for sid, status in pairs),
            key=lambda p: (names.get(p[0], ""), p[1]),
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
        compute_range=credential_currency_range,
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
