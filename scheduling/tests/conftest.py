"""Scheduling fixtures: a clinic in New York with one provider working Monday mornings.

Dates are in 2027 and every service call passes `now`, so the tests do not age.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable

import pytest
from django.contrib.auth.models import Group

from clinicops.core import roles
from clinicops.core.models import Clinic, Patient, Staff, User
from clinicops.core.tests.factories import PatientFactory, StaffFactory
from scheduling.models import AppointmentType, ScheduleTemplate, TemplateBlock
from scheduling.tests.factories import (
    AppointmentTypeFactory,
    ScheduleTemplateFactory,
    TemplateBlockFactory,
)

NY = zoneinfo.ZoneInfo("America/New_York")
MONDAY = dt.date(2027, 3, 1)  # a Monday in EST (UTC-5)


def local(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    """A New York wall-clock time, as an aware datetime."""
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=NY)


@pytest.fixture(autouse=True)
def _role_groups(db: None) -> None:
    """The role groups come from data migrations; a transactional test's flush (with
    --reuse-db, carried into the next run) empties them, so put them back if they are gone."""
    if not Group.objects.filter(name=roles.FRONT_DESK).exists():
        roles.sync_roles()


@pytest.fixture
def now() -> dt.datetime:
    """The Friday before MONDAY, 09:00 in New York."""
    return local(MONDAY - dt.timedelta(days=3), 9)


@pytest.fixture
def provider(clinic: Clinic) -> Staff:
    return StaffFactory(roles=[roles.PROVIDER], clinics=[clinic], user__last_name="Osler")


@pytest.fixture
def visit(clinic: Clinic) -> AppointmentType:
    return AppointmentTypeFactory(clinic=clinic, name="Follow-up", duration_minutes=20)


@pytest.fixture
def template(clinic: Clinic, provider: Staff) -> ScheduleTemplate:
    return ScheduleTemplateFactory(clinic=clinic, provider=provider)


@pytest.fixture
def monday_block(template: ScheduleTemplate) -> TemplateBlock:
    """Mondays 08:00-12:00 local, 20-minute slots, any type."""
    return TemplateBlockFactory(template=template, weekday=0)


@pytest.fixture
def patient(clinic: Clinic) -> Patient:
    return PatientFactory(clinic=clinic)


@pytest.fixture
def make_patient(clinic: Clinic) -> Callable[..., Patient]:
    def make(**fields: object) -> Patient:
        fields.setdefault("clinic", clinic)
        return PatientFactory(**fields)

    return make


@pytest.fixture
def manager(make_user: Callable[..., User]) -> User:
    return make_user(roles.MANAGER, username="manager")
