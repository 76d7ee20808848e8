"""The front desk's scheduling screens: day and week views, the appointment page, the patient
page's appointments, the day sheet, the waitlist. Status codes, scoping, roles, fragments and
audit rows. (Booking and its bad input: test_screens_booking.py.)

The views use the real clock, so the schedule here starts a week or more from today.
"""

from __future__ import annotations

import datetime as dt
import pickle
from collections.abc import Callable

import pytest
from django.test import Client

from clinicops.audit.models import AuditEvent
from clinicops.core import roles
from clinicops.core.middleware import SESSION_CLINIC
from clinicops.core.models import Clinic, Patient, Staff, User
from clinicops.core.tests.factories import PatientFactory, StaffFactory
from clinicops.core.tests.test_layout import assert_layout
from scheduling import forms, refcache, screens
from scheduling.models import Appointment, AppointmentType, ScheduleTemplate, WaitlistOffer
from scheduling.screens import clinic_providers
from scheduling.services import booking, transitions
from scheduling.tests.conftest import local
from scheduling.tests.factories import (
    AppointmentFactory,
    AppointmentTypeFactory,
    ScheduleTemplateFactory,
    TemplateBlockFactory,
    WaitlistEntryFactory,
)

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def monday(clinic: Clinic) -> dt.date:
    """A Monday at least a week ahead, so none of its slots has passed."""
    today = clinic.today()
    return today + dt.timedelta(days=7 + (7 - today.weekday()) % 7)


@pytest.fixture
def template(clinic: Clinic, provider: Staff) -> ScheduleTemplate:
    """Overrides the package fixture: in effect from a month ago (the views use today)."""
    return ScheduleTemplateFactory(
        clinic=clinic, provider=provider, effective_from=clinic.today() - dt.timedelta(days=30)
    )


@pytest.fixture
def desk(make_user: Callable[..., User]) -> User:
    return make_user(roles.FRONT_DESK, username="desk", first_name="Maria", last_name="Lopez")


@pytest.fixture
def desk_client(client: Client, desk: User) -> Client:
    client.force_login(desk)
    return client


@pytest.fixture
def booked(clinic, provider, visit, monday_block, monday) -> Appointment:
    """Monday 09:00-09:20 with Dr Osler, booked through the service."""
    patient = PatientFactory(clinic=clinic, first_name="Harriet", last_name="Quimby")
    desk = StaffFactory(roles=[roles.FRONT_DESK], clinics=[clinic]).user
    return booking.book_appointment(
        actor=desk,
        clinic=clinic,
        patient=patient,
        provider=provider,
        appointment_type=visit,
        start=local(monday, 9),
    ).appointment


def audit_views(object_type: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=AuditEvent.Action.VIEW, object_type=object_type))


# --- day view ---------------------------------------------------------------------------


def test_day_view_shows_providers_appointments_and_open_slots(
    desk_client: Client, booked: Appointment, monday: dt.date
) -> None:
    response = desk_client.get("/scheduling/day/", {"date": monday.isoformat()})

    assert response.status_code == 200
    html = response.content.decode()
    assert_layout(response)
    assert "Osler" in html
    assert "Quimby, Harriet" in html
    assert f"/scheduling/appointments/{booked.pk}/" in html
    # 08:00 is open and links to booking it; 09:00 is taken, so it is not offered
    assert f"start={monday.isoformat()}T08:00" in html
    assert f"start={monday.isoformat()}T09:00" not in html
    assert f"appt-type-{booked.appointment_type_id} appt--booked" in html
    assert 'rowspan="' in html


def test_day_view_audits_the_appointments_it_shows(
    desk_client: Client, booked: Appointment, monday: dt.date, desk: User
) -> None:
    desk_client.get("/scheduling/day/", {"date": monday.isoformat()})

    [event] = audit_views("scheduling.appointment")
    assert event.actor == desk
    assert event.changes["appointment_ids"] == [booked.pk]
    assert event.changes["patient_ids"] == [booked.patient_id]


def test_day_view_answers_htmx_with_the_fragment_only(
    desk_client: Client, booked: Appointment, monday: dt.date
) -> None:
    response = desk_client.get("/scheduling/day/", {"date": monday.isoformat()}, **HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="day-view"')
    assert "<html" not in html
    assert "Quimby, Harriet" in html
    assert "HX-Request" in response["Vary"]


def test_day_view_history_restore_gets_the_full_page(
    desk_client: Client, monday: dt.date, monday_block
) -> None:
    response = desk_client.get(
        "/scheduling/day/",
        {"date": monday.isoformat()},
        HTTP_HX_REQUEST="true",
        HTTP_HX_HISTORY_RESTORE_REQUEST="true",
    )
    assert "<html" in response.content.decode()


def test_day_view_filters_by_provider(
    desk_client: Client, clinic, booked: Appointment, monday: dt.date, provider: Staff
) -> None:
    other = StaffFactory(roles=[roles.PROVIDER], clinics=[clinic], user__last_name="Nightingale")
    template = ScheduleTemplateFactory(
        clinic=clinic, provider=other, effective_from=clinic.today() - dt.timedelta(days=1)
    )
    TemplateBlockFactory(template=template, weekday=0)

    both = desk_client.get("/scheduling/day/", {"date": monday.isoformat()}).content.decode()
    only = desk_client.get(
        "/scheduling/day/", {"date": monday.isoformat(), "provider": other.pk}
    ).content.decode()

    assert "Nightingale" in both
    assert "Osler" in both
    assert "Quimby" not in only
    assert f"week/?provider={other.pk}" in only
    assert f"week/?provider={provider.pk}&amp;" not in only


def test_the_day_views_filter_builds_its_providers_query_only_to_check_a_choice(
    desk_client: Client, booked: Appointment, provider: Staff, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[Clinic] = []

    def counted(clinic: Clinic) -> object:
        built.append(clinic)
        return clinic_providers(clinic)

    monkeypatch.setattr(forms, "clinic_providers", counted)
    # the filter's choices come with the day's reference data: no query to build
    html = desk_client.get("/scheduling/day/").content.decode()
    assert f'<option value="{provider.pk}">{provider}</option>' in html
    assert built == []
    # a chosen provider is checked against the clinic's providers
    desk_client.get("/scheduling/day/", {"provider": provider.pk})
    assert built == [booked.clinic]


def test_the_day_view_leaves_the_reference_it_shares_as_it_found_it(
    desk_client: Client, desk: User, clinic: Clinic, booked: Appointment, monday: dt.date
) -> None:
    # the day's reference is held in the process and shared by every day view of that day
    pages = [
        {"date": monday.isoformat()},
        {"date": monday.isoformat(), "provider": booked.provider_id},
    ]
    for params in pages:
        assert desk_client.get("/scheduling/day/", params).status_code == 200
        assert desk_client.get("/scheduling/day/", params, **HTMX).status_code == 200
    held = screens.day_reference(user=desk, clinic=clinic, day=monday)
    # as computed: the cache's copy, stored before any view read it (each compared as one
    # round trip through pickle leaves it, which shares equal strings alike)
    stored = refcache.cached(f"day:{clinic.pk}:{monday.isoformat()}", pytest.fail)
    assert stored is not held
    assert pickle.dumps(pickle.loads(pickle.dumps(held))) == pickle.dumps(stored)  # noqa: S301


@pytest.mark.parametrize(
    "params",
    [
        {"date": "not-a-date"},
        {"date": "2026-02-30"},
        {"provider": "abc"},
        {"provider": "999999"},
        {"date": "99999-01-01"},
    ],
)
def test_day_view_bad_parameters_get_a_message_not_an_error(
    desk_client: Client, params: dict[str, str], clinic: Clinic
) -> None:
    response = desk_client.get("/scheduling/day/", params)

    assert response.status_code == 200
    html = response.content.decode()
    assert "There is a problem" in html
    assert clinic.today().strftime("%A") in html  # falls back to today


def test_day_view_marks_admin_time_off_and_past_slots(
    desk_client: Client, clinic, provider, template, monday: dt.date
) -> None:
    from scheduling.models import TemplateBlock
    from scheduling.tests.factories import ProviderTimeOffFactory

    TemplateBlockFactory(template=template, weekday=0, start_time=dt.time(8), end_time=dt.time(12))
    TemplateBlockFactory(
        template=template,
        weekday=0,
        start_time=dt.time(12),
        end_time=dt.time(13),
        kind=TemplateBlock.Kind.ADMIN,
    )
    ProviderTimeOffFactory(provider=provider, start=local(monday, 10), end=local(monday, 11))

    html = desk_client.get("/scheduling/day/", {"date": monday.isoformat()}).content.decode()

    assert "Admin / lunch" in html
    assert "Time off" in html
    assert f"start={monday.isoformat()}T10:20" not in html  # inside the time off
    assert f"start={monday.isoformat()}T11:00" in html


def test_day_view_lists_cancelled_appointments_and_frees_their_slot(
    desk_client: Client, booked: Appointment, monday: dt.date, desk: User
) -> None:
    transitions.cancel_appointment(actor=desk, appointment=booked, reason="patient")

    html = desk_client.get("/scheduling/day/", {"date": monday.isoformat()}).content.decode()

    assert "Cancelled on this day (1)" in html
    assert f"start={monday.isoformat()}T09:00" in html


def test_day_view_mentions_open_waitlist_offers(
    desk_client: Client, clinic, booked: Appointment, visit: AppointmentType, desk: User
) -> None:
    WaitlistEntryFactory(
        clinic=clinic,
        appointment_type=visit,
        earliest=clinic.today(),
        latest=clinic.today() + dt.timedelta(days=60),
    )
    transitions.cancel_appointment(actor=desk, appointment=booked, reason="patient")

    html = desk_client.get("/scheduling/day/").content.decode()

    assert "1 waitlist offer" in html


def _offer(clinic: Clinic, provider: Staff, start: dt.datetime, **fields: object) -> WaitlistOffer:
    freed = AppointmentFactory(
        clinic=clinic,
        provider=provider,
        start=start,
        status=Appointment.Status.CANCELLED,
        cancel_reason=Appointment.CancelReason.PATIENT_REQUEST,
    )
    return WaitlistOffer.objects.create(
        entry=WaitlistEntryFactory(clinic=clinic, appointment_type=freed.appointment_type),
        freed_by=freed,
        provider=provider,
        start=start,
        end=start + dt.timedelta(minutes=20),
        **fields,
    )


def test_day_view_counts_the_clinics_open_offers_still_ahead_even_on_an_empty_day(
    client: Client,
    desk_client: Client,
    clinic: Clinic,
    other_clinic: Clinic,
    provider: Staff,
    monday: dt.date,
    make_user: Callable[..., User],
) -> None:
    # given: two open offers ahead here, and offers that do not count
    ahead = local(monday, 9)
    _offer(clinic, provider, ahead)
    _offer(clinic, provider, ahead + dt.timedelta(hours=1))
    _offer(clinic, provider, ahead, status=WaitlistOffer.Status.DECLINED)
    _offer(clinic, provider, local(clinic.today() - dt.timedelta(days=1), 9))  # gone by
    _offer(other_clinic, StaffFactory(clinics=[other_clinic]), ahead)

    # when: a day with nothing booked on it (a Sunday ahead)
    sunday = monday + dt.timedelta(days=6)
    html = desk_client.get("/scheduling/day/", {"date": sunday.isoformat()}).content.decode()

    # then
    assert "<strong>2 waitlist offers</strong>" in html
    nurse = make_user(roles.NURSE)
    client.force_login(nurse)
    html = client.get("/scheduling/day/", {"date": sunday.isoformat()}).content.decode()
    assert "waitlist offer" not in html  # not theirs to see


def test_day_view_shows_only_the_current_clinics_appointments(
    desk_client: Client,
    booked: Appointment,
    clinic: Clinic,
    other_clinic: Clinic,
    provider: Staff,
    monday: dt.date,
    desk: User,
) -> None:
    # given: the desk works at both clinics, now at this one; the same provider has a patient
    # at the other
    desk.staff.clinics.add(other_clinic)
    session = desk_client.session
    session[SESSION_CLINIC] = clinic.pk
    session.save()
    elsewhere = AppointmentFactory(
        clinic=other_clinic,
        provider=provider,
        patient=PatientFactory(clinic=other_clinic, last_name="Elsewhere"),
        start=local(monday, 10),
    )

    html = desk_client.get("/scheduling/day/", {"date": monday.isoformat()}).content.decode()

    assert "Quimby, Harriet" in html
    assert "Elsewhere" not in html
    assert f"/scheduling/appointments/{elsewhere.pk}/" not in html
    [event] = audit_views("scheduling.appointment")
    assert event.changes["appointment_ids"] == [booked.pk]


@pytest.mark.parametrize(
    ("role", "status"),
    [
        (roles.FRONT_DESK, 200),
        (roles.NURSE, 200),
        (roles.PROVIDER, 200),
        (roles.BILLER, 200),
        (roles.MANAGER, 200),
        (roles.COMPLIANCE, 403),
        (roles.ADMINISTRATOR, 403),
    ],
)
def test_who_may_see_the_schedule(client: Client, make_user, role: str, status: int) -> None:
    client.force_login(make_user(role))
    assert client.get("/scheduling/day/").status_code == status
    assert client.get("/scheduling/week/").status_code == status
    assert client.get("/scheduling/day-sheet/").status_code == status


def test_someone_without_a_clinic_is_told_so(client: Client, make_user) -> None:
    client.force_login(make_user(roles.FRONT_DESK, clinics=[]))
    for url in ("/scheduling/day/", "/scheduling/find/", "/scheduling/waitlist/"):
        response = client.get(url)
        assert response.status_code == 403
        assert "not assigned to a clinic" in response.content.decode()


def test_schedule_pages_need_a_login(client: Client) -> None:
    for url in ("/scheduling/day/", "/scheduling/find/", "/scheduling/waitlist/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")


# --- week view --------------------------------------------------------------------------


def test_week_view_shows_one_providers_days(
    desk_client: Client, booked: Appointment, monday: dt.date, provider: Staff
) -> None:
    response = desk_client.get(
        "/scheduling/week/",
        {"provider": provider.pk, "date": (monday + dt.timedelta(2)).isoformat()},
    )

    assert response.status_code == 200
    assert_layout(response)
    html = response.content.decode()
    assert "Quimby, Harriet" in html
    assert f"{monday:%a} {monday.day} {monday:%b}" in html
    assert "Sat " not in html  # an empty weekend is left out
    fragment = desk_client.get(
        "/scheduling/week/", {"provider": provider.pk, "date": monday.isoformat()}, **HTMX
    ).content.decode()
    assert fragment.lstrip().startswith('<div id="week-view"')


def test_week_view_without_a_provider_asks_for_one(desk_client: Client) -> None:
    response = desk_client.get("/scheduling/week/")
    assert response.status_code == 200
    assert "Choose a provider" in response.content.decode()


def test_week_view_of_another_clinics_provider_is_refused(
    desk_client: Client, other_clinic: Clinic
) -> None:
    theirs = StaffFactory(roles=[roles.PROVIDER], clinics=[other_clinic])
    response = desk_client.get("/scheduling/week/", {"provider": theirs.pk})
    assert response.status_code == 200
    assert "This provider does not work at" in response.content.decode()


# --- the appointment page ---------------------------------------------------------------


def test_appointment_page_shows_and_audits_the_appointment(
    desk_client: Client, booked: Appointment, desk: User
) -> None:
    response = desk_client.get(f"/scheduling/appointments/{booked.pk}/")

    assert response.status_code == 200
    assert_layout(response)
    html = response.content.decode()
    assert "Quimby, Harriet" in html
    assert "Mark confirmed" in html
    assert "Mark completed" not in html  # booked cannot jump to completed
    assert "Booked" in html
    event = AuditEvent.objects.get(
        action=AuditEvent.Action.VIEW,
        object_type="scheduling.appointment",
        object_id=str(booked.pk),
    )
    assert event.actor == desk
    assert event.patient_id == booked.patient_id
    assert event.clinic_id == booked.clinic_id


def test_another_clinics_appointment_is_not_found(
    desk_client: Client, other_clinic: Clinic
) -> None:
    theirs = AppointmentFactory(clinic=other_clinic)
    for url in (
        f"/scheduling/appointments/{theirs.pk}/",
        f"/scheduling/appointments/{theirs.pk}/status/",
        f"/scheduling/appointments/{theirs.pk}/cancel/",
        f"/scheduling/appointments/{theirs.pk}/notes/",
    ):
        method = desk_client.get if url.endswith(f"{theirs.pk}/") else desk_client.post
        assert method(url, {"status": "confirmed", "reason": "patient"}).status_code == 404, url
    theirs.refresh_from_db()
    assert theirs.status == Appointment.Status.BOOKED
    assert not audit_views("scheduling.appointment")


def test_appointment_page_answers_htmx_with_the_fragment(
    desk_client: Client, booked: Appointment
) -> None:
    html = desk_client.get(f"/scheduling/appointments/{booked.pk}/", **HTMX).content.decode()
    assert html.lstrip().startswith('<div id="appointment"')
    assert "<html" not in html


def test_confirming_changes_the_status_and_shows_it_in_the_history(
    desk_client: Client, booked: Appointment
) -> None:
    response = desk_client.post(
        f"/scheduling/appointments/{booked.pk}/status/", {"status": "confirmed"}, **HTMX
    )

    booked.refresh_from_db()
    assert booked.status == Appointment.Status.CONFIRMED
    html = response.content.decode()
    assert "Appointment marked confirmed." in html
    assert "Booked → Confirmed" in html
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.UPDATE, object_id=str(booked.pk)
    ).exists()


@pytest.mark.parametrize("status", ["completed", "cancelled", "booked", "nonsense", ""])
def test_a_status_the_machine_does_not_allow_is_refused(
    desk_client: Client, booked: Appointment, status: str
) -> None:
    response = desk_client.post(
        f"/scheduling/appointments/{booked.pk}/status/", {"status": status}, follow=True
    )

    assert response.status_code == 200
    booked.refresh_from_db()
    assert booked.status == Appointment.Status.BOOKED
    html = response.content.decode()
    assert "cannot become completed" in html or "cannot be set here" in html


def test_a_no_show_before_the_start_is_refused(desk_client: Client, booked: Appointment) -> None:
    response = desk_client.post(
        f"/scheduling/appointments/{booked.pk}/status/", {"status": "no_show"}, **HTMX
    )
    booked.refresh_from_db()
    assert booked.status == Appointment.Status.BOOKED
    assert "only be recorded once the appointment has started" in response.content.decode()


def test_cancelling_needs_a_reason(desk_client: Client, booked: Appointment) -> None:
    response = desk_client.post(
        f"/scheduling/appointments/{booked.pk}/cancel/", {"reason": ""}, **HTMX
    )
    booked.refresh_from_db()
    assert booked.status == Appointment.Status.BOOKED
    assert "Choose a reason for the cancellation." in response.content.decode()

    response = desk_client.post(
        f"/scheduling/appointments/{booked.pk}/cancel/",
        {"reason": "patient_ill", "note": "flu"},
        follow=True,
    )
    booked.refresh_from_db()
    assert booked.status == Appointment.Status.CANCELLED
    assert booked.cancel_reason == "patient_ill"
    assert booked.cancel_note == "flu"
    assert "Appointment cancelled: Patient ill." in response.content.decode()


def test_notes_are_saved_and_audited(desk_client: Client, booked: Appointment) -> None:
    desk_client.post(f"/scheduling/appointments/{booked.pk}/notes/", {"notes": "Needs Spanish"})

    booked.refresh_from_db()
    assert booked.notes == "Needs Spanish"
    event = AuditEvent.objects.get(summary="Appointment notes changed")
    assert event.changes == {"notes": ["", "Needs Spanish"]}
    assert event.patient_id == booked.patient_id

    too_long = desk_client.post(
        f"/scheduling/appointments/{booked.pk}/notes/", {"notes": "x" * 2001}, **HTMX
    )
    booked.refresh_from_db()
    assert booked.notes == "Needs Spanish"
    assert "Notes not saved" in too_long.content.decode()


@pytest.mark.parametrize("role", [roles.BILLER, roles.COMPLIANCE])
def test_roles_without_change_permission_cannot_change_appointments(
    client: Client, make_user, booked: Appointment, role: str
) -> None:
    client.force_login(make_user(role))
    base = f"/scheduling/appointments/{booked.pk}"
    assert client.post(f"{base}/status/", {"status": "confirmed"}).status_code == 403
    assert client.post(f"{base}/cancel/", {"reason": "patient"}).status_code == 403
    assert client.post(f"{base}/notes/", {"notes": "x"}).status_code == 403
    booked.refresh_from_db()
    assert booked.status == Appointment.Status.BOOKED
    assert booked.notes == ""


def test_changes_need_post(desk_client: Client, booked: Appointment) -> None:
    assert desk_client.get(f"/scheduling/appointments/{booked.pk}/cancel/").status_code == 405


# --- the patient page -------------------------------------------------------------------


def test_patient_page_loads_the_appointments_from_scheduling(
    desk_client: Client, booked: Appointment
) -> None:
    html = desk_client.get(f"/patients/{booked.patient_id}/").content.decode()
    assert f'hx-get="/scheduling/patients/{booked.patient_id}/appointments/"' in html


def test_patient_appointments_fragment_lists_upcoming_past_and_no_shows(
    desk_client: Client, clinic, provider, visit, desk: User
) -> None:
    patient = PatientFactory(clinic=clinic)
    now = dt.datetime.now(dt.UTC)
    upcoming = AppointmentFactory(
        clinic=clinic,
        patient=patient,
        provider=provider,
        appointment_type=visit,
        start=now + dt.timedelta(days=3),
    )
    for days in (10, 20):
        AppointmentFactory(
            clinic=clinic,
            patient=patient,
            provider=provider,
            appointment_type=visit,
            start=now - dt.timedelta(days=days),
            status=Appointment.Status.NO_SHOW,
        )

    response = desk_client.get(f"/scheduling/patients/{patient.pk}/appointments/", **HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert "data-no-show-count>2<" in html
    assert f"/scheduling/appointments/{upcoming.pk}/" in html
    assert html.count("No-show</span>") == 2
    event = AuditEvent.objects.get(action=AuditEvent.Action.VIEW, summary="Appointments listed")
    assert event.patient_id == patient.pk
    assert event.actor == desk

    full = desk_client.get(f"/scheduling/patients/{patient.pk}/appointments/")
    assert_layout(full)


def test_patient_appointments_of_another_clinic_are_not_found(
    desk_client: Client, other_clinic: Clinic
) -> None:
    theirs = PatientFactory(clinic=other_clinic)
    assert desk_client.get(f"/scheduling/patients/{theirs.pk}/appointments/").status_code == 404


def test_compliance_officers_patient_page_does_not_load_appointments(
    client: Client, compliance_officer: User, patient: Patient
) -> None:
    client.force_login(compliance_officer)
    html = client.get(f"/patients/{patient.pk}/").content.decode()
    assert "/appointments/" not in html
    assert client.get(f"/scheduling/patients/{patient.pk}/appointments/").status_code == 403


# --- day sheet --------------------------------------------------------------------------


def test_day_sheet_lists_each_providers_patients_for_printing(
    desk_client: Client, booked: Appointment, monday: dt.date, provider: Staff
) -> None:
    response = desk_client.get(
        "/scheduling/day-sheet/", {"date": monday.isoformat(), "provider": provider.pk}
    )

    assert response.status_code == 200
    assert_layout(response)
    html = response.content.decode()
    assert "Quimby, Harriet" in html
    assert booked.patient.mrn in html
    assert "data-print" in html
    assert "scheduling/scheduling.css" in html
    [event] = audit_views("scheduling.appointment")
    assert event.summary.startswith(f"Day sheet {monday.isoformat()}")


# --- waitlist ---------------------------------------------------------------------------


def test_a_cancellation_offers_the_slot_and_the_desk_books_it(
    desk_client: Client, clinic, booked: Appointment, visit, desk: User
) -> None:
    entry = WaitlistEntryFactory(
        clinic=clinic,
        appointment_type=visit,
        earliest=clinic.today(),
        latest=clinic.today() + dt.timedelta(days=60),
        patient__last_name="Waitwell",
    )
    desk_client.post(f"/scheduling/appointments/{booked.pk}/cancel/", {"reason": "patient"})
    offer = WaitlistOffer.objects.get(entry=entry)

    page = desk_client.get("/scheduling/waitlist/")
    assert page.status_code == 200
    assert_layout(page)
    assert "Waitwell" in page.content.decode()

    response = desk_client.post(f"/scheduling/waitlist/offers/{offer.pk}/", {"answer": "accept"})

    offer.refresh_from_db()
    assert offer.status == WaitlistOffer.Status.ACCEPTED
    assert response.status_code == 302
    assert response["Location"] == f"/scheduling/appointments/{offer.booked_id}/"


def test_adding_to_the_waitlist_checks_the_dates(
    desk_client: Client, clinic, visit, patient
) -> None:
    today = clinic.today()
    response = desk_client.post(
        "/scheduling/waitlist/",
        {
            "patient": patient.pk,
            "appointment_type": visit.pk,
            "earliest": (today + dt.timedelta(days=5)).isoformat(),
            "latest": today.isoformat(),
            "time_of_day": "any",
        },
    )
    assert response.status_code == 200
    assert "The latest date must not be before the earliest." in response.content.decode()
    assert not patient.waitlist_entries.exists()

    response = desk_client.post(
        "/scheduling/waitlist/",
        {
            "patient": patient.pk,
            "appointment_type": visit.pk,
            "earliest": today.isoformat(),
            "latest": (today + dt.timedelta(days=5)).isoformat(),
            "time_of_day": "morning",
        },
    )
    assert response.status_code == 302
    assert patient.waitlist_entries.get().time_of_day == "morning"


def test_the_waitlist_is_for_the_front_desk(client: Client, make_user) -> None:
    client.force_login(make_user(roles.NURSE))
    assert client.get("/scheduling/waitlist/").status_code == 403


# --- appointment type colours -----------------------------------------------------------


def test_type_colours_are_a_stylesheet_of_valid_colours_only(
    desk_client: Client, clinic, other_clinic
) -> None:
    ours = AppointmentTypeFactory(clinic=clinic, color="#12ab9F")
    bad = AppointmentTypeFactory(clinic=clinic, color="red;}")
    theirs = AppointmentTypeFactory(clinic=other_clinic, color="#000000")

    response = desk_client.get("/scheduling/types.css")

    css = response.content.decode()
    assert response["Content-Type"].startswith("text/css")
    assert f".appt-type-{ours.pk} {{ --type-color: #12ab9F; }}" in css
    assert f"appt-type-{bad.pk} " not in css
    assert f"appt-type-{theirs.pk} " not in css


def test_navigation_shows_the_schedule_by_permission(client: Client, make_user) -> None:
    client.force_login(make_user(roles.FRONT_DESK))
    html = client.get("/").content.decode()
    for label in ("Schedule", "Find a slot", "Waitlist"):
        assert f">{label}</a>" in html

    client.force_login(make_user(roles.NURSE))
    html = client.get("/").content.decode()
    assert ">Schedule</a>" in html
    assert ">Find a slot</a>" not in html


def test_the_day_view_costs_the_same_queries_for_a_busy_day(
    desk_client: Client, clinic: Clinic, visit: AppointmentType, monday: dt.date
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def add_providers(count: int) -> None:
        for _ in range(count):
            staff = StaffFactory(roles=[roles.PROVIDER], clinics=[clinic])
            template = ScheduleTemplateFactory(
                clinic=clinic, provider=staff, effective_from=clinic.today()
            )
            TemplateBlockFactory(template=template, weekday=0)
            for hour in (8, 9, 10, 11):
                AppointmentFactory(
                    clinic=clinic, provider=staff, appointment_type=visit, start=local(monday, hour)
                )

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert (
                desk_client.get("/scheduling/day/", {"date": monday.isoformat()}).status_code == 200
            )
        return len(captured)

    # Each count after one request: the session's first request stores the clinic it chose,
    # and new providers replace the cached reference data.
    add_providers(2)
    queries()
    few = queries()
    add_providers(10)
    queries()
    assert queries() == few
