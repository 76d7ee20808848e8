"""Cancelling in one step and undoing it within seconds: the undo restores exactly, only while
the slot is still free, only for the person who cancelled, only by the server's clock; the same
cancel or undo sent twice changes nothing the second time."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client

from clinicops.audit.models import AuditEvent
from clinicops.core import roles
from clinicops.core.tests.factories import ClinicFactory, RoomFactory
from scheduling import services
from scheduling.models import Appointment, AppointmentEvent, WaitlistOffer
from scheduling.services import booking, transitions
from scheduling.tests.conftest import MONDAY, local
from scheduling.tests.factories import AppointmentFactory, WaitlistEntryFactory

pytestmark = pytest.mark.django_db

Status = Appointment.Status
SOON = dt.timedelta(seconds=5)


@pytest.fixture
def book(clinic, provider, visit, patient, front_desk, monday_block, now):
    def _book(**overrides):
        kwargs = {
            "actor": front_desk,
            "clinic": clinic,
            "patient": patient,
            "provider": provider,
            "appointment_type": visit,
            "start": local(MONDAY, 8),
            "now": now,
        }
        kwargs.update(overrides)
        return booking.book_appointment(**kwargs).appointment

    return _book


def cancel(appt, actor, now, reason="patient", note=""):
    return transitions.cancel_appointment(
        actor=actor, appointment=appt, reason=reason, note=note, now=now
    )


def test_undo_restores_the_appointment_exactly(book, front_desk, now) -> None:
    appt = transitions.confirm_appointment(actor=front_desk, appointment=book())
    late = local(MONDAY, 6)  # inside the 24-hour window: a late cancellation
    cancelled = cancel(appt, front_desk, late, reason="patient_ill", note="flu").appointment
    assert (cancelled.status, cancelled.late_cancel) == (Status.CANCELLED, True)

    result = transitions.undo_cancellation(actor=front_desk, appointment=appt, now=late + SOON)

    stored = Appointment.objects.get(pk=appt.pk)
    assert not result.replayed
    assert stored.status == Status.CONFIRMED  # what it was, not just "booked"
    assert (stored.cancel_reason, stored.cancel_note) == ("", "")
    assert stored.cancelled_at is None
    assert stored.late_cancel is False
    steps = list(
        AppointmentEvent.objects.filter(appointment=appt)
        .order_by("pk")
        .values_list("from_status", "to_status", "note")
    )
    assert steps[-2:] == [
        ("confirmed", "cancelled", "Patient ill: flu"),
        ("cancelled", "confirmed", transitions.UNDONE_NOTE),
    ]
    entry = AuditEvent.objects.filter(object_id=str(appt.pk)).order_by("-id").first()
    assert entry is not None
    assert entry.summary.startswith("Cancellation undone")
    assert entry.changes["status"] == ["cancelled", "confirmed"]


def test_the_same_undo_twice_changes_nothing_the_second_time(book, front_desk, now) -> None:
    appt = book()
    cancel(appt, front_desk, now)
    transitions.undo_cancellation(actor=front_desk, appointment=appt, now=now + SOON)
    events = AppointmentEvent.objects.count()
    audits = AuditEvent.objects.count()

    again = transitions.undo_cancellation(actor=front_desk, appointment=appt, now=now + SOON)

    assert again.replayed
    assert again.appointment.status == Status.BOOKED
    assert (AppointmentEvent.objects.count(), AuditEvent.objects.count()) == (events, audits)


def test_the_same_cancel_twice_cancels_once(book, front_desk, now) -> None:
    appt = book()
    first = cancel(appt, front_desk, now)
    again = cancel(appt, front_desk, now + SOON)
    assert (first.replayed, again.replayed) == (False, True)
    assert again.appointment.cancelled_at == now  # the first cancellation's time, kept
    cancels = AppointmentEvent.objects.filter(appointment=appt, to_status=Status.CANCELLED)
    assert cancels.count() == 1


def test_undo_is_refused_after_the_window_by_the_server_clock(book, front_desk, now) -> None:
    appt = book()
    cancel(appt, front_desk, now)
    late = now + dt.timedelta(seconds=transitions.CANCEL_UNDO_SECONDS + 1)
    with pytest.raises(services.IllegalTransition, match="book the appointment again"):
        transitions.undo_cancellation(actor=front_desk, appointment=appt, now=late)
    assert Appointment.objects.get(pk=appt.pk).status == Status.CANCELLED
    # at the last second it still works
    edge = now + dt.timedelta(seconds=transitions.CANCEL_UNDO_SECONDS)
    assert transitions.undo_cancellation(actor=front_desk, appointment=appt, now=edge)


def test_only_the_person_who_cancelled_can_undo(book, front_desk, make_user, now) -> None:
    appt = book()
    cancel(appt, front_desk, now)
    colleague = make_user(roles.FRONT_DESK, username="colleague")
    with pytest.raises(services.IllegalTransition, match="Only the person who cancelled"):
        transitions.undo_cancellation(actor=colleague, appointment=appt, now=now + SOON)
    assert transitions.cancellation_undo_until(appt, actor=colleague) is None
    assert transitions.cancellation_undo_until(
        Appointment.objects.get(pk=appt.pk), actor=front_desk
    ) == now + dt.timedelta(seconds=transitions.CANCEL_UNDO_SECONDS)


def test_undo_is_refused_when_the_slot_was_booked_since(
    book, front_desk, make_patient, now
) -> None:
    appt = book()
    cancel(appt, front_desk, now)
    book(patient=make_patient())  # the freed 08:00 taken by someone else
    with pytest.raises(services.SlotTaken, match=r"Not restored: .* has been booked for another"):
        transitions.undo_cancellation(actor=front_desk, appointment=appt, now=now + SOON)
    stored = Appointment.objects.get(pk=appt.pk)
    assert stored.status == Status.CANCELLED
    assert stored.cancel_reason == "patient"
    assert not AppointmentEvent.objects.filter(note=transitions.UNDONE_NOTE).exists()


def test_undo_is_refused_when_the_room_was_booked_since(
    book, clinic, front_desk, make_patient, now
) -> None:
    room = RoomFactory(clinic=clinic, name="Exam 3")
    appt = book(room=room)
    cancel(appt, front_desk, now)
    # an overbook of another provider would not clash; the room does
    AppointmentFactory(clinic=clinic, room=room, start=appt.start, end=appt.end)
    with pytest.raises(services.RoomTaken, match="Not restored: Exam 3 has been booked"):
        transitions.undo_cancellation(actor=front_desk, appointment=appt, now=now + SOON)
    assert Appointment.objects.get(pk=appt.pk).status == Status.CANCELLED


def test_undo_is_refused_when_the_patient_was_booked_at_that_time_since(
    book, clinic, patient, front_desk, now
) -> None:
    appt = book()
    cancel(appt, front_desk, now)
    AppointmentFactory(clinic=clinic, patient=patient, start=appt.start, end=appt.end)
    with pytest.raises(services.PatientDoubleBooked, match="Not restored"):
        transitions.undo_cancellation(actor=front_desk, appointment=appt, now=now + SOON)
    assert Appointment.objects.get(pk=appt.pk).status == Status.CANCELLED


def test_undo_withdraws_the_waitlist_offers_of_the_slot(
    book, clinic, visit, front_desk, now
) -> None:
    appt = book()
    WaitlistEntryFactory(clinic=clinic, appointment_type=visit)
    offers = cancel(appt, front_desk, now).offers
    assert len(offers) == 1
    transitions.undo_cancellation(actor=front_desk, appointment=appt, now=now + SOON)
    assert WaitlistOffer.objects.get(pk=offers[0].pk).status == WaitlistOffer.Status.EXPIRED


def test_a_reschedule_is_not_undone_here(book, front_desk, now) -> None:
    appt = book()
    transitions.reschedule_appointment(
        actor=front_desk, appointment=appt, start=local(MONDAY, 9), now=now
    )
    with pytest.raises(services.IllegalTransition):
        transitions.undo_cancellation(actor=front_desk, appointment=appt, now=now + SOON)


# --- the appointment page ---------------------------------------------------------------------


@pytest.fixture
def desk_client(client: Client, front_desk) -> Client:
    client.force_login(front_desk)
    return client


@pytest.fixture
def upcoming(clinic, provider, visit, patient):
    """An appointment a week ahead of the real clock (the views use the real time)."""
    from django.utils import timezone

    start = (timezone.now() + dt.timedelta(days=7)).replace(second=0, microsecond=0)
    return AppointmentFactory(
        clinic=clinic, provider=provider, appointment_type=visit, patient=patient, start=start
    )


def test_cancel_offers_undo_with_the_seconds_left_by_the_server(desk_client, upcoming) -> None:
    url = f"/scheduling/appointments/{upcoming.pk}/"
    response = desk_client.post(
        f"{url}cancel/", {"reason": "patient", "note": ""}, headers={"HX-Request": "true"}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "Appointment cancelled: Patient request." in html
    seconds = int(re.search(r'data-undo-seconds="(\d+)"', html).group(1))
    assert transitions.CANCEL_UNDO_SECONDS - 2 <= seconds <= transitions.CANCEL_UNDO_SECONDS

    again = desk_client.post(
        f"{url}cancel/", {"reason": "patient", "note": ""}, headers={"HX-Request": "true"}
    )
    assert "Already cancelled (Patient request); nothing changed." in again.content.decode()

    undone = desk_client.post(f"{url}undo-cancel/", headers={"HX-Request": "true"})
    text = undone.content.decode()
    assert "Cancellation undone: the appointment at" in text
    assert "is booked again." in text
    assert "data-undo-seconds" not in text
    assert Appointment.objects.get(pk=upcoming.pk).status == Status.BOOKED
    twice = desk_client.post(f"{url}undo-cancel/", headers={"HX-Request": "true"})
    assert "Already restored: the appointment is booked." in twice.content.decode()


def test_a_plain_post_undo_redirects_with_the_stored_result(desk_client, upcoming) -> None:
    url = f"/scheduling/appointments/{upcoming.pk}/"
    desk_client.post(f"{url}cancel/", {"reason": "patient_ill", "note": ""})
    page = desk_client.get(url).content.decode()
    assert "Undo the cancellation" in page
    response = desk_client.post(f"{url}undo-cancel/", follow=True)
    assert "is booked again." in response.content.decode()


def test_undo_of_another_clinics_appointment_is_404(desk_client, visit) -> None:
    elsewhere = AppointmentFactory(clinic=ClinicFactory(name="Elsewhere"))
    assert desk_client.post(
        f"/scheduling/appointments/{elsewhere.pk}/undo-cancel/"
    ).status_code == (404)


def test_undo_needs_the_change_permission(client: Client, make_user, upcoming) -> None:
    client.force_login(make_user(roles.BILLER, username="biller"))
    url = f"/scheduling/appointments/{upcoming.pk}/undo-cancel/"
    assert client.post(url).status_code == 403
    assert client.get(url).status_code in (403, 405)


def test_an_undo_refused_says_why_and_changes_nothing(desk_client, upcoming) -> None:
    url = f"/scheduling/appointments/{upcoming.pk}/"
    response = desk_client.post(f"{url}undo-cancel/", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "This appointment is not cancelled." in response.content.decode()
    assert Appointment.objects.get(pk=upcoming.pk).status == Status.BOOKED
