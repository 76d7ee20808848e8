"""The overtime KPI's range replays punch tuples; it must give the parts the timesheet's own
computation (the day function) gives, on punch sequences the clock refuses in part."""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from clinicops.core.models import Clinic, Staff
from workforce import kpis
from workforce.models import OvertimeRule, Punch

from .conftest import MONDAY

pytestmark = pytest.mark.django_db

NEW_YORK = ZoneInfo("America/New_York")
FIRST, LAST = MONDAY - dt.timedelta(days=1), MONDAY + dt.timedelta(days=14)  # holds 14 March


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=NEW_YORK)


def punch(
    staff: Staff, clinic: Clinic, kind: str, when: dt.datetime, replaces: Punch | None = None
) -> Punch:
    """A punch stored as is (the clock service would refuse some of these: that is the point)."""
    return Punch.objects.create(
        staff=staff,
        clinic=clinic,
        kind=kind,
        at=when,
        source=Punch.Source.MANAGER if replaces else Punch.Source.DEMO,
        replaces=replaces,
        reason="corrected" if replaces else "",
        request_key=uuid.uuid4(),
    )


def shift(staff: Staff, clinic: Clinic, day: dt.date, start: int, end: int) -> None:
    """In at `start`, a half-hour break 5 h in, out at `end` (hours; past 24 is the next day)."""
    punch(staff, clinic, "in", at(day, start))
    punch(staff, clinic, "break_start", at(day, start + 5))
    punch(staff, clinic, "break_end", at(day, start + 5, 30))
    punch(staff, clinic, "out", at(day, 0) + dt.timedelta(hours=end))


def by_definition(clinic: Clinic) -> dict[dt.date, tuple[int, int]]:
    days = [FIRST + dt.timedelta(days=i) for i in range((LAST - FIRST).days + 1)]
    return {day: kpis.overtime_pct_parts(clinic, day) for day in days}


def test_the_range_gives_the_timesheets_parts_whatever_the_clock_refused(
    clinic: Clinic, other_clinic: Clinic, desk: list[Staff], mas: list[Staff]
) -> None:
    # from Wednesday 3 March: Monday 06:00 work weeks, daily overtime past 8 h, double past 12 h
    OvertimeRule.objects.create(
        clinic=clinic,
        effective_from=dt.date(2027, 3, 3),
        week_start_day=0,
        week_start_hour=6,
        daily_minutes=480,
        double_minutes=720,
    )
    adams, baker, cole, dunn = [*desk, *mas]
    for i in range(14):
        day = FIRST + dt.timedelta(days=i)
        if day.weekday() == 5:  # Saturdays at the other clinic: a 13 h day
            shift(adams, other_clinic, day, 7, 20)
        else:
            shift(adams, clinic, day, 7, 17)
        shift(baker, clinic, day, 14, 26)  # to 02:00: across midnight and the DST night
    tuesday, wednesday, thursday = (MONDAY + dt.timedelta(days=i) for i in (1, 2, 3))
    # refused: a second clock-in, a break end with no break start, a clock-out while out
    punch(adams, clinic, "in", at(tuesday, 9))
    punch(adams, clinic, "break_end", at(tuesday, 15))
    punch(adams, clinic, "out", at(tuesday, 19))
    # refused: a break start on a break, and a break start before the clock-in
    punch(adams, clinic, "break_start", at(wednesday, 12, 10))
    punch(adams, clinic, "break_start", at(wednesday, 6))
    # Cole forgets to clock out on Tuesday: Thursday's clock-in is refused and Thursday's
    # clock-out closes Tuesday's shift (a manager has not corrected it)
    punch(cole, clinic, "in", at(tuesday, 8))
    punch(cole, clinic, "in", at(thursday, 8))
    punch(cole, clinic, "out", at(thursday, 16))
    # Dunn: a cancelled clock-in (its clock-out is then refused), and a clock-out corrected
    wrong = punch(dunn, clinic, "in", at(wednesday, 8))
    punch(dunn, clinic, "void", wrong.at, replaces=wrong)
    punch(dunn, clinic, "out", at(wednesday, 16))
    punch(dunn, clinic, "in", at(thursday, 8))
    early = punch(dunn, clinic, "out", at(thursday, 12))
    punch(dunn, clinic, "out", at(thursday, 18), replaces=early)

    ranged = kpis.overtime_pct_range(clinic, FIRST, LAST)

    assert ranged == by_definition(clinic)
    # Tuesday: Adams 07:00-12:00 and 12:30-17:00; Baker 00:00-02:00 (Monday's shift) and
    # 14:00-24:00 less her break; Cole's shift left open until Thursday from 08:00; Dunn none
    assert ranged[tuesday][1] == (9.5 + 2 + 9.5 + 16) * 3600


def test_an_open_shift_counts_up_to_now_while_under_16_hours(
    clinic: Clinic, desk: list[Staff], monkeypatch: pytest.MonkeyPatch
) -> None:
    now = at(MONDAY + dt.timedelta(days=2), 15)  # Wednesday 15:00
    punch(desk[0], clinic, "in", now - dt.timedelta(hours=3))  # still on shift
    punch(desk[1], clinic, "in", now - dt.timedelta(hours=17))  # Tuesday: a missing clock-out
    monkeypatch.setattr(timezone, "now", lambda: now)

    ranged = kpis.overtime_pct_range(clinic, FIRST, LAST)

    assert ranged == by_definition(clinic)
    assert ranged[now.date()] == (0, 3 * 3600)
    assert ranged[now.date() - dt.timedelta(days=1)] == (0, 0)
