"""Weekly timesheets, computed from punches (the one code path for every hour shown).

A person's timesheet at a clinic covers one work week of that clinic's overtime rule. Worked
time is clock-in to clock-out less breaks; overtime is computed over the person's punches at
every clinic together (`workforce.overtime`) and each hour is reported where it was worked.
Against the roster: the person's assignments at the clinic starting in the week.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from clinicops.core.models import Clinic, Staff

from . import overtime
from .models import Assignment, OvertimeRule, Punch, TimesheetWeek
from .overtime import Rule, Segment, Split, hours
from .services.timeclock import ClockState, effective, next_state

# An open clock-in older than this with no clock-out is reported as a missing clock-out.
OPEN_TOO_LONG = timedelta(hours=16)


def rule_for(clinic: Clinic | int, day: date) -> Rule:
    """The clinic's overtime rule in force on `day` (the default 40 h week from Sunday 00:00
    when it has none)."""
    clinic_id = clinic if isinstance(clinic, int) else clinic.pk
    row = (
        OvertimeRule.objects.filter(clinic_id=clinic_id, effective_from__lte=day)
        .order_by("-effective_from")
        .first()
    )
    return _as_rule(row)


def rule_lookup(clinic: Clinic | int) -> Callable[[date], Rule]:
    """`rule_for` of any day from one query: the clinic's rules, latest first (the KPI's range
    asks for two rules a day over a year)."""
    clinic_id = clinic if isinstance(clinic, int) else clinic.pk
    rows = list(OvertimeRule.objects.filter(clinic_id=clinic_id).order_by("-effective_from"))

    def rule_on(day: date) -> Rule:
        return _as_rule(next((row for row in rows if row.effective_from <= day), None))

    return rule_on


def _as_rule(row: OvertimeRule | None) -> Rule:
    if row is None:
        return Rule()
    return Rule(
        week_start_day=row.week_start_day,
        week_start_hour=row.week_start_hour,
        weekly_minutes=row.weekly_minutes,
        daily_minutes=row.daily_minutes,
        double_minutes=row.double_minutes,
    )


def work_week_of(clinic: Clinic, at: datetime) -> date:
    """The local day the clinic's work week holding the moment `at` starts."""
    rule = rule_for(clinic, at.astimezone(clinic.tz).date())
    return overtime.week_start_day(at, rule, clinic.tz)


def work_week_of_day(clinic: Clinic, day: date) -> date:
    """The work week holding local `day` (at the rule's start hour on that day)."""
    rule = rule_for(clinic, day)
    return overtime.week_start_day(
        overtime.local_moment(day, rule.week_start_hour, clinic.tz), rule, clinic.tz
    )


@dataclass
class Worked:
    segments: list[Segment] = field(default_factory=list)
    breaks: list[Segment] = field(default_factory=list)
    open_since: list[Punch] = field(default_factory=list)  # a clock-in with no clock-out yet
    problems: list[Punch] = field(default_factory=list)


def worked_from(punches: list[Punch], *, now: datetime) -> Worked:
    """Work and break segments from one person's effective punches, in time order."""
    out = Worked()
    state = ClockState("out")
    mark: datetime | None = None
    for p in effective(punches):
        step = next_state(state, p)
        if isinstance(step, str):
            out.problems.append(p)
            continue
        if state.status == "in" and mark is not None and state.open_in is not None:
            out.segments.append(
                Segment(mark, p.at, state.open_in.clinic_id, f"p{state.open_in.pk}")
            )
        elif state.status == "break" and mark is not None and state.open_in is not None:
            out.breaks.append(Segment(mark, p.at, state.open_in.clinic_id, f"b{state.open_in.pk}"))
        state, mark = step, p.at
    if state.status != "out" and state.open_in is not None and mark is not None:
        out.open_since.append(state.open_in)
        if now - state.open_in.at < OPEN_TOO_LONG and state.status == "in":
            # Still on shift: count it up to now (the overtime risk needs it).
            out.segments.append(Segment(mark, now, state.open_in.clinic_id, f"p{state.open_in.pk}"))
    return out


@dataclass
class DayLine:
    day: date
    rostered: int = 0  # seconds of paid rostered time
    worked: Split = field(default_factory=Split)
    breaks: int = 0
    flags: list[str] = field(default_factory=list)
    punches: list[Punch] = field(default_factory=list)

    @property
    def difference(self) -> Decimal:
        return hours(self.worked.worked - self.rostered)


@dataclass
class Sheet:
    staff: Staff
    clinic: Clinic
    first_day: date
    rule: Rule
    start: datetime
    end: datetime
    lines: list[DayLine]
    total: Split
    breaks: int
    rostered: int
    record: TimesheetWeek | None
    issues: list[str]
    punches: list[Punch]

    @property
    def status(self) -> str:
        return self.record.status if self.record else TimesheetWeek.Status.OPEN

    @property
    def flag_count(self) -> int:
        return sum(len(line.flags) for line in self.lines)

    @property
    def status_label(self) -> str:
        return str(TimesheetWeek.Status(self.status).label)

    @property
    def locked(self) -> bool:
        return self.status == TimesheetWeek.Status.APPROVED

    @property
    def over(self) -> bool:
        return self.end <= timezone.now()

    def totals(self) -> dict[str, str]:
        """The figures as payroll gets them (hours, two decimals)."""
        return {
            "worked": str(hours(self.total.worked)),
            "break": str(hours(self.breaks)),
            "regular": str(hours(self.total.regular)),
            "overtime": str(hours(self.total.overtime)),
            "double": str(hours(self.total.double)),
            "rostered": str(hours(self.rostered)),
            "difference": str(hours(self.total.worked - self.rostered)),
        }


def sheet_for(
    staff: Staff, clinic: Clinic, first_day: date, *, now: datetime | None = None
) -> Sheet:
    now = now or timezone.now()
    tz = clinic.tz
    rule = rule_for(clinic, first_day)
    bounds = overtime.workday_bounds(first_day, rule, tz)
    start, end = bounds[0], bounds[7]
    punches = list(
        Punch.objects.filter(
            staff=staff, at__gte=start - timedelta(days=1), at__lt=end + timedelta(days=1)
        )
        .select_related("clinic", "assignment", "recorded_by", "replaces")
        .order_by("at", "id")
    )
    worked = worked_from(punches, now=now)
    result = overtime.compute(worked.segments, rule, tz, first_day)
    days = [first_day + timedelta(days=i) for i in range(7)]
    lines = {d: DayLine(d) for d in days}

    def workday(at: datetime) -> date | None:
        for i in range(7):
            if bounds[i] <= at < bounds[i + 1]:
                return days[i]
        return None

    for d in days:
        lines[d].worked = result.by_clinic_day.get((clinic.pk, d), Split())
    break_total = 0
    for b in worked.breaks:
        if b.clinic_id != clinic.pk:
            continue
        wd = workday(b.start)
        if wd is not None:
            secs = int((min(b.end, end) - max(b.start, start)).total_seconds())
            lines[wd].breaks += max(0, secs)
            break_total += max(0, secs)
    assignments = list(
        Assignment.objects.filter(staff=staff, week__clinic=clinic, start__gte=start, start__lt=end)
        .select_related("template")
        .order_by("start")
    )
    linked = {p.assignment_id for p in effective(punches) if p.kind == Punch.Kind.IN}
    rostered_total = 0
    for a in assignments:
        ad = workday(a.start)
        if ad is None:
            continue
        lines[ad].rostered += a.paid_minutes * 60
        rostered_total += a.paid_minutes * 60
        if a.end < now and a.pk not in linked:
            local = a.start.astimezone(tz)
            lines[ad].flags.append(f"Missed: no clock-in for {a.template.name} at {local:%H:%M}")
    own = [p for p in punches if p.clinic_id == clinic.pk and start <= p.at < end]
    for p in own:
        pd = workday(p.at)
        if pd is None:
            continue
        lines[pd].punches.append(p)
        if p.kind in (Punch.Kind.IN, Punch.Kind.OUT) and p.flag and p in effective(own):
            what = "clock-in" if p.kind == Punch.Kind.IN else "clock-out"
            label = {"early": "Early", "late": "Late", "unrostered": "Not rostered:"}[p.flag]
            lines[pd].flags.append(f"{label} {what} at {p.at.astimezone(tz):%H:%M}")
    issues = []
    for p in worked.open_since:
        if p.clinic_id == clinic.pk and start <= p.at < end and now - p.at >= OPEN_TOO_LONG:
            issues.append(
                f"No clock-out after the clock-in at {p.at.astimezone(tz):%a %d %b %H:%M}; "
                "that shift counts as 0 h until a manager adds the clock-out."
            )
    record = TimesheetWeek.objects.filter(staff=staff, clinic=clinic, week_start=first_day).first()
    return Sheet(
        staff=staff,
        clinic=clinic,
        first_day=first_day,
        rule=rule,
        start=start,
        end=end,
        lines=[lines[d] for d in days],
        total=result.by_clinic.get(clinic.pk, Split()),
        breaks=break_total,
        rostered=rostered_total,
        record=record,
        issues=issues,
        punches=own,
    )


def people_in_week(clinic: Clinic, first_day: date) -> list[Staff]:
    """Everyone with a punch or a rostered shift at the clinic in the work week."""
    rule = rule_for(clinic, first_day)
    bounds = overtime.workday_bounds(first_day, rule, clinic.tz)
    ids = set(
        Punch.objects.filter(clinic=clinic, at__gte=bounds[0], at__lt=bounds[7]).values_list(
            "staff_id", flat=True
        )
    ) | set(
        Assignment.objects.filter(
            week__clinic=clinic, start__gte=bounds[0], start__lt=bounds[7]
        ).values_list("staff_id", flat=True)
    )
    return list(
        Staff.objects.filter(pk__in=ids)
        .select_related("user")
        .order_by("user__last_name", "user__first_name")
    )


def overtime_by_day(
    staff_ids: set[int], clinic: Clinic, first_day: date
) -> dict[int, overtime.WeekResult]:
    """Each person's overtime result for the work week (all clinics' punches together)."""
    rule = rule_for(clinic, first_day)
    bounds = overtime.workday_bounds(first_day, rule, clinic.tz)
    rows: dict[int, list[Punch]] = defaultdict(list)
    for p in (
        Punch.objects.filter(
            staff_id__in=staff_ids,
            at__gte=bounds[0] - timedelta(days=1),
            at__lt=bounds[7] + timedelta(days=1),
        )
        .select_related("clinic")
        .order_by("at", "id")
    ):
        rows[p.staff_id].append(p)
    now = timezone.now()
    return {
        sid: overtime.compute(worked_from(rows[sid], now=now).segments, rule, clinic.tz, first_day)
        for sid in staff_ids
    }


@dataclass(frozen=True)
class Risk:
    staff_id: int
    first_day: date
    rostered: int  # seconds rostered in the work week, all clinics
    overtime: int  # seconds of overtime and double time if it goes as rostered

    @property
    def message(self) -> str:
        return (
            f"{hours(self.rostered)} h rostered in the work week from {self.first_day:%a %d %b} "
            f"(all clinics): {hours(self.overtime)} h overtime if it goes as rostered."
        )


def overtime_risk(clinic: Clinic, staff_ids: set[int], monday: date) -> dict[int, Risk]:
    """People who cross the clinic's overtime thresholds if the work weeks touching the roster
    week of `monday` go as rostered (their shifts at every clinic, less the break minutes)."""
    tz = clinic.tz
    rule = rule_for(clinic, monday)
    first = overtime.week_start_day(overtime.local_moment(monday, 0, tz), rule, tz)
    week_end = overtime.local_moment(monday + timedelta(days=7), 0, tz)
    found: dict[int, Risk] = {}
    while overtime.local_moment(first, rule.week_start_hour, tz) < week_end:
        bounds = overtime.workday_bounds(first, rule, tz)
        shifts: dict[int, list[Segment]] = defaultdict(list)
        for a in Assignment.objects.filter(
            staff_id__in=staff_ids, start__lt=bounds[7], end__gt=bounds[0]
        ).select_related("week"):
            end = a.end - timedelta(minutes=a.break_minutes)
            shifts[a.staff_id].append(Segment(a.start, end, a.week.clinic_id, f"a{a.pk}"))
        for sid, segs in shifts.items():
            result = overtime.compute(segs, rule, tz, first)
            extra = result.total.overtime + result.total.double
            if extra > 0 and (sid not in found or extra > found[sid].overtime):
                found[sid] = Risk(sid, first, result.total.worked, extra)
        first += timedelta(days=7)
    return found
