"""Scheduling reads are scoped to the user's clinics and cut at local-day boundaries."""

from __future__ import annotations

import datetime as dt

import pytest

from clinicops.core import roles
from clinicops.core.tests.factories import PatientFactory
from scheduling import selectors
from scheduling.models import Appointment, TemplateBlock
from scheduling.tests.conftest import MONDAY, local
from scheduling.tests.factories import (
    AppointmentFactory,
    ProviderTimeOffFactory,
    TemplateBlockFactory,
)

pytestmark = pytest.mark.django_db


def test_day_list_is_the_local_day_of_the_users_clinic(
    clinic, other_clinic, provider, visit, front_desk, make_user
) -> None:
    ours = AppointmentFactory(clinic=clinic, provider=provider, appointment_type=visit)
    # 23:30 on Monday in New York is 04:30 UTC on Tuesday: still Monday's.
    late = AppointmentFactory(
        clinic=clinic, provider=provider, appointment_type=visit, start=local(MONDAY, 23, 30)
    )
    AppointmentFactory(
        clinic=clinic,
        provider=provider,
        appointment_type=visit,
        start=local(MONDAY, 0, 0) - dt.timedelta(minutes=30),
    )
    AppointmentFactory(clinic=other_clinic, start=local(MONDAY, 9))
    day = selectors.appointments_for_day(user=front_desk, clinic=clinic, day=MONDAY)
    assert [a.pk for a in day] == [ours.pk, late.pk]
    outsider = make_user(roles.FRONT_DESK, clinics=[other_clinic])
    assert not selectors.appointments_for_day(user=outsider, clinic=clinic, day=MONDAY).exists()


def test_patient_appointments_split_and_count_no_shows(
    clinic, provider, visit, patient, front_desk
) -> None:
    past = AppointmentFactory(
        clinic=clinic,
        provider=provider,
        appointment_type=visit,
        patient=patient,
        status=Appointment.Status.NO_SHOW,
    )
    upcoming = AppointmentFactory(
        clinic=clinic,
        provider=provider,
        appointment_type=visit,
        patient=patient,
        start=local(MONDAY + dt.timedelta(weeks=2), 9),
    )
    found = selectors.patient_appointments(
        user=front_desk, patient=patient, now=local(MONDAY + dt.timedelta(days=1), 9)
    )
    assert [a.pk for a in found.upcoming] == [upcoming.pk]
    assert [a.pk for a in found.past] == [past.pk]
    assert found.no_show_count == 1


def test_appointments_to_move_lists_open_ones_in_the_time_off(
    clinic, provider, visit, front_desk
) -> None:
    inside = AppointmentFactory(
        clinic=clinic, provider=provider, appointment_type=visit, start=local(MONDAY, 9)
    )
    AppointmentFactory(
        clinic=clinic,
        provider=provider,
        appointment_type=visit,
        start=local(MONDAY, 9, 20),
        status=Appointment.Status.CANCELLED,
        cancel_reason="patient",
    )
    AppointmentFactory(
        clinic=clinic, provider=provider, appointment_type=visit, start=local(MONDAY, 13)
    )
    time_off = ProviderTimeOffFactory(
        provider=provider, start=local(MONDAY, 8), end=local(MONDAY, 12)
    )
    moved = selectors.appointments_to_move(user=front_desk, time_off=time_off)
    assert [a.pk for a in moved] == [inside.pk]


def test_template_week_preview(template) -> None:
    TemplateBlockFactory(template=template, weekday=0, start_time=dt.time(8), end_time=dt.time(9))
    TemplateBlockFactory(
        template=template,
        weekday=0,
        start_time=dt.time(12),
        end_time=dt.time(13),
        kind=TemplateBlock.Kind.ADMIN,
        slot_minutes=60,
    )
    preview = selectors.template_week_preview(template=template, week_start=MONDAY)
    assert len(preview) == 7
    monday = preview[MONDAY]
    assert [(s.start, s.kind) for s in monday] == [
        (local(MONDAY, 8), "regular"),
        (local(MONDAY, 8, 20), "regular"),
        (local(MONDAY, 8, 40), "regular"),
        (local(MONDAY, 12), "admin"),
    ]
    assert preview[MONDAY + dt.timedelta(days=1)] == []


def test_todays_completed_visit_is_past_not_upcoming(clinic, provider, visit, front_desk) -> None:
    patient = PatientFactory(clinic=clinic)
    now = local(MONDAY, 9, 10)
    finished_early = AppointmentFactory(
        clinic=clinic,
        provider=provider,
        appointment_type=visit,
        patient=patient,
        start=local(MONDAY, 9),
        status=Appointment.Status.COMPLETED,
    )
    later_today = AppointmentFactory(
        clinic=clinic,
        provider=provider,
        appointment_type=visit,
        patient=patient,
        start=local(MONDAY, 15),
    )
    found = selectors.patient_appointments(user=front_desk, patient=patient, now=now)
    assert finished_early.end > now
    assert [a.pk for a in found.upcoming] == [later_today.pk]
    assert [a.pk for a in found.past] == [finished_early.pk]
