"""Reminders (idempotent, with a confirm link) and automatic no-shows."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core import mail

from clinicops.audit.models import AuditEvent
from scheduling import tasks
from scheduling.models import Appointment, SchedulingSettings
from scheduling.services import reminders, transitions
from scheduling.tests.conftest import MONDAY, local
from scheduling.tests.factories import AppointmentFactory

pytestmark = pytest.mark.django_db

Status = Appointment.Status


@pytest.fixture
def appointment(clinic, provider, visit, patient):
    return AppointmentFactory(
        clinic=clinic,
        provider=provider,
        appointment_type=visit,
        patient=patient,
        start=local(MONDAY, 9),
    )


def test_reminder_goes_out_48_hours_before_with_a_confirm_link(appointment, patient) -> None:
    assert reminders.send_due_reminders(now=local(MONDAY, 9) - dt.timedelta(hours=49)) == 0
    assert reminders.send_due_reminders(now=local(MONDAY, 9) - dt.timedelta(hours=47)) == 1
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [patient.email]
    assert "Monday 01 March 2027 at 09:00" in message.body
    assert re.search(r"http://localhost:8000/scheduling/confirm/[^/\s]+/", message.body)
    appointment.refresh_from_db()
    assert appointment.reminder_sent_at is not None
    assert AuditEvent.objects.filter(
        object_id=str(appointment.pk), summary__startswith="Reminder emailed"
    ).exists()


def test_reminders_are_idempotent(appointment) -> None:
    now = local(MONDAY, 9) - dt.timedelta(hours=24)
    assert reminders.send_due_reminders(now=now) == 1
    assert reminders.send_due_reminders(now=now) == 0
    assert reminders.send_due_reminders(now=now + dt.timedelta(hours=1)) == 0
    assert len(mail.outbox) == 1


def test_reminder_hours_is_a_clinic_setting(appointment, clinic) -> None:
    SchedulingSettings.objects.create(clinic=clinic, reminder_hours=72)
    assert reminders.send_due_reminders(now=local(MONDAY, 9) - dt.timedelta(hours=71)) == 1


def test_no_reminder_without_email_or_once_confirmed_or_cancelled(
    clinic, provider, visit, make_patient
) -> None:
    AppointmentFactory(
        clinic=clinic,
        provider=provider,
        appointment_type=visit,
        patient=make_patient(email=""),
        start=local(MONDAY, 9),
    )
    AppointmentFactory(
        clinic=clinic,
        provider=provider,
        appointment_type=visit,
        start=local(MONDAY, 9, 20),
        status=Status.CONFIRMED,
    )
    AppointmentFactory(
        clinic=clinic,
        provider=provider,
        appointment_type=visit,
        start=local(MONDAY, 9, 40),
        status=Status.CANCELLED,
        cancel_reason="patient",
    )
    assert reminders.send_due_reminders(now=local(MONDAY, 7)) == 0
    assert mail.outbox == []


def test_the_link_confirms_the_appointment(appointment, client) -> None:
    reminders.send_due_reminders(now=local(MONDAY, 9) - dt.timedelta(hours=24))
    path = re.search(r"http://localhost:8000(/scheduling/confirm/[^/\s]+/)", mail.outbox[0].body)
    assert path is not None
    page = client.get(path.group(1))
    assert page.status_code == 200
    assert b"Yes, I will come" in page.content
    appointment.refresh_from_db()
    assert appointment.status == Status.BOOKED  # a GET (a mail scanner) confirms nothing
    done = client.post(path.group(1))
    assert done.status_code == 200
    assert b"confirmed" in done.content
    appointment.refresh_from_db()
    assert appointment.status == Status.CONFIRMED
    event = appointment.events.get(to_status=Status.CONFIRMED)
    assert event.actor is None
    assert event.actor_label == "patient (reminder link)"
    assert AuditEvent.objects.filter(
        object_id=str(appointment.pk), actor_label="patient (reminder link)", action="update"
    ).exists()
    # A second click is harmless.
    again = client.post(path.group(1))
    assert again.status_code == 200
    assert appointment.events.filter(to_status=Status.CONFIRMED).count() == 1


def test_a_tampered_link_is_refused(appointment, client) -> None:
    token = reminders.make_confirm_token(appointment)
    response = client.post(f"/scheduling/confirm/{token[:-2]}xx/")
    assert response.status_code == 400
    assert b"not valid" in response.content
    appointment.refresh_from_db()
    assert appointment.status == Status.BOOKED


def test_a_cancelled_appointment_cannot_be_confirmed_by_link(appointment, client, front_desk):
    token = reminders.make_confirm_token(appointment)
    transitions.cancel_appointment(
        actor=front_desk, appointment=appointment, reason="patient", now=local(MONDAY, 6)
    )
    response = client.post(f"/scheduling/confirm/{token}/")
    assert response.status_code == 409
    assert b"call the clinic" in response.content


def test_overdue_appointments_become_no_shows(clinic, provider, visit) -> None:
    late = AppointmentFactory(
        clinic=clinic, provider=provider, appointment_type=visit, start=local(MONDAY, 8)
    )
    confirmed = AppointmentFactory(
        clinic=clinic,
        provider=provider,
        appointment_type=visit,
        start=local(MONDAY, 8, 20),
        status=Status.CONFIRMED,
    )
    recent = AppointmentFactory(
        clinic=clinic, provider=provider, appointment_type=visit, start=local(MONDAY, 9)
    )
    arrived = AppointmentFactory(
        clinic=clinic,
        provider=provider,
        appointment_type=visit,
        start=local(MONDAY, 7, 40),
        status=Status.ARRIVED,
    )
    # 10:00: `late` ended 08:20 and `confirmed` 08:40 (over 60 minutes); `recent` 09:20.
    assert reminders.mark_overdue_no_shows(now=local(MONDAY, 10)) == 2
    statuses = dict(Appointment.objects.values_list("pk", "status"))
    assert statuses == {
        late.pk: Status.NO_SHOW,
        confirmed.pk: Status.NO_SHOW,
        recent.pk: Status.BOOKED,
        arrived.pk: Status.ARRIVED,
    }
    assert late.events.get().note == "automatic: no check-in"
    assert reminders.mark_overdue_no_shows(now=local(MONDAY, 10)) == 0


def test_auto_no_show_can_be_turned_off(clinic, provider, visit) -> None:
    SchedulingSettings.objects.create(clinic=clinic, auto_no_show_enabled=False)
    AppointmentFactory(clinic=clinic, provider=provider, appointment_type=visit)
    assert reminders.mark_overdue_no_shows(now=local(MONDAY, 23)) == 0


def test_auto_no_show_minutes_is_a_clinic_setting(clinic, provider, visit) -> None:
    SchedulingSettings.objects.create(clinic=clinic, auto_no_show_minutes=15)
    AppointmentFactory(
        clinic=clinic, provider=provider, appointment_type=visit, start=local(MONDAY, 8)
    )
    assert reminders.mark_overdue_no_shows(now=local(MONDAY, 8, 34)) == 0
    assert reminders.mark_overdue_no_shows(now=local(MONDAY, 8, 35)) == 1


def test_tasks_call_the_services(appointment, monkeypatch) -> None:
    monkeypatch.setattr(reminders.timezone, "now", lambda: local(MONDAY, 9) - dt.timedelta(hours=1))
    assert tasks.send_reminders.apply().get() == 1
    monkeypatch.setattr(reminders.timezone, "now", lambda: local(MONDAY, 12))
    assert tasks.mark_no_shows.apply().get() == 1
