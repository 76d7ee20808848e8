"""Patient-flow fixtures: a clinic where it is midday now, one provider, three exam rooms.

Check-in and the boards work on "today" at the clinic, so the tests use the real clock. The
clinic's time zone is chosen so that it is between 12:00 and 13:00 there when the test runs:
the provider's 08:00-18:00 schedule is then open, whatever time the tests run at.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from django.utils import timezone

from clinicops.core import roles
from clinicops.core.models import Clinic, Patient, Room, Staff, User
from clinicops.core.tests.factories import PatientFactory, RoomFactory, StaffFactory
from patientflow.tests.clock import midday_zone
from scheduling.models import Appointment, AppointmentType, ScheduleTemplate
from scheduling.tests.factories import (
    AppointmentFactory,
    AppointmentTypeFactory,
    ScheduleTemplateFactory,
    TemplateBlockFactory,
)


@pytest.fixture(autouse=True)
def _isolated_cache(settings: pytest.FixtureRequest) -> None:
    """A per-test in-memory cache: the boards remember what they last audited there."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "flow"}
    }
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def flow_clinic(clinic: Clinic) -> Clinic:
    clinic.time_zone = midday_zone()
    clinic.save(update_fields=["time_zone"])
    return clinic


@pytest.fixture
def provider(flow_clinic: Clinic) -> Staff:
    return StaffFactory(
        roles=[roles.PROVIDER],
        clinics=[flow_clinic],
        user__username="drosler",
        user__first_name="Ada",
        user__last_name="Osler",
    )


@pytest.fixture
def visit_type(flow_clinic: Clinic) -> AppointmentType:
    return AppointmentTypeFactory(clinic=flow_clinic, name="Follow-up", duration_minutes=20)


@pytest.fixture
def schedule(flow_clinic: Clinic, provider: Staff) -> ScheduleTemplate:
    """The provider works 08:00-18:00 every day, 20-minute slots, one overbook a day allowed."""
    template = ScheduleTemplateFactory(
        clinic=flow_clinic,
        provider=provider,
        effective_from=flow_clinic.today() - dt.timedelta(days=30),
    )
    for weekday in range(7):
        TemplateBlockFactory(
            template=template,
            weekday=weekday,
            start_time=dt.time(8),
            end_time=dt.time(18),
            slot_minutes=20,
            overbook_limit=1,
        )
    return template


@pytest.fixture
def rooms(flow_clinic: Clinic) -> list[Room]:
    return [RoomFactory(clinic=flow_clinic, name=f"Exam {n}") for n in (1, 2, 3)]


@pytest.fixture
def nurse(make_user: Callable[..., User]) -> User:
    return make_user(roles.NURSE, username="nurse")


@pytest.fixture
def manager(make_user: Callable[..., User]) -> User:
    return make_user(roles.MANAGER, username="manager")


@pytest.fixture
def patient(flow_clinic: Clinic) -> Patient:
    return PatientFactory(clinic=flow_clinic, first_name="Harriet", last_name="Quimby")


def slot_start(clinic: Clinic, minutes_from_now: int = 0) -> dt.datetime:
    """The start of the 20-minute slot `minutes_from_now` from now, at the clinic."""
    moment = timezone.now().astimezone(clinic.tz) + dt.timedelta(minutes=minutes_from_now)
    return moment.replace(minute=moment.minute - moment.minute % 20, second=0, microsecond=0)


@pytest.fixture
def make_appointment(
    flow_clinic: Clinic, provider: Staff, visit_type: AppointmentType, schedule: ScheduleTemplate
) -> Callable[..., Appointment]:
    """An appointment row today (set-up only; real bookings go through scheduling)."""

    def make(
        patient: Patient | None = None, minutes_from_now: int = 0, **fields: object
    ) -> Appointment:
        fields.setdefault("start", slot_start(flow_clinic, minutes_from_now))
        return AppointmentFactory(
            clinic=flow_clinic,
            patient=patient or PatientFactory(clinic=flow_clinic),
            provider=provider,
            appointment_type=visit_type,
            **fields,
        )

    return make


@pytest.fixture
def appointment(make_appointment: Callable[..., Appointment], patient: Patient) -> Appointment:
    return make_appointment(patient=patient)
