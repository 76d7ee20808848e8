"""The check-in screen reads its appointment in one constant statement: it must read what the
scoped ORM queryset reads, joined as select_related joins it, in every state the screen shows."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import models
from django.test import Client
from django.utils import timezone

from clinicops.core import roles
from clinicops.core.models import Clinic, Patient, User
from clinicops.core.tests.factories import ClinicFactory, PatientFactory, UserFactory
from patientflow import balances, check_in_read
from patientflow.services import checkin
from revenue.models import LedgerEntry
from scheduling.models import Appointment
from scheduling.tests.factories import AppointmentFactory

pytestmark = pytest.mark.django_db


def _orm_read(user: User | AnonymousUser, pk: int) -> Appointment | None:
    """What the screen read with the ORM before: the reference."""
    appointments = Appointment.objects.select_related(
        "patient__demographics_confirmed_by", "provider__user", "appointment_type", "visit"
    ).annotate(open_balance=balances.patient_balance_expression("patient_id"))
    return appointments.for_user(user).filter(pk=pk).first()


def _values(instance: models.Model | None) -> dict[str, Any] | None:
    if instance is None:
        return None
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


def _related(appointment: Appointment) -> dict[str, Any]:
    """Everything the screen follows from the appointment."""
    try:
        visit = appointment.visit
    except Appointment.visit.RelatedObjectDoesNotExist:  # type: ignore[attr-defined]
        visit = None
    patient = appointment.patient
    return {
        "appointment": _values(appointment),
        "patient": _values(patient),
        "confirmed_by": _values(patient.demographics_confirmed_by),
        "provider": _values(appointment.provider),
        "provider_user": _values(appointment.provider.user),
        "type": _values(appointment.appointment_type),
        "visit": _values(visit),
        "visit_appointment": visit.appointment.pk if visit else None,
        "open_balance": appointment.open_balance,  # type: ignore[attr-defined]
    }


def _owes(patient: Patient, amount: str, *, paid: str = "0") -> None:
    for kind, value in (
        (LedgerEntry.Kind.PATIENT_RESPONSIBILITY, amount),
        (LedgerEntry.Kind.PATIENT_PAYMENT, paid),
    ):
        LedgerEntry.objects.create(
            clinic=patient.clinic,
            patient=patient,
            kind=kind,
            amount=Decimal(value),
            posted_at=timezone.now(),
            posted_by_label="desk",
        )


def test_the_statement_reads_what_the_scoped_queryset_reads(
    flow_clinic: Clinic,
    front_desk: User,
    patient: Patient,
    make_appointment: Callable[..., Appointment],
    django_assert_num_queries: Any,
) -> None:
    # given a patient who owes (and paid part of it), whose demographics someone confirmed,
    # checked in; a patient never confirmed, owing nothing, not checked in; a cancelled one
    _owes(patient, "40.00", paid="12.50")
    Patient.objects.filter(pk=patient.pk).update(
        demographics_confirmed_at=timezone.now(), demographics_confirmed_by=front_desk
    )
    arrived = make_appointment(patient=patient, minutes_from_now=-20)
    checkin.check_in(actor=front_desk, appointment=arrived)
    expected = make_appointment(patient=PatientFactory(clinic=flow_clinic), minutes_from_now=20)
    cancelled = make_appointment(
        minutes_from_now=40, status=Appointment.Status.CANCELLED, cancel_reason="patient"
    )
    superuser = UserFactory(is_superuser=True)

    for user in (front_desk, superuser):
        for appointment in (arrived, expected, cancelled):
            # when
            with django_assert_num_queries(1):
                read = check_in_read.check_in_appointment(user=user, pk=appointment.pk)
                assert read is not None
                # then following what the screen shows reads nothing more
                found = _related(read)
            reference = _orm_read(user, appointment.pk)
            assert reference is not None
            assert found == _related(reference)
    # the states are the ones meant
    read_arrived = check_in_read.check_in_appointment(user=front_desk, pk=arrived.pk)
    assert read_arrived is not None
    assert _related(read_arrived)["open_balance"] == Decimal("27.50")
    assert _related(read_arrived)["confirmed_by"]["username"] == front_desk.username
    assert _related(read_arrived)["visit"] is not None
    read_expected = check_in_read.check_in_appointment(user=front_desk, pk=expected.pk)
    assert read_expected is not None
    assert (_related(read_expected)["visit"], _related(read_expected)["confirmed_by"]) == (
        None,
        None,
    )
    assert _related(read_expected)["open_balance"] == Decimal("0")


def test_another_clinics_appointment_is_not_read(
    flow_clinic: Clinic,
    front_desk: User,
    appointment: Appointment,
    make_user: Callable[..., User],
) -> None:
    elsewhere = AppointmentFactory(clinic=ClinicFactory())
    outsider = make_user(roles.FRONT_DESK, clinics=[ClinicFactory()])
    cases = [
        (front_desk, elsewhere.pk),
        (outsider, appointment.pk),
        (AnonymousUser(), appointment.pk),
        (front_desk, 2**63 + 1),  # no such id, however large
    ]
    for user, pk in cases:
        assert check_in_read.check_in_appointment(user=user, pk=pk) is None
        if pk < 2**63:
            assert _orm_read(user, pk) is None
    assert check_in_read.check_in_appointment(user=front_desk, pk=appointment.pk) is not None


def test_another_clinics_check_in_page_is_404(
    client: Client, front_desk: User, appointment: Appointment
) -> None:
    elsewhere = AppointmentFactory(clinic=ClinicFactory())
    client.force_login(front_desk)
    assert client.get(f"/flow/check-in/{appointment.pk}/").status_code == 200
    assert client.get(f"/flow/check-in/{elsewhere.pk}/").status_code == 404
    assert client.get(f"/flow/check-in/{elsewhere.pk}/demographics/").status_code == 404
    assert client.get(f"/flow/check-in/{2**63 + 1}/").status_code == 404
