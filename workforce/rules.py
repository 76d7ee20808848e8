"""The roster rule checker: pure functions over plain data, and one loader from the database.

`check()` takes the shifts of the week being checked (`shifts`), the shifts around them that
constrain them but are not being checked (`context`: the same people's shifts at other clinics
and in the weeks either side), the people, the clinic's limits and the absences (approved time
off and recurring unavailability, as UTC intervals), and returns every violation in plain words.

Rules: overlap (across clinics), minimum rest between shifts, maximum paid hours per day and per
week, maximum consecutive days worked, role match, time off / unavailability, and the credential
rules registered with `register_credential_rule` (workforce.credentials registers the one that
needs every credential a shift's role requires to be valid on its day).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import RosterWeek

ROLE_LABELS = {
    "front_desk": "front desk",
    "ma": "medical assistant",
    "rn": "registered nurse",
    "provider": "provider",
}


@dataclass(frozen=True)
class Shift:
    key: str  # "a<assignment id>" for stored ones, anything unique for candidates
    staff_id: int
    clinic_id: int
    role: str
    day: date  # the local day it starts
    start: datetime  # UTC
    end: datetime  # UTC
    break_minutes: int = 0
    label: str = ""  # e.g. "Early 07:00-15:00"

    @property
    def paid_minutes(self) -> int:
        return int((self.end - self.start).total_seconds() // 60) - self.break_minutes


@dataclass(frozen=True)
class CredentialStatus:
    """A credential type some of a person's roles need, and the spans they hold it for
    (issued .. expires, inclusive; `date.max` when it does not expire)."""

    code: str
    roles: frozenset[str]
    spans: tuple[tuple[date, date], ...] = ()

    def valid_on(self, day: date) -> bool:
        return any(first <= day <= last for first, last in self.spans)


@dataclass(frozen=True)
class Person:
    staff_id: int
    name: str
    roles: frozenset[str]
    contract_minutes: int = 40 * 60
    # The credentials the person's roles require (filled by the loader; see credentials.py).
    credentials: tuple[CredentialStatus, ...] = ()


@dataclass(frozen=True)
class Limits:
    min_rest_minutes: int = 600
    max_day_minutes: int = 12 * 60
    max_week_minutes: int = 48 * 60
    max_consecutive_days: int = 6


@dataclass(frozen=True)
class Absence:
    staff_id: int
    start: datetime  # UTC
    end: datetime  # UTC
    reason: str  # "approved time off", "unavailable (school run)"


@dataclass(frozen=True)
class Violation:
    rule: str  # overlap, rest, day_hours, week_hours, consecutive, role, absence, credential
    staff_id: int
    day: date
    message: str
    shift_keys: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {
            "rule": self.rule,
            "staff_id": self.staff_id,
            "day": self.day.isoformat(),
            "message": self.message,
            "shift_keys": list(self.shift_keys),
        }


# A credential rule: given a shift and its person, a plain-words reason it may not be worked,
# or None. The credentials issue registers one; until then there are none.
CredentialRule = Callable[[Shift, Person], str | None]
_CREDENTIAL_RULES: list[CredentialRule] = []


def register_credential_rule(rule: CredentialRule) -> None:
    _CREDENTIAL_RULES.append(rule)


def unregister_credential_rule(rule: CredentialRule) -> None:
    _CREDENTIAL_RULES.remove(rule)


def hours_label(minutes: int) -> str:
    hours, mins = divmod(minutes, 60)
    return f"{hours} h {mins:02d} min" if mins else f"{hours} h"


def day_label(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b}"


@dataclass
class _Ctx:
    people: dict[int, Person]
    tz: tzinfo
    checked: set[str] = field(default_factory=set)

    def name(self, staff_id: int) -> str:
        person = self.people.get(staff_id)
        return person.name if person else f"Staff #{staff_id}"

    def when(self, shift: Shift) -> str:
        start = shift.start.astimezone(self.tz)
        end = shift.end.astimezone(self.tz)
        label = f"{shift.label} " if shift.label else ""
        return f"{label}{day_label(shift.day)} {start:%H:%M}-{end:%H:%M}"


def overlaps(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> bool:
    return a_start < b_end and b_start < a_end


def check(
    shifts: Sequence[Shift],
    *,
    people: Iterable[Person],
    limits: Limits,
    absences: Iterable[Absence] = (),
    context: Sequence[Shift] = (),
    week_days: Sequence[date] | None = None,
    tz: tzinfo = UTC,
) -> list[Violation]:
    """Every rule broken by `shifts` (with `context` around them), in plain words."""
    ctx = _Ctx(people={p.staff_id: p for p in people}, tz=tz)
    checked = {s.key for s in shifts}
    days = sorted(week_days) if week_days else sorted({s.day for s in shifts})
    by_person: dict[int, list[Shift]] = defaultdict(list)
    for shift in [*shifts, *context]:
        by_person[shift.staff_id].append(shift)
    violations: list[Violation] = []
    absence_by_person: dict[int, list[Absence]] = defaultdict(list)
    for absence in absences:
        absence_by_person[absence.staff_id].append(absence)

    for staff_id, own in by_person.items():
        own.sort(key=lambda s: (s.start, s.key))
        violations += _overlap_and_rest(ctx, own, checked, limits)
        violations += _hours(ctx, staff_id, own, checked, limits, days)
        violations += _consecutive(ctx, staff_id, own, checked, limits)
    for shift in shifts:
        person = ctx.people.get(shift.staff_id)
        if person is None or shift.role not in person.roles:
            can = ", ".join(sorted(ROLE_LABELS.get(r, r) for r in person.roles)) if person else ""
            violations.append(
                Violation(
                    "role",
                    shift.staff_id,
                    shift.day,
                    f"{ctx.name(shift.staff_id)} is not rostered as "
                    f"{ROLE_LABELS.get(shift.role, shift.role)}"
                    f" (covers: {can or 'no role set'}) but is on {ctx.when(shift)}.",
                    (shift.key,),
                )
            )
        for absence in absence_by_person.get(shift.staff_id, ()):
            if overlaps(shift.start, shift.end, absence.start, absence.end):
                violations.append(
                    Violation(
                        "absence",
                        shift.staff_id,
                        shift.day,
                        f"{ctx.name(shift.staff_id)} is on {ctx.when(shift)} but is "
                        f"{absence.reason} then.",
                        (shift.key,),
                    )
                )
        if person is not None:
            for rule in _CREDENTIAL_RULES:
                reason = rule(shift, person)
                if reason:
                    violations.append(
                        Violation("credential", shift.staff_id, shift.day, reason, (shift.key,))
                    )
    violations.sort(key=lambda v: (v.day, ctx.name(v.staff_id), v.rule))
    return violations


def _overlap_and_rest(
    ctx: _Ctx, own: list[Shift], checked: set[str], limits: Limits
) -> list[Violation]:
    found: list[Violation] = []
    for i, first in enumerate(own):
        for second in own[i + 1 :]:
            if second.start >= first.end + timedelta(minutes=limits.min_rest_minutes):
                break  # sorted by start: nothing later is closer
            if first.key not in checked and second.key not in checked:
                continue
            name = ctx.name(first.staff_id)
            day = second.day if second.key in checked else first.day
            if overlaps(first.start, first.end, second.start, second.end):
                where = "" if first.clinic_id == second.clinic_id else " (at another clinic)"
                found.append(
                    Violation(
                        "overlap",
                        first.staff_id,
                        day,
                        f"{name} is on two shifts at once: {ctx.when(first)} and "
                        f"{ctx.when(second)}{where}.",
                        (first.key, second.key),
                    )
                )
            else:
                rest = int((second.start - first.end).total_seconds() // 60)
                found.append(
                    Violation(
                        "rest",
                        first.staff_id,
                        day,
                        f"{name} has only {hours_label(rest)} rest between {ctx.when(first)} and "
                        f"{ctx.when(second)} (minimum {hours_label(limits.min_rest_minutes)}).",
                        (first.key, second.key),
                    )
                )
    return found


def _hours(
    ctx: _Ctx,
    staff_id: int,
    own: list[Shift],
    checked: set[str],
    limits: Limits,
    days: Sequence[date],
) -> list[Violation]:
    found: list[Violation] = []
    per_day: dict[date, list[Shift]] = defaultdict(list)
    for shift in own:
        per_day[shift.day].append(shift)
    name = ctx.name(staff_id)
    for day, day_shifts in sorted(per_day.items()):
        if not any(s.key in checked for s in day_shifts):
            continue
        minutes = sum(s.paid_minutes for s in day_shifts)
        if minutes > limits.max_day_minutes:
            found.append(
                Violation(
                    "day_hours",
                    staff_id,
                    day,
                    f"{name} works {hours_label(minutes)} on {day_label(day)} "
                    f"(limit {hours_label(limits.max_day_minutes)} a day).",
                    tuple(s.key for s in day_shifts),
                )
            )
    if days:
        week = [s for s in own if days[0] <= s.day <= days[-1]]
        minutes = sum(s.paid_minutes for s in week)
        if minutes > limits.max_week_minutes and any(s.key in checked for s in week):
            found.append(
                Violation(
                    "week_hours",
                    staff_id,
                    week[-1].day,
                    f"{name} works {hours_label(minutes)} in the week of {day_label(days[0])} "
                    f"(limit {hours_label(limits.max_week_minutes)} a week).",
                    tuple(s.key for s in week),
                )
            )
    return found


def _consecutive(
    ctx: _Ctx, staff_id: int, own: list[Shift], checked: set[str], limits: Limits
) -> list[Violation]:
    worked = sorted({s.day for s in own})
    checked_days = {s.day for s in own if s.key in checked}
    found: list[Violation] = []
    run: list[date] = []
    for day in [*worked, None]:
        if day is not None and run and day == run[-1] + timedelta(days=1):
            run.append(day)
            continue
        if len(run) > limits.max_consecutive_days and checked_days.intersection(run):
            found.append(
                Violation(
                    "consecutive",
                    staff_id,
                    run[-1],
                    f"{ctx.name(staff_id)} works {len(run)} days in a row, "
                    f"{day_label(run[0])} to {day_label(run[-1])} "
                    f"(limit {limits.max_consecutive_days}).",
                )
            )
        run = [day] if day is not None else []
    return found


# ---------------------------------------------------------------------------------------------
# The loader: a week from the database as plain data.


@dataclass
class WeekData:
    week_id: int
    clinic_id: int
    tz: tzinfo
    days: list[date]
    shifts: list[Shift]
    context: list[Shift]
    people: list[Person]
    limits: Limits
    absences: list[Absence]
    late_after: time = time(18, 0)

    def check(self) -> list[Violation]:
        return check(
            self.shifts,
            people=self.people,
            limits=self.limits,
            absences=self.absences,
            context=self.context,
            week_days=self.days,
            tz=self.tz,
        )


def limits_for(clinic_id: int) -> tuple[Limits, time]:
    from .models import RosterSettings

    settings = RosterSettings.objects.filter(clinic_id=clinic_id).first()
    if settings is None:
        return Limits(), time(18, 0)
    return (
        Limits(
            min_rest_minutes=settings.min_rest_minutes,
            max_day_minutes=settings.max_day_minutes,
            max_week_minutes=settings.max_week_minutes,
            max_consecutive_days=settings.max_consecutive_days,
        ),
        settings.late_after,
    )


def shift_of(assignment: object) -> Shift:
    from .models import Assignment

    if not isinstance(assignment, Assignment):
        raise TypeError("an Assignment is expected")
    template = assignment.template
    return Shift(
        key=f"a{assignment.pk}",
        staff_id=assignment.staff_id,
        clinic_id=assignment.week.clinic_id,
        role=assignment.role,
        day=assignment.day,
        start=assignment.start,
        end=assignment.end,
        break_minutes=assignment.break_minutes,
        label=template.name,
    )


def load_week(week: RosterWeek) -> WeekData:
    """The week's shifts, their context, the clinic's people, limits and absences."""
    from .models import Assignment, StaffContract

    clinic = week.clinic
    tz = clinic.tz
    days = week.days
    window_start = week.week_start - timedelta(days=14)
    window_end = week.week_start + timedelta(days=21)
    assignments = list(Assignment.objects.filter(week=week).select_related("template", "week"))
    shifts = [shift_of(a) for a in assignments]
    contracts = list(
        StaffContract.objects.filter(staff__clinics=clinic, is_active=True)
        .select_related("staff__user")
        .distinct()
    )
    staff_ids = {c.staff_id for c in contracts} | {a.staff_id for a in assignments}
    from .credentials import statuses_for

    held = statuses_for({c.staff_id: c.roles for c in contracts})
    people = [
        Person(
            c.staff_id,
            c.staff.user.display_name,
            c.roles,
            c.contract_minutes_week,
            held.get(c.staff_id, ()),
        )
        for c in contracts
    ]
    context = [
        shift_of(a)
        for a in Assignment.objects.filter(
            staff_id__in=staff_ids, day__gte=window_start, day__lt=window_end
        )
        .exclude(week=week)
        .select_related("template", "week")
    ]
    limits, late_after = limits_for(clinic.pk)
    absences = load_absences(
        staff_ids, days[0] - timedelta(days=1), days[-1] + timedelta(days=1), tz
    )
    return WeekData(
        week_id=week.pk,
        clinic_id=clinic.pk,
        tz=tz,
        days=days,
        shifts=shifts,
        context=context,
        people=people,
        limits=limits,
        absences=absences,
        late_after=late_after,
    )


def load_absences(staff_ids: set[int], first: date, last: date, tz: tzinfo) -> list[Absence]:
    """Approved time off (workforce's requests, scheduling's provider time off) and recurring
    unavailability of `staff_ids` touching the local days `first`..`last`, as UTC intervals."""
    from scheduling.models import ProviderTimeOff

    from .models import TimeOffRequest, Unavailability

    absences: list[Absence] = []
    for request in TimeOffRequest.objects.filter(
        staff_id__in=staff_ids,
        status=TimeOffRequest.Status.APPROVED,
        provider_time_off_id__isnull=True,
        first_day__lte=last,
        last_day__gte=first,
    ):
        start = datetime.combine(request.first_day, time(0), tzinfo=tz).astimezone(UTC)
        end = datetime.combine(request.last_day + timedelta(days=1), time(0), tzinfo=tz).astimezone(
            UTC
        )
        absences.append(Absence(request.staff_id, start, end, "on approved time off"))
    span_start = datetime.combine(first, time(0), tzinfo=tz).astimezone(UTC)
    span_end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
    for off in ProviderTimeOff._default_manager.filter(
        provider_id__in=staff_ids, start__lt=span_end, end__gt=span_start
    ):
        absences.append(Absence(off.provider_id, off.start, off.end, "on approved time off"))
    unavailable = list(Unavailability.objects.filter(staff_id__in=staff_ids))
    day = first
    while day <= last:
        for row in unavailable:
            if row.weekday == day.weekday():
                start = datetime.combine(day, row.start_time, tzinfo=tz).astimezone(UTC)
                end = datetime.combine(day, row.end_time, tzinfo=tz).astimezone(UTC)
                note = f" ({row.note})" if row.note else ""
                absences.append(Absence(row.staff_id, start, end, f"unavailable{note}"))
        day += timedelta(days=1)
    return absences
