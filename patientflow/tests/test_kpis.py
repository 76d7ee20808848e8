"""Patient-flow metrics on a hand-computed clinic day (formulas: shared/KPIS.md).

Monday 1 March 2027 in New York:

| visit | scheduled | checked in | roomed   | with provider        | ready | out   |
|-------|-----------|------------|----------|----------------------|-------|-------|
| A     | 09:00     | 08:40      | 08:55    | 09:10                | 09:30 | 09:42 |
| B     | 09:20     | 09:25      | 09:31:30 | 09:40 undone, 09:52  | 10:10 | 10:15 |
| C     | 10:00     | 09:58      | left without being seen at 10:30                 |
| D     | 10:40 (walk-in booked into the next slot) | 10:30 | 10:45 | 10:50 | 11:00 | 11:03 |

Door to provider: A 30, B 27 (the undone 09:40 does not count), D 20.
Cycle time: A 42 (from the scheduled 09:00: A came early), B 50, D 33 (a walk-in: from
check-in, although their booked slot was later).
Waits: checked in A 15, B 6.5, C 32, D 15; roomed A 15, B 20.5, D 5; with provider A 20,
B 18, D 10; ready for checkout A 12, B 5, D 3.
"""

from __future__ import annotations

import datetime as dt
import statistics
import zoneinfo
from decimal import Decimal

import pytest

from clinicops.core import roles
from clinicops.core.models import Clinic
from clinicops.core.tests.factories import PatientFactory, RoomFactory, StaffFactory
from patientflow import kpis
from patientflow.models import Step
from patientflow.services import checkin, checkout, housekeeping, moves
from scheduling.tests.factories import AppointmentFactory, AppointmentTypeFactory

pytestmark = pytest.mark.django_db

NY = zoneinfo.ZoneInfo("America/New_York")
MONDAY = dt.date(2027, 3, 1)
TUESDAY = MONDAY + dt.timedelta(days=1)


def at(hour: int, minute: int, second: int = 0, day: dt.date = MONDAY) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute, second), tzinfo=NY)


class Day:
    """Drives visits through the real services at given times."""

    def __init__(self, clinic: Clinic) -> None:
        self.clinic = clinic
        self.desk = StaffFactory(roles=[roles.FRONT_DESK], clinics=[clinic]).user
        self.nurse = StaffFactory(roles=[roles.NURSE], clinics=[clinic]).user
        self.provider = StaffFactory(roles=[roles.PROVIDER], clinics=[clinic])
        self.kind = AppointmentTypeFactory(clinic=clinic, name="Visit", duration_minutes=20)
        self.rooms = [RoomFactory(clinic=clinic, name=f"Room {n}") for n in (1, 2, 3)]

    def check_in(self, scheduled: dt.datetime, arrived: dt.datetime, *, walk_in: bool = False):
        appt = AppointmentFactory(
            clinic=self.clinic,
            patient=PatientFactory(clinic=self.clinic),
            provider=self.provider,
            appointment_type=self.kind,
            start=scheduled,
            is_overbook=True,
            overbook_reason="test day",
        )
        visit = checkin.check_in(actor=self.desk, appointment=appt, now=arrived)
        if walk_in:
            type(visit).objects.filter(pk=visit.pk).update(is_walk_in=True)
            visit.refresh_from_db()
        return visit

    def move(self, visit, to: str, when: dt.datetime, room=None):
        return moves.move_visit(
            actor=self.nurse, visit=visit, to_step=to, expected_step=visit.step, room=room, now=when
        )

    def out(self, visit, when: dt.datetime):
        return checkout.check_out(actor=self.desk, visit=visit, now=when)


@pytest.fixture
def day(clinic: Clinic) -> Day:
    d = Day(clinic)
    a = d.check_in(at(9, 0), at(8, 40))
    a = d.move(a, Step.ROOMED, at(8, 55), d.rooms[0])
    a = d.move(a, Step.WITH_PROVIDER, at(9, 10))
    a = d.move(a, Step.READY_FOR_CHECKOUT, at(9, 30))
    d.out(a, at(9, 42))

    b = d.check_in(at(9, 20), at(9, 25))
    b = d.move(b, Step.ROOMED, at(9, 31, 30), d.rooms[1])
    b = d.move(b, Step.WITH_PROVIDER, at(9, 40))
    b = moves.undo_last_step(
        actor=d.nurse, visit=b, expected_step=Step.WITH_PROVIDER, reason="too early", now=at(9, 41)
    )
    b = d.move(b, Step.WITH_PROVIDER, at(9, 52))
    b = d.move(b, Step.READY_FOR_CHECKOUT, at(10, 10))
    d.out(b, at(10, 15))

    c = d.check_in(at(10, 0), at(9, 58))
    d.move(c, Step.LEFT_WITHOUT_BEING_SEEN, at(10, 30))

    housekeeping.mark_room_clean(actor=d.nurse, room=d.rooms[0], now=at(10, 0))
    w = d.check_in(at(10, 40), at(10, 30), walk_in=True)
    w = d.move(w, Step.ROOMED, at(10, 45), d.rooms[0])
    w = d.move(w, Step.WITH_PROVIDER, at(10, 50))
    w = d.move(w, Step.READY_FOR_CHECKOUT, at(11, 0))
    d.out(w, at(11, 3))

    # Tuesday: two visits seen after an hour, which Monday's figures must not include.
    for minutes in (60, 62):
        t = d.check_in(at(9, 0, day=TUESDAY), at(9, 0, day=TUESDAY))
        t = d.move(t, Step.ROOMED, at(9, 5, day=TUESDAY), d.rooms[2])
        t = d.move(t, Step.WITH_PROVIDER, at(9, 0, day=TUESDAY) + dt.timedelta(minutes=minutes))
        t = d.move(t, Step.READY_FOR_CHECKOUT, at(11, 0, day=TUESDAY))
        housekeeping.mark_room_clean(actor=d.nurse, room=d.rooms[2], now=at(11, 0, day=TUESDAY))
    return d


def minutes(*values: float) -> list[Decimal]:
    return [Decimal(str(v)).quantize(Decimal("0.01")) for v in values]


def test_door_to_provider_counts_the_first_real_with_provider(day: Day) -> None:
    assert kpis.door_to_provider_minutes(day.clinic, MONDAY) == minutes(30, 27, 20)
    assert statistics.median(kpis.door_to_provider_minutes(day.clinic, MONDAY)) == 27


def test_cycle_time_starts_at_the_scheduled_time_for_early_patients(day: Day) -> None:
    assert kpis.cycle_time_minutes(day.clinic, MONDAY) == minutes(42, 50, 33)


def test_wait_per_step(day: Day) -> None:
    waits = kpis.step_wait_minutes(day.clinic, MONDAY)
    assert waits == {
        Step.CHECKED_IN: minutes(15, 6.5, 32, 15),
        Step.ROOMED: minutes(15, 20.5, 5),
        Step.WITH_PROVIDER: minutes(20, 18, 10),
        Step.READY_FOR_CHECKOUT: minutes(12, 5, 3),
    }
    assert kpis.wait_in_step_minutes(day.clinic, MONDAY, Step.ROOMED) == minutes(15, 20.5, 5)


def test_a_weeks_median_comes_from_the_raw_values_not_daily_medians(day: Day) -> None:
    monday = kpis.door_to_provider_minutes(day.clinic, MONDAY)
    tuesday = kpis.door_to_provider_minutes(day.clinic, TUESDAY)
    assert tuesday == minutes(60, 62)
    week = statistics.median(monday + tuesday)
    assert week == 30
    assert statistics.median([statistics.median(monday), statistics.median(tuesday)]) == 44
    # Tuesday's visits have not been checked out: no cycle times yet.
    assert kpis.cycle_time_minutes(day.clinic, TUESDAY) == []


def test_a_day_without_visits_has_no_values(clinic: Clinic) -> None:
    assert kpis.door_to_provider_minutes(clinic, MONDAY) == []
    assert kpis.cycle_time_minutes(clinic, MONDAY) == []
    assert kpis.step_wait_minutes(clinic, MONDAY) == {
        Step.CHECKED_IN: [],
        Step.ROOMED: [],
        Step.WITH_PROVIDER: [],
        Step.READY_FOR_CHECKOUT: [],
    }


def test_minutes_between_is_exact_to_the_hundredth() -> None:
    assert kpis.minutes_between(at(9, 0), at(9, 0, 20)) == Decimal("0.33")
    assert kpis.minutes_between(at(9, 10), at(9, 0)) == Decimal("0")
