"""Overtime arithmetic on hand-made weeks (pure: no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from workforce.overtime import Rule, Segment, compute, hours, week_start_day, workday_bounds

NY = ZoneInfo("America/New_York")
H = 3600


def seg(day: date, start_h: float, length_h: float, clinic: int = 1, key: str = "") -> Segment:
    start = datetime.combine(day, datetime.min.time(), tzinfo=NY) + timedelta(hours=start_h)
    start = start.astimezone(UTC)
    return Segment(start, start + timedelta(hours=length_h), clinic, key or f"{day}{start_h}")


SUNDAY = date(2026, 6, 7)  # an ordinary week, Sunday 00:00 start


def test_weekly_over_40_hours_is_overtime() -> None:
    segments = [seg(SUNDAY + timedelta(days=d), 8, 9) for d in range(1, 6)]  # 5 x 9 h = 45 h
    result = compute(segments, Rule(), NY, SUNDAY)
    assert (result.total.regular, result.total.overtime, result.total.double) == (40 * H, 5 * H, 0)
    # The overtime is the last hours of the week: Friday's.
    friday = SUNDAY + timedelta(days=5)
    assert result.by_day[friday].overtime == 5 * H
    assert result.by_day[friday].regular == 4 * H


def test_exactly_40_hours_has_no_overtime() -> None:
    segments = [seg(SUNDAY + timedelta(days=d), 8, 8) for d in range(1, 6)]
    result = compute(segments, Rule(), NY, SUNDAY)
    assert result.total.overtime == 0
    assert result.total.regular == 40 * H


def test_daily_over_8_and_double_over_12() -> None:
    rule = Rule(daily_minutes=8 * 60, double_minutes=12 * 60)
    result = compute([seg(SUNDAY + timedelta(days=1), 6, 14)], rule, NY, SUNDAY)
    assert (result.total.regular, result.total.overtime, result.total.double) == (
        8 * H,
        4 * H,
        2 * H,
    )


def test_daily_overtime_is_not_counted_again_towards_the_week() -> None:
    # Mon-Fri 10 h a day: 8 regular + 2 daily OT each day; 40 regular: no weekly OT on top.
    rule = Rule(daily_minutes=8 * 60)
    segments = [seg(SUNDAY + timedelta(days=d), 7, 10) for d in range(1, 6)]
    result = compute(segments, rule, NY, SUNDAY)
    assert result.total.regular == 40 * H
    assert result.total.overtime == 10 * H
    # A sixth day (Saturday, 6 h) is all weekly overtime.
    segments.append(seg(SUNDAY + timedelta(days=6), 8, 6))
    result = compute(segments, rule, NY, SUNDAY)
    assert result.total.regular == 40 * H
    assert result.total.overtime == 16 * H


def test_daily_rule_off_means_a_long_day_is_regular() -> None:
    result = compute([seg(SUNDAY + timedelta(days=1), 6, 13)], Rule(), NY, SUNDAY)
    assert result.total.regular == 13 * H
    assert result.total.overtime == 0


def test_two_clinics_count_together_and_overtime_lands_where_it_was_worked() -> None:
    # Mon-Thu 9 h at clinic 1 (36 h), Friday 8 h at clinic 2: the last 4 h are overtime,
    # worked at clinic 2.
    segments = [seg(SUNDAY + timedelta(days=d), 8, 9, clinic=1) for d in range(1, 5)]
    segments.append(seg(SUNDAY + timedelta(days=5), 8, 8, clinic=2))
    result = compute(segments, Rule(), NY, SUNDAY)
    assert result.total.overtime == 4 * H
    assert result.by_clinic[1].overtime == 0
    assert result.by_clinic[1].regular == 36 * H
    assert result.by_clinic[2].overtime == 4 * H
    assert result.by_clinic[2].regular == 4 * H


def test_work_week_boundary_day_and_hour() -> None:
    # Week starts Wednesday 07:00. A shift Wednesday 03:00-11:00 is split: 4 h in the week
    # before, 4 h in this one.
    rule = Rule(week_start_day=2, week_start_hour=7)
    wednesday = date(2026, 6, 10)
    shift = seg(wednesday, 3, 8)
    assert week_start_day(shift.start, rule, NY) == wednesday - timedelta(days=7)
    assert week_start_day(shift.end, rule, NY) == wednesday
    this = compute([shift], rule, NY, wednesday)
    before = compute([shift], rule, NY, wednesday - timedelta(days=7))
    assert this.total.worked == 4 * H
    assert before.total.worked == 4 * H
    # 39 h before the boundary and 4 h after: no overtime in either week.
    earlier = [seg(wednesday - timedelta(days=d), 8, 9.75) for d in range(1, 5)]  # 39 h
    assert compute([*earlier, shift], rule, NY, wednesday - timedelta(days=7)).total.overtime == (
        3 * H  # 39 + 4 = 43 h in the week before
    )
    assert compute([*earlier, shift], rule, NY, wednesday).total.overtime == 0


def test_dst_spring_forward_night_is_7_real_hours() -> None:
    # Saturday 7 March 2026 22:00 to Sunday 8 March 06:00 local is 7 real hours (02:00 skipped).
    rule = Rule(daily_minutes=8 * 60)
    start = datetime(2026, 3, 7, 22, tzinfo=NY).astimezone(UTC)
    end = datetime(2026, 3, 8, 6, tzinfo=NY).astimezone(UTC)
    night = Segment(start, end, 1, "n")
    assert end - start == timedelta(hours=7)
    week_of_sat = compute([night], rule, NY, date(2026, 3, 1))
    week_of_sun = compute([night], rule, NY, date(2026, 3, 8))
    assert week_of_sat.total.worked == 2 * H  # 22:00-24:00 Saturday
    assert week_of_sun.total.worked == 5 * H  # 00:00-06:00 Sunday, one hour skipped
    bounds = workday_bounds(date(2026, 3, 8), rule, NY)
    assert bounds[1] - bounds[0] == timedelta(hours=23)


def test_dst_fall_back_night_is_9_real_hours_and_the_extra_hour_counts() -> None:
    # Saturday 31 Oct 2026 22:00 to Sunday 1 Nov 06:00 local is 9 real hours; the workday
    # Sunday 1 Nov is 25 hours long. Daily overtime after 8 h: of the 7 h on Sunday none is
    # overtime, but a 10 h day shift on Sunday is 10 real hours: 2 h overtime.
    rule = Rule(daily_minutes=8 * 60)
    start = datetime(2026, 10, 31, 22, tzinfo=NY).astimezone(UTC)
    end = datetime(2026, 11, 1, 6, tzinfo=NY).astimezone(UTC)
    assert end - start == timedelta(hours=9)
    night = Segment(start, end, 1, "n")
    sunday = date(2026, 11, 1)
    result = compute([night], rule, NY, sunday)
    assert result.total.worked == 7 * H  # 00:00-06:00 local with 01:00-02:00 twice
    assert result.total.overtime == 0
    bounds = workday_bounds(sunday, rule, NY)
    assert bounds[1] - bounds[0] == timedelta(hours=25)
    # 00:30 to 10:30 local on the fall-back day is 11 real hours: 3 h daily overtime.
    s = datetime(2026, 11, 1, 0, 30, tzinfo=NY).astimezone(UTC)
    e = datetime(2026, 11, 1, 10, 30, tzinfo=NY).astimezone(UTC)
    long_day = compute([Segment(s, e, 1, "d")], rule, NY, sunday)
    assert long_day.total.worked == 11 * H
    assert long_day.total.overtime == 3 * H


def test_overnight_shift_splits_at_the_workday_boundary() -> None:
    # Monday 20:00 to Tuesday 08:00 (12 h) with daily overtime after 8 h: 4 h on Monday and
    # 8 h on Tuesday, so no daily overtime although the shift is 12 h long.
    rule = Rule(daily_minutes=8 * 60)
    monday = SUNDAY + timedelta(days=1)
    result = compute([seg(monday, 20, 12)], rule, NY, SUNDAY)
    assert result.by_day[monday].worked == 4 * H
    assert result.by_day[monday + timedelta(days=1)].worked == 8 * H
    assert result.total.overtime == 0
    # With the workday starting at 18:00 the whole shift is one workday: 4 h overtime.
    rule18 = Rule(daily_minutes=8 * 60, week_start_hour=18)
    result = compute([seg(monday, 20, 12)], rule18, NY, SUNDAY)
    assert result.total.overtime == 4 * H


def test_hours_rounds_to_hundredths() -> None:
    assert hours(5400) == Decimal("1.50")
    assert hours(60) == Decimal("0.02")
    assert hours(0) == Decimal("0.00")
