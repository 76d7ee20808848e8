"""Overtime rules from the database: effective dating, and the roster's overtime risk."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from clinicops.core.models import Clinic, Staff, User
from workforce import timesheets
from workforce.models import OvertimeRule, RosterRole, ShiftTemplate
from workforce.overtime import Rule
from workforce.services import weeks

from .conftest import MONDAY

pytestmark = pytest.mark.django_db


def test_the_rule_in_force_on_a_day(clinic: Clinic) -> None:
    assert timesheets.rule_for(clinic, MONDAY) == Rule()
    OvertimeRule.objects.create(clinic=clinic, effective_from=dt.date(2027, 1, 1))
    OvertimeRule.objects.create(
        clinic=clinic,
        effective_from=dt.date(2027, 3, 3),
        week_start_day=0,
        week_start_hour=6,
        daily_minutes=480,
        double_minutes=720,
    )
    assert timesheets.rule_for(clinic, dt.date(2027, 3, 2)) == Rule()
    later = timesheets.rule_for(clinic, dt.date(2027, 3, 3))
    assert (later.week_start_day, later.week_start_hour, later.daily_minutes) == (0, 6, 480)
    # The work week holding Wednesday 3 March 05:00 started Monday 1 March 06:00.
    assert timesheets.work_week_of_day(clinic, dt.date(2027, 3, 3)) == dt.date(2027, 3, 1)


def _roster(clinic: Clinic, staff: Staff, template: ShiftTemplate, days: int) -> None:
    week = weeks.week_for(clinic, MONDAY)
    for i in range(days):
        weeks.add_assignment(
            actor=None, week=week, staff=staff, template=template, day=MONDAY + dt.timedelta(i)
        )


def test_roster_shows_who_crosses_the_threshold(
    clinic: Clinic, manager: User, desk: list[Staff], early: ShiftTemplate
) -> None:
    _roster(clinic, desk[0], early, 6)  # 6 x 7.5 h = 45 h in the work week from Sun 28 Feb
    _roster(clinic, desk[1], early, 5)  # 37.5 h
    risks = timesheets.overtime_risk(clinic, {desk[0].pk, desk[1].pk}, MONDAY)
    assert set(risks) == {desk[0].pk}
    assert risks[desk[0].pk].overtime == 5 * 3600
    c = Client()
    c.force_login(manager)
    page = c.get(f"/roster/?week={MONDAY.isoformat()}").content.decode()
    assert "Overtime risk: 1 person" in page
    assert (
        "45.00 h rostered in the work week from Sun 28 Feb (all clinics): 5.00 h overtime" in page
    )


def test_shifts_at_another_clinic_count_towards_the_risk(
    clinic: Clinic, other_clinic: Clinic, desk: list[Staff], early: ShiftTemplate
) -> None:
    _roster(clinic, desk[0], early, 5)  # 37.5 h here
    desk[0].clinics.add(other_clinic)
    there = ShiftTemplate.objects.create(
        clinic=other_clinic,
        name="Sat desk",
        role=RosterRole.FRONT_DESK,
        start_time=dt.time(8),
        end_time=dt.time(14),
        weekdays=[5],
    )
    week = weeks.week_for(other_clinic, MONDAY)
    weeks.add_assignment(
        actor=None, week=week, staff=desk[0], template=there, day=MONDAY + dt.timedelta(5)
    )
    risks = timesheets.overtime_risk(clinic, {desk[0].pk}, MONDAY)
    assert risks[desk[0].pk].overtime == int(3.5 * 3600)


def test_a_monday_work_week_moves_the_threshold(
    clinic: Clinic, desk: list[Staff], early: ShiftTemplate
) -> None:
    # Sunday 7 March 07:00 is in the next work week when weeks start Sunday, but in this one
    # when they start Monday: 6 x 7.5 h Mon-Sat plus Sunday = 52.5 h, 12.5 h overtime.
    _roster(clinic, desk[0], early, 7)
    sunday_start = timesheets.overtime_risk(clinic, {desk[0].pk}, MONDAY)[desk[0].pk]
    assert sunday_start.overtime == 5 * 3600
    OvertimeRule.objects.create(clinic=clinic, effective_from=dt.date(2027, 1, 1), week_start_day=0)
    monday_start = timesheets.overtime_risk(clinic, {desk[0].pk}, MONDAY)[desk[0].pk]
    assert monday_start.overtime == int(12.5 * 3600)
