"""Overtime arithmetic: pure functions over UTC work segments (docs/decisions 0031-overtime).

A clinic's rule (effective-dated, `OvertimeRule`) fixes when its work week starts (a weekday and
an hour, local time); workdays start at the same hour each day. Boundaries are local wall-clock
moments converted to UTC, so a DST workday is 23 or 25 real hours and every length here is
real elapsed time (UTC subtraction), never wall-clock differences.

Classification, chronologically through the week:
- in a workday, time past `double_minutes` is double time, time past `daily_minutes` (and not
  double) is daily overtime;
- the rest is regular until the week's regular time reaches `weekly_minutes`; after that it is
  weekly overtime. Daily overtime does not count towards the weekly threshold (no hour is paid
  as overtime twice).
Hours worked at every clinic count together: the segments of all clinics go in, and each
segment's share of overtime is reported under its own clinic.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal

INFINITY = 10**12


@dataclass(frozen=True)
class Rule:
    week_start_day: int = 6  # 0 = Monday
    week_start_hour: int = 0
    weekly_minutes: int = 40 * 60
    daily_minutes: int | None = None
    double_minutes: int | None = None


@dataclass(frozen=True)
class Segment:
    """Time worked (breaks already taken out), UTC."""

    start: datetime
    end: datetime
    clinic_id: int
    key: str = ""


@dataclass
class Split:
    """Seconds of regular, overtime (time and a half) and double time."""

    regular: int = 0
    overtime: int = 0
    double: int = 0

    @property
    def worked(self) -> int:
        return self.regular + self.overtime + self.double

    def add(self, other: Split) -> None:
        self.regular += other.regular
        self.overtime += other.overtime
        self.double += other.double


@dataclass
class WeekResult:
    start: datetime  # UTC start of the work week
    end: datetime
    first_day: date  # local date the work week starts
    total: Split = field(default_factory=Split)
    by_clinic: dict[int, Split] = field(default_factory=lambda: defaultdict(Split))
    by_day: dict[date, Split] = field(default_factory=lambda: defaultdict(Split))
    by_clinic_day: dict[tuple[int, date], Split] = field(default_factory=lambda: defaultdict(Split))
    by_key: dict[str, Split] = field(default_factory=lambda: defaultdict(Split))


def hours(seconds: int) -> Decimal:
    """Seconds as hours to two decimals (payroll's unit)."""
    return (Decimal(seconds) / Decimal(3600)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def local_moment(day: date, hour: int, tz: tzinfo) -> datetime:
    """`hour`:00 on local `day`, as UTC (a nonexistent spring-forward hour maps forward)."""
    return datetime.combine(day, time(hour), tzinfo=tz).astimezone(UTC)


def week_start_day(moment: datetime, rule: Rule, tz: tzinfo) -> date:
    """The local date the work week holding `moment` starts."""
    local = moment.astimezone(tz)
    day = local.date() - timedelta(days=(local.date().weekday() - rule.week_start_day) % 7)
    if local_moment(day, rule.week_start_hour, tz) > moment:
        day -= timedelta(days=7)
    return day


def workday_bounds(first_day: date, rule: Rule, tz: tzinfo) -> list[datetime]:
    """The 8 UTC moments bounding the week's 7 workdays."""
    return [local_moment(first_day + timedelta(days=i), rule.week_start_hour, tz) for i in range(8)]


def _portion(a: int, b: int, lo: int, hi: int) -> int:
    return max(0, min(b, hi) - max(a, lo))


def compute(segments: Iterable[Segment], rule: Rule, tz: tzinfo, first_day: date) -> WeekResult:
    """Split the segments falling in the work week starting on local `first_day` into regular,
    overtime and double time (see the module's docstring)."""
    bounds = workday_bounds(first_day, rule, tz)
    result = WeekResult(start=bounds[0], end=bounds[7], first_day=first_day)
    pieces: list[tuple[datetime, datetime, int, Segment]] = []
    for seg in segments:
        start, end = max(seg.start, bounds[0]), min(seg.end, bounds[7])
        if start >= end:
            continue
        for i in range(7):
            ps, pe = max(start, bounds[i]), min(end, bounds[i + 1])
            if ps < pe:
                pieces.append((ps, pe, i, seg))
    pieces.sort(key=lambda p: (p[0], p[3].key))
    daily = rule.daily_minutes * 60 if rule.daily_minutes else INFINITY
    double = rule.double_minutes * 60 if rule.double_minutes else INFINITY
    weekly = rule.weekly_minutes * 60
    day_total = [0] * 7
    week_regular = 0
    for ps, pe, i, seg in pieces:
        length = int((pe - ps).total_seconds())
        d0 = day_total[i]
        day_total[i] += length
        under = _portion(d0, d0 + length, 0, min(daily, double))
        dbl = _portion(d0, d0 + length, double, INFINITY)
        daily_ot = length - under - dbl
        regular = _portion(week_regular, week_regular + under, 0, weekly)
        week_regular += under
        split = Split(regular=regular, overtime=daily_ot + under - regular, double=dbl)
        workday = first_day + timedelta(days=i)
        result.total.add(split)
        result.by_clinic[seg.clinic_id].add(split)
        result.by_day[workday].add(split)
        result.by_clinic_day[(seg.clinic_id, workday)].add(split)
        result.by_key[seg.key].add(split)
    return result


def compute_around(
    segments: Sequence[Segment], rule: Rule, tz: tzinfo, moment: datetime
) -> WeekResult:
    """`compute` for the work week holding `moment`."""
    return compute(segments, rule, tz, week_start_day(moment, rule, tz))
