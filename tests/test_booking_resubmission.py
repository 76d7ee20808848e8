"""A booking form sent twice books once, and the repeat says "already booked", never "taken".

Every form that creates an appointment carries a submission key, one per rendering: the book
page, find-a-slot's slots (a booking or a reschedule), the walk-in form and checkout's
follow-up slots. The repeat is answered with the appointment the first submission made, both
when it comes after the first has finished and when it races it (real threads, real Postgres).
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Callable

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from clinicops.core import roles
from clinicops.core.models import Clinic, Patient, Staff, User
from clinicops.core.tests.factories import PatientFactory, StaffFactory
from patientflow.models import Visit
from patientflow.services import checkin, moves
from patientflow.tests.clock import midday_zone
from scheduling.models import Appointment, AppointmentType
from scheduling.tests.factories import (
    AppointmentFactory,
    AppointmentTypeFactory,
    ScheduleTemplateFactory,
    TemplateBlockFactory,
)

HTMX = {"HX-Request": "true"}
KEY = re.compile(r'name="submission_key" value="([0-9a-f]{32})"')
TAKEN = "just taken"
NO_PASSWORD = "!unusable"


def key_on(response) -> str:
    """The submission key the page's booking form(s) carry."""
    keys = set(KEY.findall(response.content.decode()))
    assert len(keys) == 1, f"expected one submission key on the page, found {keys}"
    return keys.pop()


def text(response) -> str:
    return response.content.decode().replace("&#x27;", "'")


@pytest.fixture
def world(clinic: Clinic) -> dict[str, object]:
    """A clinic where it is midday now, a provider working 08:00-18:00 every day."""
    # A transactional test's flush empties the role groups the migrations made.
    roles.sync_roles()
    clinic.time_zone = midday_zone()
    clinic.save(update_fields=["time_zone"])
    provider = StaffFactory(
        roles=[roles.PROVIDER],
        clinics=[clinic],
        user__password=NO_PASSWORD,
        user__last_name="Osler",
    )
    template = ScheduleTemplateFactory(
        clinic=clinic, provider=provider, effective_from=clinic.today() - dt.timedelta(days=7)
    )
    for weekday in range(7):
        TemplateBlockFactory(
            template=template,
            weekday=weekday,
            start_time=dt.time(8),
            end_time=dt.time(18),
            slot_minutes=20,
        )
    desk = StaffFactory(roles=[roles.FRONT_DESK], clinics=[clinic], user__password=NO_PASSWORD).user
    return {
        "clinic": clinic,
        "provider": provider,
        "visit_type": AppointmentTypeFactory(clinic=clinic, name="Follow-up", duration_minutes=20),
        "patient": PatientFactory(clinic=clinic, first_name="Harriet", last_name="Quimby"),
        "desk": desk,
        "tomorrow": clinic.today() + dt.timedelta(days=1),
    }


def booking_data(world: dict, key: str, hour: int = 10) -> dict[str, object]:
    provider: Staff = world["provider"]  # type: ignore[assignment]
    visit_type: AppointmentType = world["visit_type"]  # type: ignore[assignment]
    patient: Patient = world["patient"]  # type: ignore[assignment]
    return {
        "patient": patient.pk,
        "provider": provider.pk,
        "appointment_type": visit_type.pk,
        "start": f"{world['tomorrow'].isoformat()}T{hour:02d}:00",
        "submission_key": key,
    }


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- sent twice, one after the other ----------------------------------------------------------

pytestmark = pytest.mark.django_db


def test_the_book_page_sent_twice_books_once_and_says_already_booked(world) -> None:
    client = logged_in(world["desk"])
    page = client.get("/scheduling/book/")
    data = booking_data(world, key_on(page))

    first = client.post("/scheduling/book/", data, follow=True)
    second = client.post("/scheduling/book/", data, follow=True)

    appointment = Appointment.objects.get()
    assert first.redirect_chain == [(f"/scheduling/appointments/{appointment.pk}/", 302)]
    assert second.redirect_chain == first.redirect_chain
    assert "Booked Follow-up for" in text(first)
    assert "Already booked: Follow-up for" in text(second)
    assert "nothing new was booked" in text(second)
    assert TAKEN not in text(second)
    assert appointment.submission_key == data["submission_key"]
    # A fresh rendering of the form is a new booking: its key differs.
    assert key_on(client.get("/scheduling/book/")) != data["submission_key"]


def test_find_a_slot_booked_twice_with_htmx_answers_already_booked(world) -> None:
    client = logged_in(world["desk"])
    day = world["tomorrow"].isoformat()
    slots = client.get(
        "/scheduling/find/",
        {
            "appointment_type": world["visit_type"].pk,
            "provider": world["provider"].pk,
            "start_date": day,
            "end_date": day,
            "patient": world["patient"].pk,
        },
    )
    key = key_on(slots)
    start = re.search(r'name="start" value="([^"]+)"', slots.content.decode()).group(1)
    data = {**booking_data(world, key), "start": start}

    first = client.post("/scheduling/find/book/", data, headers=HTMX)
    second = client.post("/scheduling/find/book/", data, headers=HTMX)
    # and a desk that clicks another slot of the same list before the page changed
    other = client.post("/scheduling/find/book/", {**data, "start": f"{day}T15:00"}, headers=HTMX)

    appointment = Appointment.objects.get()
    assert "Booked." in text(first)
    for repeat in (second, other):
        assert "Already booked." in text(repeat)
        assert f"/scheduling/appointments/{appointment.pk}/" in text(repeat)
        assert TAKEN not in text(repeat)


def test_a_reschedule_sent_twice_moves_once(world) -> None:
    client = logged_in(world["desk"])
    old = AppointmentFactory(
        clinic=world["clinic"],
        patient=world["patient"],
        provider=world["provider"],
        appointment_type=world["visit_type"],
        start=dt.datetime.combine(world["tomorrow"], dt.time(9), tzinfo=world["clinic"].tz),
    )
    data = {**booking_data(world, "a" * 32, hour=11), "reschedule": old.pk}

    first = client.post("/scheduling/find/book/", data)
    second = client.post("/scheduling/find/book/", data, follow=True)

    new = Appointment.objects.get(rescheduled_from=old)
    assert first["Location"] == f"/scheduling/appointments/{new.pk}/"
    assert second.redirect_chain == [(f"/scheduling/appointments/{new.pk}/", 302)]
    assert "Already booked" in text(second)
    assert "can be rescheduled" not in text(second)
    assert Appointment.objects.count() == 2  # the old (cancelled as rescheduled) and the new


def test_a_walk_in_sent_twice_checks_in_once(world) -> None:
    client = logged_in(world["desk"])
    patient = world["patient"]
    page = client.get(f"/flow/walk-in/?patient={patient.pk}")
    data = {
        "patient": patient.pk,
        "provider": world["provider"].pk,
        "appointment_type": world["visit_type"].pk,
        "submission_key": key_on(page),
    }

    first = client.post("/flow/walk-in/", data, follow=True)
    second = client.post("/flow/walk-in/", data, follow=True)

    visit = Visit.objects.get()
    assert Appointment.objects.count() == 1
    assert "is checked in as a walk-in" in text(first)
    assert second.redirect_chain == [(f"/flow/visits/{visit.pk}/", 302)]
    assert "already checked in as a walk-in" in text(second)
    assert "nothing new was booked" in text(second)


def test_a_follow_up_sent_twice_books_once(world) -> None:
    desk: User = world["desk"]  # type: ignore[assignment]
    nurse = StaffFactory(roles=[roles.NURSE], clinics=[world["clinic"]]).user
    now = timezone.now().astimezone(world["clinic"].tz)
    appointment = AppointmentFactory(
        clinic=world["clinic"],
        patient=world["patient"],
        provider=world["provider"],
        appointment_type=world["visit_type"],
        start=now.replace(minute=now.minute - now.minute % 20, second=0, microsecond=0),
    )
    visit = checkin.check_in(actor=desk, appointment=appointment)
    for step in ("roomed", "with_provider", "ready_for_checkout"):
        visit = moves.move_visit(
            actor=nurse,
            visit=visit,
            to_step=step,
            expected_step=visit.step,
            room=None if step != "roomed" else _room(world["clinic"]),
        )
    client = logged_in(desk)
    slots = client.get(
        f"/flow/visits/{visit.pk}/follow-up/",
        {
            "appointment_type": world["visit_type"].pk,
            "provider": world["provider"].pk,
            "within": "2w",
            "time_of_day": "any",
        },
        headers=HTMX,
    )
    start = re.search(r'name="start" value="([^"]+)"', slots.content.decode()).group(1)
    data = {
        "start": start,
        "provider": world["provider"].pk,
        "appointment_type": world["visit_type"].pk,
        "submission_key": key_on(slots),
    }

    client.post(f"/flow/visits/{visit.pk}/follow-up/", data)
    second = client.post(f"/flow/visits/{visit.pk}/follow-up/", data, follow=True)

    visit.refresh_from_db()
    assert visit.follow_up is not None
    assert Appointment.objects.filter(patient=world["patient"]).count() == 2  # visit + follow-up
    assert "Follow-up already booked" in text(second)
    assert "A follow-up is already booked" not in text(second)
    assert TAKEN not in text(second)


def _room(clinic: Clinic):
    from clinicops.core.tests.factories import RoomFactory

    return RoomFactory(clinic=clinic, name="Exam 1")


def test_a_booking_form_without_its_key_is_refused_as_stale(world) -> None:
    client = logged_in(world["desk"])
    data = booking_data(world, "")
    response = client.post("/scheduling/book/", data)
    assert response.status_code == 200
    assert "This screen is out of date; reload it and try again." in text(response)
    assert not Appointment.objects.exists()
    # the form shown again carries a usable key, so the next try books
    retry = client.post("/scheduling/book/", {**data, "submission_key": key_on(response)})
    assert retry.status_code == 302
    assert Appointment.objects.count() == 1


# --- sent twice at the same moment ----------------------------------------------------------


def race(post: Callable[[Client], object], clients: list[Client]) -> list[object]:
    """post(client) from one thread per client, all released at once; their answers."""
    barrier = threading.Barrier(len(clients))
    answers: list[object] = [None] * len(clients)

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            answers[index] = post(clients[index])
        except Exception as error:  # the assertions show it
            answers[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return answers


RACERS = 6


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_the_same_booking_sent_at_once_from_six_tabs_books_once(world) -> None:
    data = booking_data(world, "b" * 32)
    clients = [logged_in(world["desk"]) for _ in range(RACERS)]

    answers = race(lambda c: c.post("/scheduling/book/", data, follow=True), clients)

    appointment = Appointment.objects.get()
    pages = [text(a) for a in answers]  # an exception here would fail the test with its message
    assert all(
        a.redirect_chain[-1][0] == f"/scheduling/appointments/{appointment.pk}/" for a in answers
    )
    assert sum("Booked Follow-up for" in p for p in pages) == 1
    assert sum("Already booked: Follow-up for" in p for p in pages) == RACERS - 1
    assert not any(TAKEN in p for p in pages)


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_the_same_walk_in_sent_at_once_checks_in_once(world) -> None:
    data = {
        "patient": world["patient"].pk,
        "provider": world["provider"].pk,
        "appointment_type": world["visit_type"].pk,
        "submission_key": "c" * 32,
    }
    clients = [logged_in(world["desk"]) for _ in range(RACERS)]

    answers = race(lambda c: c.post("/flow/walk-in/", data, follow=True), clients)

    visit = Visit.objects.get()
    assert Appointment.objects.count() == 1
    pages = [text(a) for a in answers]
    assert sum("is checked in as a walk-in" in p for p in pages) == 1
    assert sum("already checked in as a walk-in" in p for p in pages) == RACERS - 1
    assert all(a.redirect_chain[-1][0] in ("/flow/", f"/flow/visits/{visit.pk}/") for a in answers)
