"""Several reminder workers at once still email each appointment exactly once."""

from __future__ import annotations

import datetime as dt
import threading
import zoneinfo

import pytest
from django.core import mail
from django.db import connection

from clinicops.core import roles
from clinicops.core.tests.factories import ClinicFactory, PatientFactory, StaffFactory
from scheduling.models import Appointment
from scheduling.services import reminders
from scheduling.tests.factories import AppointmentFactory, AppointmentTypeFactory

pytestmark = [pytest.mark.concurrency, pytest.mark.django_db(transaction=True)]

NY = zoneinfo.ZoneInfo("America/New_York")
WORKERS = 8
APPOINTMENTS = 40


def test_concurrent_reminder_runs_send_each_reminder_once() -> None:
    clinic = ClinicFactory(name="Reminder Clinic")
    provider = StaffFactory(roles=[roles.PROVIDER], clinics=[clinic], user__password="!x")
    visit = AppointmentTypeFactory(clinic=clinic, name="Visit", duration_minutes=20)
    first = dt.datetime(2027, 3, 1, 8, 0, tzinfo=NY)
    for n in range(APPOINTMENTS):
        AppointmentFactory(
            clinic=clinic,
            provider=provider,
            appointment_type=visit,
            patient=PatientFactory(clinic=clinic, email=f"patient{n}@example.org"),
            start=first + dt.timedelta(minutes=20 * n),
        )
    now = first - dt.timedelta(hours=24)
    barrier = threading.Barrier(WORKERS)
    counts: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait(timeout=60)
            counts.append(reminders.send_due_reminders(now=now))
        except BaseException as error:  # reported by the assertion below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    assert sum(counts) == APPOINTMENTS
    assert len(mail.outbox) == APPOINTMENTS
    assert len({tuple(m.to) for m in mail.outbox}) == APPOINTMENTS
    assert not Appointment.objects.filter(reminder_sent_at__isnull=True).exists()
