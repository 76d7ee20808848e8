"""Workforce fixtures: a New York clinic with a manager, four rostered people and two shifts.

Weeks are in March 2027 (the week of Monday 8 March holds the spring-forward Sunday)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import Group

from clinicops.core import roles
from clinicops.core.models import Clinic, Staff, User
from clinicops.core.tests.factories import StaffFactory
from workforce.models import RosterRole, ShiftTemplate, StaffContract

MONDAY = dt.date(2027, 3, 1)


@pytest.fixture(autouse=True)
def _role_groups(db: None) -> None:
    if not Group.objects.filter(name=roles.FRONT_DESK).exists():
        roles.sync_roles()


def person(clinic: Clinic, last: str, role: str, hours: int = 40, **kw: Any) -> Staff:
    portal = {RosterRole.FRONT_DESK: roles.FRONT_DESK, RosterRole.PROVIDER: roles.PROVIDER}.get(
        role, roles.NURSE
    )
    staff = StaffFactory(
        roles=[portal],
        clinics=kw.pop("clinics", [clinic]),
        user__last_name=last,
        user__first_name=kw.pop("first", "Sam"),
        user__username=kw.pop("username", last.lower()),
    )
    StaffContract.objects.create(staff=staff, role=role, contract_minutes_week=hours * 60, **kw)
    return staff


@pytest.fixture
def manager(clinic: Clinic) -> User:
    staff = StaffFactory(roles=[roles.MANAGER], clinics=[clinic], user__username="manager")
    return staff.user


@pytest.fixture
def desk(clinic: Clinic) -> list[Staff]:
    return [
        person(clinic, "Adams", RosterRole.FRONT_DESK),
        person(clinic, "Baker", RosterRole.FRONT_DESK),
    ]


@pytest.fixture
def mas(clinic: Clinic) -> list[Staff]:
    return [
        person(clinic, "Cole", RosterRole.MEDICAL_ASSISTANT),
        person(clinic, "Dunn", RosterRole.MEDICAL_ASSISTANT),
    ]


@pytest.fixture
def early(clinic: Clinic) -> ShiftTemplate:
    return ShiftTemplate.objects.create(
        clinic=clinic,
        name="Desk early",
        role=RosterRole.FRONT_DESK,
        start_time=dt.time(7),
        end_time=dt.time(15),
        break_minutes=30,
        weekdays=list(range(7)),
    )


@pytest.fixture
def late(clinic: Clinic) -> ShiftTemplate:
    return ShiftTemplate.objects.create(
        clinic=clinic,
        name="Desk late",
        role=RosterRole.FRONT_DESK,
        start_time=dt.time(14),
        end_time=dt.time(22),
        break_minutes=30,
        weekdays=list(range(7)),
    )


@pytest.fixture
def ma_day(clinic: Clinic) -> ShiftTemplate:
    return ShiftTemplate.objects.create(
        clinic=clinic,
        name="MA day",
        role=RosterRole.MEDICAL_ASSISTANT,
        start_time=dt.time(8),
        end_time=dt.time(16),
        break_minutes=30,
        weekdays=list(range(5)),
    )
