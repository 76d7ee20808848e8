"""Find-a-slot and booking screens: the happy path, rescheduling, and every kind of bad input
(end before start, outside the template, a type the block refuses, another clinic's patient,
a slot taken meanwhile) answered with a message on the form and nothing saved."""

# The shared fixtures are imported from test_screens; pytest sees each test's parameters as
# requests for them, which ruff reads as redefinitions.
# ruff: noqa: F811

from __future__ import annotations

import datetime as dt
import uuid
from urllib.parse import urlencode

import pytest
from django.test import Client

from clinicops.audit.models import AuditEvent
from clinicops.core import roles
from clinicops.core.models import Clinic, Patient, Staff, User
from clinicops.core.tests.factories import PatientFactory
from clinicops.core.tests.test_layout import assert_layout
from scheduling.models import Appointment, AppointmentType
from scheduling.tests.conftest import NY, local
from scheduling.tests.factories import AppointmentFactory, AppointmentTypeFactory
from scheduling.tests.test_screens import (  # noqa: F401 - fixtures
    HTMX,
    booked,
    desk,
    desk_client,
    monday,
    template,
)

pytestmark = pytest.mark.django_db

SLOT_TAKEN = "That slot was just taken. Pick another."


def find_params(visit: AppointmentType, provider: Staff, day: dt.date, **extra: object) -> dict:
    params = {
        "appointment_type": visit.pk,
        "provider": provider.pk,
        "start_date": day.isoformat(),
        "end_date": day.isoformat(),
    }
    params.update(extra)
    return params


def slot_post(
    patient: Patient, provider: Staff, visit: AppointmentType, start: dt.datetime, **extra: object
) -> dict:
    data = {
        "patient": patient.pk,
        "provider": provider.pk,
        "appointment_type": visit.pk,
        "start": start.isoformat(),
        # The key the booking form carries: a fresh one is a first submission.
        "submission_key": uuid.uuid4().hex,
    }
    data.update(extra)
    return data


# --- find a slot ------------------------------------------------------------------------


def test_find_a_slot_lists_the_next_open_slots(
    desk_client: Client, monday_block, visit, provider, patient, monday: dt.date
) -> None:
    response = desk_client.get(
        "/scheduling/find/", find_params(visit, provider, monday, patient=patient.pk)
    )

    assert response.status_code == 200
    assert_layout(response)
    html = response.content.decode()
    assert "8 slots for Follow-up" in html
    assert f'value="{local(monday, 8).isoformat()}"' in html
    assert f'value="{local(monday, 10, 20).isoformat()}"' in html
    assert f'value="{local(monday, 10, 40).isoformat()}"' not in html  # count is 8
    assert "Show more slots" in html
    assert f"Booking for <strong data-booking-patient-name>{patient.last_name}" in html


def test_find_a_slot_respects_time_of_day_and_weekday(
    desk_client: Client, monday_block, visit, provider, monday: dt.date
) -> None:
    afternoon = desk_client.get(
        "/scheduling/find/", find_params(visit, provider, monday, time_of_day="afternoon")
    )
    assert "No open slots match" in afternoon.content.decode()

    tuesdays = desk_client.get(
        "/scheduling/find/",
        {**find_params(visit, provider, monday), "end_date": "", "weekdays": ["1"]},
    )
    assert "No open slots match" in tuesdays.content.decode()


def test_find_a_slot_answers_htmx_with_the_results_fragment(
    desk_client: Client, monday_block, visit, provider, monday: dt.date
) -> None:
    html = desk_client.get(
        "/scheduling/find/", find_params(visit, provider, monday), **HTMX
    ).content.decode()
    assert html.lstrip().startswith('<section id="slot-results"')
    assert "<html" not in html
    assert "Choose a patient to book one of these slots." in html


def test_find_a_slot_first_load_asks_for_a_type(
    desk_client: Client, patient: Patient, desk: User
) -> None:
    response = desk_client.get("/scheduling/find/", {"patient": patient.pk})
    html = response.content.decode()
    assert "Choose a type and press Find slots" in html
    assert "There is a problem" not in html
    assert f'value="{patient.pk}" checked' in html
    # the chosen patient's name, MRN and birth date are on screen: an audited read
    event = AuditEvent.objects.get(action=AuditEvent.Action.VIEW, patient_id=patient.pk)
    assert event.summary == "Chosen for booking"
    assert event.actor == desk


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"start_date": "2031-05-10", "end_date": "2031-05-01"}, "must not be before the first"),
        ({"start_date": "", "end_date": "2000-01-01"}, "That date has already passed."),
        ({"start_date": "", "end_date": "2099-01-01"}, "Search at most a year ahead."),
        ({"start_date": "soon"}, "Enter a valid date."),
        ({"appointment_type": ""}, "Choose an appointment type."),
        ({"appointment_type": "x"}, "not offered at"),
        ({"provider": "999999"}, "does not work at"),
        ({"time_of_day": "midnight"}, "Select a valid choice"),
        ({"weekdays": ["9"]}, "Select a valid choice"),
        ({"count": "100000"}, "less than or equal to 48"),
    ],
)
def test_find_a_slot_bad_input_gets_a_message(
    desk_client: Client, monday_block, visit, provider, monday: dt.date, extra, message: str
) -> None:
    response = desk_client.get(
        "/scheduling/find/", {**find_params(visit, provider, monday), **extra}
    )
    assert response.status_code == 200
    assert message in response.content.decode()


def test_patient_options_search_live_and_audit(
    desk_client: Client, clinic: Clinic, other_clinic: Clinic, desk: User
) -> None:
    ours = PatientFactory(clinic=clinic, last_name="Zephyrine")
    theirs = PatientFactory(clinic=other_clinic, last_name="Zephyrine")

    response = desk_client.get("/scheduling/patients/", {"q": "zephyr"}, **HTMX)

    html = response.content.decode()
    assert html.lstrip().startswith('<div id="patient-options"')
    assert f'value="{ours.pk}"' in html
    assert f'value="{theirs.pk}"' not in html
    event = AuditEvent.objects.get(action=AuditEvent.Action.SEARCH)
    assert event.changes == {"patient_ids": [ours.pk]}
    assert_layout(desk_client.get("/scheduling/patients/", {"q": "zephyr"}))


@pytest.mark.parametrize("role", [roles.NURSE, roles.PROVIDER, roles.BILLER, roles.COMPLIANCE])
def test_only_bookers_may_find_and_book(
    client: Client, make_user, role: str, monday_block, visit, provider, patient, monday
) -> None:
    client.force_login(make_user(role))
    assert client.get("/scheduling/find/").status_code == 403
    assert client.get("/scheduling/book/").status_code == 403
    post = slot_post(patient, provider, visit, local(monday, 8))
    assert client.post("/scheduling/find/book/", post).status_code == 403
    assert client.post("/scheduling/book/", post).status_code == 403
    assert not Appointment.objects.exists()


# --- booking from a found slot ------------------------------------------------------------


def test_booking_a_found_slot_with_htmx_shows_a_confirmation(
    desk_client: Client, monday_block, visit, provider, patient, monday: dt.date, desk: User
) -> None:
    response = desk_client.post(
        "/scheduling/find/book/", slot_post(patient, provider, visit, local(monday, 8, 20)), **HTMX
    )

    appointment = Appointment.objects.get()
    assert appointment.start == local(monday, 8, 20)
    assert appointment.booked_by == desk
    html = response.content.decode()
    assert response.status_code == 200
    assert "Booked." in html
    assert f"on {monday:%A} {monday.day} {monday:%B %Y} at 08:20" in html
    assert f"/scheduling/appointments/{appointment.pk}/" in html
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.CREATE, object_id=str(appointment.pk), patient_id=patient.pk
    ).exists()


def test_booking_a_found_slot_without_htmx_goes_to_the_appointment(
    desk_client: Client, monday_block, visit, provider, patient, monday: dt.date
) -> None:
    response = desk_client.post(
        "/scheduling/find/book/", slot_post(patient, provider, visit, local(monday, 8))
    )
    appointment = Appointment.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/scheduling/appointments/{appointment.pk}/"
    page = desk_client.get(response["Location"]).content.decode()
    assert "Booked Follow-up for" in page


def test_a_stale_slot_shows_fresh_slots_and_saves_nothing(
    desk_client: Client, clinic, monday_block, visit, provider, patient, monday: dt.date
) -> None:
    # given someone else took 09:00 after the slots were listed
    taken = AppointmentFactory(
        clinic=clinic, provider=provider, appointment_type=visit, start=local(monday, 9)
    )
    criteria = urlencode(find_params(visit, provider, monday, patient=patient.pk))

    # when the desk books 09:00 from the stale list
    response = desk_client.post(
        "/scheduling/find/book/",
        slot_post(patient, provider, visit, local(monday, 9), criteria=criteria),
        **HTMX,
    )

    # then the form says so, shows the slots as they are now, and nothing is saved
    html = response.content.decode()
    assert response.status_code == 200
    assert SLOT_TAKEN in html
    assert list(Appointment.objects.all()) == [taken]
    assert f'value="{local(monday, 9).isoformat()}"' not in html
    assert f'value="{local(monday, 9, 20).isoformat()}"' in html


def test_a_stale_slot_without_htmx_renders_the_whole_page(
    desk_client: Client, clinic, monday_block, visit, provider, patient, monday: dt.date
) -> None:
    AppointmentFactory(
        clinic=clinic, provider=provider, appointment_type=visit, start=local(monday, 9)
    )
    response = desk_client.post(
        "/scheduling/find/book/", slot_post(patient, provider, visit, local(monday, 9))
    )
    assert response.status_code == 200
    assert_layout(response)
    assert SLOT_TAKEN in response.content.decode()
    assert Appointment.objects.count() == 1


def test_rescheduling_through_find_a_slot_keeps_the_history(
    desk_client: Client, booked: Appointment, monday: dt.date
) -> None:
    page = desk_client.get("/scheduling/find/", {"reschedule": booked.pk}).content.decode()
    assert "Rescheduling" in page
    assert f'value="{booked.patient_id}" checked' in page
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.VIEW,
        object_id=str(booked.pk),
        patient_id=booked.patient_id,
        summary="Opened for rescheduling",
    ).exists()

    response = desk_client.post(
        "/scheduling/find/book/",
        slot_post(
            booked.patient,
            booked.provider,
            booked.appointment_type,
            local(monday, 10),
            reschedule=booked.pk,
        ),
    )

    booked.refresh_from_db()
    new = Appointment.objects.get(rescheduled_from=booked)
    assert booked.status == Appointment.Status.CANCELLED
    assert booked.cancel_reason == Appointment.CancelReason.RESCHEDULED
    assert response["Location"] == f"/scheduling/appointments/{new.pk}/"
    # the message names both times, as stored: "moved from Mon 1 Mar 08:20 to Mon 1 Mar 10:00"
    new_page = desk_client.get(f"/scheduling/appointments/{new.pk}/").content.decode()
    before = booked.start.astimezone(booked.clinic.tz)
    after = new.start.astimezone(booked.clinic.tz)
    moved_from = f"{before:%a} {before.day} {before:%b %H:%M}"
    moved_to = f"{after:%a} {after.day} {after:%b %H:%M}"
    assert f"from {moved_from} to {moved_to}" in new_page
    old_page = desk_client.get(f"/scheduling/appointments/{booked.pk}/").content.decode()
    assert f"/scheduling/appointments/{new.pk}/" in old_page
    assert "Rescheduled to" in old_page


def test_rescheduling_into_a_taken_slot_leaves_the_old_appointment(
    desk_client: Client, clinic, booked: Appointment, monday: dt.date
) -> None:
    AppointmentFactory(
        clinic=clinic,
        provider=booked.provider,
        appointment_type=booked.appointment_type,
        start=local(monday, 10),
    )
    response = desk_client.post(
        "/scheduling/find/book/",
        slot_post(
            booked.patient,
            booked.provider,
            booked.appointment_type,
            local(monday, 10),
            reschedule=booked.pk,
        ),
        **HTMX,
    )
    assert SLOT_TAKEN in response.content.decode()
    booked.refresh_from_db()
    assert booked.status == Appointment.Status.BOOKED
    assert Appointment.objects.count() == 2


def test_rescheduling_needs_the_change_permission(
    client: Client, make_user, booked: Appointment, monday: dt.date
) -> None:
    from django.contrib.auth.models import Group, Permission

    # a role that may book but not change appointments
    group = Group.objects.create(name="Booker only")
    group.permissions.add(Permission.objects.get(codename="add_appointment"))
    user = make_user()
    user.groups.add(group)
    client.force_login(user)
    response = client.post(
        "/scheduling/find/book/",
        slot_post(
            booked.patient,
            booked.provider,
            booked.appointment_type,
            local(monday, 10),
            reschedule=booked.pk,
        ),
    )
    assert response.status_code == 403
    booked.refresh_from_db()
    assert booked.status == Appointment.Status.BOOKED


# --- the booking page and bad input ---------------------------------------------------------


def test_booking_page_is_prefilled_from_an_open_slot(
    desk_client: Client, monday_block, visit, provider, monday: dt.date
) -> None:
    response = desk_client.get(
        "/scheduling/book/",
        {
            "provider": provider.pk,
            "start": f"{monday.isoformat()}T08:40",
            "appointment_type": visit.pk,
        },
    )
    assert response.status_code == 200
    assert_layout(response)
    html = response.content.decode()
    assert f'value="{monday.isoformat()}T08:40"' in html
    assert f'<option value="{provider.pk}" selected>' in html
    assert f'<option value="{visit.pk}" selected>' in html


def test_booking_page_books_a_typed_in_time(
    desk_client: Client, monday_block, visit, provider, patient, monday: dt.date
) -> None:
    response = desk_client.post(
        "/scheduling/book/",
        {
            "patient": patient.pk,
            "submission_key": uuid.uuid4().hex,
            "provider": provider.pk,
            "appointment_type": visit.pk,
            "start": f"{monday.isoformat()}T11:00",
            "end": f"{monday.isoformat()}T11:40",
            "notes": "Bring glasses",
        },
    )
    appointment = Appointment.objects.get()
    assert response["Location"] == f"/scheduling/appointments/{appointment.pk}/"
    # the typed times are the clinic's wall clock
    assert appointment.start == dt.datetime.combine(monday, dt.time(11), tzinfo=NY)
    assert appointment.end == dt.datetime.combine(monday, dt.time(11, 40), tzinfo=NY)
    assert appointment.notes == "Bring glasses"


@pytest.fixture
def other_type(clinic: Clinic) -> AppointmentType:
    return AppointmentTypeFactory(clinic=clinic, name="Physical", duration_minutes=40)


@pytest.fixture
def physicals_only(template, other_type):
    """Tuesdays 08:00-12:00 take only physicals."""
    from scheduling.tests.factories import TemplateBlockFactory

    return TemplateBlockFactory(template=template, weekday=1, types=[other_type])


BAD_BOOKINGS = {
    "end before start": (
        {"start": "{monday}T09:00", "end": "{monday}T08:40"},
        "The end must be after the start.",
    ),
    "end equals start": (
        {"start": "{monday}T09:00", "end": "{monday}T09:00"},
        "The end must be after the start.",
    ),
    "outside the template": (
        {"start": "{monday}T13:00"},
        "That time is outside the provider's schedule template.",
    ),
    "off the slot grid": ({"start": "{monday}T08:10"}, "start every 20 minutes from 08:00"),
    "type the block does not accept": (
        {"start": "{tuesday}T08:00"},
        "That block does not accept this appointment type.",
    ),
    "patient of another clinic": ({"patient": "{theirs}"}, "This patient is not registered at"),
    "no patient": ({"patient": ""}, "Choose a patient."),
    "unknown patient id": ({"patient": "999999999"}, "This patient is not registered at"),
    "patient id not a number": ({"patient": "abc"}, "This patient is not registered at"),
    "no start": ({"start": ""}, "This field is required."),
    "start not a time": ({"start": "tomorrow"}, "Enter a valid date/time."),
    "start in the past": ({"start": "2020-01-06T08:00"}, "That time has already passed."),
    "type of another clinic": ({"appointment_type": "{their_type}"}, "not offered at"),
    "provider of another clinic": ({"provider": "{their_provider}"}, "does not work at"),
    "too long": ({"end": "{monday}T23:00", "start": "{monday}T08:00"}, "at most 12 hours"),
    "notes too long": ({"notes": "x" * 2001}, "at most 2000 characters"),
    "bad reschedule id": ({"reschedule": "abc"}, "not found at this clinic"),
}


@pytest.mark.parametrize("case", list(BAD_BOOKINGS))
def test_bad_booking_input_gets_a_message_and_saves_nothing(
    desk_client: Client,
    clinic,
    other_clinic,
    monday_block,
    physicals_only,
    visit,
    provider,
    patient,
    monday: dt.date,
    case: str,
) -> None:
    from clinicops.core.tests.factories import StaffFactory

    changes, message = BAD_BOOKINGS[case]
    names = {
        "monday": monday.isoformat(),
        "tuesday": (monday + dt.timedelta(days=1)).isoformat(),
        "theirs": PatientFactory(clinic=other_clinic).pk,
        "their_type": AppointmentTypeFactory(clinic=other_clinic).pk,
        "their_provider": StaffFactory(roles=[roles.PROVIDER], clinics=[other_clinic]).pk,
    }
    data = {
        "patient": patient.pk,
        "submission_key": uuid.uuid4().hex,
        "provider": provider.pk,
        "appointment_type": visit.pk,
        "start": f"{monday.isoformat()}T09:00",
        "end": "",
    }
    data.update({k: v.format(**names) for k, v in changes.items()})
    writes = AuditEvent.objects.exclude(
        action__in=[AuditEvent.Action.VIEW, AuditEvent.Action.SEARCH]
    )
    writes_before = writes.count()

    for url in ("/scheduling/book/", "/scheduling/find/book/"):
        response = desk_client.post(url, data)

        assert response.status_code == 200, url
        html = response.content.decode().replace("&#x27;", "'")
        assert message in html, (url, case)
        assert "There is a problem" in html or "Not booked" in html
    assert not Appointment.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.CREATE).exists()
    assert writes.count() == writes_before


def test_booking_a_taken_time_on_the_booking_page(
    desk_client: Client, clinic, monday_block, visit, provider, patient, monday: dt.date
) -> None:
    AppointmentFactory(
        clinic=clinic, provider=provider, appointment_type=visit, start=local(monday, 9)
    )
    response = desk_client.post(
        "/scheduling/book/",
        {
            "patient": patient.pk,
            "submission_key": uuid.uuid4().hex,
            "provider": provider.pk,
            "appointment_type": visit.pk,
            "start": f"{monday.isoformat()}T09:00",
        },
    )
    assert SLOT_TAKEN in response.content.decode()
    assert Appointment.objects.count() == 1


def test_a_double_booked_patient_is_warned(
    desk_client: Client, clinic, monday_block, visit, provider, patient, monday: dt.date
) -> None:
    from clinicops.core.tests.factories import StaffFactory
    from scheduling.tests.factories import ScheduleTemplateFactory, TemplateBlockFactory

    other = StaffFactory(roles=[roles.PROVIDER], clinics=[clinic])
    TemplateBlockFactory(
        template=ScheduleTemplateFactory(
            clinic=clinic, provider=other, effective_from=clinic.today()
        ),
        weekday=0,
    )
    AppointmentFactory(
        clinic=clinic,
        patient=patient,
        provider=provider,
        appointment_type=visit,
        start=local(monday, 9),
    )
    response = desk_client.post(
        "/scheduling/book/",
        {
            "patient": patient.pk,
            "submission_key": uuid.uuid4().hex,
            "provider": other.pk,
            "appointment_type": visit.pk,
            "start": f"{monday.isoformat()}T09:00",
        },
        follow=True,
    )
    html = response.content.decode()
    assert "already has an appointment at" in html
    assert Appointment.objects.count() == 2


def test_overbooking_is_offered_to_those_allowed_and_needs_a_reason(
    desk_client: Client, clinic, monday_block, visit, provider, patient, monday: dt.date
) -> None:
    monday_block.overbook_limit = 1
    monday_block.save()
    AppointmentFactory(
        clinic=clinic, provider=provider, appointment_type=visit, start=local(monday, 9)
    )
    data = {
        "patient": patient.pk,
        "submission_key": uuid.uuid4().hex,
        "provider": provider.pk,
        "appointment_type": visit.pk,
        "start": f"{monday.isoformat()}T09:00",
        "overbook": "on",
    }

    refused = desk_client.post("/scheduling/book/", data)
    assert "Give the reason for this overbook." in refused.content.decode()
    assert Appointment.objects.count() == 1

    desk_client.post("/scheduling/book/", {**data, "overbook_reason": "Urgent wound check"})
    assert Appointment.objects.filter(is_overbook=True).count() == 1
